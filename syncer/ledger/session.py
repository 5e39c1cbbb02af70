"""A node's session with a shared (PostgreSQL) ledger: its name, its lease, and its locks.

The locks are PostgreSQL session advisory locks on one dedicated connection: the server
drops them the moment that connection ends, so a node killed with SIGKILL (or cut off the
network) holds none of them any longer. Two keys are used:

- the node's own (its name): a second process started under the same name is refused;
- one per event: the node holding it walks the event, searches its BIBs and keeps its files
  in place; the other nodes skip those steps and download meanwhile.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Connection, Engine, text

from syncer.errors import AlreadyRunningError

NODE_SPACE = 0x4E4F4445  # "NODE": the first key of a node-name lock
EVENT_SPACE = 0x57414C4B  # "WALK": the first key of an event's upkeep lock

_TRY_NODE = text("SELECT pg_try_advisory_lock(:space, hashtext(:name))")
_TRY = text("SELECT pg_try_advisory_lock(:space, :key)")
_UNLOCK = text("SELECT pg_advisory_unlock(:space, :key)")
_UNLOCK_ALL = text("SELECT pg_advisory_unlock_all()")


@dataclass
class NodeSession:
    """One node's locks on a server ledger, held on a connection of their own."""

    name: str
    lease: timedelta
    conn: Connection
    held_events: set[int] = field(default_factory=set)
    _guard: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def open(cls, engine: Engine, name: str, lease: timedelta, label: str) -> NodeSession:
        """Connect and take the node's lock; AlreadyRunningError when another process has it."""
        conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            taken = bool(conn.scalar(_TRY_NODE, {"space": NODE_SPACE, "name": name}))
        except BaseException:
            conn.invalidate()
            conn.close()
            raise
        if not taken:
            conn.close()
            raise AlreadyRunningError(
                f"node {name!r} is already working on ledger {label}",
                hint="give each machine its own node.name (default: the host name)",
            )
        return cls(name, lease, conn)

    def try_event(self, event_id: int) -> bool:
        """Take the event's upkeep lock if no node holds it; True when taken."""
        with self._guard:
            if event_id in self.held_events:
                return True
            taken = bool(self.conn.scalar(_TRY, {"space": EVENT_SPACE, "key": event_id}))
            if taken:
                self.held_events.add(event_id)
            return taken

    def release_event(self, event_id: int) -> None:
        with self._guard:
            if event_id in self.held_events:
                self.conn.execute(_UNLOCK, {"space": EVENT_SPACE, "key": event_id})
                self.held_events.discard(event_id)

    def event_busy(self, event_id: int) -> bool:
        """Whether another node holds the event's upkeep lock now (it is walking it)."""
        with self._guard:
            if event_id in self.held_events:
                return False
            if not self.conn.scalar(_TRY, {"space": EVENT_SPACE, "key": event_id}):
                return True
            self.conn.execute(_UNLOCK, {"space": EVENT_SPACE, "key": event_id})
            return False

    def close(self) -> None:
        """End the connection for good (not back into the pool): the server releases every
        lock of this session."""
        try:  # at once: a server ends a dropped connection's session (and locks) a bit later
            self.conn.execute(_UNLOCK_ALL)
        finally:
            self.conn.invalidate()
            self.conn.close()
