"""A faithful local 9Pic API with a presigned "storage" host and fault knobs.

Used by the test suite, ``syncer demo`` and the benchmarks::

    with Simulator(SimConfig(events=2, photos_per_event=10)) as sim:
        sim.base_url, sim.org_id, sim.api_key
"""

from syncer.sim.config import SimConfig
from syncer.sim.faults import Faults
from syncer.sim.server import Simulator
from syncer.sim.stats import SimStats
from syncer.sim.world import SimEvent, SimPhoto

__all__ = ["Faults", "SimConfig", "SimEvent", "SimPhoto", "SimStats", "Simulator"]
