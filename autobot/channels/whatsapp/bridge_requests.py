"""Requests to the WhatsApp bridge and their answers, matched by request id.

`BridgeRequests` owns the channel's current bridge connection (None while
there is none), the requests waiting for their answer, and the request ids:
a random prefix per channel incarnation (8 bytes: an id never comes back
after a restart, which matters because the bridge answers a repeated id with
the outcome it recorded for it, without acting again) and a counter.

`ask(link, frame)` sends one request and waits for its one answer (the
caller bounds the wait); the connection's reader hands each answer it reads
to `answered`. When the connection ends (`unlinked`) every request still
waiting fails with `RequestLost`: the caller decides whether to ask again
(a send does, under the same request id, so the bridge sends it at most
once).
"""

from __future__ import annotations

import itertools
import secrets

import attrs
import trio
from trio_util import AsyncValue

from autobot.channels.whatsapp.client import (
    BridgeConnection,
    BridgeIncompatible,
    BridgeUnavailable,
)
from autobot.channels.whatsapp.protocol import (
    BridgeError,
    FetchedMedia,
    FetchMedia,
    Send,
    SendMedia,
    Sent,
)

PREFIX_BYTES = 8

Answer = Sent | BridgeError | FetchedMedia
Request = Send | SendMedia | FetchMedia


class RequestLost(Exception):
    """The connection ended (or was gone) before the request was answered."""


@attrs.define(eq=False)
class BridgeRequests:
    """Request ids, the current connection and the requests waiting on it
    (see the module docstring)."""

    link: AsyncValue[BridgeConnection | None] = attrs.field(factory=lambda: AsyncValue(None))
    _waiting: dict[str, trio.MemorySendChannel[Answer]] = attrs.field(init=False, factory=dict)
    _numbers: itertools.count[int] = attrs.field(init=False, factory=itertools.count)
    _prefix: str = attrs.field(init=False, factory=lambda: secrets.token_hex(PREFIX_BYTES))

    def new_id(self) -> str:
        """A request id no earlier request of any incarnation used."""
        return f"{self._prefix}-{next(self._numbers)}"

    def linked(self, link: BridgeConnection) -> None:
        """`link` is the connection requests go out on from now."""
        self.link.value = link

    def unlinked(self) -> None:
        """The connection is gone: every request waiting for an answer fails."""
        self.link.value = None
        for waiting in self._waiting.values():
            waiting.close()

    def answered(self, answer: Answer) -> None:
        """Hand `answer` to the request waiting for it (an answer nobody waits
        for any more, e.g. after a timeout, is dropped)."""
        waiting = self._waiting.pop(answer.request_id, None) if answer.request_id else None
        if waiting is not None:
            waiting.send_nowait(answer)

    async def ask(self, link: BridgeConnection, frame: Request) -> Answer:
        """Send `frame` on `link` and wait for its answer. Raises RequestLost
        when the connection ends first."""
        answer_send, answer_receive = trio.open_memory_channel[Answer](1)  # exactly one answer
        with answer_receive:
            self._waiting[frame.request_id] = answer_send
            try:
                await link.send(frame)
                return await answer_receive.receive()
            except (trio.EndOfChannel, BridgeUnavailable, BridgeIncompatible) as exc:
                raise RequestLost(f"the bridge connection was lost ({exc})") from None
            finally:
                self._waiting.pop(frame.request_id, None)
