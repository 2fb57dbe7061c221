"""Reading `/proc/self/mountinfo` text (pure): one `Mount` per well-formed line.

Shared by the cgroup planner (where the cgroup hierarchies are mounted) and
the prompt watch (which filesystem holds the workspace).
"""

from __future__ import annotations

import attrs


@attrs.frozen
class Mount:
    """One mount: `root` inside its filesystem, `point` where it is mounted,
    the filesystem type and its super options."""

    root: str
    point: str
    fstype: str
    options: tuple[str, ...]


def _unescape(field: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as octal (`\\040`)."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, char)
    return field


def parse_mounts(text: str) -> list[Mount]:
    """The mounts listed in `/proc/self/mountinfo` text; malformed lines are skipped."""
    mounts = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 3:
            continue
        root, point = _unescape(fields[3]), _unescape(fields[4])
        mounts.append(Mount(root, point, tail[0], tuple(tail[2].split(","))))
    return mounts
