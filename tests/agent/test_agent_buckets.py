"""Token buckets and session limits: pure, no trio."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from autobot.config.schema import RateLimit, RateLimitConfig
from autobot.limits.buckets import RateLimited, SessionLimits, SessionLimitsKeeper, TokenBucket


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


def test_a_refusal_describes_its_scope_and_wait() -> None:
    limits = _limits()
    assert limits.take_tool("exec", 0.0) is None
    refused = limits.take_tool("exec", 0.0)
    assert refused is not None
    assert refused.describe() == "rate limit reached (tool:exec); retry in 60s"


def test_limits_are_full_again_once_every_bucket_refilled() -> None:
    limits = _limits()
    assert limits.is_full(0.0)
    limits.llm.take(0.0)  # 2 per 60 s: one token back after 30 s
    assert limits.take_tool("exec", 10.0) is None  # 1 per 60 s: full at 70 s
    assert not limits.is_full(69.999)
    assert limits.is_full(70.0)


def _keeper() -> SessionLimitsKeeper:
    return SessionLimitsKeeper(
        RateLimitConfig(llm=RateLimit(max_calls=2), per_tool={"exec": RateLimit(max_calls=1)})
    )


def test_keeper_hands_back_the_buckets_a_session_left() -> None:
    keeper = _keeper()
    first = keeper.checkout("a", 0.0)
    first.llm.take(0.0)
    first.llm.take(0.0)
    keeper.release("a", first, 1.0)
    again = keeper.checkout("a", 1.0)
    assert again is first and again.llm.retry_after(1.0) == pytest.approx(29.0)
    # another session is untouched
    assert keeper.checkout("b", 1.0).llm.retry_after(1.0) == 0.0


def test_keeper_drops_buckets_that_are_full_again() -> None:
    keeper = _keeper()
    limits = keeper.checkout("a", 0.0)
    keeper.release("a", limits, 0.0)  # never used: nothing kept
    assert len(keeper) == 0
    limits.llm.take(0.0)
    keeper.release("a", limits, 30.0)  # refilled by then
    assert len(keeper) == 0
    limits.llm.take(30.0)
    keeper.release("a", limits, 31.0)
    assert len(keeper) == 1


def test_keeper_sweeps_refilled_sessions_as_it_grows() -> None:
    keeper = _keeper()
    for i in range(63):
        limits = keeper.checkout(str(i), 0.0)
        limits.llm.take(0.0)
        keeper.release(str(i), limits, 0.0)
    assert len(keeper) == 63
    late = keeper.checkout("late", 100.0)
    late.llm.take(100.0)
    keeper.release("late", late, 100.0)  # the 64th entry triggers a sweep
    assert len(keeper) == 1
    assert keeper.checkout("late", 100.0) is late


def test_sessions_do_not_share_buckets() -> None:
    a, b = _limits(), _limits()
    assert a.take_tool("exec", 0.0) is None
    assert a.take_tool("exec", 0.0) is not None
    assert b.take_tool("exec", 0.0) is None


def test_keeper_keeps_lent_buckets_when_no_release_comes() -> None:
    keeper = _keeper()
    lent = keeper.checkout("a", 0.0)
    lent.llm.take(0.0)
    lent.llm.take(0.0)
    # its router crashed: the incarnation ended without a release
    again = keeper.checkout("a", 1.0)
    assert again is lent and again.llm.retry_after(1.0) == pytest.approx(29.0)


def test_a_sweep_never_drops_lent_buckets() -> None:
    keeper = _keeper()
    lent = keeper.checkout("lent", 0.0)  # full at the sweep below, in use all along
    for i in range(63):
        limits = keeper.checkout(str(i), 100.0)
        limits.llm.take(100.0)
        keeper.release(str(i), limits, 100.0 if i < 62 else 200.0)  # the last sweeps
    lent.llm.take(200.0)
    assert keeper.checkout("lent", 200.0) is lent
