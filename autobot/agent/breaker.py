"""The repeat breaker: stops a turn that keeps making the identical tool call.

A model stuck in a loop asks for the same tool with the same arguments again
and again, burning tokens and rate budget. `RepeatBreaker.observe` sees each
call of a turn in order and trips when the same name + arguments (compared as
canonical JSON) arrive `limit` times in a row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs

DEFAULT_REPEAT_LIMIT = 3


def call_signature(name: str, arguments: Mapping[str, Any]) -> str:
    """A canonical string for a tool call: equal calls give equal strings."""
    return name + "\x00" + json.dumps(arguments, sort_keys=True, default=str)


@attrs.define
class RepeatBreaker:
    """Counts consecutive identical calls within one turn."""

    limit: int = DEFAULT_REPEAT_LIMIT
    last: str | None = None
    streak: int = 0

    def observe(self, name: str, arguments: Mapping[str, Any]) -> bool:
        """Record one call; True when it is the `limit`-th identical one in a row."""
        signature = call_signature(name, arguments)
        self.streak = self.streak + 1 if signature == self.last else 1
        self.last = signature
        return self.streak >= self.limit
