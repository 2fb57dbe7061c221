"""The guarded HTTP client behind `web_fetch`: pinned hops, redirects, size cap.

`fetch_guarded` validates the URL, resolves it once, judges every address,
and connects only to those addresses (`PinnedNetworkBackend`) while the URL,
Host header, SNI and certificate checks keep the original host name. It
follows at most `max_redirects` redirects itself, validating every hop the
same way, always with GET. It reads at most `max_bytes` of the body.

It returns a `FetchedPage` or a `UrlRejected` (an SSRF/validation refusal),
and raises `FetchError` for DNS, network and protocol failures. Timeouts: connect
and read are per operation (`FetchLimits`); the caller bounds the total.
"""

from __future__ import annotations

import ssl
from urllib.parse import urljoin

import attrs
import httpcore
import httpx
import trio

from autobot.http.body import Overflow, read_capped
from autobot.security.net_pinned import PinnedNetworkBackend
from autobot.security.ssrf import Allowlist, UrlRejected
from autobot.security.ssrf_resolve import PinnedTarget, ResolutionError, Resolver, guard_url

_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_CLOSE_GRACE_SECONDS = 2.0
_USER_AGENT = "autobot-web-fetch/0.1"


@attrs.frozen(kw_only=True)
class FetchLimits:
    """Per-operation timeouts (seconds), the total the tool allows, body cap, hops."""

    connect_timeout: float = 10.0
    read_timeout: float = 10.0
    total_timeout: float = 30.0
    max_bytes: int = 5 * 1024 * 1024
    max_redirects: int = 5


@attrs.frozen(kw_only=True)
class FetchedPage:
    """The final response: `capped` when the body went past `max_bytes`."""

    url: str
    status: int
    content_type: str | None
    body: bytes
    capped: bool
    redirects: int


class FetchError(Exception):
    """A network or protocol failure; `str()` is the message for the model."""


@attrs.frozen(kw_only=True)
class _Redirect:
    location: str


def default_ssl_context() -> ssl.SSLContext:
    """Certificate and host name verification on, CA bundle as httpx uses it."""
    return httpx.create_ssl_context()


async def fetch_guarded(
    url: str,
    *,
    allowlist: Allowlist,
    resolver: Resolver,
    network_backend: httpcore.AsyncNetworkBackend,
    ssl_context: ssl.SSLContext,
    limits: FetchLimits,
) -> FetchedPage | UrlRejected:
    """GET `url` through the SSRF guard, following redirects (see module doc)."""
    current = url
    for hop in range(limits.max_redirects + 1):
        try:
            target = await guard_url(current, allowlist, resolver)
        except ResolutionError as exc:
            if hop == 0:
                raise FetchError(str(exc)) from exc
            raise FetchError(f"redirect to {current[:200]!r} failed: {exc}") from exc
        if isinstance(target, UrlRejected):
            if hop == 0:
                return target
            # repr() quotes the server-chosen URL and escapes anything unprintable.
            return UrlRejected(f"redirect to {current[:200]!r} refused: {target.reason}")
        outcome = await _get_once(target, network_backend, ssl_context, limits, hop)
        if isinstance(outcome, FetchedPage):
            return outcome
        current = urljoin(target.url.url, outcome.location)
    raise FetchError(f"too many redirects (max {limits.max_redirects})")


async def _get_once(
    target: PinnedTarget,
    inner: httpcore.AsyncNetworkBackend,
    ssl_context: ssl.SSLContext,
    limits: FetchLimits,
    hop: int,
) -> FetchedPage | _Redirect:
    pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl_context,
        max_connections=1,
        http1=True,
        http2=False,
        retries=0,
        network_backend=PinnedNetworkBackend(target=target, inner=inner),
    )
    validated = target.url
    request_url = httpcore.URL(
        scheme=validated.scheme.encode("ascii"),
        host=validated.host.name.encode("ascii"),
        port=validated.port,
        target=validated.target.encode("ascii"),
    )
    headers = [
        (b"Host", validated.authority.encode("ascii")),
        (b"User-Agent", _USER_AGENT.encode("ascii")),
        (b"Accept", b"text/html, application/json, text/*;q=0.9, */*;q=0.5"),
        (b"Accept-Encoding", b"identity"),
    ]
    timeouts = {
        "connect": limits.connect_timeout,
        "read": limits.read_timeout,
        "write": limits.read_timeout,
        "pool": limits.connect_timeout,
    }
    try:
        async with pool.stream(
            "GET", request_url, headers=headers, extensions={"timeout": timeouts}
        ) as response:
            header_map = {k.decode("latin-1").lower(): v for k, v in response.headers}
            if response.status in _REDIRECT_STATUSES and "location" in header_map:
                return _Redirect(location=_location_text(header_map["location"]).strip())
            encoding = header_map.get("content-encoding", b"identity").decode("latin-1")
            encoding = encoding.strip().lower()
            if encoding not in ("", "identity"):
                raise FetchError(f"unsupported Content-Encoding {encoding!r} from {validated.url}")
            body = await read_capped(response.aiter_stream(), limits.max_bytes, Overflow.TRUNCATE)
            return FetchedPage(
                url=validated.url,
                status=response.status,
                content_type=_latin1(header_map.get("content-type")),
                body=body.data,
                capped=body.capped,
                redirects=hop,
            )
    except httpcore.TimeoutException as exc:
        raise FetchError(_timeout_message(exc, validated.url, limits)) from exc
    except (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol) as exc:
        raise FetchError(_network_message(exc, validated.url)) from exc
    finally:
        with trio.move_on_after(_CLOSE_GRACE_SECONDS) as cleanup:
            cleanup.shield = True
            await pool.aclose()


def _location_text(value: bytes) -> str:
    """A Location header as text: UTF-8 (what servers send for non-ASCII
    paths), else Latin-1 (HTTP's historical encoding); validation re-encodes it."""
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def _latin1(value: bytes | None) -> str | None:
    return None if value is None else value.decode("latin-1")


def _timeout_message(exc: httpcore.TimeoutException, url: str, limits: FetchLimits) -> str:
    if isinstance(exc, httpcore.ConnectTimeout):
        return f"connecting to {url} timed out after {limits.connect_timeout:g} s"
    return f"reading from {url} timed out after {limits.read_timeout:g} s"


def _network_message(exc: Exception, url: str) -> str:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate verification failed for {url}: {cause.verify_message}"
        cause = cause.__cause__ or cause.__context__
    kind = "protocol error" if isinstance(exc, httpcore.ProtocolError) else "network error"
    detail = str(exc) or type(exc).__name__
    return f"{kind} while fetching {url}: {detail}"
