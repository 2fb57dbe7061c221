"""The `autobot` command line: argument parsing and exit codes only.

Every command's logic lives in its own package, imported by the command's
own branch below (under `autobot.loading.loading`, so that a SIGTERM during the
import is one line, not a death by signal): a command pays only for what it
runs (`--help`, `new`, `doctor` and `pairing` never load the gateway, the
HTTP server or the Anthropic SDK; see scripts/bench_cli.py). This module maps
arguments to calls and turns expected failures (a bad config, a refused
target) into a clear message on stderr and exit code 1, never a traceback.

The global `--config PATH` is accepted before the command and after it
(`autobot --config X doctor`, `autobot doctor --config X`, `autobot pairing
list --config X`); two different paths are a usage error (exit 2).
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

from autobot import __version__
from autobot.channels.pairing_command import add_pairing_parser, pairing_main
from autobot.config import ConfigError, find_config_path, load_config
from autobot.config.schema import CHANNEL_NAMES, PROVIDER_NAMES
from autobot.cron.arguments import add_cron_parser
from autobot.loading import interrupted, loading
from autobot.service.arguments import add_service_parser
from autobot.status.arguments import add_status_parser

CONFIG_HELP = (
    "the bot's config.yml (default: ./config.yml); its directory is the bot directory; "
    "accepted before or after the command"
)
# `--config` given after a command is stored under this prefix plus the command's
# prog ("autobot pairing list"): one attribute per level, so none overwrites another.
_AFTER_COMMAND = "config after: "


class _Once(argparse.Action):
    """Store an option's value; a second, different value at the same level is a
    usage error (exit 2), not silently the one that wins."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        previous = getattr(namespace, self.dest, None)
        if previous is not None and previous != values:
            raise argparse.ArgumentError(
                self, f"given twice ({previous!r} and {values!r}): give it once"
            )
        setattr(namespace, self.dest, values)


class _CommandParser(argparse.ArgumentParser):
    """The parser of a command (and of its actions: `add_subparsers` makes them
    of this class too): also takes the global `--config` after the command."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.add_argument(
            "--config",
            action=_Once,
            metavar="PATH",
            dest=_AFTER_COMMAND + self.prog,
            default=argparse.SUPPRESS,
            help=CONFIG_HELP,
        )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="autobot",
        description="A self-hosted personal AI assistant gateway that is safe to leave running.",
    )
    parser.add_argument("--version", action="version", version=f"autobot {__version__}")
    parser.add_argument("--config", action=_Once, metavar="PATH", help=CONFIG_HELP)
    commands = parser.add_subparsers(
        dest="command", metavar="COMMAND", required=True, parser_class=_CommandParser
    )

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
    doctor.add_argument(
        "--fix",
        action="store_true",
        help="apply the safe fixes (file modes, a .env inside the workspace), then check again",
    )

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
    # typeshed's _SubParsersAction is invariant; these parsers are _CommandParsers
    subparsers = cast("argparse._SubParsersAction[argparse.ArgumentParser]", commands)
    add_pairing_parser(subparsers)
    add_cron_parser(subparsers)
    add_service_parser(subparsers)
    add_status_parser(subparsers)
    return parser


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line `argv` (default: this process's) as parsed arguments;
    `config` is the one `--config` given before or after the command (None:
    not given). A usage error exits 2 with argparse's message, as does
    `--config` given twice with different paths."""
    parser = _parser()
    args = parser.parse_args(argv)
    given = [args.config] if args.config is not None else []
    given += [value for key, value in vars(args).items() if key.startswith(_AFTER_COMMAND)]
    distinct = list(dict.fromkeys(given))
    if len(distinct) > 1:
        parser.error(f"--config given twice ({distinct[0]!r} and {distinct[1]!r}): give it once")
    for key in [key for key in vars(args) if key.startswith(_AFTER_COMMAND)]:
        delattr(args, key)
    args.config = given[0] if given else None
    return args


def invoked_as(argv0: str, *, on_path: str | None, executable: str) -> str:
    """How to run autobot again from the user's shell, for the commands we print.

    `argv0` is `sys.argv[0]`, `on_path` what `shutil.which("autobot")` finds,
    `executable` is `sys.executable`. `autobot` when the shell's PATH finds this
    very program (an activated venv, an installed command); the path it was run
    by otherwise (`.venv/bin/autobot`, as typed); `PYTHON -m autobot` for
    `python -m autobot`; plain `autobot` when called some other way (a test).
    """
    name = os.path.basename(argv0)
    if name == "autobot":
        return (
            "autobot" if on_path is not None and _same_file(on_path, argv0) else shlex.quote(argv0)
        )
    if name == "__main__.py" and os.path.basename(os.path.dirname(argv0)) == "autobot":
        return f"{shlex.quote(executable)} -m autobot"
    return "autobot"


def _same_file(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:  # either is gone (or never was: a relative argv0 from elsewhere)
        return False


def _fail(message: str) -> int:
    print(f"autobot: {message}", file=sys.stderr)
    return 1


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `autobot` console script; returns the exit code."""
    args = parse(argv)
    if args.command == "new":
        return _new(args)
    try:
        config_path = find_config_path(args.config, Path.cwd())
        if args.command == "doctor":
            return _doctor(config_path, args)
        if args.command == "gateway":
            return _gateway(config_path)
        if args.command == "demo":
            return _demo(config_path, args)
        if args.command == "pairing":
            return _pairing(config_path, args)
        if args.command == "cron":
            return _cron(config_path, args)
        if args.command == "service":
            return _service(config_path, args)
        if args.command == "status":
            return _status(config_path, args)
    except ConfigError as exc:
        return _fail(str(exc))
    return _agent(config_path, args)  # the only command left


def _new(args: argparse.Namespace) -> int:
    """`autobot new`: 0 created, 1 refused or failed (one line, nothing left
    behind), 130 interrupted by Ctrl-C."""
    with loading():
        from autobot.scaffold.choices import ScaffoldError
        from autobot.scaffold.create import create_bot
        from autobot.scaffold.interactive import terminal_prompt

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
    program = invoked_as(sys.argv[0], on_path=shutil.which("autobot"), executable=sys.executable)
    print(bot.next_steps(program=program), end="")
    return 0


def _doctor(config_path: Path, args: argparse.Namespace) -> int:
    """`autobot doctor`: the report on stdout; 1 on errors (warnings too with
    --strict). With --fix: the safe fixes first, each change printed, then the
    report of what remains."""
    if args.fix:
        if args.json or args.strict:
            return _fail("doctor --fix prints what it changes: give it without --json and --strict")
        with loading():
            from autobot.doctor.fix import fix_main

        return fix_main(
            config_path,
            environ=os.environ,
            out=sys.stdout,
            err=sys.stderr,
            as_root=os.geteuid() == 0,
        )
    with loading():
        from autobot.doctor.main import doctor_main

    return doctor_main(
        config_path,
        strict=args.strict,
        as_json=args.json,
        environ=os.environ,
        out=sys.stdout,
        as_root=os.geteuid() == 0,
    )


def _gateway(config_path: Path) -> int:
    """`autobot gateway`: the doctor's gate, then the tree until signalled."""
    with loading():
        from autobot.commands.gateway import gateway_main

    return gateway_main(
        config_path, environ=os.environ, stderr=sys.stderr, as_root=os.geteuid() == 0
    )


def _demo(config_path: Path, args: argparse.Namespace) -> int:
    """`autobot demo`: the gateway against its loopback stand-ins."""
    with loading():
        from autobot.demo import demo_main

    return demo_main(
        config_path,
        environ=os.environ,
        stdout=sys.stdout,
        stderr=sys.stderr,
        once=args.once,
        as_root=os.geteuid() == 0,
    )


def _pairing(config_path: Path, args: argparse.Namespace) -> int:
    """`autobot pairing ACTION`: the owner's side of `dm_policy: pairing`."""
    loaded = load_config(config_path, os.environ)
    return pairing_main(loaded, args, out=sys.stdout, err=sys.stderr)


def _service(config_path: Path, args: argparse.Namespace) -> int:
    """`autobot service generate|install|uninstall`: the gateway as a systemd unit."""
    with loading():
        from autobot.service.command import service_main

    return service_main(config_path, args, environ=os.environ, out=sys.stdout, err=sys.stderr)


def _status(config_path: Path, args: argparse.Namespace) -> int:
    """`autobot status [--json]`: what the bot is, and what its running gateway says."""
    with loading():
        from autobot.status.command import status_main

    return status_main(config_path, args, environ=os.environ, out=sys.stdout, err=sys.stderr)


def _cron(config_path: Path, args: argparse.Namespace) -> int:
    """`autobot cron ACTION`: the operator's view of every owner's jobs."""
    with loading():
        from autobot.cron.command import cron_main

    loaded = load_config(config_path, os.environ)
    return cron_main(loaded, args, out=sys.stdout, err=sys.stderr)


def _agent(config_path: Path, args: argparse.Namespace) -> int:
    """`autobot agent`: the doctor's gate, then the chat. Signals are handled
    over its whole life (`autobot.runtime.lifetime`): first graceful, second
    immediate, exit 128 + signal, never a traceback."""
    with loading():
        from autobot.commands.agent import run_agent

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
