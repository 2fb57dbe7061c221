"""The one error of `autobot demo`."""

from __future__ import annotations


class DemoFailed(Exception):
    """The demo could not show what it promises (the message says what and where)."""
