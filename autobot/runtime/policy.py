"""Pure restart decisions: whether a child restarts, and which siblings go with it."""

from __future__ import annotations

from collections.abc import Sequence

from autobot.runtime.spec import Restart, Strategy


def should_restart(restart: Restart, *, failed: bool) -> bool:
    """Whether a child that ended on its own (not stopped by its supervisor) restarts."""
    if restart is Restart.PERMANENT:
        return True
    if restart is Restart.TRANSIENT:
        return failed
    return False


def restart_group(strategy: Strategy, order: Sequence[str], failed_id: str) -> tuple[str, ...]:
    """Ids restarted together when `failed_id` restarts, in start order.

    `order` is the supervisor's start order. Raises ValueError if `failed_id` is not in it.
    """
    if failed_id not in order:
        raise ValueError(f"unknown child id {failed_id!r}")
    if strategy is Strategy.ONE_FOR_ONE:
        return (failed_id,)
    if strategy is Strategy.ONE_FOR_ALL:
        return tuple(order)
    return tuple(order[order.index(failed_id) :])
