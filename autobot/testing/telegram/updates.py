"""The bot's update queue, with the real API's confirmation and filter rules.

Updates get sequential `update_id`s. `confirm(offset)` is what a getUpdates
`offset` does: a positive offset forgets every update below it for good; a
negative one keeps only the last -offset updates. `allowed_updates` is
sticky: `set_allowed` changes it only when given a JSON array of strings; an
array naming no known type (e.g. `[]`) restores the default (every type but
chat_member, message_reaction and message_reaction_count). As on the real
server the filter applies when an update is created: an update of a type not
allowed then is never queued (it is kept in `filtered` for tests) and takes
no update_id.
"""

from __future__ import annotations

from typing import Any

import attrs

UPDATE_TYPES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "message_reaction",
        "message_reaction_count",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)
DEFAULT_ALLOWED = UPDATE_TYPES - {"chat_member", "message_reaction", "message_reaction_count"}
FIRST_UPDATE_ID = 700_000_001  # far from message ids, so mixing the two up shows


@attrs.define
class UpdateQueue:
    """Unconfirmed updates in id order, the next id, and the allowed types."""

    next_id: int = FIRST_UPDATE_ID
    pending: list[dict[str, Any]] = attrs.field(factory=list)
    allowed: frozenset[str] = DEFAULT_ALLOWED
    filtered: list[tuple[str, dict[str, Any]]] = attrs.field(factory=list)

    def add(self, kind: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Queue {"update_id": N, kind: payload}; None if `kind` is not allowed
        now. Raises `ValueError` for a kind the Bot API does not have."""
        if kind not in UPDATE_TYPES:
            raise ValueError(f"the Bot API has no update type {kind!r}")
        if kind not in self.allowed:
            self.filtered.append((kind, payload))
            return None
        update = {"update_id": self.next_id, kind: payload}
        self.next_id += 1
        self.pending.append(update)
        return update

    def set_allowed(self, sent: object) -> None:
        """Apply a sent `allowed_updates` (None, i.e. not sent, keeps the current set)."""
        if not isinstance(sent, list) or not all(isinstance(name, str) for name in sent):
            return
        named = frozenset(name.lower() for name in sent) & UPDATE_TYPES
        self.allowed = named or DEFAULT_ALLOWED

    def confirm(self, offset: int) -> None:
        """What a getUpdates `offset` confirms (0 confirms nothing)."""
        if offset > 0:
            self.pending = [u for u in self.pending if u["update_id"] >= offset]
        elif offset < 0:
            self.pending = self.pending[offset:]

    def take(self, limit: int) -> list[dict[str, Any]]:
        """The first `limit` unconfirmed updates (they stay queued until confirmed)."""
        return self.pending[:limit]

    def drop(self, update_id: int) -> None:
        """Forget one update (a webhook delivery the receiver accepted)."""
        self.pending = [u for u in self.pending if u["update_id"] != update_id]

    def clear(self) -> None:
        """Forget every pending update (drop_pending_updates)."""
        self.pending = []

    @property
    def allowed_if_not_default(self) -> list[str] | None:
        """The allowed types, sorted, or None while they are the default."""
        return None if self.allowed == DEFAULT_ALLOWED else sorted(self.allowed)
