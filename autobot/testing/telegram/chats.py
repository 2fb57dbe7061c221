"""The chats the fake knows: message ids, forum topics, stored messages, blocks.

Message ids are sequential per chat and shared by the users' and the bot's
messages, as in a real chat. A forum topic is opened by a service message
whose id is the topic's `message_thread_id`; a message in a topic that
replies to nothing in particular carries that service message as
`reply_to_message`, as the real API sends it (a client must not take it for
a reply to the bot). A replied-to message is embedded one level deep.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from autobot.testing.telegram.objects import TelegramChat, TelegramUser
from autobot.testing.telegram.request import ApiError

TOPIC_ICON_COLOR = 0x6FB9F0  # one of the six colours the API allows


@attrs.define
class ChatState:
    """One chat: its description, next message id, topics and messages."""

    chat: TelegramChat
    blocked: bool = False  # a private chat whose user blocked the bot
    next_message_id: int = 1
    topics: dict[int, str] = attrs.field(factory=dict)  # thread id -> topic name
    messages: dict[int, dict[str, Any]] = attrs.field(factory=dict)

    def new_message(
        self,
        *,
        sender: TelegramUser,
        date: int,
        content: Mapping[str, Any],
        thread_id: int | None = None,
        reply_to: int | None = None,
    ) -> dict[str, Any]:
        """Store and return a new Message with `content` (text, photo...) merged in.

        Raises `ValueError` as `check_place`.
        """
        self.check_place(thread_id=thread_id, reply_to=reply_to)
        message: dict[str, Any] = {
            "message_id": self.next_message_id,
            "from": sender.to_api(),
            "chat": self.chat.to_api(),
            "date": date,
        }
        self.next_message_id += 1
        if thread_id is not None:
            message["message_thread_id"] = thread_id
            message["is_topic_message"] = True
        replied = reply_to if reply_to is not None else thread_id
        if replied is not None:
            message["reply_to_message"] = {
                name: value
                for name, value in self.messages[replied].items()
                if name != "reply_to_message"
            }
        message.update(content)
        self.messages[message["message_id"]] = message
        return message

    def check_place(self, *, thread_id: int | None, reply_to: int | None) -> None:
        """Raises `ValueError` for a thread this chat does not have or a reply to
        a message it does not have."""
        if thread_id is not None and thread_id not in self.topics:
            raise ValueError(f"chat {self.chat.id} has no topic {thread_id}")
        if reply_to is not None and reply_to not in self.messages:
            raise ValueError(f"chat {self.chat.id} has no message {reply_to}")

    def open_topic(self, *, name: str, creator: TelegramUser, date: int) -> int:
        """Open a forum topic; its thread id. Raises `ValueError` if the chat is
        not a forum."""
        if not self.chat.is_forum:
            raise ValueError(f"chat {self.chat.id} is not a forum: it has no topics")
        thread_id = self.next_message_id
        self.topics[thread_id] = name
        created = {"forum_topic_created": {"name": name, "icon_color": TOPIC_ICON_COLOR}}
        message = self.new_message(sender=creator, date=date, content=created)
        message["message_thread_id"] = thread_id
        message["is_topic_message"] = True
        return thread_id


@attrs.define
class ChatBook:
    """Every chat the fake knows, by id."""

    chats: dict[int, ChatState] = attrs.field(factory=dict)

    def add(self, chat: TelegramChat) -> ChatState:
        """The chat's state, created on first sight; a changed description
        (title, forum flag...) replaces the old one."""
        state = self.chats.get(chat.id)
        if state is None:
            state = self.chats[chat.id] = ChatState(chat=chat)
        elif state.chat != chat:
            if state.chat.type != chat.type:
                raise ValueError(f"chat {chat.id} is a {state.chat.type} chat, not a {chat.type}")
            state.chat = chat
        return state

    def check_place(
        self, chat: TelegramChat, *, thread_id: int | None, reply_to: int | None
    ) -> None:
        """`ChatState.check_place` for `chat`, known or not (an unknown chat has
        no topics and no messages yet)."""
        state = self.chats.get(chat.id) or ChatState(chat=chat)
        state.check_place(thread_id=thread_id, reply_to=reply_to)

    def resolve(self, reference: int | str | None) -> ChatState:
        """The chat a `chat_id` argument names: an id, or "@username" of a
        group (never a person's); raises `ApiError` 400 as the API does."""
        if reference is None or reference == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        if isinstance(reference, int):
            if reference in self.chats:
                return self.chats[reference]
        elif reference.startswith("@"):
            name = reference[1:].lower()
            for state in self.chats.values():
                username = state.chat.username
                if state.chat.is_group and username is not None and username.lower() == name:
                    return state
        raise ApiError(400, "Bad Request: chat not found")
