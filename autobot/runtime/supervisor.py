"""`Supervisor`: a fixed, ordered list of children under one restart strategy."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from autobot.runtime.child import ChildSlot
from autobot.runtime.core import SupervisorBase
from autobot.runtime.failures import DuplicateChild
from autobot.runtime.policy import restart_group
from autobot.runtime.spec import ChildSpec, Strategy


def _spec_tuple(children: Iterable[ChildSpec]) -> tuple[ChildSpec, ...]:
    return tuple(children)


@attrs.define(kw_only=True, eq=False)
class Supervisor(SupervisorBase):
    """Supervises `children`, started in the given order and stopped in reverse.

    Use `await nursery.start(supervisor.run)`; to nest, return a Supervisor from a
    `ChildSpec.factory` with `stopping=env.stopping`. Mailboxes exist from construction,
    so senders can be wired before `run`. Raises DuplicateChild on repeated ids.
    """

    children: tuple[ChildSpec, ...] = attrs.field(converter=_spec_tuple)
    strategy: Strategy = Strategy.ONE_FOR_ONE

    def __attrs_post_init__(self) -> None:
        for spec in self.children:
            if spec.id in self._slots:
                raise DuplicateChild(f"supervisor {self.name!r}: duplicate child id {spec.id!r}")
            self._slots[spec.id] = ChildSlot.for_spec(spec)

    def _restart_group(self, slot: ChildSlot) -> list[ChildSlot]:
        ids = restart_group(self.strategy, list(self._slots), slot.spec.id)
        return [self._slots[child_id] for child_id in ids]
