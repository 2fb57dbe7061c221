"""The SSRF guard's resolution step: URL -> every DNS answer judged -> a pinned target.

`Resolver` is the injected DNS port (`SystemResolver` in production, fakes in
tests). `guard_url` runs validation, resolves once, and returns a
`PinnedTarget` whose addresses are the only ones the connection may dial
(see `autobot.security.net_pinned`), so DNS rebinding has no second lookup
to exploit. A host that does not resolve is a failed operation, not a
security refusal: it raises `ResolutionError`.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence
from ipaddress import ip_address
from typing import Protocol

import attrs
import trio

from autobot.security.ssrf import (
    Allowlist,
    UrlRejected,
    ValidatedUrl,
    judge_addresses,
    validate_url,
)
from autobot.security.ssrf_address import IPAddress


class ResolutionError(Exception):
    """The host name did not resolve; `str()` names it, for the model."""


class Resolver(Protocol):
    """Resolves a host name; raises `OSError` when it cannot."""

    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]: ...


@attrs.frozen
class SystemResolver:
    """The C library resolver through `trio.socket.getaddrinfo`."""

    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        infos = await trio.socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        # An IPv6 sockaddr may carry a scope ("fe80::1%eth0"); the address is judged.
        return [ip_address(str(info[4][0]).partition("%")[0]) for info in infos]


@attrs.frozen(kw_only=True)
class PinnedTarget:
    """A validated URL and the judged addresses its connection must use."""

    url: ValidatedUrl
    addresses: tuple[IPAddress, ...]


async def guard_url(
    url: str, allowlist: Allowlist, resolver: Resolver
) -> PinnedTarget | UrlRejected:
    """Validate `url`, resolve its host once, and judge every address;
    raises `ResolutionError`."""
    validated = validate_url(url)
    if isinstance(validated, UrlRejected):
        return validated
    return await pin(validated, allowlist, resolver)


async def pin(
    validated: ValidatedUrl, allowlist: Allowlist, resolver: Resolver
) -> PinnedTarget | UrlRejected:
    """Resolve (unless the host is a literal) and judge every address;
    raises `ResolutionError`."""
    if validated.host.address is not None:
        answers: Sequence[IPAddress] = (validated.host.address,)
    else:
        name = validated.host.name
        try:
            answers = await resolver.resolve(name, validated.port)
        except OSError as exc:
            raise ResolutionError(f"cannot resolve host {name!r}") from exc
        if not answers:
            raise ResolutionError(f"cannot resolve host {name!r}: no addresses")
    judged = judge_addresses(answers, allowlist)
    if isinstance(judged, UrlRejected):
        return judged
    return PinnedTarget(url=validated, addresses=judged)
