"""The Bot API's answers: the JSON envelope and one error hierarchy (pure).

`answer_result` reads an answer: the `result` of {"ok": true, ...}, or the
`TelegramError` an error answer stands for, by its `error_code`:

- `Unauthorized`: 401, or a 404 answer on the bot URL (a revoked or malformed
  token): permanent;
- `Forbidden`: 403, the bot was blocked by the user or kicked from the group:
  permanent for that chat;
- `BadRequest`: 400; `is_parse_error` for "can't parse entities",
  `migrate_to_chat_id` when a group became a supergroup;
- `Conflict`: 409, another getUpdates poller or an active webhook
  (`webhook_active` tells them apart; the description is kept);
- `RateLimited`: 429, with `retry_after` seconds when the API sent them;
- `ServerError`: 5xx;
- any other status: `TelegramError` itself (permanent).

An answer that is not the envelope is `NetworkTrouble` (or `ServerError`
with a 5xx status). The client adds `NetworkTrouble` for no answer at all
and `FileTooLarge` for a download beyond its cap. `is_transient(exc)`
separates what a channel cools down from and retries (network, 5xx, 429,
409) from what retrying cannot fix.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from autobot.channels.json_fields import is_int

_PARSE_ERROR = "can't parse entities"
# "can't use getUpdates method while webhook is active", and what the poll that
# was waiting when a webhook got set receives: "terminated by setWebhook request"
_WEBHOOK_CONFLICTS = ("webhook is active", "terminated by setwebhook")


class TelegramError(Exception):
    """A Bot API call failed. `code` is the API's error_code (0 when nothing
    answered), `description` its text (scrubbed of the token), `method` the
    call; `retry_after` (seconds) and `migrate_to_chat_id` come from the
    answer's `parameters`."""

    def __init__(
        self,
        code: int,
        description: str,
        *,
        method: str = "",
        retry_after: int | None = None,
        migrate_to_chat_id: int | None = None,
    ) -> None:
        where = f"Telegram {method}" if method else "Telegram"
        status = f"{code} " if code else ""
        super().__init__(f"{where}: {status}{description}")
        self.code = code
        self.description = description
        self.method = method
        self.retry_after = retry_after
        self.migrate_to_chat_id = migrate_to_chat_id


class Unauthorized(TelegramError):
    """401 (or 404 on the bot URL): the token is wrong or revoked. Permanent."""


class Forbidden(TelegramError):
    """403: the bot was blocked by the user or removed from the chat. Permanent for that chat."""


class BadRequest(TelegramError):
    """400: the request itself is wrong (chat not found, text not parsable...)."""

    @property
    def is_parse_error(self) -> bool:
        """The text's formatting was refused ("can't parse entities")."""
        return _PARSE_ERROR in self.description.lower()


class Conflict(TelegramError):
    """409: another getUpdates poller, or a webhook is active (`webhook_active`:
    one is set, or setWebhook just ended this poll)."""

    @property
    def webhook_active(self) -> bool:
        description = self.description.lower()
        return any(marker in description for marker in _WEBHOOK_CONFLICTS)


class RateLimited(TelegramError):
    """429: too many requests; wait `retry_after` seconds (when given)."""


class ServerError(TelegramError):
    """5xx: the Bot API failed."""


class NetworkTrouble(TelegramError):
    """No usable answer: connection failure, no answer in time, or a body that
    is not the Bot API's JSON."""


class FileTooLarge(TelegramError):
    """A file larger than the caller accepts; refused before it was read in full."""


def is_transient(exc: BaseException) -> bool:
    """Whether retrying later may succeed: network trouble, 5xx, 429, 409."""
    return isinstance(exc, NetworkTrouble | ServerError | RateLimited | Conflict)


def answer_result(
    method: str,
    status: int,
    body: bytes,
    scrub: Callable[[str], str],
    *,
    bot_url: bool,
) -> Any:
    """The `result` of an {"ok": true} answer to `method`; raises the
    `TelegramError` an error answer stands for (its description passed
    through `scrub`), or `NetworkTrouble` for anything else. `bot_url`: the
    answer came from `/bot<token>/...`, where a 404 means a bad token."""
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError):
        answer = None
    if isinstance(answer, dict) and answer.get("ok") is True and "result" in answer:
        return answer["result"]
    description = answer.get("description") if isinstance(answer, dict) else None
    if (
        not isinstance(answer, dict)
        or answer.get("ok") is not False
        or not isinstance(description, str)
    ):
        if status >= 500:
            raise ServerError(status, "an answer that is not the Bot API's JSON", method=method)
        raise NetworkTrouble(
            0, f"HTTP {status} answer that is not the Bot API's JSON", method=method
        )
    code = answer.get("error_code")
    if not is_int(code):
        code = status
    parameters = answer.get("parameters")
    parameters = parameters if isinstance(parameters, dict) else {}
    retry_after = parameters.get("retry_after")
    migrate = parameters.get("migrate_to_chat_id")
    kind = _error_class(code, bot_url=bot_url)
    raise kind(
        code,
        scrub(description),
        method=method,
        retry_after=retry_after if is_int(retry_after) and retry_after >= 0 else None,
        migrate_to_chat_id=migrate if is_int(migrate) else None,
    )


def _error_class(code: int, *, bot_url: bool) -> type[TelegramError]:
    if code == 401 or (code == 404 and bot_url):
        return Unauthorized
    if code >= 500:
        return ServerError
    return {400: BadRequest, 403: Forbidden, 409: Conflict, 429: RateLimited}.get(
        code, TelegramError
    )
