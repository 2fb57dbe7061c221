"""The questions `autobot new` asks on a terminal (logic only; I/O is injected).

`ask_choices` drives an injected `Prompt`, so tests script the answers and
the CLI passes `terminal_prompt`. Invalid answers are asked again, at most
`MAX_ATTEMPTS` times, then `ScaffoldError` is raised. A prompt whose input
ends (`EOFError`, Ctrl-D on a terminal) raises `InputEnded`; Ctrl-C
(`KeyboardInterrupt`) propagates for the CLI to report.
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Callable, Sequence
from typing import TypeVar

import attrs

from autobot.config.schema import CHANNEL_NAMES, PROVIDER_NAMES
from autobot.scaffold.choices import (
    BotChoices,
    InputEnded,
    ScaffoldError,
    provider_variable,
    validate_channels,
    validate_provider,
)
from autobot.scaffold.texts import check_env_value

MAX_ATTEMPTS = 3

T = TypeVar("T")

# `prompt(question, secret)` returns the user's answer; `secret` asks for
# input that is not echoed (an API key).
Prompt = Callable[[str, bool], str]


def terminal_prompt(question: str, secret: bool) -> str:
    """The real prompt: `input`, or `getpass` for secrets (never echoed).

    When input ends or is interrupted, the prompt's line is ended first, so
    the CLI's message starts on a line of its own.
    """
    try:
        return getpass.getpass(question) if secret else input(question)
    except (EOFError, KeyboardInterrupt):
        print(file=sys.stderr)
        raise


@attrs.frozen(kw_only=True)
class Answers:
    """What the user chose, plus any secret typed in (variable -> value)."""

    choices: BotChoices
    secrets: dict[str, str]


def _ask(prompt: Prompt, question: str, parse: Callable[[str], T], *, secret: bool = False) -> T:
    problem = ""
    for _ in range(MAX_ATTEMPTS):
        try:
            answer = prompt(problem + question, secret)
        except EOFError:
            raise InputEnded("input ended before the questions were answered") from None
        try:
            return parse(answer)
        except ScaffoldError as exc:
            problem = f"{exc}\n"
    raise ScaffoldError(f"no valid answer after {MAX_ATTEMPTS} attempts: {problem.strip()}")


def _split(answer: str) -> list[str]:
    return [part for part in answer.replace(",", " ").split() if part.lower() != "none"]


def ask_choices(prompt: Prompt, *, provider: str | None, channels: Sequence[str] | None) -> Answers:
    """Ask for what was not given on the command line, then for the provider's key.

    A blank answer takes the default (anthropic; no channels; key later).
    """
    chosen_provider = (
        validate_provider(provider)
        if provider is not None
        else _ask(
            prompt,
            f"LLM provider ({', '.join(PROVIDER_NAMES)}) [anthropic]: ",
            lambda answer: validate_provider(answer or "anthropic"),
        )
    )
    chosen_channels = (
        validate_channels(channels)
        if channels is not None
        else _ask(
            prompt,
            f"Channels, space separated ({', '.join(CHANNEL_NAMES)}) [none]: ",
            lambda answer: validate_channels(_split(answer)),
        )
    )
    variable = provider_variable(chosen_provider)
    key = _ask(
        prompt,
        f"{variable} (input hidden; leave empty to fill in .env later): ",
        lambda answer: check_env_value(variable, answer.strip()),
        secret=True,
    )
    return Answers(
        choices=BotChoices(provider=chosen_provider, channels=chosen_channels),
        secrets={variable: key} if key else {},
    )
