"""The message values every channel exchanges with the session router.

A channel actor turns what a chat network delivers into `InboundMessage`s for
the router, and sends every `OutboundMessage` it receives back to the network.
Both are immutable values (they cross actor boundaries); the session key
`channel:chat_id` is the unit of conversation, rate limiting and cron ownership.
"""

from __future__ import annotations

import enum

import attrs
import trio


def session_key(channel: str, chat_id: str) -> str:
    """The key of one conversation: `channel:chat_id` (e.g. `telegram:42`)."""
    return f"{channel}:{chat_id}"


class InboundKind(enum.Enum):
    """Where an inbound message comes from."""

    USER = "user"  # a person wrote in the chat
    SUBAGENT = "subagent"  # a background subagent of this session finished
    CRON = "cron"  # a scheduled job fired for this session
    RESET = "reset"  # the user asked for a new conversation (/reset): no turn, no reply


class AttachmentKind(enum.Enum):
    """What a file attached to a message is, as the chat network labelled it."""

    PHOTO = "photo"
    DOCUMENT = "document"
    VOICE = "voice"
    AUDIO = "audio"
    VIDEO = "video"


@attrs.frozen(kw_only=True)
class Attachment:
    """A file that travels with a message, stored in the workspace.

    `path` is relative to the workspace (e.g. `inbox/telegram-42-17-photo.jpg`);
    `mime_type` and `size` are what was received or will be sent.
    `transcript` is the text of a voice note the channel had transcribed
    (None: not transcribed, no endpoint configured or it failed).
    """

    kind: AttachmentKind
    path: str
    mime_type: str = ""
    size: int = 0
    transcript: str | None = None


@attrs.frozen(kw_only=True)
class InboundMessage:
    """One message for the agent of conversation `channel:chat_id`.

    `sender_id` identifies the author on the network (already authorised by
    the channel's access rules) and `sender_name` is how they are shown;
    `content` is the text as delivered. What chat networks add:
    `message_id` (the platform's id of this message), `thread_id` (forum
    topic or thread), `reply_to_id` (the message it answers), `is_group`,
    `addressed` (the bot was mentioned or replied to), `attachments`
    (files already saved in the workspace). `journal_id` names the inbound
    journal entry that holds this message until its final reply is delivered
    (None for messages that were never journaled: terminal, cron, subagents).
    `scheduled` says which cron job fired a CRON message (None otherwise).
    """

    channel: str
    chat_id: str
    content: str
    sender_id: str = ""
    sender_name: str = ""
    kind: InboundKind = InboundKind.USER
    message_id: str | None = None
    thread_id: str | None = None
    reply_to_id: str | None = None
    is_group: bool = False
    addressed: bool = False
    attachments: tuple[Attachment, ...] = ()
    journal_id: str | None = None
    scheduled: ScheduledRun | None = None

    @property
    def session_key(self) -> str:
        return session_key(self.channel, self.chat_id)


@attrs.frozen(kw_only=True, eq=False)
class ScheduledRun:
    """The cron job a CRON message runs: its `job_id` and `name` (the turn is
    told it is a scheduled run of this job), and `done`, a one-shot reply
    channel (buffer 1, the scheduler owns the receive side) that gets the
    turn's final reply once it was handed to the outbound mailbox, or the
    refusal or failure that ended the run without one. Whoever ends the run
    sends once (`send_nowait`, never blocks) and closes it."""

    job_id: str
    name: str
    done: trio.MemorySendChannel[OutboundMessage]

    def finish(self, reply: OutboundMessage) -> None:
        """Report how the run ended and close `done`. Only the first call
        counts; a scheduler that stopped waiting is no error."""
        try:
            self.done.send_nowait(reply)
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # already reported, or nobody waits any more
        self.done.close()


@attrs.frozen(kw_only=True)
class OutboundMessage:
    """Text the assistant sends to conversation `channel:chat_id`.

    `final` marks the reply that ends a turn (progress messages from the
    `message` tool are not final); `is_error` marks a generic apology sent
    because something failed (details are in the log). Chat channels send
    every message the same way; the terminal channel uses both flags to know
    when `autobot agent -m` is done and what its exit status is.
    `failure` is the log-safe reason of an apology (e.g. `anthropic: HTTP 401
    authentication_error after 1 attempt`) for the owner's terminal only:
    chat channels send `content` and never this.
    `reply_to_id` and `thread_id` place the reply (a group reply quotes the
    message it answers; a forum topic keeps its thread); `attachments` are
    workspace files to send with it. `completes` lists the inbound journal
    entries this final reply answers: the channel marks them done once the
    network has accepted the reply.
    """

    channel: str
    chat_id: str
    content: str
    final: bool = False
    is_error: bool = False
    failure: str | None = None
    reply_to_id: str | None = None
    thread_id: str | None = None
    attachments: tuple[Attachment, ...] = ()
    completes: tuple[str, ...] = ()

    @property
    def session_key(self) -> str:
        return session_key(self.channel, self.chat_id)
