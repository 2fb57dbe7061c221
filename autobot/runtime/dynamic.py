"""`DynamicSupervisor`: children started and stopped on demand, keyed by id.

The session router uses one to run one agent actor per session. Children are
independent (one_for_one): a crash in one never touches another. A child that will
not run again (temporary, a transient that returned, or stopped) is forgotten, so its
id can be started again.
"""

from __future__ import annotations

import attrs

from autobot.runtime.child import ChildSlot
from autobot.runtime.core import SupervisorBase
from autobot.runtime.failures import ChildStartFailed, DuplicateChild, SupervisorNotRunning
from autobot.runtime.spec import ChildSpec


@attrs.define(kw_only=True, eq=False)
class DynamicSupervisor(SupervisorBase):
    """Supervises children added at run time; ready as soon as `run` starts."""

    async def start_child(self, spec: ChildSpec) -> None:
        """Start a child in this supervisor's nursery; returns once it is up.

        Raises SupervisorNotRunning if the supervisor is not running or is stopping,
        DuplicateChild if the id is in use, ChildStartFailed if the child fails (or is
        stopped) before calling started(); nothing is left behind on failure.
        """
        if self._nursery is None or self.stopping.is_set():
            raise SupervisorNotRunning(f"supervisor {self.name!r} is not running")
        if spec.id in self._slots:
            raise DuplicateChild(f"supervisor {self.name!r} already has child {spec.id!r}")
        slot = ChildSlot.for_spec(spec)
        self._slots[spec.id] = slot
        started = False
        try:
            failure = await self._start_slot(slot)
            started = failure is None
        finally:
            if not started:
                self._retire(slot)
        if failure is not None:
            raise ChildStartFailed(self.name, spec.id, failure.error)

    async def stop_child(self, child_id: str) -> None:
        """Stop a child gracefully (stopping signal, grace, then cancel) and forget it.

        Raises UnknownChild if no such child is supervised.
        """
        await self._stop_slot(self._slot(child_id), final=True)

    def which_children(self) -> tuple[str, ...]:
        """Ids of the supervised children (running or awaiting restart), in start order."""
        return tuple(self._slots)

    def _retire(self, slot: ChildSlot) -> None:
        super()._retire(slot)
        if self._slots.get(slot.spec.id) is slot:
            del self._slots[slot.spec.id]
