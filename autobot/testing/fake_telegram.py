"""A loopback fake of the Telegram Bot API, for the real channel client to talk to.

    async with serve_fake_telegram() as fake:
        client = ...(api_base=fake.base_url, token=fake.token)
        alice = TelegramUser(id=1001, first_name="Alice", username="alice")
        fake.post_text(alice, "hello")
        reply = await fake.next_message(alice.id)
        assert reply.text == "Hi Alice!"

Only the far end is fake: requests go to `{base_url}/bot<token>/<method>`
(GET query, or POST JSON / urlencoded / multipart) and files to
`{base_url}/file/bot<token>/<file_path>`, and are answered in the API's
envelope. A wrong token is 401 "Unauthorized", an unknown method 404 "Not
Found". The methods (`autobot.testing.telegram.methods`) are getMe,
getUpdates (offset confirmation, limit, long poll in trio time, sticky
allowed_updates, the two 409 conflicts), setWebhook / deleteWebhook /
getWebhookInfo (and delivery to the webhook), sendMessage (entities counted
in UTF-16, HTML and MarkdownV2 parse modes, replies, forum topics, blocked
users), sendChatAction, sendPhoto / sendDocument / sendVoice and getFile.

A test plays the users (`post_text`, `post_photo`, `post_document`,
`post_voice`, `open_topic`, `block_bot`), reads what the bot did (`sent`,
`next_message`, `chat_actions`, `calls`, `polls`, `downloads`,
`webhook.deliveries`),
and makes things fail (`fail_next` with a `Fault`, `revoke_token`).
Everything timed runs on trio's clock, so `autojump_clock` tests can assert
exact virtual times. `date` fields are `DATE_EPOCH` plus trio time.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import PurePosixPath
from typing import Any

import attrs
import httpx
import trio

from autobot.testing.faults import instead_of_answer
from autobot.testing.http_server import (
    HttpRequest,
    HttpResponse,
    LoopbackServer,
    serve_http,
    single_exceptions_unwrapped,
)
from autobot.testing.telegram.delivery import deliver_updates
from autobot.testing.telegram.entities import Entity, FormattedText, check_spans, find_entities
from autobot.testing.telegram.faults import Fault, FaultPlan
from autobot.testing.telegram.files import StoredFile
from autobot.testing.telegram.methods import METHODS
from autobot.testing.telegram.objects import BotProfile, TelegramChat, TelegramUser
from autobot.testing.telegram.records import ApiCall, Download, SentMessage
from autobot.testing.telegram.request import (
    ApiError,
    ApiRoute,
    Arguments,
    FileRoute,
    parse_route,
    read_arguments,
)
from autobot.testing.telegram.state import TelegramState

DEFAULT_TOKEN = "123456789:AAEfake-Token_for_the_loopback_Bot_API"
TOKEN = re.compile(r"[0-9]{1,19}:[A-Za-z0-9_-]+")
WEBHOOK_RETRY_DELAY = 2.0  # seconds between two tries of an update the webhook refused
WEBHOOK_TIMEOUT = 10.0  # seconds the fake waits for the webhook's answer


@attrs.define(kw_only=True, eq=False)
class FakeTelegram(TelegramState):
    """A running fake: the server's state (`TelegramState`), the HTTP server,
    what only the HTTP side records, and the test's controls."""

    server: LoopbackServer
    token: str
    faults: FaultPlan = attrs.field(factory=FaultPlan)
    calls: list[ApiCall] = attrs.field(factory=list)
    downloads: list[Download] = attrs.field(factory=list)
    token_revoked: bool = False
    _returned: dict[int, int] = attrs.field(factory=dict)  # chat id -> messages next_message gave

    @property
    def base_url(self) -> str:
        """What a client uses as `api_base`."""
        return self.server.base_url

    @property
    def api_url(self) -> str:
        """`{base_url}/bot<token>`: a method's URL is this plus `/<method>`."""
        return f"{self.base_url}/bot{self.token}"

    # -- the users' side --------------------------------------------------------

    def add_chat(self, chat: TelegramChat) -> None:
        """Make a chat known (posting into a chat does it too)."""
        self.chats.add(chat)
        self.changed()

    def open_topic(self, chat: TelegramChat, name: str, creator: TelegramUser) -> int:
        """Open a topic in a forum chat; its `message_thread_id`. Raises
        `ValueError` if the chat is not a forum."""
        thread_id = self.chats.add(chat).open_topic(
            name=name, creator=creator, date=self.unix_time()
        )
        self.changed()
        return thread_id

    def post_text(
        self,
        sender: TelegramUser,
        text: str,
        *,
        chat: TelegramChat | None = None,
        entities: Sequence[Entity] | None = None,
        thread_id: int | None = None,
        reply_to: int | None = None,
    ) -> dict[str, Any]:
        """`sender` writes `text` in `chat` (default: their private chat with the
        bot); the Message. `entities` default to what a Telegram app marks
        (@mentions, /commands); `thread_id` posts in a forum topic; `reply_to`
        is the id of a message in that chat (one of the bot's, say). Raises
        `ValueError` for empty text, an unknown topic or message."""
        if not text:
            raise ValueError("a Telegram message cannot have empty text")
        found = find_entities(text) if entities is None else tuple(entities)
        check_spans(found, text)
        content = FormattedText(text=text, entities=found).fields("text", "entities")
        return self._post(sender, chat, lambda: content, thread_id=thread_id, reply_to=reply_to)

    def post_photo(
        self,
        sender: TelegramUser,
        sizes: Sequence[tuple[int, int, bytes]],
        *,
        chat: TelegramChat | None = None,
        caption: str | None = None,
        thread_id: int | None = None,
        reply_to: int | None = None,
    ) -> dict[str, Any]:
        """`sender` sends a photo: `sizes` are (width, height, bytes), smallest
        first as the API lists them; each becomes a downloadable file."""
        if not sizes:
            raise ValueError("a photo needs at least one size")

        def photo() -> dict[str, Any]:
            stored = [self.files.add(c, folder="photos", extension=".jpg") for _, _, c in sizes]
            return {
                "photo": [
                    {**file.ids(), "width": width, "height": height}
                    for file, (width, height, _) in zip(stored, sizes, strict=True)
                ],
                **_caption(caption),
            }

        return self._post(sender, chat, photo, thread_id=thread_id, reply_to=reply_to)

    def post_document(
        self,
        sender: TelegramUser,
        content: bytes,
        *,
        file_name: str,
        mime_type: str = "application/octet-stream",
        chat: TelegramChat | None = None,
        caption: str | None = None,
        thread_id: int | None = None,
        reply_to: int | None = None,
    ) -> dict[str, Any]:
        """`sender` sends a file as a document."""

        def document() -> dict[str, Any]:
            extension = PurePosixPath(file_name).suffix
            stored = self.files.add(content, folder="documents", extension=extension)
            fields = {**stored.ids(), "file_name": file_name, "mime_type": mime_type}
            return {"document": fields, **_caption(caption)}

        return self._post(sender, chat, document, thread_id=thread_id, reply_to=reply_to)

    def post_voice(
        self,
        sender: TelegramUser,
        content: bytes,
        *,
        duration: int,
        mime_type: str = "audio/ogg",
        chat: TelegramChat | None = None,
        thread_id: int | None = None,
        reply_to: int | None = None,
    ) -> dict[str, Any]:
        """`sender` records a voice note (OGG/Opus, as Telegram apps send them)."""

        def voice() -> dict[str, Any]:
            stored = self.files.add(content, folder="voice", extension=".oga")
            return {"voice": {**stored.ids(), "duration": duration, "mime_type": mime_type}}

        return self._post(sender, chat, voice, thread_id=thread_id, reply_to=reply_to)

    def inject_update(self, kind: str, payload: dict[str, Any]) -> dict[str, Any] | None:
        """Queue a raw update (edited_message, callback_query...); the Update, or
        None when the bot's allowed_updates filter it out."""
        update = self.updates.add(kind, payload)
        self.changed()
        return update

    def add_file(
        self, content: bytes, *, folder: str = "documents", extension: str = ""
    ) -> StoredFile:
        """Store a file a test wants to serve by file_id (over 20 MB, say)."""
        return self.files.add(content, folder=folder, extension=extension)

    def block_bot(self, user: TelegramUser, blocked: bool = True) -> None:
        """`user` blocks (or unblocks) the bot: sending to them answers 403."""
        self.chats.add(TelegramChat.private(user)).blocked = blocked

    # -- faults -----------------------------------------------------------------

    def fail_next(self, method: str, fault: Fault, count: int = 1) -> None:
        """The next `count` calls of `method` get `fault` instead of their answer."""
        self.faults.add(method, fault, count)

    def revoke_token(self) -> None:
        """The token stops working (as after /revoke in BotFather): every call,
        getMe included, answers 401 "Unauthorized"."""
        self.token_revoked = True

    # -- what the bot did -------------------------------------------------------

    def calls_to(self, method: str) -> list[ApiCall]:
        """Every call of `method` (case-insensitive), in arrival order."""
        return [call for call in self.calls if call.method.lower() == method.lower()]

    async def wait_for_calls(self, method: str, count: int) -> list[ApiCall]:
        """Wait until `method` has been called `count` times; those calls."""
        await self.until(lambda: len(self.calls_to(method)) >= count)
        return self.calls_to(method)[:count]

    def messages_in(self, chat_id: int) -> list[SentMessage]:
        """Everything the bot sent to `chat_id`, in order."""
        return [message for message in self.sent if message.chat_id == chat_id]

    async def next_message(self, chat_id: int) -> SentMessage:
        """The bot's next message in `chat_id` not yet returned by this method,
        waiting for it if needed (wrap in `trio.fail_after`)."""
        await self.until(lambda: len(self.messages_in(chat_id)) > self._returned.get(chat_id, 0))
        index = self._returned.get(chat_id, 0)
        self._returned[chat_id] = index + 1
        return self.messages_in(chat_id)[index]

    @property
    def pending_update_ids(self) -> list[int]:
        """The updates not yet confirmed (by an offset or a webhook's 2xx)."""
        return [update["update_id"] for update in self.updates.pending]

    def _post(
        self,
        sender: TelegramUser,
        chat: TelegramChat | None,
        content: Callable[[], Mapping[str, Any]],
        *,
        thread_id: int | None,
        reply_to: int | None,
    ) -> dict[str, Any]:
        """Store a user's message and queue its update. Everything is checked
        before `content()` stores any file: a refused post changes nothing."""
        target = chat or TelegramChat.private(sender)
        self.chats.check_place(target, thread_id=thread_id, reply_to=reply_to)
        state = self.chats.add(target)
        message = state.new_message(
            sender=sender,
            date=self.unix_time(),
            content=content(),
            thread_id=thread_id,
            reply_to=reply_to,
        )
        self.inject_update("message", message)
        return message


def _caption(caption: str | None) -> dict[str, Any]:
    if not caption:
        return {}
    return FormattedText(text=caption, entities=find_entities(caption)).fields(
        "caption", "caption_entities"
    )


@asynccontextmanager
async def serve_fake_telegram(
    *,
    token: str = DEFAULT_TOKEN,
    bot: BotProfile | None = None,
    webhook_retry_delay: float = WEBHOOK_RETRY_DELAY,
    webhook_timeout: float = WEBHOOK_TIMEOUT,
) -> AsyncIterator[FakeTelegram]:
    """Run the fake on 127.0.0.1 for the duration of the block.

    `bot` defaults to a profile whose id is the token's numeric prefix. An
    exception raised in the block propagates as itself; a bug in the fake
    (a handler that raised) is raised when the block exits, as `serve_http`
    does.
    """
    if TOKEN.fullmatch(token) is None:
        raise ValueError("a bot token looks like 123456789:AAE-letters_digits")
    profile = bot or BotProfile(id=int(token.split(":", 1)[0]))
    fake: FakeTelegram | None = None

    async def respond(request: HttpRequest) -> HttpResponse:
        assert fake is not None
        return await _respond(fake, request)

    async with (
        serve_http(respond) as server,
        httpx.AsyncClient(
            trust_env=False,
            timeout=None,  # deliver_updates times each delivery itself
        ) as client,
    ):
        fake = FakeTelegram(
            server=server,
            token=token,
            bot=profile,
            webhook_retry_delay=webhook_retry_delay,
            webhook_timeout=webhook_timeout,
        )
        with single_exceptions_unwrapped():
            async with trio.open_nursery() as nursery:
                nursery.start_soon(deliver_updates, fake, client)
                yield fake
                nursery.cancel_scope.cancel("the fake Telegram block exited")


async def _respond(fake: FakeTelegram, request: HttpRequest) -> HttpResponse:
    """Route, authenticate, record, apply a queued fault, then run the method."""
    route = parse_route(request.path)
    if isinstance(route, FileRoute):
        return _download(fake, route)
    if not isinstance(route, ApiRoute):
        return ApiError(404, "Not Found").response()
    problem: ApiError | None = None
    try:
        arguments = read_arguments(request)
    except ApiError as error:
        arguments, problem = Arguments(values={}), error
    token_ok = route.token == fake.token and not fake.token_revoked
    fake.calls.append(
        ApiCall(
            method=route.method,
            http_method=request.method,
            arguments=arguments,
            token_ok=token_ok,
            at=trio.current_time(),
        )
    )
    fake.changed()
    method = METHODS.get(route.method.lower())
    if not token_ok:
        return ApiError(401, "Unauthorized").response()
    if method is None:
        return ApiError(404, "Not Found").response()
    if problem is not None:
        return problem.response()
    replaced = await instead_of_answer(fake.faults.take(route.method))
    if replaced is not None:
        return replaced
    try:
        return await method(fake, arguments)
    except ApiError as error:
        return error.response()


def _download(fake: FakeTelegram, route: FileRoute) -> HttpResponse:
    token_ok = route.token == fake.token and not fake.token_revoked
    content = fake.files.download(route.file_path, trio.current_time()) if token_ok else None
    fake.downloads.append(
        Download(file_path=route.file_path, served=content is not None, at=trio.current_time())
    )
    fake.changed()
    if not token_ok:
        return ApiError(401, "Unauthorized").response()
    if content is None:
        return ApiError(404, "Not Found").response()
    return HttpResponse(
        status=200, headers={"content-type": "application/octet-stream"}, body=content
    )
