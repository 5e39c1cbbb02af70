"""Shared test helpers: fakes, simulated worlds, config writers and probes, one module a kind.

``tests`` is on pytest's ``pythonpath``, so test modules import these as ``harness.<module>``.
Fixtures that pytest must discover stay in the ``conftest.py`` files and build on these.
"""
