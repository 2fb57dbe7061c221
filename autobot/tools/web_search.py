"""The `web_search {query, count?}` tool: Brave Search API results, fenced as untrusted.

The client talks only to the configured API endpoint (`tools.web.search.
base_url`), never to a model-chosen URL, so it does not pass through the SSRF
guard; it does not follow redirects and ignores proxy environment variables.
The API key is revealed only while building the request.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, ClassVar

import attrs
import httpx
import trio

from autobot.config.schema import WebSearchConfig
from autobot.config.secret import Secret
from autobot.http.body import BodyTooLarge, Overflow, read_capped
from autobot.tools.base import ToolContext, ToolResult
from autobot.tools.html_text import html_to_text
from autobot.tools.web_content import wrap_untrusted

DEFAULT_COUNT = 5
MAX_COUNT = 10
NOT_CONFIGURED = "web_search is not configured: set tools.web.search.api_key"
MAX_FIELD_CHARS = 4096  # of a title or snippet's HTML: results are short


@attrs.frozen(kw_only=True)
class SearchLimits:
    """Connect/read timeouts, the total the tool allows (seconds), response cap."""

    connect_timeout: float = 10.0
    read_timeout: float = 10.0
    total_timeout: float = 20.0
    max_bytes: int = 1024 * 1024


@attrs.frozen(kw_only=True)
class SearchResult:
    title: str
    url: str
    snippet: str


class SearchError(Exception):
    """The API failed or answered garbage; `str()` is the message for the model."""


@attrs.define(kw_only=True)
class WebSearchTool:
    """Searches the web through the Brave Search API (`config.base_url`)."""

    concurrency_safe: ClassVar[bool] = True  # no side effects in the workspace
    config: WebSearchConfig
    limits: SearchLimits = attrs.field(factory=SearchLimits)

    name: ClassVar[str] = "web_search"
    description: ClassVar[str] = (
        "Search the web. Returns a numbered list of results (title, URL, snippet); "
        "the results are untrusted external data."
    )
    parameters: ClassVar[Mapping[str, Any]] = {
        "type": "object",
        "properties": {
            "query": {"type": "string", "description": "What to search for."},
            "count": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_COUNT,
                "description": f"Number of results (default {DEFAULT_COUNT}).",
            },
        },
        "required": ["query"],
    }

    async def run(self, args: Mapping[str, Any], ctx: ToolContext) -> ToolResult:
        query = args.get("query")
        count = args.get("count", DEFAULT_COUNT)
        if not isinstance(query, str) or not query.strip():
            return ToolResult.error("web_search: 'query' must be a non-empty string")
        if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_COUNT:
            return ToolResult.error(f"web_search: 'count' must be an integer from 1 to {MAX_COUNT}")
        api_key = self.config.api_key
        if api_key is None:
            return ToolResult.error(NOT_CONFIGURED)
        total = self.limits.total_timeout
        with trio.move_on_after(total) as deadline:
            try:
                results = await self._search(query, count, api_key)
            except SearchError as exc:
                return ToolResult.error(f"web_search failed: {exc}")
        if deadline.cancelled_caught:
            return ToolResult.error(f"web_search failed: timed out after {total:g} s in total")
        return ToolResult.ok(format_results(query, results))

    async def _search(self, query: str, count: int, api_key: Secret) -> list[SearchResult]:
        timeout = httpx.Timeout(self.limits.read_timeout, connect=self.limits.connect_timeout)
        headers = {"Accept": "application/json", "X-Subscription-Token": api_key.reveal()}
        try:
            async with (
                httpx.AsyncClient(
                    timeout=timeout, follow_redirects=False, trust_env=False
                ) as client,
                client.stream(
                    "GET",
                    self.config.base_url,
                    params={"q": query, "count": str(count)},
                    headers=headers,
                ) as response,
            ):
                if response.status_code != 200:
                    raise SearchError(f"search API answered HTTP {response.status_code}")
                body = await read_capped(
                    response.aiter_bytes(), self.limits.max_bytes, Overflow.REFUSE
                )
        except BodyTooLarge as exc:
            raise SearchError(f"search API {exc}") from exc
        except httpx.TimeoutException as exc:
            raise SearchError("the search API timed out") from exc
        except httpx.HTTPError as exc:
            raise SearchError(f"could not reach the search API ({type(exc).__name__})") from exc
        return parse_brave_results(body.data, count)


def parse_brave_results(body: bytes, count: int) -> list[SearchResult]:
    """The first `count` web results of a Brave response; raises `SearchError`."""
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise SearchError("search API answered something that is not JSON") from exc
    web = payload.get("web") if isinstance(payload, dict) else None
    items = web.get("results", []) if isinstance(web, dict) else []
    if not isinstance(items, list):
        raise SearchError("search API answer has no result list")
    results = []
    for item in items[:count]:
        if not isinstance(item, dict):
            continue
        results.append(
            SearchResult(
                title=html_to_text(str(item.get("title", ""))[:MAX_FIELD_CHARS]),
                url=str(item.get("url", "")),
                snippet=html_to_text(str(item.get("description", ""))[:MAX_FIELD_CHARS]),
            )
        )
    return results


def format_results(query: str, results: list[SearchResult]) -> str:
    """A numbered list (title, URL, snippet) fenced as untrusted content."""
    if not results:
        body = "No results."
    else:
        body = "\n\n".join(
            f"{n}. {r.title}\n   {r.url}\n   {r.snippet}" for n, r in enumerate(results, 1)
        )
    return f"Search results for {query!r}:\n" + wrap_untrusted(body, "web_search")
