"""What the HTTP actor needs to know of a webhook: its handler's shape and answer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import attrs


@attrs.frozen(kw_only=True)
class WebhookAnswer:
    """The HTTP status and plain-text body a webhook handler answers with."""

    status: int
    body: bytes


# (lower-case request headers, body) -> answer
WebhookHandler = Callable[[Mapping[str, str], bytes], Awaitable[WebhookAnswer]]
