"""Dotted key paths naming a place in the configuration ("tools.web.ssrf_allowlist[2]")."""

from __future__ import annotations


def join_key(parent: str, key: object) -> str:
    """The path of mapping entry `key` below `parent` ("" is the top level)."""
    return f"{parent}.{key}" if parent else str(key)


def join_index(parent: str, index: int) -> str:
    """The path of list element `index` below `parent`."""
    return f"{parent}[{index}]"
