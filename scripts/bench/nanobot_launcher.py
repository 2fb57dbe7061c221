"""Runs nanobot with python-telegram-bot pointed at a loopback Bot API; nanobot's venv runs it.

    <nanobot venv>/bin/python nanobot_launcher.py API_BASE gateway --foreground

nanobot has no setting for the Telegram API's address, while
python-telegram-bot's `ApplicationBuilder` has `base_url` and
`base_file_url`. This launcher wraps `ApplicationBuilder.token` so that every
application nanobot builds also gets `API_BASE/bot` and `API_BASE/file/bot`,
then runs nanobot's own command-line entry point with the remaining
arguments. Nothing else of nanobot is changed. It imports neither autobot
nor trio: it runs in nanobot's interpreter, not the benchmark's.
"""

from __future__ import annotations

import sys
from typing import Any


def point_telegram_at(api_base: str) -> None:
    """Make every `ApplicationBuilder` use `api_base` for methods and files."""
    from telegram.ext import ApplicationBuilder

    set_token = ApplicationBuilder.token

    def token(self: Any, value: str) -> Any:
        return (
            set_token(self, value).base_url(f"{api_base}/bot").base_file_url(f"{api_base}/file/bot")
        )

    ApplicationBuilder.token = token


def main() -> None:
    if len(sys.argv) < 3 or not sys.argv[1].startswith("http://127.0.0.1:"):
        sys.exit("usage: nanobot_launcher.py http://127.0.0.1:PORT NANOBOT-ARGUMENTS...")
    point_telegram_at(sys.argv[1].rstrip("/"))
    from nanobot.cli.entry import main as nanobot_main

    sys.argv = ["nanobot", *sys.argv[2:]]
    nanobot_main()


if __name__ == "__main__":
    main()
