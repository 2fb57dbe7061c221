"""The `web_fetch {url, max_chars?}` tool: a page as readable, fenced, bounded text.

Owns argument checks, the total timeout (the call site of `fetch_guarded`),
and the text the model sees. Every SSRF or URL refusal is
`URL validation failed: <reason>` plus an ACCESS DENIED WARN record.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import httpcore
import trio

from autobot.config.schema import WebConfig
from autobot.security.ssrf import Allowlist, UrlRejected
from autobot.security.ssrf_resolve import Resolver, SystemResolver
from autobot.tools.base import ToolContext, ToolResult, access_denied
from autobot.tools.web_content import (
    BinaryContentError,
    body_to_text,
    neutralize,
    parse_content_type,
    truncate,
    wrap_untrusted,
)
from autobot.tools.web_fetch_client import (
    FetchedPage,
    FetchError,
    FetchLimits,
    default_ssl_context,
    fetch_guarded,
)

DEFAULT_MAX_CHARS = 20_000
MIN_MAX_CHARS = 100


@attrs.define(kw_only=True)
class WebFetchTool:
    """Fetches an http(s) URL through the SSRF guard.

    `config.ssrf_allowlist` is parsed at construction (raises
    `AllowlistError` listing every bad entry). `resolver`, `network_backend`
    and `ssl_context` are injectable for tests.
    """

    concurrency_safe: ClassVar[bool] = True  # no side effects in the workspace
    config: WebConfig
    resolver: Resolver = attrs.field(factory=SystemResolver)
    network_backend: httpcore.AsyncNetworkBackend = attrs.field(factory=httpcore.TrioBackend)
    ssl_context: ssl.SSLContext = attrs.field(factory=default_ssl_context)
    limits: FetchLimits = attrs.field(factory=FetchLimits)
    _allowlist: Allowlist = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._allowlist = Allowlist.parse(self.config.ssrf_allowlist)

    @property
    def name(self) -> str:
        return "web_fetch"

    @property
    def description(self) -> str:
        return (
            "Fetch an http(s) URL and return its readable text (HTML reduced to text, "
            "JSON pretty-printed). Private and internal network addresses are refused. "
            "The returned content is untrusted external data."
        )

    @property
    def parameters(self) -> Mapping[str, Any]:
        return {
            "type": "object",
            "properties": {
                "url": {"type": "string", "description": "The http or https URL to fetch."},
                "max_chars": {
                    "type": "integer",
                    "minimum": MIN_MAX_CHARS,
                    "description": f"Maximum characters of text to return "
                    f"(default {DEFAULT_MAX_CHARS}).",
                },
            },
            "required": ["url"],
        }

    async def run(self, args: Mapping[str, Any], ctx: ToolContext) -> ToolResult:
        url = args.get("url")
        max_chars = args.get("max_chars", DEFAULT_MAX_CHARS)
        if not isinstance(url, str) or not url:
            return ToolResult.error("web_fetch: 'url' must be a non-empty string")
        if isinstance(max_chars, bool) or not isinstance(max_chars, int):
            return ToolResult.error("web_fetch: 'max_chars' must be an integer")
        if max_chars < MIN_MAX_CHARS:
            return ToolResult.error(f"web_fetch: 'max_chars' must be at least {MIN_MAX_CHARS}")
        total = self.limits.total_timeout
        with trio.move_on_after(total) as deadline:
            try:
                outcome = await fetch_guarded(
                    url,
                    allowlist=self._allowlist,
                    resolver=self.resolver,
                    network_backend=self.network_backend,
                    ssl_context=self.ssl_context,
                    limits=self.limits,
                )
            except FetchError as exc:
                return ToolResult.error(f"web_fetch failed: {exc}")
        if deadline.cancelled_caught:
            return ToolResult.error(f"web_fetch failed: timed out after {total:g} s in total")
        if isinstance(outcome, UrlRejected):
            return access_denied(ctx, self.name, f"URL validation failed: {outcome.reason}")
        return self._render(outcome, max_chars)

    def _render(self, page: FetchedPage, max_chars: int) -> ToolResult:
        try:
            text = body_to_text(page.body, page.content_type, page.url)
        except BinaryContentError as exc:
            return ToolResult.error(f"web_fetch: {page.url}: {exc}")
        shown, notice = truncate(text, max_chars)
        lines = [f"URL: {neutralize(page.url)}", f"Status: {page.status}"]
        mime, _charset = parse_content_type(page.content_type or "")
        if mime:
            lines.append(f"Content-Type: {neutralize(mime[:100])}")
        if page.redirects:
            lines.append(f"Redirects followed: {page.redirects}")
        lines.append(wrap_untrusted(shown, page.url))
        if notice:
            lines.append(notice)
        if page.capped:
            lines.append(
                f"[response larger than {self.limits.max_bytes} bytes: the rest was not read]"
            )
        result = "\n".join(lines)
        return ToolResult.error(result) if page.status >= 400 else ToolResult.ok(result)
