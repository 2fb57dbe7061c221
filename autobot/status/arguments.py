"""The arguments of `autobot status` (argparse only: `autobot --help` builds
them without loading trio or the HTTP client).
`autobot.status.command.status_main` runs what they parse."""

from __future__ import annotations

import argparse


def add_status_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `status` to the `autobot` subcommands."""
    status = commands.add_parser(
        "status", help="what the bot is and how its gateway runs (one screen)"
    )
    status.add_argument("--json", action="store_true", help="print one JSON object instead")
