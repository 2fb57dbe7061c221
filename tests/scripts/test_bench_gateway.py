"""The gateway benchmark (`scripts/bench_gateway.py` and `scripts/bench/`).

The pure parts are tested directly; `read_tree` on a real process tree; the
whole benchmark runs once in a tiny configuration against the real
`autobot gateway` process, with a nanobot peer that cannot be installed
(pip is offline for it), so the run must say why and still print
autobot's figures. Nothing asserts a duration: only what must hold on any
machine (a reply never comes before the model's latency, counts add up).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
import trio.testing

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
sys.path.insert(0, str(SCRIPTS))  # the benchmark's modules are `bench.*` beside the script

from bench.children import RequestRefused  # noqa: E402
from bench.fake_model import answer, reply_text, user_message_text  # noqa: E402
from bench.jsonlines import LineReader, ProtocolError, send_object  # noqa: E402
from bench.launch import Fakes  # noqa: E402
from bench.measure import Plan  # noqa: E402
from bench.nanobot_peer import configure  # noqa: E402
from bench.proctree import descendants, parse_kb_field, parse_stat, read_tree  # noqa: E402
from bench.report import Row, render  # noqa: E402
from bench.stats import percentile, round_figures  # noqa: E402
from bench.telegram_users import ReplyBoard, RoundPlan, first_poll, run_round  # noqa: E402
from bench_gateway import parse_options  # noqa: E402

from autobot.testing.fake_telegram import FakeTelegram, serve_fake_telegram  # noqa: E402
from autobot.testing.llm_script import ScriptedReply  # noqa: E402

RUN_BOUND = 300.0  # the tiny benchmark on a loaded 2-core machine; nothing asserts a duration


# -- /proc -------------------------------------------------------------------------


def test_parse_stat_counts_fields_after_the_last_parenthesis() -> None:
    line = "4242 (we(i)rd name) S 17 4242 4242 0 -1 4194560 10 0 0 0 250 31 0 0 20 0 1 0"
    assert parse_stat(line) == (17, 281)


@pytest.mark.parametrize("line", ["", "4242 no parenthesis S 1 2", "1 (x) S 1 2 3"])
def test_parse_stat_refuses_what_is_not_a_stat_line(line: str) -> None:
    with pytest.raises(ValueError, match="stat line"):
        parse_stat(line)


def test_parse_kb_field() -> None:
    status = "Name:\tpython\nVmPeak:\t  9000 kB\nVmRSS:\t  1234 kB\n"
    assert parse_kb_field(status, "VmRSS") == 1234
    assert parse_kb_field("Name:\tkthreadd\n", "VmRSS") == 0  # a kernel thread has none
    with pytest.raises(ValueError, match="malformed VmRSS"):
        parse_kb_field("VmRSS:\t12 MB\n", "VmRSS")


def test_descendants_are_the_whole_subtree_and_nothing_else() -> None:
    parents = {1: 0, 10: 1, 11: 10, 12: 10, 13: 12, 20: 1, 21: 20}
    assert descendants(parents, 10) == {10, 11, 12, 13}
    assert descendants(parents, 13) == {13}
    assert descendants(parents, 1) == {1, 10, 11, 12, 13, 20, 21}


async def test_read_tree_sums_a_real_process_and_its_children() -> None:
    # a shell with two children that each hold 8 MB of written memory until
    # their stdin (the shell's, passed on explicitly) closes
    code = 'import sys; b = b"x" * (8 << 20); print("held", flush=True); sys.stdin.read()'
    hold = f"{sys.executable} -c '{code}' <&3"
    script = f"exec 3<&0; {hold} & {hold} & wait"
    process = await trio.lowlevel.open_process(
        ["sh", "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert process.stdin is not None and process.stdout is not None
    async with process.stdin:
        said = b""
        with trio.fail_after(30):
            while said.count(b"held") < 2:  # two prints may interleave: "heldheld\n\n"
                said += await process.stdout.receive_some()
        tree = read_tree(process.pid)
        assert len(tree.pids) == 3 and process.pid in tree.pids
        assert tree.root_rss_kb < 16 * 1024 < tree.rss_kb  # the children's memory is counted
        assert 0 < tree.pss_kb <= tree.rss_kb
    with trio.fail_after(30):
        assert await process.wait() == 0  # the children saw EOF and exited, then the shell
    with pytest.raises(ProcessLookupError):
        read_tree(process.pid)


# -- figures -----------------------------------------------------------------------


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([3.0], 0.99) == 3.0
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)
    with pytest.raises(ValueError, match="fraction"):
        percentile(values, 0.0)


def test_round_figures_subtract_the_model_latency_and_count_the_unanswered() -> None:
    samples = [(10.0, 11.1), (10.0, 11.3), (10.5, None), (11.0, 12.2)]
    figures = round_figures(samples, model_latency=1.0)
    assert (figures.sent, figures.answered, figures.complete) == (4, 3, False)
    assert figures.wall == pytest.approx(2.2)
    assert figures.throughput == pytest.approx(3 / 2.2)
    assert figures.added_p50 == pytest.approx(0.2)
    assert figures.added_p99 == pytest.approx(0.3)
    with pytest.raises(ValueError, match="none of the 2 messages"):
        round_figures([(1.0, None), (2.0, None)], 0.0)


def test_ratio_says_how_many_times_better_autobot_is_either_way() -> None:
    cost = Row(label="rss", autobot=100.0, peer=150.0, better="lower", digits=1)
    rate = Row(label="rate", autobot=50.0, peer=10.0, better="higher", digits=1)
    assert cost.ratio == pytest.approx(1.5)
    assert rate.ratio == pytest.approx(5.0)
    assert Row(label="n", autobot=5.0, peer=1.0, better=None, digits=0).ratio is None
    assert Row(label="x", autobot=5.0, peer=None, better="lower", digits=0).ratio is None
    table = render([cost, rate], "nanobot").splitlines()
    assert table[0].split() == ["metric", "autobot", "nanobot", "ratio", "goal"]
    assert table[2].split() == ["rss", "100.0", "150.0", "1.50x"]


# -- the fakes' protocol -----------------------------------------------------------


def _body(*texts: str) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": [{"type": "text", "text": t}]} for t in texts]}


def test_model_answers_the_last_tagged_message_after_its_latency() -> None:
    first = user_message_text("t.0.0", 0.0)
    second = user_message_text("t.0.1", 1.5)
    assert answer(_body(first, "[context]\n" + second)) == ScriptedReply(
        text=reply_text("t.0.1"), latency=1.5
    )
    assert answer(_body("a housekeeping prompt")) == ScriptedReply(text="ok")
    with pytest.raises(ValueError, match="latency"):
        user_message_text("t.0.0", -1.0)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"name": "T"}, "round name"),
        ({"users": 0}, "users must be"),
        ({"messages": True}, "messages must be"),
        ({"latency": "1"}, "latency must be"),
        ({"latency": 61.0}, "latency must be within"),
        ({"timeout": -1}, "timeout must be"),
    ],
)
def test_a_bad_round_is_refused_naming_the_field(change: dict[str, object], problem: str) -> None:
    request = {
        "op": "round",
        "name": "t",
        "users": 2,
        "messages": 1,
        "latency": 0.0,
        "first_user": 100,
        "timeout": 10.0,
    }
    assert RoundPlan.parse(request).users == 2
    with pytest.raises(RequestRefused, match=problem):
        RoundPlan.parse({**request, **change})


async def _scripted_bot(fake: FakeTelegram, answered_user: int) -> None:
    """A bot on the fake's real HTTP API: it answers `answered_user`'s tagged
    messages after 0.25 s and everyone else with an untagged text."""
    offset = 0
    async with httpx.AsyncClient(trust_env=False, timeout=None) as client:

        async def reply(chat: int, text: str) -> None:
            await client.post(f"{fake.api_url}/sendMessage", json={"chat_id": chat, "text": text})

        async with trio.open_nursery() as nursery:
            while True:
                poll = {"offset": offset, "timeout": 30}
                got = (await client.post(f"{fake.api_url}/getUpdates", json=poll)).json()
                for update in got["result"]:
                    offset = update["update_id"] + 1
                    chat, text = update["message"]["chat"]["id"], update["message"]["text"]
                    if chat != answered_user:
                        nursery.start_soon(reply, chat, f"sorry {chat}")
                        continue
                    tag = text.split()[1]

                    async def later(chat: int = chat, tag: str = tag) -> None:
                        await trio.sleep(0.25)
                        await reply(chat, reply_text(tag))

                    nursery.start_soon(later)


async def test_a_round_matches_replies_by_tag_and_times_out_the_rest(
    autojump_clock: trio.abc.Clock,
) -> None:
    plan = RoundPlan(name="t", users=2, messages=2, latency=0.0, first_user=100, timeout=10.0)
    async with serve_fake_telegram() as fake, trio.open_nursery() as nursery:
        board = ReplyBoard()
        nursery.start_soon(board.watch, fake)
        nursery.start_soon(_scripted_bot, fake, 100)
        polled = await first_poll(fake, clock=1000.0)
        start = trio.current_time()
        answer: dict[str, Any] = await run_round(fake, board, plan)
        end = trio.current_time()
        nursery.cancel_scope.cancel("the test is over")
    assert polled == {"at": 1000.0}  # the first poll came at virtual time 0
    assert start == 0.0 and end == 10.0  # user 101 was never answered: the round timed out
    samples = [tuple(sample) for sample in answer["samples"]]
    assert len(samples) == 3
    assert set(samples) == {(0.0, 0.25), (0.25, 0.5), (0.0, None)}
    assert answer["unexpected"] == ["sorry 101"] and answer["unexpected_count"] == 1
    assert answer["calls"]["sendMessage"] == 3
    assert board.waiting == {}  # the round's outstanding message is forgotten


async def test_json_lines_across_chunks_and_every_protocol_error() -> None:
    send, receive = trio.testing.memory_stream_pair()
    reader = LineReader(receive, max_bytes=64)
    await send_object(send, {"a": 1})
    await send.send_all(b'{"b":')
    await send.send_all(b" 2}\n[1]\n")
    assert await reader.next_object() == {"a": 1}
    assert await reader.next_object() == {"b": 2}
    with pytest.raises(ProtocolError, match="not a JSON object"):
        await reader.next_object()
    await send.send_all(b"x" * 100)
    with pytest.raises(ProtocolError, match="longer than 64"):
        await reader.next_object()

    send, receive = trio.testing.memory_stream_pair()
    reader = LineReader(receive)
    await send.send_all(b'nope\n{"half"')
    await send.aclose()
    with pytest.raises(ProtocolError, match="not JSON"):
        await reader.next_object()
    with pytest.raises(ProtocolError, match="ended inside a line"):
        await reader.next_object()


def test_nanobot_config_points_at_the_fakes_and_keeps_the_rest() -> None:
    config: dict[str, object] = {
        "channels": {"telegram": {"enabled": False, "reactEmoji": "x"}},
        "agents": {"defaults": {"model": "m", "maxTokens": 8192}},
    }
    fakes = Fakes(telegram_url="http://127.0.0.1:1", telegram_token="1:t", model_url="http://m")
    configure(config, fakes, port=4321)
    assert json.loads(json.dumps(config)) == {
        "channels": {
            "telegram": {
                "enabled": True,
                "reactEmoji": "x",
                "token": "1:t",
                "allowFrom": ["*"],
                "streaming": False,
            },
            "websocket": {"enabled": False},
        },
        "providers": {
            "anthropic": {"apiKey": "sk-ant-bench-not-a-real-key", "apiBase": "http://m"}
        },
        "agents": {
            "defaults": {
                "model": "anthropic/bench-model",
                "maxTokens": 8192,
                "provider": "anthropic",
                "dream": {"enabled": False},
            }
        },
        "gateway": {"heartbeat": {"enabled": False}, "port": 4321},
    }


@pytest.mark.parametrize(
    ("arguments", "problem"),
    [
        (["--users", "0"], "--users must be within 1-1000, got 0"),
        (["--messages", "101"], "--messages must be within 1-100, got 101"),
        (["--latency", "-0.5"], "--latency must be within 0-60 s, got -0.5"),
        (["--peer", "openclaw"], "invalid choice: 'openclaw'"),
        (["--peer-version", "0.3.5 --index-url http://x"], "--peer-version must be a release"),
        (["--peer-venv", "/etc"], "--peer-venv exists and is not a venv"),
        (["--workdir", "/etc"], "--workdir must be an existing empty directory"),
    ],
)
def test_bad_options_are_refused_with_the_reason(
    arguments: list[str], problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        parse_options(arguments)
    assert exited.value.code == 2
    assert problem in capsys.readouterr().err


def test_default_options_are_the_issue_s_configuration() -> None:
    options = parse_options([])
    assert options.plan == Plan(users=50, messages=4, latency=1.0)
    assert (options.peer, options.peer_version) == ("none", "0.3.5")


# -- the whole benchmark -----------------------------------------------------------


def _value(output: str, label: str) -> float:
    line = next(line for line in output.splitlines() if line.startswith(label))
    return float(line[len(label) :].split()[0])


async def test_tiny_run_measures_the_real_gateway_and_says_why_the_peer_did_not_run(
    tmp_path: Path,
) -> None:
    offline_pip = {
        "PIP_CONFIG_FILE": os.devnull,  # no index but none at all: pip install fails at once
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": "",
    }
    command = [
        sys.executable,
        str(SCRIPTS / "bench_gateway.py"),
        *("--users", "2", "--messages", "3", "--latency", "0.2"),
        *("--peer", "nanobot", "--peer-venv", str(tmp_path / "venv")),
    ]
    workdir = tmp_path / "work"
    workdir.mkdir()
    with trio.fail_after(RUN_BOUND):
        done = await trio.run_process(
            [*command, "--workdir", str(workdir)],
            env={**os.environ, **offline_pip},
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    output = done.stdout.decode()
    assert done.returncode == 0, output + done.stderr.decode()
    assert re.search(
        r"PEER NOT RUN: nanobot could not be installed: pip install nanobot-ai==\S+ failed "
        r"\(exit 1\): .*No matching distribution found for nanobot-ai",
        output,
    ), output
    # autobot's figures, from the real process: every message answered, and
    # none faster than the model's latency allows
    assert _value(output, "throughput (msg/s) [2 users x 3 msgs, L=0]") > 0
    assert _value(output, "burst 2 users x 1 msg, L=0.2 s: wall (s)") >= 0.2
    assert _value(output, "  added latency p50 (ms)") >= 0
    assert _value(output, "RSS idle, process tree (MB)") > 0
    # the sandbox pool's workers are the gateway's descendants, and counted
    assert _value(output, "processes in the tree") > 1
    assert ">= 5x peer: needs --peer" in output
    assert "stopped in" in output and "exit code 0" in output
    assert "outlived" not in output  # stopping the gateway left no process behind
    log = await trio.Path(workdir / "autobot" / "bot" / "logs" / "autobot.log").read_text()
    assert log.count("Tokens:") == 1 + 2 * 3 + 2  # warm-up, throughput, burst: each answered once
