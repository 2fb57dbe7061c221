"""Benchmark the real `autobot gateway` process over Telegram (or Slack), side by side with nanobot.

    .venv/bin/python scripts/bench_gateway.py --users 50 --messages 4 --latency 1.0 --peer nanobot
    .venv/bin/python scripts/bench_gateway.py --channel slack --users 50 --messages 4

M users talk to the gateway through a loopback Telegram Bot API fake (with
`--channel slack`: the loopback Slack fake, Web API and Socket Mode, each
user writing to the bot in a DM; the peer comparison is Telegram's only); the
model is a loopback Anthropic Messages API fake. Both fakes run in child
processes of their own (the gateway is measured as a process, with its
own CPU; the fakes' CPU is not its), and each peer meets the very same fakes
(`bench/`: `telegram_users.py`, `fake_model.py`). What runs is the real
gateway: `python -m autobot --config <bot>/config.yml gateway` for a bot
made like `autobot new` with `allow_from: ["*"]` (the doctor's start-up
gate, the bubblewrap sandbox pool, the log actor, the inbound journal all
included); with `--peer nanobot`, `nanobot-ai` from PyPI in a scratch venv,
set up with its own `onboard`, run as `nanobot gateway` against the same
fakes in the same run (`bench/nanobot_peer.py` says how it is configured).

For each peer, on a freshly started gateway (`bench/measure.py`):
- start -> first getUpdates: from just before the spawn to the fake
  receiving the first poll;
- RSS (and PSS) of the gateway's process tree (its sandbox workers
  included), idle after the first poll and a settling pause, and the peak
  while busy, read from /proc;
- throughput: M users x K messages, each user sending the next message when
  the reply to the previous one arrived, model latency 0; added latency
  (post to the bot's sendMessage, minus the model's latency) p50/p99;
- burst: M new users write at the same moment, model latency L: the wall
  time from the first post to the last reply, and the added latency;
- what bounds the figures: CPU per message, Bot API calls and model bytes
  per message.
It prints one table with both peers and their ratio (> 1.00x: autobot is
better) and the issue's goals. Rate limits that would refuse the load are
raised for autobot and printed. If nanobot cannot be installed or pointed at
the fakes, the reason is printed and autobot's figures still are. Every
process the benchmark starts is stopped by it, and everything listens on
127.0.0.1 only. These machines are noisy: compare ratios from one run.
"""

from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path

import attrs
import trio
from bench.autobot_peer import autobot_launch
from bench.children import open_child
from bench.fake_model import MAX_LATENCY
from bench.launch import PeerUnavailable
from bench.measure import Measured, MeasurementFailed, PeerResult, Plan, measure_peer
from bench.nanobot_peer import DEFAULT_VERSION, NanobotSetup, nanobot_launch, prepare_nanobot
from bench.report import limits, render, rows

PEERS = ("none", "nanobot")
CHANNELS = ("telegram", "slack")
VERSION = re.compile(r"[0-9]+(\.[0-9]+){0,3}((a|b|rc|\.post|\.dev)[0-9]+)?")
MAX_USERS = 1000  # distinct Telegram users (sessions) per round
MAX_MESSAGES = 100  # per user in the throughput round


@attrs.frozen(kw_only=True)
class Options:
    plan: Plan
    peer: str
    peer_version: str
    peer_venv: Path | None
    workdir: Path | None


def parse_options(argv: list[str] | None = None) -> Options:
    """The command line; a bad value exits with argparse's usage error."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--users", type=int, default=50, help="M users (default 50)")
    parser.add_argument("--messages", type=int, default=4, help="K messages per user (default 4)")
    parser.add_argument(
        "--latency", type=float, default=1.0, help="model latency L of the burst, s (default 1)"
    )
    parser.add_argument(
        "--channel", choices=CHANNELS, default="telegram", help="chat network (default telegram)"
    )
    parser.add_argument("--peer", choices=PEERS, default="none", help="compare with (default none)")
    parser.add_argument("--peer-version", default=DEFAULT_VERSION, help="nanobot-ai version")
    parser.add_argument(
        "--peer-venv", type=Path, help="reuse (or create and keep) nanobot's venv here"
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="keep bots, configs and gateway logs here (default: a temp dir)",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.users <= MAX_USERS:
        parser.error(f"--users must be within 1-{MAX_USERS}, got {args.users}")
    if not 1 <= args.messages <= MAX_MESSAGES:
        parser.error(f"--messages must be within 1-{MAX_MESSAGES}, got {args.messages}")
    if not 0 <= args.latency <= MAX_LATENCY:
        parser.error(f"--latency must be within 0-{MAX_LATENCY:g} s, got {args.latency}")
    if args.workdir is not None and (not args.workdir.is_dir() or any(args.workdir.iterdir())):
        parser.error(f"--workdir must be an existing empty directory: {args.workdir}")
    if args.channel != "telegram" and args.peer != "none":
        parser.error("--peer compares over Telegram only: use it without --channel slack")
    if not VERSION.fullmatch(args.peer_version):
        parser.error(f"--peer-version must be a release number like 0.3.5: {args.peer_version!r}")
    venv = args.peer_venv
    if venv is not None and venv.exists() and not (venv / "pyvenv.cfg").is_file():
        parser.error(f"--peer-venv exists and is not a venv (no pyvenv.cfg): {venv}")
    return Options(
        plan=Plan(
            users=args.users, messages=args.messages, latency=args.latency, channel=args.channel
        ),
        peer=args.peer,
        peer_version=args.peer_version,
        peer_venv=args.peer_venv,
        workdir=args.workdir,
    )


def llm_calls_per_minute(plan: Plan) -> int:
    """A rate limit no round reaches: ten times the run's model calls."""
    return max(1000, 10 * (1 + plan.users * plan.messages + plan.users))


async def _prepare_peer(options: Options, scratch: Path) -> NanobotSetup:
    """Raises `PeerUnavailable`."""
    venv = options.peer_venv or scratch / "nanobot-venv"
    print(f"nanobot: installing nanobot-ai=={options.peer_version} into {venv} ...", flush=True)
    setup = await prepare_nanobot(venv, scratch / "nanobot-home", options.peer_version)
    print("nanobot: installed and onboarded", flush=True)
    return setup


async def run(options: Options, scratch: Path) -> int:
    """The whole benchmark in `scratch`; the exit status."""
    plan = options.plan
    peer_setup: NanobotSetup | None = None
    peer_problem: str | None = None
    if options.peer == "nanobot":
        try:
            peer_setup = await _prepare_peer(options, scratch)
        except PeerUnavailable as error:
            peer_problem = f"nanobot could not be installed: {error}"
    peer: PeerResult | None = None
    async with open_child("bench.fake_model") as model:
        autobot_dir = scratch / "autobot"
        await trio.Path(autobot_dir).mkdir()
        calls = llm_calls_per_minute(plan)
        print("autobot: measuring ...", flush=True)
        try:
            autobot = await measure_peer(
                autobot_dir,
                lambda fakes: autobot_launch(autobot_dir, fakes, calls, plan.channel),
                model,
                plan,
            )
        except MeasurementFailed as error:
            print(f"autobot could not be measured: {error}")
            return 1
        if peer_setup is not None:
            print("nanobot: measuring ...", flush=True)
            peer_dir = scratch / "nanobot"
            await trio.Path(peer_dir).mkdir()
            setup = peer_setup
            try:
                peer = await measure_peer(
                    peer_dir, lambda fakes: nanobot_launch(setup, fakes), model, plan
                )
            except (MeasurementFailed, PeerUnavailable) as error:
                peer_problem = f"nanobot could not be pointed at the fakes and measured: {error}"
    print_report(plan, autobot, peer, options.peer, peer_problem)
    return 0


def _describe(name: str, result: PeerResult) -> list[str]:
    stop = result.stopped
    stopped = (
        f"stopped in {stop.seconds:.2f} s, exit code {stop.exit_code}"
        if stop.exit_code is not None
        else f"did not stop within {stop.seconds:.0f} s: killed"
    )
    if stop.stragglers:
        stopped += "; processes of its group outlived it and were killed"
    return [f"{name}:", *(f"  {line}" for line in result.settings), f"  {stopped}"]


def print_report(
    plan: Plan,
    autobot: PeerResult,
    peer: PeerResult | None,
    peer_name: str,
    peer_problem: str | None,
) -> None:
    print()
    print(
        f"gateway benchmark over {plan.channel}: M={plan.users} users, K={plan.messages} "
        "messages each (model "
        f"latency 0), then a burst of {plan.users} users at model latency L={plan.latency:g} s"
    )
    for line in _describe("autobot", autobot) + (
        [] if peer is None else _describe(peer_name, peer)
    ):
        print(line)
    if peer_problem is not None:
        print(f"PEER NOT RUN: {peer_problem}")
    print()
    peer_measured: Measured | None = None if peer is None else peer.measured
    print(render(rows(plan, autobot.measured, peer_measured), peer_name if peer else "peer"))
    print()
    print("what limits them:")
    for name, result in (("autobot", autobot), (peer_name, peer)):
        if result is not None:
            for line in limits(plan, result.measured):
                print(f"  {name}: {line}")


def main() -> None:
    options = parse_options()
    if options.workdir is not None:
        raise SystemExit(trio.run(run, options, options.workdir.resolve()))
    with tempfile.TemporaryDirectory(prefix="bench-gateway-") as scratch:
        status = trio.run(run, options, Path(scratch))
    raise SystemExit(status)


if __name__ == "__main__":
    main()
