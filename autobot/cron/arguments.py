"""The arguments of `autobot cron` (argparse only: `autobot --help` builds
them without loading the cron store, the schedules or the time zones).
`autobot.cron.command.cron_main` runs what they parse."""

from __future__ import annotations

import argparse

_ID_ACTIONS = (
    ("show", "everything about job ID"),
    ("remove", "delete job ID"),
    ("enable", "let job ID run again (its next fire time counts from now)"),
    ("disable", "stop job ID from running (kept, listed)"),
    ("run", "run job ID now (in the running gateway; else when it next starts)"),
)


def _owner(text: str) -> str:
    from autobot.cron.jobs import CronError, parse_owner  # only when --owner is given

    try:
        return parse_owner(text)
    except CronError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_cron_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `cron` and its actions to the `autobot` subcommands."""
    cron = commands.add_parser(
        "cron", help="list, add, change or run the bot's scheduled jobs (every owner's)"
    )
    actions = cron.add_subparsers(dest="cron_action", metavar="ACTION", required=True)
    owner_help = "only jobs of this conversation, e.g. telegram:42"
    listing = actions.add_parser("list", help="every job, one line each")
    listing.add_argument("--owner", type=_owner, metavar="CHANNEL:CHAT_ID", help=owner_help)
    for name, help_text in _ID_ACTIONS:
        action = actions.add_parser(name, help=help_text)
        action.add_argument("job_id", metavar="ID", help="the job's id, as `list` shows it")
        action.add_argument("--owner", type=_owner, metavar="CHANNEL:CHAT_ID", help=owner_help)
    add = actions.add_parser("add", help="schedule a job for a conversation")
    add.add_argument(
        "--owner",
        type=_owner,
        required=True,
        metavar="CHANNEL:CHAT_ID",
        help="the conversation the job belongs to and reports to, e.g. telegram:42",
    )
    add.add_argument("--name", help="a short name (default: the start of the message or command)")
    what = add.add_mutually_exclusive_group(required=True)
    what.add_argument("--message", help="what the assistant does at each run (an agent turn)")
    what.add_argument(
        "--command",
        dest="job_command",  # `command` names the autobot command itself
        help="a shell command run in the sandbox; output to the chat",
    )
    when = add.add_mutually_exclusive_group(required=True)
    when.add_argument("--every", type=int, metavar="SECONDS", help="repeat every SECONDS")
    when.add_argument("--cron", metavar="EXPR", help="a 5-field cron expression or @daily...")
    when.add_argument("--at", metavar="TIME", help="once, at an ISO-8601 time")
    add.add_argument("--tz", metavar="ZONE", help="IANA zone of --cron, or of --at without offset")
