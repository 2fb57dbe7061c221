"""Telegram users, chats and the bot's own profile, as immutable values.

Each value renders itself as the Bot API object (`to_api()`): only the
fields the real API includes for it, so a client that reads an optional field
without checking is caught.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs

ChatType = Literal["private", "group", "supergroup", "channel"]


@attrs.frozen(kw_only=True)
class TelegramUser:
    """A Telegram account: a person unless `is_bot`."""

    id: int
    first_name: str
    username: str | None = None
    last_name: str | None = None
    is_bot: bool = False
    language_code: str | None = None

    def to_api(self) -> dict[str, Any]:
        """The Bot API `User` object."""
        user: dict[str, Any] = {"id": self.id, "is_bot": self.is_bot, "first_name": self.first_name}
        for name in ("last_name", "username", "language_code"):
            if getattr(self, name) is not None:
                user[name] = getattr(self, name)
        return user


@attrs.frozen(kw_only=True)
class TelegramChat:
    """A chat: a private chat has the user's id, groups have negative ids.

    `is_forum` (supergroups only) means the chat has topics, and only then is
    `message_thread_id` accepted when sending to it.
    """

    id: int
    type: ChatType
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    is_forum: bool = False

    def __attrs_post_init__(self) -> None:
        if self.is_forum and self.type != "supergroup":
            raise ValueError(f"only a supergroup can be a forum, not a {self.type} chat")
        if (self.type == "private") != (self.id > 0):
            raise ValueError(f"a {self.type} chat cannot have id {self.id}")

    @classmethod
    def private(cls, user: TelegramUser) -> TelegramChat:
        """The private chat between `user` and the bot."""
        return cls(
            id=user.id,
            type="private",
            username=user.username,
            first_name=user.first_name,
            last_name=user.last_name,
        )

    @property
    def is_group(self) -> bool:
        return self.type in ("group", "supergroup")

    def to_api(self) -> dict[str, Any]:
        """The Bot API `Chat` object."""
        chat: dict[str, Any] = {"id": self.id, "type": self.type}
        for name in ("title", "username", "first_name", "last_name"):
            if getattr(self, name) is not None:
                chat[name] = getattr(self, name)
        if self.is_forum:
            chat["is_forum"] = True
        return chat


@attrs.frozen(kw_only=True)
class BotProfile:
    """Who the bot is (what `getMe` answers). Real bot ids are the token's prefix."""

    id: int = 123456789
    username: str = "autobot_test_bot"
    first_name: str = "Autobot Test"
    can_join_groups: bool = True
    can_read_all_group_messages: bool = False  # privacy mode on, Telegram's default
    supports_inline_queries: bool = False
    has_topics_enabled: bool = False
    allows_users_to_create_topics: bool = False

    @property
    def user(self) -> TelegramUser:
        """The bot as the sender of its own messages."""
        return TelegramUser(
            id=self.id, first_name=self.first_name, username=self.username, is_bot=True
        )

    def get_me(self) -> dict[str, Any]:
        """The `getMe` result: the `User` object with the bot-only fields."""
        return {
            **self.user.to_api(),
            "can_join_groups": self.can_join_groups,
            "can_read_all_group_messages": self.can_read_all_group_messages,
            "supports_inline_queries": self.supports_inline_queries,
            "can_connect_to_business": False,
            "has_main_web_app": False,
            "has_topics_enabled": self.has_topics_enabled,
            "allows_users_to_create_topics": self.allows_users_to_create_topics,
        }
