"""What every API route handler receives: the shared simulator state and the checked call."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from syncer.sim.config import SimConfig
from syncer.sim.envelope import ApiRequest
from syncer.sim.faults import Faults
from syncer.sim.selfie import SelfieStore
from syncer.sim.stats import SimStats
from syncer.sim.storage import Presigner
from syncer.sim.world import SimEvent, World


@dataclass(frozen=True)
class SimContext:
    """Shared, long-lived state of a running simulator."""

    config: SimConfig
    world: World
    faults: Faults
    stats: SimStats
    selfies: SelfieStore
    presigner: Presigner
    base_url: str
    clock: Callable[[], float]
    sleep: Callable[[float], None]


@dataclass(frozen=True)
class Call:
    """An authorised request: its organisation, its event (if event-scoped), path arguments."""

    request: ApiRequest
    org_id: int
    event: SimEvent | None
    args: tuple[str, ...] = ()

    @property
    def event_id(self) -> int:
        return self.event.event_id if self.event is not None else 0

    @property
    def query(self) -> dict[str, list[str]]:
        return self.request.query
