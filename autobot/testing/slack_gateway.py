"""`python -m autobot.testing.slack_gateway --config PATH`: `autobot gateway` with Slack.

The same command as `autobot gateway` (the doctor's start-up gate, the
lifetime and signal handling, exit codes), whose tree also runs the Slack
channel when `config.yml` enables it (`slack_bot.with_slack`), for tests and
benchmarks that run the gateway as a real process while the composition
root's `chat_channels` does not list Slack yet.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from autobot.gateway import main as gateway_main_module
from autobot.testing.slack_bot import with_slack


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args()
    # The command builds its tree with this module global: the one thing changed.
    setattr(gateway_main_module, "chat_channels", with_slack)  # noqa: B010
    return gateway_main_module.gateway_main(
        args.config.resolve(), environ=os.environ, stderr=sys.stderr, as_root=os.geteuid() == 0
    )


if __name__ == "__main__":
    raise SystemExit(main())
