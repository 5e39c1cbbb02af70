"""The import table of the design, checked on the source with ``ast``.

Every module of ``syncer/`` (and the Alembic scripts in ``migrations/``) belongs to a unit: a
top-level module (``syncer/sync.py`` is ``sync``) or a package (``syncer/api/*`` is ``api``).
A unit may import itself, the standard library, the units ``ALLOWED`` names for it and the
third-party libraries ``LIBRARIES`` gives it; nothing else. Imports under ``TYPE_CHECKING`` and
inside functions count as well. To change an arrow, edit the tables below (and the README's
module table).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# unit -> the syncer units (or single modules, "ledger.models") it may import.
ALLOWED: dict[str, set[str]] = {
    # the foundations
    "errors": set(),
    "units": set(),
    "report": set(),
    "notify": set(),
    "sink": set(),
    "prefetch": set(),
    "concurrency": set(),
    "private_paths": set(),
    "bibs": {"errors"},
    "selfies": {"errors"},
    "windows": set(),
    "layout": {"errors"},
    "lock": {"errors", "private_paths"},
    "ledger": {"errors", "private_paths"},  # knows nothing of the API
    "migrations": {"ledger.models"},
    "sim": {"errors"},  # the simulator does not use the client it stands in for
    "config": {"errors", "bibs", "layout", "units", "windows"},
    "logs": {"config"},
    "api": {"syncer", "errors"},  # knows nothing of the ledger
    # one cycle
    "root": {"errors", "units"},
    "downloader": {"errors", "api", "sink", "root"},  # never touches the ledger
    "workers": {"errors", "downloader", "concurrency"},
    "placement": {"layout", "ledger", "downloader", "root"},
    "bib_pass": {"errors", "ledger"},
    "people": {"api", "errors", "ledger", "report", "selection", "selfies"},
    "clips": {"api", "errors", "layout", "ledger", "placement", "report", "root", "selfies"},
    "planner": {"api", "bib_pass", "errors", "ledger", "prefetch", "windows"},
    "coordinator": {
        "api",
        "concurrency",
        "errors",
        "ledger",
        "report",
        "downloader",
        "placement",
        "root",
        "workers",
    },
    "selection": {"api", "bib_pass", "coordinator", "errors", "ledger"},
    "dryrun": {"ledger", "placement", "report"},
    "relayout": {
        "api",
        "config",
        "downloader",
        "dryrun",
        "ledger",
        "placement",
        "report",
        "root",
        "status",
        "wiring",
    },
    "wiring": {"api", "concurrency", "config", "coordinator", "layout", "ledger", "lock", "root"},
    "cycle": {
        "concurrency",
        "errors",
        "config",
        "api",
        "ledger",
        "report",
        "downloader",
        "dryrun",
        "placement",
        "planner",
        "relayout",
        "coordinator",
        "root",
        "selection",
        "windows",
        "wiring",
        "workers",
        "people",
        "clips",
        "selfies",
    },
    "sync": {
        "api",
        "config",
        "cycle",
        "downloader",
        "errors",
        "ledger",
        "planner",
        "report",
        "root",
        "selfies",
        "windows",
        "wiring",
    },
    "verify": {"errors", "layout", "ledger", "root"},
    "status": {"errors", "layout", "ledger", "placement", "root"},
    # the service: the daemon receives the cycle instead of importing it
    "cadence": {"errors", "report"},
    "schedule": {"cadence", "report"},
    "metrics": {"report"},
    "health": {"errors", "metrics"},
    "outcomes": {"cadence", "errors", "health", "metrics", "notify", "report"},
    "runner": {"cadence", "errors", "outcomes", "report", "schedule"},
    "daemon": {
        "errors",
        "cadence",
        "health",
        "metrics",
        "outcomes",
        "runner",
        "schedule",
    },
    # the edge
    "cli": {
        "syncer",
        "errors",
        "config",
        "bibs",
        "selfies",
        "ledger",
        "logs",
        "report",
        "metrics",
        "relayout",
        "status",
        "sync",
        "units",
        "verify",
        "daemon",
        "sim",
        "windows",
        "wiring",
    },
    "__main__": {"cli"},
    "syncer": set(),  # the package's __init__: the version only
}

# third-party library (top-level import name) -> the units it lives in.
LIBRARIES: dict[str, set[str]] = {
    "httpx": {"api"},
    "pydantic": {"api", "config"},
    "pydantic_settings": {"config"},
    "sqlalchemy": {"ledger", "migrations"},
    "alembic": {"ledger", "migrations"},
    "prometheus_client": {"metrics"},
    "tqdm": {"cli"},
}

# unit -> the only standard-library modules it may use (units not named here may use any).
STANDARD_LIBRARY: dict[str, set[str]] = {
    "notify": {"__future__", "collections", "logging", "os", "socket", "threading", "time"},
}


@dataclass(frozen=True)
class Import:
    """One imported name, where it is imported."""

    path: Path
    line: int
    unit: str
    name: str  # dotted: "syncer.ledger.models", "sqlalchemy.orm", "os"
    member: str = ""  # `from syncer.ledger import models`: "models" (a module or a name)

    @property
    def top(self) -> str:
        return self.name.split(".")[0]

    @property
    def inside(self) -> str:
        """A ``syncer.*`` import relative to the package: "ledger.models", "syncer" for the
        package's own names (``from syncer import __version__``)."""
        if self.name == "syncer" and self.member not in ALLOWED:
            return "syncer"
        return self.spelled().removeprefix("syncer.")

    @property
    def target(self) -> str:
        """The syncer unit a ``syncer.*`` import points at."""
        return self.inside.split(".")[0]

    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"

    def spelled(self) -> str:
        return f"{self.name}.{self.member}" if self.member else self.name


def unit_of(path: Path, root: Path = ROOT) -> str:
    """``syncer/sync.py`` -> sync, ``syncer/api/client.py`` -> api, ``migrations/*``."""
    parts = path.relative_to(root).with_suffix("").parts
    if parts[0] == "migrations":
        return "migrations"
    if len(parts) == 2:
        return "syncer" if parts[1] == "__init__" else parts[1]
    return parts[1]


def imports_of(path: Path, root: Path = ROOT) -> Iterator[Import]:
    """Every absolute import in ``path``, one a name."""
    unit = unit_of(path, root)
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(path, node.lineno, unit, alias.name)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}:{node.lineno}: relative import"
            assert node.module
            for alias in node.names:
                yield Import(path, node.lineno, unit, node.module, alias.name)


def sources(root: Path = ROOT) -> list[Path]:
    return sorted((root / "syncer").rglob("*.py")) + sorted((root / "migrations").rglob("*.py"))


def _grants(allowed: str, inside: str) -> bool:
    return inside == allowed or inside.startswith(allowed + ".")


def violation(imported: Import) -> str | None:
    """Why ``imported`` breaks the tables, or None."""
    if imported.top == "syncer":
        if imported.target == imported.unit:
            return None
        allowed = ALLOWED.get(imported.unit)
        if allowed is None:
            return f"{imported.unit} is not in ALLOWED: add its arrows"
        if any(_grants(a, imported.inside) for a in allowed):
            return None
        return f"{imported.unit} may import only {sorted(allowed)}"
    if imported.top in sys.stdlib_module_names or imported.top == "__future__":
        only = STANDARD_LIBRARY.get(imported.unit)
        if only is None or imported.top in only:
            return None
        return f"{imported.unit} may use only {sorted(only)} of the standard library"
    owners = LIBRARIES.get(imported.top)
    if owners is None:
        return f"{imported.top} is not in LIBRARIES: name the one unit it lives in"
    if imported.unit in owners:
        return None
    return f"{imported.top} lives in {sorted(owners)} only"


def violations(paths: list[Path]) -> list[str]:
    found = [
        f"{imported.where()}: imports {imported.spelled()}: {why}"
        for path in paths
        for imported in imports_of(path)
        if (why := violation(imported)) is not None
    ]
    return sorted(set(found))


def test_every_import_follows_the_tables() -> None:
    broken = violations(sources())
    assert not broken, "imports against the design:\n" + "\n".join(broken)


def test_every_arrow_of_the_tables_is_used() -> None:
    """The tables describe the code as it is: an arrow nothing uses is taken out."""
    used: dict[str, set[str]] = {}
    libraries: dict[str, set[str]] = {}
    for path in sources():
        for imported in imports_of(path):
            if imported.top == "syncer" and imported.target != imported.unit:
                used.setdefault(imported.unit, set()).add(imported.inside)
            elif imported.top in LIBRARIES:
                libraries.setdefault(imported.top, set()).add(imported.unit)
    unused = [
        f"{unit} -> {target}"
        for unit, targets in ALLOWED.items()
        for target in sorted(targets)
        if not any(_grants(target, inside) for inside in used.get(unit, ()))
    ]
    unused += [
        f"{library} in {owner}"
        for library, owners in LIBRARIES.items()
        for owner in sorted(owners - libraries.get(library, set()))
    ]
    assert not unused, "arrows nothing uses (take them out of the tables):\n" + "\n".join(unused)


def test_every_unit_is_in_the_table() -> None:
    units = {unit_of(path) for path in sources()}
    assert units == set(ALLOWED), (
        f"missing from ALLOWED: {sorted(units - set(ALLOWED))}; "
        f"no such unit: {sorted(set(ALLOWED) - units)}"
    )


def layers(allowed: Mapping[str, set[str]]) -> list[str]:
    """The units from the bottom up; CycleError if two of them import each other."""
    graph = {unit: {t.split(".")[0] for t in targets} for unit, targets in allowed.items()}
    return list(TopologicalSorter(graph).static_order())


def test_the_arrows_point_one_way() -> None:
    try:
        order = layers(ALLOWED)
    except CycleError as exc:
        pytest.fail(f"the import table has a cycle: {' -> '.join(exc.args[1])}")
    assert order.index("errors") < order.index("sync") < order.index("cli")


def test_the_check_names_an_offending_import(tmp_path: Path) -> None:
    package = tmp_path / "syncer"
    package.mkdir()
    bad = package / "downloader.py"
    bad.write_text(
        "from __future__ import annotations\n"
        "import os\n"
        "from syncer.api import StorageClient\n"
        "from syncer.ledger import Ledger\n"
        "import tqdm\n",
        encoding="utf-8",
    )
    found = [
        why for imported in imports_of(bad, tmp_path) if (why := violation(imported)) is not None
    ]
    assert found == [
        f"downloader may import only {sorted(ALLOWED['downloader'])}",
        "tqdm lives in ['cli'] only",
    ]
    assert violation(Import(bad, 1, "ledger", "syncer.api.client")) is not None
    assert violation(Import(bad, 1, "migrations", "syncer.ledger", "repository")) is not None
    assert violation(Import(bad, 1, "migrations", "syncer.ledger", "models")) is None
    assert violation(Import(bad, 1, "migrations", "syncer.ledger.models", "Base")) is None
    assert violation(Import(bad, 1, "notify", "subprocess")) is not None
    assert violation(Import(bad, 1, "api", "requests")) is not None
    assert layers({"a": {"b"}, "b": set()}) == ["b", "a"]
    with pytest.raises(CycleError):
        layers({"a": {"b"}, "b": {"a"}})
