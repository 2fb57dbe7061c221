"""Token buckets and session limits: pure, no trio."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autobot.agent.buckets import RateLimited, SessionLimits, TokenBucket
from autobot.config.schema import RateLimit, RateLimitConfig


def test_full_bucket_grants_capacity_then_refuses_with_exact_retry() -> None:
    bucket = TokenBucket.full(RateLimit(max_calls=10, window_seconds=60), now=0.0)
    assert [bucket.try_take(0.0) for _ in range(10)] == [0.0] * 10
    assert bucket.try_take(0.0) == pytest.approx(6.0)
    assert bucket.try_take(5.999) > 0
    assert bucket.try_take(6.0) == 0.0
    assert bucket.try_take(6.0) == pytest.approx(6.0)


def test_refused_take_leaves_bucket_unchanged() -> None:
    bucket = TokenBucket.full(RateLimit(max_calls=1, window_seconds=10), now=0.0)
    assert bucket.try_take(0.0) == 0.0
    for t in (1.0, 2.0, 9.0):
        assert bucket.try_take(t) == pytest.approx(10.0 - t)
    assert bucket.try_take(10.0) == 0.0


def test_refill_never_exceeds_capacity() -> None:
    bucket = TokenBucket.full(RateLimit(max_calls=3, window_seconds=60), now=0.0)
    granted = [bucket.try_take(10_000.0) for _ in range(5)]
    assert granted.count(0.0) == 3


def test_time_going_backwards_does_not_refill() -> None:
    bucket = TokenBucket.full(RateLimit(max_calls=1, window_seconds=10), now=100.0)
    assert bucket.try_take(100.0) == 0.0
    assert bucket.try_take(50.0) == pytest.approx(10.0)


@pytest.mark.parametrize(("max_calls", "window"), [(0, 60.0), (-1, 60.0), (5, 0.0), (5, -1.0)])
def test_invalid_limits_are_rejected(max_calls: int, window: float) -> None:
    with pytest.raises(ValueError, match="rate limit needs"):
        TokenBucket.full(RateLimit(max_calls=max_calls, window_seconds=window), now=0.0)


@given(
    capacity=st.integers(min_value=1, max_value=50),
    window=st.floats(min_value=0.5, max_value=600, allow_nan=False),
    times=st.lists(st.floats(min_value=0, max_value=5_000, allow_nan=False), max_size=200),
)
def test_never_more_than_capacity_plus_refill(
    capacity: int, window: float, times: list[float]
) -> None:
    """In any interval [0, T], grants <= capacity + T * capacity / window."""
    bucket = TokenBucket.full(RateLimit(max_calls=capacity, window_seconds=window), now=0.0)
    times = sorted(times)
    granted = sum(1 for t in times if bucket.try_take(t) == 0.0)
    horizon = times[-1] if times else 0.0
    assert granted <= capacity + horizon * capacity / window + 1e-6


@given(
    capacity=st.integers(min_value=1, max_value=50),
    window=st.floats(min_value=0.5, max_value=600, allow_nan=False),
    start=st.floats(min_value=0, max_value=1_000, allow_nan=False),
)
def test_retry_after_is_honest(capacity: int, window: float, start: float) -> None:
    """Waiting exactly the advertised retry_after always succeeds."""
    bucket = TokenBucket.full(RateLimit(max_calls=capacity, window_seconds=window), now=start)
    for _ in range(capacity):
        assert bucket.try_take(start) == 0.0
    wait = bucket.try_take(start)
    assert wait == pytest.approx(window / capacity)
    assert bucket.try_take(start + wait) == 0.0


def _limits() -> SessionLimits:
    config = RateLimitConfig(
        llm=RateLimit(max_calls=2),
        tools=RateLimit(max_calls=3),
        per_tool={"exec": RateLimit(max_calls=1, window_seconds=60)},
    )
    return SessionLimits.from_config(config, now=0.0)


def test_per_tool_limit_refuses_without_spending_the_tools_bucket() -> None:
    limits = _limits()
    assert limits.take_tool("exec", 0.0) is None
    refused = limits.take_tool("exec", 0.0)
    assert refused == RateLimited("tool:exec", pytest.approx(60.0))
    # the refusal did not spend a general tool token: two more calls still fit
    assert limits.take_tool("read_file", 0.0) is None
    assert limits.take_tool("read_file", 0.0) is None
    assert limits.take_tool("read_file", 0.0) == RateLimited("tools", pytest.approx(20.0))


def test_tools_bucket_refusal_does_not_spend_per_tool_bucket() -> None:
    limits = _limits()
    for _ in range(3):
        assert limits.take_tool("list_dir", 0.0) is None
    assert limits.take_tool("exec", 0.0) == RateLimited("tools", pytest.approx(20.0))
    assert limits.take_tool("exec", 20.0) is None


def test_llm_bucket() -> None:
    limits = _limits()
    assert limits.take_llm(0.0) is None
    assert limits.take_llm(0.0) is None
    refused = limits.take_llm(0.0)
    assert refused is not None and refused.scope == "llm"
    assert refused.describe() == "rate limit reached (llm); retry in 30s"


def test_sessions_do_not_share_buckets() -> None:
    a, b = _limits(), _limits()
    assert a.take_tool("exec", 0.0) is None
    assert a.take_tool("exec", 0.0) is not None
    assert b.take_tool("exec", 0.0) is None
