"""Admission of LLM calls: per-session and global rate limits and daily budgets (pure).

`GlobalLimits` is the one piece of state shared across sessions: the global
LLM-calls ceiling and the global daily token budget. The composition root
(`autobot.app.Gateway`) builds it once per process and hands the same object
to every session router incarnation, which hands it to every agent actor: a
router restart neither refills the global bucket nor forgets what was spent
today. Agent actors only call `admit_llm_call` and `charge_tokens`, which are
synchronous, so under Trio's cooperative scheduling each check-and-take is
atomic (no await inside) and no actor can see a half-updated state. A
message-based actor would add a round trip and a failure mode (actor down,
every session stalls) to every LLM call for no extra safety. The global
budget lives in memory: it restarts at zero when the process does (the
per-session budget is journalled and survives).
"""

from __future__ import annotations

import attrs

from autobot.agent.budget import DailyBudget
from autobot.config.schema import Budget, RateLimit
from autobot.limits.buckets import SessionLimits, TokenBucket


@attrs.define
class GlobalLimits:
    """The cross-session LLM ceiling and daily token budget."""

    llm: TokenBucket
    budget: DailyBudget

    @classmethod
    def from_config(cls, global_llm: RateLimit, budget: Budget, now: float) -> GlobalLimits:
        return cls(TokenBucket.full(global_llm, now), DailyBudget(budget.global_daily_tokens))


@attrs.frozen
class Refusal:
    """Why an LLM call may not start: `reason` for the log, `user_text` for the chat."""

    reason: str
    user_text: str


def _busy(wait: float) -> str:
    return f"I'm receiving too many requests right now. Please try again in {wait:.0f} seconds."


def admit_llm_call(
    *,
    limits: SessionLimits,
    budget: DailyBudget,
    shared: GlobalLimits,
    now: float,
    day: str,
) -> Refusal | None:
    """Take one LLM call from the session's and the global bucket, unless a
    daily budget is spent or a bucket is empty (then nothing is taken)."""
    if budget.exhausted(day):
        return Refusal(
            "session daily token budget exhausted",
            "This conversation has used its token budget for today. Please try again tomorrow.",
        )
    if shared.budget.exhausted(day):
        return Refusal(
            "global daily token budget exhausted",
            "The assistant has used its token budget for today. Please try again tomorrow.",
        )
    own_wait = limits.llm.retry_after(now)
    if own_wait:
        return Refusal("session LLM rate limit", _busy(own_wait))
    global_wait = shared.llm.retry_after(now)
    if global_wait:
        return Refusal("global LLM rate limit", _busy(global_wait))
    limits.llm.take(now)
    shared.llm.take(now)
    return None


def charge_tokens(budget: DailyBudget, shared: GlobalLimits, day: str, tokens: int) -> None:
    """Count `tokens` spent on `day` against both budgets."""
    budget.charge(day, tokens)
    shared.budget.charge(day, tokens)
