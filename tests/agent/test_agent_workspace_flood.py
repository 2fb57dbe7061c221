"""A sandboxed command flooding the workspace with inotify events stalls no other
conversation (issue 10 finding 4). Real bubblewrap workers, the real router,
the real prompt watch and dotenv index; only the LLM is scripted.

The flood is what a prompt-injected model can run with `exec`: a shell loop
starting tight loops that rename directories and create and delete files in
the workspace as fast as they can, pinned to one CPU (on a machine with more
cores the flood would not even share one with the gateway; here it leaves
the gateway the other). Meanwhile `SESSIONS` other conversations take turns
at once, each one a prompt check, an LLM answer asking for `read_file`, a
pool lease and the read, a second answer and the reply. The same rounds are
timed before the flood and after it; with it they must take less than
`BOUND` times as long as the quicker of the two: a ratio measured side by
side, never an absolute time. On the 2-core development machine: 1.5x to
1.7x; 8x to 9x with the reader that drained the queue on the event loop's
thread (before issue 10 finding 4 was fixed).

Still under the flood, the security property holds: a dotenv file the host
drops into the workspace is hidden from the next command, and a prompt file
changed is in the next turn's system prompt.
"""

from __future__ import annotations

import fcntl
import statistics
import struct
import termios
import time
from pathlib import Path

import pytest
import trio
from router_harness import Harness, running_router

from autobot.llm.types import LLMRequest, LLMResponse, Role
from autobot.platform.inotify import Inotify
from autobot.sandbox.pool import SandboxPool
from autobot.sandbox.testing import start_pool
from autobot.testing.logs import capture_logger
from autobot.testing.scripted_llm import ScriptedProvider, text_reply, tool_reply
from autobot.tools.files import ReadFileTool

SESSIONS = 8  # conversations taking a turn at once, each round
ROUNDS = 12
LLM_SECONDS = 0.02  # each scripted answer; a real one takes ~50 times longer
BOUND = 5.0  # flood / quiet, median round
SECRET = "dropped-during-the-flood-0123456789"
FLOODERS = 4
# Runs inside the sandbox with the host's /usr/bin/python3, as the worker does.
FLOOD_LOOP = """
import os, sys
cpus = os.sched_getaffinity(0)
if len(cpus) > 1:
    os.sched_setaffinity(0, {max(cpus)})
i = int(sys.argv[1])
here, there = "d" * 200 + str(i), "e" * 200 + str(i)
os.mkdir(here)
while True:
    if i == 0:
        os.close(os.open(here + "/f", os.O_CREAT | os.O_WRONLY))
        os.unlink(here + "/f")
    else:
        os.rename(here, there)
        os.rename(there, here)
"""
FLOOD_COMMAND = (
    f"i=0; while [ $i -lt {FLOODERS} ]; do "
    f"/usr/bin/python3 -c '{FLOOD_LOOP}' $i & i=$((i+1)); done; wait"
)


def answer(request: LLMRequest) -> LLMResponse:
    if request.messages[-1].role is Role.TOOL:
        return text_reply(f"notes say: {request.messages[-1].content}")
    return tool_reply(("read_file", {"path": "notes.txt"}))


async def rounds(harness: Harness, label: str) -> list[float]:
    """Seconds per round of `SESSIONS` turns taken at once."""
    times = []
    for round_ in range(ROUNDS):
        began = time.perf_counter()
        for session in range(SESSIONS):
            await harness.say(f"{label}{session}", f"round {round_}: what do my notes say?")
        for _ in range(SESSIONS):
            _, text, _ = await harness.reply()
            assert text == "notes say: remember the milk"
        times.append(time.perf_counter() - began)
    return times


async def run_flood(
    pool: SandboxPool, ended: list[str], *, task_status: trio.TaskStatus[None]
) -> None:
    """Run the flood until cancelled; if it ends by itself, say how in `ended`."""
    async with pool.lease() as worker:
        task_status.started()
        outcome = await worker.exec(FLOOD_COMMAND, cwd=".", time_limit=600, max_output=10_000)
        ended.append(f"exit {outcome.exit_code}: {outcome.stderr}")


def queue_is_full(watch: Inotify) -> bool:
    """Whether the kernel queue of `watch` (opened before the flood, never read
    since) holds as many events as it can: at least `max_queued_events`
    records of at least 16 bytes each (FIONREAD counts the bytes)."""
    limit = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    queued = struct.unpack("i", fcntl.ioctl(watch.fd, termios.FIONREAD, bytes(4)))[0]
    return bool(queued >= 16 * limit)


@pytest.mark.skipif(not Path("/usr/bin/bwrap").exists(), reason="needs bubblewrap")
async def test_a_flood_from_the_sandbox_stalls_no_other_conversation(
    tmp_path: Path, nursery: trio.Nursery
) -> None:
    workspace = (tmp_path / "workspace").resolve()
    workspace.mkdir()
    (workspace / "notes.txt").write_text("remember the milk")
    (workspace / "SOUL.md").write_text("Calm and kind.")
    pool = await start_pool(nursery, workspace, capture_logger()[0], size=SESSIONS + 2)
    provider = ScriptedProvider(responder=answer, latency=LLM_SECONDS)
    read_file = ReadFileTool(pool=pool, workspace=workspace)
    async with running_router(tmp_path, provider=provider, tools=[read_file]) as harness:
        await rounds(harness, "warm")
        before = await rounds(harness, "before")

        witness = Inotify.open()
        witness.add_watch(str(workspace))
        ended: list[str] = []
        try:
            async with trio.open_nursery() as flooding:
                await flooding.start(run_flood, pool, ended)
                with trio.fail_after(60):
                    # The flood's progress has no event to wait on: poll the witness.
                    while not queue_is_full(witness):  # noqa: ASYNC110
                        await trio.sleep(0.01)
                flooded = await rounds(harness, "flooded")
                assert ended == []  # flooding all along

                # Still flooding: the host drops a dotenv file; no command may read it.
                (workspace / "late.env").write_text(f"KEY={SECRET}\n")
                for _ in range(3):
                    async with pool.lease() as worker:
                        outcome = await worker.exec(
                            "cat late.env 2>&1; echo end", cwd=".", time_limit=20, max_output=10_000
                        )
                    assert SECRET not in outcome.stdout and outcome.stdout.endswith("end\n")
                # And a prompt file changed now is in the next turn's system prompt.
                (workspace / "SOUL.md").write_text("Changed during the flood.")
                await harness.say("prompt", "and now?")
                assert (await harness.reply())[1] == "notes say: remember the milk"
                assert "Changed during the flood." in provider.requests[-2].system
                assert ended == []
                flooding.cancel_scope.cancel("the flood is measured")  # kills its sandbox
        finally:
            witness.close()
        after = await rounds(harness, "after")

    quiet = min(statistics.median(before), statistics.median(after))
    ratio = statistics.median(flooded) / quiet
    print(
        f"median round: quiet {statistics.median(before) * 1000:.1f} ms before, "
        f"{statistics.median(after) * 1000:.1f} ms after; "
        f"flooded {statistics.median(flooded) * 1000:.1f} ms; ratio {ratio:.2f}"
    )
    assert ratio < BOUND
