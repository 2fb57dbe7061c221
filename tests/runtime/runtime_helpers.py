"""Scripted actors and a journal for the runtime kernel's tests."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import attrs
import trio

from autobot.runtime import (
    BackoffPolicy,
    ChildEnv,
    ChildSpec,
    Restart,
    RestartIntensity,
    Supervisor,
    SupervisorBase,
)

Body = Callable[[ChildEnv, "trio.TaskStatus[None]"], Awaitable[None]]


class FixedRandom(random.Random):
    """A Random whose every draw is `fraction`: full jitter gives fraction * ceiling."""

    def __init__(self, fraction: float) -> None:
        super().__init__(0)
        self.fraction = fraction

    def random(self) -> float:
        return self.fraction


LENIENT = RestartIntensity(max_restarts=100, within=60.0)
HALF = BackoffPolicy(base=1.0, cap=100.0, healthy_after=10.0, cooldown=7.0)


def supervisor(*children: ChildSpec, **options: object) -> Supervisor:
    """A Supervisor with lenient intensity and backoff delays of half their ceiling."""
    settings: dict[str, object] = {"intensity": LENIENT, "backoff": HALF, "rng": FixedRandom(0.5)}
    return Supervisor(children=children, **(settings | options))  # type: ignore[arg-type]


async def stop_at(sup: Supervisor | SupervisorBase, when: float) -> None:
    """Ask `sup` for a graceful stop at virtual time `when`."""
    await trio.sleep_until(when)
    sup.stop()


@attrs.define
class Journal:
    """What every incarnation did, with the virtual time: (time, child, incarnation, what)."""

    entries: list[tuple[float, str, int, str]] = attrs.field(factory=list)

    def note(self, env: ChildEnv, what: str) -> None:
        self.entries.append((trio.current_time(), env.child_id, env.incarnation, what))

    def of(self, what: str) -> list[tuple[float, str, int]]:
        return [(t, c, i) for t, c, i, w in self.entries if w == what]

    def times(self, child_id: str, what: str) -> list[float]:
        return [t for t, c, _, w in self.entries if c == child_id and w == what]


@attrs.define
class ScriptedActor:
    """Runs `body`, journaling start, ready, how it ended (returned/raised/cancelled)."""

    env: ChildEnv
    body: Body
    journal: Journal

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self.journal.note(self.env, "run")
        try:
            await self.body(self.env, task_status)
        except trio.Cancelled:
            self.journal.note(self.env, "cancelled")
            raise
        except Exception:
            self.journal.note(self.env, "raised")
            raise
        self.journal.note(self.env, "returned")


def spec(
    child_id: str,
    journal: Journal,
    *bodies: Body,
    restart: Restart = Restart.PERMANENT,
    grace: float = 5.0,
    mailbox_size: int | None = None,
) -> ChildSpec:
    """A spec whose incarnation n runs bodies[n] (the last body repeats)."""
    scripted: Sequence[Body] = bodies or (serve,)

    def factory(env: ChildEnv) -> ScriptedActor:
        body = scripted[min(env.incarnation, len(scripted) - 1)]
        return ScriptedActor(env=env, body=body, journal=journal)

    return ChildSpec(
        id=child_id,
        factory=factory,
        restart=restart,
        shutdown_grace=grace,
        mailbox_size=mailbox_size,
    )


async def serve(env: ChildEnv, task_status: trio.TaskStatus[None]) -> None:
    """Ready at once; returns as soon as asked to stop."""
    task_status.started()
    await env.stopping.wait()


def slow_start(delay: float) -> Body:
    """Ready after `delay` seconds, then serves."""

    async def body(env: ChildEnv, task_status: trio.TaskStatus[None]) -> None:
        await trio.sleep(delay)
        await serve(env, task_status)

    return body


def crash_after(delay: float, error: Exception | None = None) -> Body:
    """Ready at once; raises `error` (default ValueError) after `delay` seconds."""

    async def body(env: ChildEnv, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        await trio.sleep(delay)
        raise error if error is not None else ValueError(f"{env.child_id} bug")

    return body


def return_after(delay: float) -> Body:
    """Ready at once; returns normally after `delay` seconds."""

    async def body(env: ChildEnv, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        await trio.sleep(delay)

    return body


def crash_before_ready(error: Exception) -> Body:
    async def body(env: ChildEnv, task_status: trio.TaskStatus[None]) -> None:
        raise error

    return body


async def ignore_stop(env: ChildEnv, task_status: trio.TaskStatus[None]) -> None:
    """Ready at once; never reacts to the stopping signal (must be cancelled)."""
    task_status.started()
    await trio.sleep_forever()


def clean_up_for(seconds: float) -> Body:
    """Serves; when asked to stop, takes `seconds` to clean up, then returns."""

    async def body(env: ChildEnv, task_status: trio.TaskStatus[None]) -> None:
        await serve(env, task_status)
        await trio.sleep(seconds)

    return body


def echo_into(received: list[Any]) -> Body:
    """Consumes its inbox into `received` as (message, incarnation); crashes on "boom"."""

    async def body(env: ChildEnv, task_status: trio.TaskStatus[None]) -> None:
        assert env.inbox is not None
        task_status.started()
        async for message in env.inbox:
            if message == "boom":
                raise RuntimeError("boom")
            received.append((message, env.incarnation))

    return body


async def never_ready(env: ChildEnv, task_status: trio.TaskStatus[None]) -> None:
    """Hangs in start-up: never calls started() and ignores the stopping signal."""
    await trio.sleep_forever()


async def give_up_start_when_stopped(env: ChildEnv, task_status: trio.TaskStatus[None]) -> None:
    """Hangs in start-up until asked to stop, then returns without calling started()."""
    await env.stopping.wait()


async def fail_start_when_stopped(env: ChildEnv, task_status: trio.TaskStatus[None]) -> None:
    """Hangs in start-up until asked to stop, then raises (a half-built actor tearing down)."""
    await env.stopping.wait()
    raise RuntimeError(f"{env.child_id} torn down half-built")


def ready_after_stop(delay: float) -> Body:
    """Hangs in start-up until asked to stop, becomes ready `delay` seconds later, never returns."""

    async def body(env: ChildEnv, task_status: trio.TaskStatus[None]) -> None:
        await env.stopping.wait()
        await trio.sleep(delay)
        await ignore_stop(env, task_status)

    return body
