"""Findings every chat channel's checks share: credentials not set, an
`allow_from` that admits nobody (`[]`) or anybody (`"*"`). Pure."""

from __future__ import annotations

from autobot.doctor.findings import Finding, warning


def missing_findings(channel: str, fields: list[tuple[str, object | None]]) -> list[Finding]:
    """A warning naming every credential of an enabled channel that is not set."""
    absent = [name for name, value in fields if value is None or value == ""]
    if not absent:
        return []
    names = ", ".join(f"channels.{channel}.{name}" for name in absent)
    return [
        warning(
            "channel_token_missing",
            f"Channel '{channel}' is enabled but {names} not set",
            "Put the credential in .env and reference it with ${VAR} in config.yml",
        )
    ]


def allowlist_findings(channel: str, allow_from: tuple[str, ...]) -> list[Finding]:
    """A warning for an enabled channel's `allow_from` that admits nobody or anybody."""
    if not allow_from:
        return [
            warning(
                "channel_allow_from_empty",
                f"Channel '{channel}' is enabled with an empty allow_from: every sender is denied",
                f"Add the user ids allowed to talk to the bot to channels.{channel}.allow_from",
            )
        ]
    if "*" in allow_from:
        return [
            warning(
                "channel_open_to_all",
                f"Channel '{channel}' allows anyone (allow_from contains '*')",
                f"List specific user ids in channels.{channel}.allow_from",
            )
        ]
    return []
