"""The arguments of `autobot service` (argparse only: `autobot --help` builds
them without loading the unit renderer or the installer).
`autobot.service.command.service_main` runs what they parse."""

from __future__ import annotations

import argparse

UNIT_DIR = "/etc/systemd/system"  # where `install` writes the unit


def add_service_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `service` and its actions to the `autobot` subcommands."""
    service = commands.add_parser(
        "service", help="run this bot's gateway as a hardened systemd service"
    )
    actions = service.add_subparsers(dest="service_action", metavar="ACTION", required=True)
    user_help = "the system account to run as (default: autobot-<bot directory name>)"
    generate = actions.add_parser("generate", help="print the systemd unit (no root needed)")
    generate.add_argument("--user", metavar="NAME", help=user_help)
    add = actions.add_parser(
        "install",
        help=f"create the account, give it the bot directory, write the unit to {UNIT_DIR} "
        "and start it (root)",
    )
    add.add_argument("--user", metavar="NAME", help=f"{user_help}; created if missing")
    actions.add_parser(
        "uninstall",
        help="stop, disable and remove the unit (root); the bot directory and account stay",
    )
