"""The agent loop: one turn of LLM calls and tool rounds, ending in a reply.

`AgentLoop.run_turn` sends the history (ending with the new user message) to
the provider; while the model asks for tools it runs them through the
registry and calls the model again, at most `max_tool_iterations` times.
Before every LLM call the session's `SessionGovernor` admits it (daily
budgets, session and global rate limits); after it, the tokens are charged
and a `Tokens: in=.. out=.. session=..` record is written (`session` is the
session's spend today). A `RepeatBreaker` ends the turn when the model makes
the identical call `repeat_limit` times in a row.

Several tool calls in one response: consecutive calls of concurrency-safe
tools run together; any other call runs alone, in the order the model gave.

Failures never reach the chat as text: a provider error (or any exception
from the provider) becomes `APOLOGY`, with details in an ERROR record. Every
turn ends with an assistant text message, so the history stays well formed
(each tool call answered, roles alternating) whatever happened.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import attrs
import trio

from autobot.agent.breaker import DEFAULT_REPEAT_LIMIT, RepeatBreaker
from autobot.agent.budget import DailyBudget, utc_day
from autobot.agent.spend import GlobalLimits, Refusal, admit_llm_call, charge_tokens
from autobot.config.schema import AgentDefaults
from autobot.limits.buckets import SessionLimits
from autobot.llm.types import (
    ChatMessage,
    LLMProvider,
    LLMRequest,
    ProviderError,
    Role,
    ToolCall,
    Usage,
)
from autobot.logs.records import TOKENS, Logger
from autobot.tools.base import ToolContext, ToolResult
from autobot.tools.registry import ToolRegistry

APOLOGY = "Sorry, something went wrong while I was working on that. Please try again in a moment."
NO_REPLY = "Done. (I have nothing to add.)"


@attrs.frozen(kw_only=True)
class LoopSettings:
    """Per-request parameters; `model` is the bare model name the provider expects."""

    model: str
    max_tokens: int = 8192
    temperature: float = 0.7
    max_tool_iterations: int = 20
    repeat_limit: int = DEFAULT_REPEAT_LIMIT

    @classmethod
    def from_defaults(cls, defaults: AgentDefaults, *, model: str) -> LoopSettings:
        return cls(
            model=model,
            max_tokens=defaults.max_tokens,
            temperature=defaults.temperature,
            max_tool_iterations=defaults.max_tool_iterations,
        )


@attrs.define(kw_only=True)
class SessionGovernor:
    """One session's rate buckets and token budget, plus the shared global limits.

    Owned by the session's agent actor (subagents of the session share it).
    """

    limits: SessionLimits
    budget: DailyBudget
    shared: GlobalLimits
    wall_clock: Callable[[], float]

    def admit(self) -> Refusal | None:
        return admit_llm_call(
            limits=self.limits,
            budget=self.budget,
            shared=self.shared,
            now=trio.current_time(),
            day=utc_day(self.wall_clock()),
        )

    def spend(self, usage: Usage, log: Logger, *, session: str, model: str) -> tuple[str, int]:
        """Charge one LLM call's tokens to today's budgets and write its
        `Tokens: in=.. out=.. session=..` record (`session`: the session's
        spend today). Every LLM call of a session goes through here (turns,
        subagents, memory consolidation). Returns `(day, tokens)` for the journal."""
        tokens = usage.input_tokens + usage.output_tokens
        day = utc_day(self.wall_clock())
        charge_tokens(self.budget, self.shared, day, tokens)
        log.info(
            f"{TOKENS} in={usage.input_tokens} out={usage.output_tokens} "
            f"session={self.budget.used}",
            session_key=session,
            model=model,
        )
        return day, tokens


@attrs.frozen(kw_only=True)
class TurnOutcome:
    """A finished turn: the reply, the messages it added after the user's
    (assistant and tool messages, ending with the reply), the tokens each
    LLM call spent as `(day, tokens)` for the journal, and whether the reply
    is the generic apology for a provider failure. `failure` is then the
    log-safe reason (a `ProviderError` message such as `anthropic: HTTP 401
    authentication_error after 1 attempt`, or "internal error"): for the
    owner's terminal and logs, never for a chat. `refused` is the reason an
    LLM call was not admitted (a rate limit or a daily budget; the reply then
    tells the user), None when none was refused."""

    reply: str
    messages: tuple[ChatMessage, ...]
    spent: tuple[tuple[str, int], ...]
    failed: bool = False
    failure: str | None = None
    refused: str | None = None


@attrs.frozen(kw_only=True)
class AgentLoop:
    """What turns need besides the conversation: the provider, the tools, the settings."""

    provider: LLMProvider
    registry: ToolRegistry
    settings: LoopSettings

    async def run_turn(
        self,
        *,
        system: str,
        history: Sequence[ChatMessage],
        ctx: ToolContext,
        governor: SessionGovernor,
    ) -> TurnOutcome:
        """Run one turn; raises only `trio.Cancelled` (and bugs in this module)."""
        added: list[ChatMessage] = []
        spent: list[tuple[str, int]] = []
        breaker = RepeatBreaker(limit=self.settings.repeat_limit)

        def finish(
            reply: str, *, failure: str | None = None, refused: str | None = None
        ) -> TurnOutcome:
            added.append(ChatMessage(role=Role.ASSISTANT, content=reply))
            return TurnOutcome(
                reply=reply,
                messages=tuple(added),
                spent=tuple(spent),
                failed=failure is not None,
                failure=failure,
                refused=refused,
            )

        for _ in range(self.settings.max_tool_iterations):
            refusal = governor.admit()
            if refusal is not None:
                ctx.logger.warn("LLM call refused", reason=refusal.reason, session=ctx.session_key)
                return finish(refusal.user_text, refused=refusal.reason)
            request = LLMRequest(
                model=self.settings.model,
                system=system,
                messages=(*history, *added),
                tools=self.registry.specs(),
                max_tokens=self.settings.max_tokens,
                temperature=self.settings.temperature,
            )
            try:
                response = await self.provider.complete(request)
            except Exception as exc:  # noqa: BLE001 -- any provider failure: apology + ERROR record
                ctx.logger.error(
                    "LLM call failed",
                    exc=exc,
                    provider=self.provider.name,
                    session=ctx.session_key,
                )
                failure = str(exc) if isinstance(exc, ProviderError) else "internal error"
                return finish(APOLOGY, failure=failure)
            spent.append(
                governor.spend(
                    response.usage,
                    ctx.logger,
                    session=ctx.session_key,
                    model=self.settings.model,
                )
            )
            if not response.tool_calls:
                return finish(response.text.strip() or NO_REPLY)
            calls = response.tool_calls
            added.append(ChatMessage(role=Role.ASSISTANT, content=response.text, tool_calls=calls))
            tripped = next(
                (i for i, c in enumerate(calls) if breaker.observe(c.name, c.arguments)), None
            )
            if tripped is not None:
                added.extend(_not_run(calls, tripped, self.settings.repeat_limit))
                ctx.logger.warn(
                    "Repeat breaker stopped the turn",
                    tool=calls[tripped].name,
                    session=ctx.session_key,
                )
                return finish(
                    f"I stopped because I kept repeating the same action "
                    f"({calls[tripped].name}) without making progress."
                )
            results = await self._run_calls(calls, ctx, governor.limits)
            added.extend(
                ChatMessage(role=Role.TOOL, content=r.text, tool_call_id=c.id, is_error=r.is_error)
                for c, r in zip(calls, results, strict=True)
            )
        ctx.logger.warn("Tool iteration limit reached", session=ctx.session_key)
        return finish(
            f"I stopped after {self.settings.max_tool_iterations} rounds of tool use without "
            f"finishing. Ask me to continue if you want me to keep going."
        )

    async def _run_calls(
        self, calls: Sequence[ToolCall], ctx: ToolContext, limits: SessionLimits
    ) -> list[ToolResult]:
        """Results in call order; runs of concurrency-safe calls execute together."""
        results: list[ToolResult] = [ToolResult.error("not run")] * len(calls)

        async def run_one(index: int) -> None:
            results[index] = await self.registry.call(calls[index], ctx, limits)

        start = 0
        while start < len(calls):
            end = start + 1
            if self.registry.is_concurrency_safe(calls[start].name):
                while end < len(calls) and self.registry.is_concurrency_safe(calls[end].name):
                    end += 1
            if end - start == 1:
                await run_one(start)
            else:
                async with trio.open_nursery() as nursery:
                    for index in range(start, end):
                        nursery.start_soon(run_one, index)
            start = end
        return results


def _not_run(calls: Sequence[ToolCall], tripped: int, limit: int) -> list[ChatMessage]:
    """Tool results answering every call of a response the breaker stopped."""
    texts = [
        f"Not run: identical call repeated {limit} times in a row; turn stopped."
        if i == tripped
        else "Not run: turn stopped."
        for i in range(len(calls))
    ]
    return [
        ChatMessage(role=Role.TOOL, content=text, tool_call_id=c.id, is_error=True)
        for c, text in zip(calls, texts, strict=True)
    ]
