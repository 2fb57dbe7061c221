"""A strict reader of the systemd unit files `autobot service` writes (tests only).

Stricter than systemd itself, which ignores an unknown key with a warning:
here only the sections `[Unit]`, `[Service]` and `[Install]` exist, every
key must be one systemd documents for its section (systemd.unit,
systemd.service, systemd.exec, systemd.kill, systemd.resource-control), a key
appears once, a line is a comment, blank, a section header or `Key=value`
(no continuation lines), and the values of the settings the unit uses have
the shape systemd accepts. `systemd-analyze verify` checks the same file
where it is installed; this reader checks it everywhere.
"""

from __future__ import annotations

import re

import attrs

KNOWN_KEYS = {
    "Unit": {
        "Description", "Documentation", "Wants", "Requires", "After", "Before",
        "StartLimitIntervalSec", "StartLimitBurst",
    },
    "Service": {
        "Type", "User", "Group", "WorkingDirectory", "ExecStart", "KillMode", "TimeoutStopSec",
        "Restart", "RestartSec", "UMask", "NoNewPrivileges", "CapabilityBoundingSet",
        "AmbientCapabilities", "ProtectSystem", "ReadWritePaths", "ProtectHome", "PrivateTmp",
        "PrivateDevices", "ProtectControlGroups", "ProtectKernelModules", "ProtectProc",
        "PrivateMounts", "ProtectClock", "ProtectHostname", "RestrictAddressFamilies",
        "RestrictNamespaces", "LockPersonality", "RestrictRealtime", "RestrictSUIDSGID",
        "RemoveIPC", "SystemCallArchitectures", "SystemCallFilter", "SystemCallErrorNumber",
        "MemoryMax", "TasksMax",
        # known, and must stay out of autobot's unit (see autobot.service.unit)
        "EnvironmentFile", "ProtectKernelTunables", "ProtectKernelLogs", "ProcSubset",
        "PrivateUsers", "MemoryDenyWriteExecute", "PrivateNetwork", "DynamicUser",
    },
    "Install": {"WantedBy"},
}  # fmt: skip

_BOOLEAN = re.compile(r"yes|no|true|false|on|off|1|0")
_SECONDS = re.compile(r"\d+(?:s|min)?")
_SIZE = re.compile(r"\d+[KMGT]?")
_ABSOLUTE = re.compile(r"/[A-Za-z0-9._@+/-]*")
_VALUES = {
    "Type": re.compile(r"simple|exec|forking|oneshot|notify|idle"),
    "KillMode": re.compile(r"control-group|mixed|process|none"),
    "Restart": re.compile(r"no|on-success|on-failure|on-abnormal|on-abort|always"),
    "ProtectSystem": re.compile(r"yes|no|full|strict"),
    "ProtectHome": re.compile(r"yes|no|read-only|tmpfs"),
    "ProtectProc": re.compile(r"noaccess|invisible|ptraceable|default"),
    "UMask": re.compile(r"0[0-7]{3}"),
    "StartLimitIntervalSec": _SECONDS,
    "StartLimitBurst": re.compile(r"\d+"),
    "TimeoutStopSec": _SECONDS,
    "RestartSec": _SECONDS,
    "MemoryMax": _SIZE,
    "TasksMax": re.compile(r"\d+"),
    "WorkingDirectory": _ABSOLUTE,
    "ReadWritePaths": re.compile(r"/[A-Za-z0-9._@+/-]*(?: /[A-Za-z0-9._@+/-]*)*"),
    "User": re.compile(r"[a-z_][a-z0-9_-]{0,31}"),
    "Group": re.compile(r"[a-z_][a-z0-9_-]{0,31}"),
    "RestrictAddressFamilies": re.compile(r"AF_[A-Z0-9]+(?: AF_[A-Z0-9]+)*"),
    "RestrictNamespaces": re.compile(r"(?:user|mnt|pid|ipc|uts|net|cgroup|time)(?: \w+)*"),
    "SystemCallFilter": re.compile(r"~?@[a-z-]+(?: @[a-z-]+)*"),
    "SystemCallErrorNumber": re.compile(r"E[A-Z]+"),
    "SystemCallArchitectures": re.compile(r"native"),
    "CapabilityBoundingSet": re.compile(r""),
    "AmbientCapabilities": re.compile(r""),
    "ExecStart": re.compile(r"/[A-Za-z0-9._@+/-]+(?: [A-Za-z0-9._@+/=-]+)*"),
}
_BOOLEAN_KEYS = {
    "NoNewPrivileges", "PrivateTmp", "PrivateDevices", "ProtectControlGroups",
    "ProtectKernelModules", "PrivateMounts", "ProtectClock", "ProtectHostname",
    "LockPersonality", "RestrictRealtime", "RestrictSUIDSGID", "RemoveIPC",
}  # fmt: skip


class UnitFileError(ValueError):
    """The text is not a unit file this reader accepts; says the line."""


@attrs.frozen
class UnitFile:
    """The sections, each a mapping of key to value, and the comment lines."""

    sections: dict[str, dict[str, str]]
    comments: tuple[str, ...]

    def __getitem__(self, section: str) -> dict[str, str]:
        return self.sections[section]


def parse_unit(text: str) -> UnitFile:
    """Parse and check `text` (see the module docstring); raises UnitFileError."""
    sections: dict[str, dict[str, str]] = {}
    comments: list[str] = []
    current: dict[str, str] | None = None
    name = ""
    if not text.endswith("\n"):
        raise UnitFileError("the file does not end with a newline")
    for number, line in enumerate(text.split("\n")[:-1], start=1):
        where = f"line {number}"
        if line.startswith(("#", ";")):
            comments.append(line)
            continue
        if not line.strip():
            continue
        if line != line.strip() or line.endswith("\\"):
            raise UnitFileError(f"{where}: stray whitespace or a continuation: {line!r}")
        if match := re.fullmatch(r"\[([A-Za-z]+)\]", line):
            name = match.group(1)
            if name not in KNOWN_KEYS or name in sections:
                raise UnitFileError(f"{where}: unknown or repeated section [{name}]")
            current = sections.setdefault(name, {})
            continue
        if current is None:
            raise UnitFileError(f"{where}: a setting before any section")
        key, equals, value = line.partition("=")
        if not equals or key not in KNOWN_KEYS[name]:
            raise UnitFileError(f"{where}: unknown key {key!r} in [{name}]")
        if key in current:
            raise UnitFileError(f"{where}: {key} set twice")
        _check_value(where, key, value)
        current[key] = value
    if set(sections) != set(KNOWN_KEYS):
        raise UnitFileError(f"sections {sorted(sections)}, expected {sorted(KNOWN_KEYS)}")
    return UnitFile(sections=sections, comments=tuple(comments))


def _check_value(where: str, key: str, value: str) -> None:
    pattern = _BOOLEAN if key in _BOOLEAN_KEYS else _VALUES.get(key)
    if pattern is not None and not pattern.fullmatch(value):
        raise UnitFileError(f"{where}: {key}={value!r} is not a valid value")
    if "%" in value or "$" in value:
        raise UnitFileError(f"{where}: {key} has a specifier or variable: {value!r}")
