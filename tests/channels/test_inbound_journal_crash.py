"""Inbound journal under `kill -9`: a real child process appends, answers and
re-receives messages in a loop and is SIGKILLed at seeded random points.

The child reports every call that returned over its stdout pipe before it goes
on (`A` an append, `d`/`D` before/after a done mark, `X` a redelivery it
re-appended, `R` the entries replay gave it at start). After each kill the
parent reopens the journal and checks that no acknowledged entry was lost,
that no answered entry came back, that nothing is there twice, and that a
platform redelivery of every acknowledged message is dropped. Messages are up
to 300 kB and the journal compacts every few done marks, so kills land inside
writes, syncs and compactions alike.
"""

from __future__ import annotations

import random
import shutil
import signal
import subprocess
import sys
from pathlib import Path

from autobot.channels.base import InboundMessage
from autobot.channels.inbound_journal import (
    Arrival,
    InboundJournal,
    default_dedup_keys,
    inbound_journal_path,
)

ROUNDS = 8
SEED = 20_250_611

CHILD = """
import os, random, sys
from pathlib import Path
from autobot.channels.base import InboundMessage
from autobot.channels.inbound_journal import InboundJournal, default_dedup_keys

path, seed, round_ = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)

def report(*words):
    os.write(1, (" ".join(map(str, words)) + "\\n").encode())

journal = (opened := InboundJournal.open(path, compact_after=6)).journal
report("R", *(e.id for e in opened.pending))
for entry in opened.pending:  # replay: answer, then mark done
    report("d", entry.id)
    journal.mark_done(entry.id)
    report("D", entry.id)
live, sent = [], []
for n in range(1, 1_000_000):
    update, chat = round_ * 100_000 + n, str(rng.randrange(5))
    message = InboundMessage(
        channel="telegram", chat_id=chat, content="x" * rng.randrange(1, 300_000),
        message_id=f"{round_}-{n}",
    )
    entry = journal.append(message, default_dedup_keys(message, update), update)
    report("A", entry.id, update, chat, f"{round_}-{n}")
    live.append(entry.id)
    sent.append(message)
    if rng.random() < 0.5:
        done = live.pop(rng.randrange(len(live)))
        report("d", done)
        journal.mark_done(done)
        report("D", done)
    if rng.random() < 0.2:
        again = rng.choice(sent)
        update = round_ * 100_000 + int(again.message_id.split("-")[1])
        redelivered = journal.append(again, default_dedup_keys(again, update), update)
        report("X", "ok" if redelivered is None else "BAD")
"""


def test_kill_9_at_random_points_loses_nothing_acknowledged_and_repeats_nothing(
    tmp_path: Path,
) -> None:
    rng = random.Random(SEED)
    path = inbound_journal_path(tmp_path / "bot", "telegram")
    acknowledged: dict[str, tuple[int, str, str]] = {}  # id -> (update, chat, message id)
    answered: set[str] = set()
    expected_replay: list[str] = []
    for round_ in range(1, ROUNDS + 1):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path), str(rng.randrange(2**32)), str(round_)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        assert child.stdout is not None and child.stderr is not None
        reports: list[list[str]] = []
        for _ in range(rng.randint(2, 60)):
            line = child.stdout.readline()
            assert line, child.stderr.read().decode()
            reports.append(line.decode().split())
        child.send_signal(signal.SIGKILL)
        assert child.wait() == -signal.SIGKILL
        reports += [line.split() for line in child.stdout.read().decode().splitlines()]
        child.stdout.close()
        child.stderr.close()

        assert reports[0] == ["R", *expected_replay]
        marking: set[str] = set()  # done marks begun and not reported finished
        for word, *rest in reports[1:]:
            if word == "A":
                entry_id, update, chat, message_id = rest
                assert entry_id not in acknowledged, "an entry id was issued twice"
                acknowledged[entry_id] = (int(update), chat, message_id)
            elif word == "d":
                marking.add(rest[0])
            elif word == "D":
                marking.discard(rest[0])
                answered.add(rest[0])
            else:
                assert [word, *rest] == ["X", "ok"], "a redelivery was journaled again"

        opened = InboundJournal.open(path)
        opened.journal.close()
        assert opened.skipped == ()  # a kill tears at most the last line
        pending = [entry.id for entry in opened.pending]
        assert len(set(pending)) == len(pending)
        keys = [key for entry in opened.pending for key in entry.dedup_keys]
        assert len(set(keys)) == len(keys), "one message is pending twice"
        assert not set(pending) & answered, "an answered message would be answered again"
        lost = set(acknowledged) - answered - set(pending)
        assert lost <= marking, f"acknowledged entries lost: {sorted(lost - marking)}"
        assert len(marking) <= 1
        answered |= marking - set(pending)  # the mark the kill interrupted had landed
        for entry in opened.pending:
            if entry.id in acknowledged:
                update, chat, message_id = acknowledged[entry.id]
                assert (entry.position, entry.message.chat_id) == (update, chat)
                assert entry.message.message_id == message_id

        # Every acknowledged message, delivered again by the platform (same
        # update id, or same chat and message id), is dropped.
        copy = tmp_path / "copy" / "telegram.jsonl"
        shutil.rmtree(copy.parent, ignore_errors=True)
        copy.parent.mkdir()
        shutil.copyfile(path, copy)
        with InboundJournal.open(copy).journal as journal:
            redeliveries = []
            for update, chat, message_id in acknowledged.values():
                again = InboundMessage(
                    channel="telegram", chat_id=chat, content="", message_id=message_id
                )
                keys = default_dedup_keys(again, update)
                assert len(keys) == 2
                redeliveries += [Arrival(message=again, dedup_keys=(key,)) for key in keys]
            assert journal.append_many(redeliveries) == [None] * len(redeliveries)
        expected_replay = pending

    assert len(acknowledged) > ROUNDS * 2 and answered
