"""Value checks beyond types: ranges, URLs, CIDRs (pure).

They run on the resolved YAML tree rather than on `Config`, so range problems
are reported together with type problems in a single `ConfigError`. A check
only judges values of the right type (anything else is a type problem,
reported by the converter) and skips null ("not set").
"""

from __future__ import annotations

import math
import zoneinfo
from collections.abc import Callable, Iterator, Mapping
from urllib.parse import urlsplit

import attrs

from autobot.config.convert import did_you_mean
from autobot.config.errors import ConfigProblem, ProblemWriter
from autobot.config.keypath import join_index, join_key
from autobot.config.schema import PROVIDER_NAMES, TOOL_NAMES
from autobot.security.ssrf import AllowlistError, parse_network

# A check returns what the value "must be" when it fails, None when it passes
# (or when the value is not of the type the check judges).
Check = Callable[[object], str | None]

ANY_KEY = "*"
EACH_ITEM = "#"


def _as_number(value: object) -> float | None:
    """The value if it is an int or float (bools excluded), else None."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return None


def int_at_least(low: int) -> Check:
    """Integers must be >= `low`."""

    def check(value: object) -> str | None:
        bad = isinstance(value, int) and not isinstance(value, bool) and value < low
        return f"an integer of at least {low}" if bad else None

    return check


def int_between(low: int, high: int) -> Check:
    """Integers must lie in [low, high]."""

    def check(value: object) -> str | None:
        bad = isinstance(value, int) and not isinstance(value, bool) and not low <= value <= high
        return f"an integer from {low} to {high}" if bad else None

    return check


def number_between(low: float, high: float) -> Check:
    """Numbers must lie in [low, high] (NaN never does)."""

    def check(value: object) -> str | None:
        number = _as_number(value)
        bad = number is not None and not low <= number <= high
        return f"a number from {low:g} to {high:g}" if bad else None

    return check


def positive_number(value: object) -> str | None:
    """Numbers must be finite and > 0."""
    number = _as_number(value)
    if number is not None and not (math.isfinite(number) and number > 0):
        return "a finite number greater than 0"
    return None


def non_empty(value: object) -> str | None:
    """Strings must not be empty or blank."""
    return "a non-empty string" if isinstance(value, str) and not value.strip() else None


def url_with_scheme(*schemes: str) -> Check:
    """Strings must be absolute URLs with one of `schemes` and a host."""
    expected = "a URL with a host, starting with " + " or ".join(f"{s}://" for s in schemes)

    def check(value: object) -> str | None:
        if not isinstance(value, str):
            return None
        try:
            parts = urlsplit(value)
            ok = parts.scheme in schemes and bool(parts.hostname)
            _ = parts.port  # raises ValueError for a malformed port
        except ValueError:
            ok = False
        return None if ok else expected

    return check


def iana_zone(value: object) -> str | None:
    """Strings must name an IANA time zone the system (or `tzdata`) knows."""
    if not isinstance(value, str):
        return None
    try:
        zoneinfo.ZoneInfo(value)
    # OSError: a directory of the database ("Europe"), or an unreadable file
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError):
        return "an IANA time zone name such as Europe/Paris or UTC"
    return None


def cidr(value: object) -> str | None:
    """Strings must be SSRF allowlist entries ("10.0.0.0/8", "fd00::/8", "192.0.2.7"):
    the guard's own rule (`parse_network`), so what loads is what web_fetch accepts."""
    if not isinstance(value, str):
        return None
    try:
        parse_network(value)
    except AllowlistError as exc:
        return exc.problems[0][1]
    return None


@attrs.frozen
class Rule:
    """`check` applied at every place matching `pattern`: dotted keys, where `*`
    matches every key of a mapping and `#` every element of a list. For an
    `optional` field an empty string means "not set" and is not checked."""

    pattern: str
    check: Check
    optional: bool = False


def _rate_limit_rules(prefix: str) -> tuple[Rule, ...]:
    return (
        Rule(f"{prefix}.max_calls", int_at_least(1)),
        Rule(f"{prefix}.window_seconds", positive_number),
    )


_HTTP = url_with_scheme("http", "https")

RULES: tuple[Rule, ...] = (
    # An empty path would resolve to the bot directory itself (config.yml, .env).
    Rule("agents.defaults.workspace", non_empty),
    Rule("cron.store", non_empty),
    Rule("logging.dir", non_empty),
    Rule("agents.defaults.max_tokens", int_at_least(1)),
    Rule("agents.defaults.temperature", number_between(0, 2)),
    Rule("agents.defaults.max_tool_iterations", int_at_least(1)),
    Rule("agents.defaults.idle_timeout_seconds", positive_number),
    Rule("agents.defaults.budget.session_daily_tokens", int_at_least(1)),
    Rule("agents.defaults.budget.global_daily_tokens", int_at_least(1)),
    *(Rule(f"providers.{name}.api_base", _HTTP, optional=True) for name in PROVIDER_NAMES),
    Rule("channels.telegram.api_base", _HTTP),
    Rule("channels.slack.api_base", _HTTP),
    Rule("channels.slack.max_file_bytes", int_between(1, 1024 * 1024 * 1024)),
    Rule("channels.whatsapp.bridge_url", url_with_scheme("ws", "wss"), optional=True),
    Rule("channels.whatsapp.bridge_secret_file", non_empty),
    Rule("channels.whatsapp.node", non_empty),
    Rule("channels.whatsapp.max_file_bytes", int_between(1, 100 * 1024 * 1024)),
    Rule("channels.zulip.site", url_with_scheme("https", "http"), optional=True),
    Rule("channels.zulip.max_file_bytes", int_between(1, 1024 * 1024 * 1024)),
    Rule("cron.timezone", iana_zone, optional=True),
    Rule("cron.min_interval_seconds", int_at_least(1)),
    Rule("cron.max_jobs_per_owner", int_at_least(1)),
    Rule("gateway.host", non_empty),
    Rule("gateway.port", int_between(1, 65535)),
    Rule("tools.pool.size", int_at_least(1)),
    Rule("tools.sandbox_uid", int_between(1, 2**32 - 2)),
    Rule("channels.down_grace_seconds", positive_number),
    Rule("channels.telegram.poll_timeout", int_between(1, 50)),
    Rule("channels.telegram.max_file_bytes", int_between(1, 20 * 1024 * 1024)),
    Rule("channels.telegram.webhook_url", url_with_scheme("https")),
    Rule("channels.telegram.transcription.api_base", _HTTP, optional=True),
    Rule("channels.telegram.transcription.model", non_empty),
    Rule("channels.telegram.transcription.max_bytes", int_between(1, 25 * 1024 * 1024)),
    Rule("channels.telegram.transcription.timeout_seconds", positive_number),
    Rule("tools.sandbox_gid", int_between(1, 2**32 - 2)),
    Rule("tools.pool.max_requests_per_worker", int_at_least(1)),
    Rule("tools.exec.timeout", positive_number),
    Rule("tools.web.search.base_url", _HTTP),
    Rule(f"tools.web.ssrf_allowlist.{EACH_ITEM}", cidr),
    *_rate_limit_rules("tools.rate_limit.llm"),
    *_rate_limit_rules("tools.rate_limit.tools"),
    *_rate_limit_rules("tools.rate_limit.global_llm"),
    *_rate_limit_rules(f"tools.rate_limit.per_tool.{ANY_KEY}"),
    Rule("logging.max_bytes", int_at_least(1)),
    Rule("logging.backups", int_at_least(0)),
)


def matches(tree: object, pattern: str) -> Iterator[tuple[str, object]]:
    """Every (path, value) in `tree` matching `pattern`; absent keys match nothing."""

    def walk(node: object, segments: list[str], path: str) -> Iterator[tuple[str, object]]:
        if not segments:
            yield path, node
            return
        head, rest = segments[0], segments[1:]
        if head == EACH_ITEM:
            if isinstance(node, list):
                for index, item in enumerate(node):
                    yield from walk(item, rest, join_index(path, index))
        elif isinstance(node, Mapping):
            keys = list(node) if head == ANY_KEY else [head] if head in node else []
            for key in keys:
                yield from walk(node[key], rest, join_key(path, key))

    return walk(tree, pattern.split("."), "")


# Mappings whose keys must be tool names (a misspelt one would silently limit nothing).
TOOL_KEYED = ("tools.rate_limit.per_tool",)


def unknown_tool_keys(tree: object) -> tuple[ConfigProblem, ...]:
    """A problem for every key of a `TOOL_KEYED` mapping that is not a tool name."""
    problems = []
    for pattern in TOOL_KEYED:
        for path, node in matches(tree, pattern):
            if not isinstance(node, Mapping):
                continue  # a type problem, reported by the converter
            for key in node:
                if isinstance(key, str) and key not in TOOL_NAMES:
                    listing = did_you_mean(key, TOOL_NAMES) or "tools: " + ", ".join(TOOL_NAMES)
                    problems.append(ConfigProblem(join_key(path, key), f"unknown tool ({listing})"))
    return tuple(problems)


def check_values(
    tree: object, writer: ProblemWriter, rules: tuple[Rule, ...] = RULES
) -> tuple[ConfigProblem, ...]:
    """Every rule violation in the resolved `tree`, worded by `writer`, and every
    unknown tool name (`unknown_tool_keys`)."""
    problems = list(unknown_tool_keys(tree))
    for rule in rules:
        for path, value in matches(tree, rule.pattern):
            unset = value is None or (rule.optional and value == "")
            expected = None if unset else rule.check(value)
            if expected is not None:
                problems.append(writer.invalid(path, expected, value))
    return tuple(problems)
