"""A child's mailbox, owned by its supervisor so that senders survive restarts.

Delivery is at-most-once. Messages still buffered when an incarnation dies stay in
the buffer and are received by the next incarnation; a message the dead incarnation
had already received is lost. When the child is finally stopped the mailbox closes:
senders then get `trio.BrokenResourceError` and any buffered messages are dropped.
Durability is the job of explicit stores, not of mailboxes.
"""

from __future__ import annotations

from typing import Any

import trio

from autobot.runtime.failures import MailboxUnavailable


class Mailbox:
    """The channel pair for one child: sender clones for callers, inbox clones per incarnation."""

    def __init__(self, child_id: str, size: int) -> None:
        self.child_id = child_id
        # Size comes from the child's spec: it bounds how far senders may run ahead.
        self._send, self._receive = trio.open_memory_channel[Any](size)

    def sender(self) -> trio.MemorySendChannel[Any]:
        """A new send clone the caller owns (and closes). Raises MailboxUnavailable once closed."""
        try:
            return self._send.clone()
        except trio.ClosedResourceError:
            raise MailboxUnavailable(f"mailbox of child {self.child_id!r} is closed") from None

    def inbox(self) -> trio.MemoryReceiveChannel[Any]:
        """A receive clone for one incarnation; closing it leaves the mailbox open."""
        return self._receive.clone()

    def stop_accepting(self) -> None:
        """No more `sender()` clones. Once every caller closed theirs, inboxes see EndOfChannel."""
        self._send.close()

    def close(self) -> None:
        """Close the mailbox for good (after the child's last incarnation is gone)."""
        self._send.close()
        self._receive.close()

    @property
    def backlog(self) -> int:
        """Messages waiting to be received."""
        return self._receive.statistics().current_buffer_used
