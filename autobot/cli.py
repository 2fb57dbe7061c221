"""The `autobot` command line: argument parsing and exit codes only.

Every command's logic lives in its own package; this module maps arguments
to calls and turns expected failures (a bad config, a refused target) into a
clear message on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from autobot import __version__
from autobot.channels.pairing_command import add_pairing_parser, pairing_main
from autobot.config import ConfigError, find_config_path, load_config
from autobot.config.schema import CHANNEL_NAMES, PROVIDER_NAMES
from autobot.doctor.main import doctor_main
from autobot.entry import interrupted
from autobot.gateway.main import gateway_main
from autobot.scaffold.choices import ScaffoldError
from autobot.scaffold.create import create_bot
from autobot.scaffold.interactive import terminal_prompt


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autobot",
        description="A self-hosted personal AI assistant gateway that is safe to leave running.",
    )
    parser.add_argument("--version", action="version", version=f"autobot {__version__}")
    parser.add_argument(
        "--config",
        metavar="PATH",
        help="the bot's config.yml (default: ./config.yml); its directory is the bot directory",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    new = commands.add_parser("new", help="create a bot directory")
    new.add_argument("name", metavar="NAME", help="directory to create (must not exist)")
    new.add_argument("--provider", choices=PROVIDER_NAMES, help="LLM provider (default anthropic)")
    new.add_argument(
        "--channel",
        action="append",
        choices=CHANNEL_NAMES,
        help="enable a chat channel (repeatable)",
    )

    doctor = commands.add_parser("doctor", help="validate the bot's security configuration")
    doctor.add_argument("--strict", action="store_true", help="fail on warnings too (for CI)")
    doctor.add_argument("--json", action="store_true", help="print the findings as JSON")

    commands.add_parser("gateway", help="run the gateway until SIGINT/SIGTERM")

    demo = commands.add_parser(
        "demo",
        help="run the gateway, Telegram included, against local stand-ins (no credentials needed)",
    )
    demo.add_argument(
        "--once",
        action="store_true",
        help="stop after the demonstration instead of serving until Ctrl-C",
    )

    agent = commands.add_parser("agent", help="chat with the agent in this terminal")
    agent.add_argument("-m", "--message", help="send one message, print the reply and exit")
    agent.add_argument("-s", "--session", default="cli:default", help="session key")
    add_pairing_parser(commands)
    return parser


def _fail(message: str) -> int:
    print(f"autobot: {message}", file=sys.stderr)
    return 1


def _new(args: argparse.Namespace) -> int:
    """`autobot new`: 0 created, 1 refused or failed (one line, nothing left
    behind), 130 interrupted by Ctrl-C."""
    try:
        bot = create_bot(
            Path(args.name),
            provider=args.provider,
            channels=args.channel,
            interactive=sys.stdin.isatty(),
            prompt=terminal_prompt,
        )
    except ScaffoldError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return interrupted()
    print(bot.next_steps())
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `autobot` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.command == "new":
        return _new(args)
    try:
        config_path = find_config_path(args.config, Path.cwd())
        if args.command == "doctor":
            return doctor_main(
                config_path,
                strict=args.strict,
                as_json=args.json,
                environ=os.environ,
                out=sys.stdout,
                as_root=os.geteuid() == 0,
            )
        if args.command == "demo":
            # imported here: the demo's loopback stand-ins cost every other command
            # (the gateway's start included) ~50 ms and ~2 MB
            from autobot.demo import demo_main

            return demo_main(
                config_path,
                environ=os.environ,
                stdout=sys.stdout,
                stderr=sys.stderr,
                once=args.once,
                as_root=os.geteuid() == 0,
            )
        if args.command == "gateway":
            return gateway_main(
                config_path, environ=os.environ, stderr=sys.stderr, as_root=os.geteuid() == 0
            )
        if args.command == "pairing":
            loaded = load_config(config_path, os.environ)
            return pairing_main(loaded, args, out=sys.stdout, err=sys.stderr)
    except ConfigError as exc:
        return _fail(str(exc))
    return _agent(config_path, args)


def _agent(config_path: Path, args: argparse.Namespace) -> int:
    """`autobot agent`: the doctor's gate, then the chat. Signals are handled
    over its whole life (`autobot.runtime.lifetime`): first graceful, second
    immediate, exit 128 + signal, never a traceback."""
    from autobot.agent.command import run_agent  # only this command needs it

    return run_agent(
        config_path,
        message=args.message,
        session=args.session,
        environ=os.environ,
        stdin=sys.stdin,
        stdout=sys.stdout,
        stderr=sys.stderr,
        as_root=os.geteuid() == 0,
    )


if __name__ == "__main__":
    sys.exit(main())
