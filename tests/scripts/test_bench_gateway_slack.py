"""The gateway benchmark over Slack (`scripts/bench_gateway.py --channel slack`).

The option is parsed into the plan (and refused with a peer, which compares
over Telegram only); the Slack users' child matches replies by tag; the
whole benchmark runs once in a tiny configuration against the real gateway
process with the Slack channel. Nothing asserts a duration.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import trio

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
sys.path.insert(0, str(SCRIPTS))  # the benchmark's modules are `bench.*` beside the script

from bench.fake_model import reply_text  # noqa: E402
from bench.measure import Plan  # noqa: E402
from bench.slack_users import run_round, watch  # noqa: E402
from bench.telegram_users import ReplyBoard, RoundPlan  # noqa: E402
from bench_gateway import parse_options  # noqa: E402

from autobot.testing.fake_slack import serve_fake_slack  # noqa: E402
from autobot.testing.slack.records import PostedMessage  # noqa: E402

RUN_BOUND = 300.0


def test_the_channel_option() -> None:
    assert parse_options(["--channel", "slack"]).plan == Plan(
        users=50, messages=4, latency=1.0, channel="slack"
    )
    assert parse_options([]).plan.channel == "telegram"


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        (["--channel", "irc"], "invalid choice: 'irc'"),
        (["--channel", "slack", "--peer", "nanobot"], "--peer compares over Telegram only"),
    ],
)
def test_bad_channel_options_are_refused(
    arguments: list[str], problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_options(arguments)
    assert exited.value.code == 2 and problem in capsys.readouterr().err


async def test_a_slack_round_matches_replies_by_tag() -> None:
    async with serve_fake_slack() as fake:
        board = ReplyBoard()
        fake.echo_bot_messages = False

        async def bot() -> None:  # answers every user DM but the last one
            while True:
                await fake.until(lambda: len(fake.pending) > 0)
                for pending in list(fake.pending):
                    fake.pending.remove(pending)
                    event = pending.payload["event"]
                    tag = event["text"].split()[1]
                    if tag != "r.1.1":
                        fake.channels.setdefault(event["channel"], "im")
                        fake.record_posted(
                            PostedMessage(
                                channel=event["channel"],
                                text=reply_text(tag),
                                thread_ts=None,
                                ts=fake.new_ts(),
                                at=trio.current_time(),
                                arguments={},
                            )
                        )

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch, board, fake)
            nursery.start_soon(bot)
            plan = RoundPlan.parse(
                {
                    "name": "r",
                    "users": 2,
                    "messages": 2,
                    "latency": 0,
                    "first_user": 5,
                    "timeout": 5,
                }
            )
            answer = await run_round(fake, board, plan)
            nursery.cancel_scope.cancel()
    samples = answer["samples"]
    assert len(samples) == 4 and sum(1 for _, done in samples if done is None) == 1
    assert sorted(fake.users) == ["U5", "U6"]


def _value(output: str, label: str) -> float:
    line = next(line for line in output.splitlines() if line.startswith(label))
    return float(line[len(label) :].split()[0])


async def test_tiny_run_over_slack_measures_the_real_gateway(tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    command = [
        sys.executable,
        str(SCRIPTS / "bench_gateway.py"),
        *("--channel", "slack", "--users", "2", "--messages", "3", "--latency", "0.2"),
        *("--workdir", str(workdir)),
    ]
    with trio.fail_after(RUN_BOUND):
        done = await trio.run_process(
            command, capture_stdout=True, capture_stderr=True, check=False
        )
    output = done.stdout.decode()
    assert done.returncode == 0, output + done.stderr.decode()
    assert "gateway benchmark over slack" in output
    assert _value(output, "start -> first socket hello (s)") > 0
    assert _value(output, "throughput (msg/s) [2 users x 3 msgs, L=0]") > 0
    assert _value(output, "burst 2 users x 1 msg, L=0.2 s: wall (s)") >= 0.2
    assert re.search(r"Slack Web API calls per message\s+1\.00", output), output
    assert "exit code 0" in output and "outlived" not in output
    log = await trio.Path(workdir / "autobot" / "bot" / "logs" / "autobot.log").read_text()
    assert log.count("Tokens:") == 1 + 2 * 3 + 2  # warm-up, throughput, burst: each answered once
