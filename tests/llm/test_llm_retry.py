"""The retry policy: pure pieces without trio, the shell under autojump_clock."""

from __future__ import annotations

import random

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from autobot.llm.limits import ProviderLimits, pool_sizes
from autobot.llm.retry import (
    AttemptFailed,
    Failure,
    call_with_retries,
    describe_failure,
    is_retryable_status,
    parse_retry_after,
    retry_delay,
    safe_request_id,
    status_failure,
    transport_failure,
)
from autobot.llm.types import ProviderError

NOW = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT


@pytest.mark.parametrize(
    ("status", "retryable"),
    [(400, False), (401, False), (403, False), (404, False), (408, False), (413, False),
     (422, False), (429, True), (500, True), (502, True), (503, True), (529, True),
     (200, False), (302, False)],
)  # fmt: skip
def test_which_statuses_are_retried(status: int, retryable: bool) -> None:
    assert is_retryable_status(status) is retryable


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": " 2.5 "}, 2.5),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),
        ({"retry-after-ms": "soon", "retry-after": "9"}, 9.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:30 GMT"}, 30.0),
        ({"retry-after": "Wed, 21 Oct 2015 07:00:00 GMT"}, 0.0),  # in the past
        ({"retry-after": "-5"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "tomorrow"}, None),
        ({"retry-after": "Wed, 21 Oct 2015 07:28:30"}, None),  # no zone
        ({"retry-after": ""}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers, now=NOW) == expected


@given(st.text(max_size=60))
def test_parse_retry_after_never_raises_and_is_never_negative(value: str) -> None:
    for name in ("retry-after", "retry-after-ms"):
        parsed = parse_retry_after({name: value}, now=NOW)
        assert parsed is None or parsed >= 0


def test_retry_after_wins_over_backoff_and_is_capped() -> None:
    limits = ProviderLimits(retry_after_cap=60)
    rng = random.Random(1)
    asked = Failure(reason="HTTP 429", retryable=True, status=429, retry_after=12.0)
    too_long = Failure(reason="HTTP 429", retryable=True, status=429, retry_after=3600.0)
    assert retry_delay(0, asked, limits, rng) == 12.0
    assert retry_delay(5, too_long, limits, rng) == 60.0
    assert rng.random() == random.Random(1).random()  # no jitter was drawn


@given(
    retry_index=st.integers(min_value=0, max_value=40),
    seed=st.integers(),
    base=st.floats(min_value=0.01, max_value=10),
    cap=st.floats(min_value=0.01, max_value=100),
)
def test_backoff_is_full_jitter_under_the_exponential_ceiling(
    retry_index: int, seed: int, base: float, cap: float
) -> None:
    limits = ProviderLimits(backoff_base=base, backoff_cap=cap)
    delay = retry_delay(retry_index, transport_failure("timeout"), limits, random.Random(seed))
    ceiling = min(cap, base * 2.0**retry_index)
    assert 0.0 <= delay <= ceiling
    assert delay == random.Random(seed).uniform(0.0, ceiling)


def test_status_failure_fields_and_mid_stream_error_types() -> None:
    headers = {"retry-after": "3", "request-id": "req_abc-123"}
    failure = status_failure(529, headers, now=NOW, error_type="overloaded_error")
    assert failure == Failure(
        reason="HTTP 529 overloaded_error",
        retryable=True,
        status=529,
        retry_after=3.0,
        request_id="req_abc-123",
    )
    # An SSE error event arrives inside a 200: its type decides.
    assert status_failure(200, {}, now=NOW, error_type="overloaded_error").retryable
    assert not status_failure(200, {}, now=NOW, error_type="invalid_request_error").retryable
    assert not status_failure(401, {}, now=NOW, error_type="authentication_error").retryable


def test_untrusted_error_type_and_request_id_are_not_echoed() -> None:
    headers = {"x-request-id": "sk-ant-leak secret\nInjected: yes"}
    failure = status_failure(
        500, headers, now=NOW, error_type="Bearer sk-SECRET", request_id_header="x-request-id"
    )
    assert failure.reason == "HTTP 500"
    assert failure.request_id is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("req_01ABC", "req_01ABC"), ("a" * 129, None), ("id with space", None), (None, None)],
)
def test_safe_request_id(value: str | None, expected: str | None) -> None:
    assert safe_request_id(value) == expected


def test_describe_failure() -> None:
    failure = Failure(reason="HTTP 503", retryable=True, status=503, request_id="req_9")
    assert (
        describe_failure("groq", failure, 4) == "groq: HTTP 503 after 4 attempts (request id req_9)"
    )
    assert describe_failure("openai", transport_failure("timeout"), 1) == (
        "openai: timeout after 1 attempt"
    )


@pytest.mark.parametrize(
    "kwargs",
    [{"connect": 0}, {"read": -1}, {"max_retries": -1}, {"backoff_base": 0}, {"backoff_cap": 0},
     {"retry_after_cap": -3}, {"max_connections": 0}, {"connections_per_pool": -1}],
)  # fmt: skip
def test_limits_reject_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=rf"ProviderLimits\.{next(iter(kwargs))} must be"):
        ProviderLimits(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("max_connections", "per_pool", "sizes"),
    [(1000, 50, (50,) * 20), (120, 50, (50, 50, 20)), (10, 50, (10,)), (1, 1, (1,))],
)
def test_pool_sizes(max_connections: int, per_pool: int, sizes: tuple[int, ...]) -> None:
    limits = ProviderLimits(max_connections=max_connections, connections_per_pool=per_pool)
    assert pool_sizes(limits) == sizes


class ScriptedAttempts:
    """An attempt function that fails with the given failures, then returns 'ok'."""

    def __init__(self, failures: list[Failure]) -> None:
        self.failures = failures
        self.times: list[float] = []

    async def __call__(self) -> str:
        self.times.append(trio.current_time())
        if self.failures:
            raise AttemptFailed(self.failures.pop(0))
        return "ok"


async def test_call_with_retries_sleeps_exact_virtual_times(autojump_clock: trio.abc.Clock) -> None:
    limits = ProviderLimits(max_retries=3, backoff_base=2, backoff_cap=5)
    attempts = ScriptedAttempts(
        [
            transport_failure("timeout"),
            Failure(reason="HTTP 429", retryable=True, status=429, retry_after=10),
            transport_failure("connection failed"),
        ]
    )
    rng = random.Random(42)
    expected = random.Random(42)
    first, third = expected.uniform(0, 2), expected.uniform(0, 5)  # 2*2**2 = 8 capped at 5
    start = trio.current_time()
    result = await call_with_retries(attempts, provider="p", limits=limits, rng=rng)
    assert result == "ok"
    gaps = [t - start for t in attempts.times]
    assert gaps == pytest.approx([0, first, first + 10, first + 10 + third], abs=1e-9)


async def test_call_with_retries_gives_up_after_max_retries(autojump_clock: trio.abc.Clock) -> None:
    limits = ProviderLimits(max_retries=2)
    attempts = ScriptedAttempts([transport_failure("timeout")] * 5)
    with pytest.raises(ProviderError, match=r"^p: timeout after 3 attempts$") as raised:
        await call_with_retries(attempts, provider="p", limits=limits, rng=random.Random(0))
    assert len(attempts.times) == 3
    assert raised.value.__cause__ is None
    assert raised.value.__context__ is None


async def test_non_retryable_failure_raises_at_once(autojump_clock: trio.abc.Clock) -> None:
    attempts = ScriptedAttempts([Failure(reason="HTTP 401", retryable=False, status=401)])
    with pytest.raises(ProviderError, match=r"^p: HTTP 401 after 1 attempt$"):
        await call_with_retries(
            attempts, provider="p", limits=ProviderLimits(), rng=random.Random(0)
        )
    assert attempts.times == [0.0]


async def test_other_exceptions_and_cancellation_propagate(autojump_clock: trio.abc.Clock) -> None:
    async def broken() -> str:
        raise KeyError("bug")

    with pytest.raises(KeyError):
        await call_with_retries(broken, provider="p", limits=ProviderLimits(), rng=random.Random())

    attempts = ScriptedAttempts([Failure(reason="HTTP 429", retryable=True, retry_after=30)])
    with trio.move_on_after(5) as scope:
        await call_with_retries(
            attempts, provider="p", limits=ProviderLimits(), rng=random.Random()
        )
    assert scope.cancelled_caught
    assert trio.current_time() == pytest.approx(5)
