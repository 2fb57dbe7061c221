"""Start-up cost of the `autobot` commands that talk to no LLM, beside `python -c pass`.

    .venv/bin/python scripts/bench_cli.py [--runs 7]

Each command runs `--runs` times in a fresh process (the venv's `autobot`
executable, as a user runs it), interleaved with the others and with the
baseline `python -c pass` of the same interpreter, after one warm-up run of
each that is not counted (bytecode caches written, files in the page cache).
For every command it prints the median wall time (spawn to exit) and the
median peak RSS, each also as a ratio to the baseline, and whether the goal
of issue 15 (<= 0.35 s and <= 40 MB) is met.

Peak RSS is the child's `ru_maxrss` from `os.wait4` (its largest process,
whatever it started included). Linux carries the memory of the process that
forked a child into that figure, so the children are forked by a small
launcher (`python -I -S`, about 9 MB) rather than by this script (about
17 MB): figures above the launcher's own size are the command's.

Measured: `--help`, `new` (a new bot in a scratch directory each run),
`doctor` and `pairing list` on a bot made by `autobot new` with a (fake)
Anthropic key, and `cron list`, `service generate` and `status` when
`autobot --help` lists them (a missing one is skipped, and said so). A
command that fails (unexpected exit code, or a traceback) is reported with
its stderr and makes the script exit 1; a missed goal does not (these
machines are noisy: compare the ratios of one run).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import attrs

GOAL_SECONDS = 0.35
GOAL_MB = 40.0
FAKE_KEY = "sk-ant-api03-bench-cli-not-a-real-key-0123456789"
HELP_TIMEOUT = 60.0  # one `--help`, on a loaded machine
RUN_TIMEOUT = 120.0  # one measured command (the doctor probes the sandbox)
# A command name as argparse lists it under "positional arguments", indented 4.
_LISTED = re.compile(r"^ {4}([a-z][a-z-]*)(?: |$)", re.MULTILINE)

# The launcher: one JSON request a line, [timeout, cwd, stderr path, argv...];
# forks and execs argv, waits for its exit on a pidfd (exact, bounded by the
# timeout: then SIGKILL), reaps it with wait4 and answers one JSON line,
# [seconds, ru_maxrss KiB, exit code, timed out]. Standard library only.
LAUNCHER = r"""
import json, os, select, sys, time
for line in sys.stdin:
    timeout, cwd, stderr, *argv = json.loads(line)
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.chdir(cwd)
            null = os.open(os.devnull, os.O_RDWR)
            err = os.open(stderr, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(null, 0)
            os.dup2(null, 1)
            os.dup2(err, 2)
            os.execv(argv[0], argv)
        finally:
            os._exit(127)
    pidfd = os.pidfd_open(pid)
    exited = select.select([pidfd], [], [], timeout)[0]
    os.close(pidfd)
    if not exited:
        os.kill(pid, 9)
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    print(json.dumps([seconds, usage.ru_maxrss, code, not exited]), flush=True)
"""


@attrs.frozen(kw_only=True)
class Command:
    """One measured command line: `words` after the program, `{config}` and
    `{new}` filled in per run; `exits` are the codes of a run that worked
    (`status` may rightly say "not running" with 1)."""

    label: str
    words: tuple[str, ...]
    exits: tuple[int, ...] = (0,)
    needs: tuple[str, ...] = ()  # the command (and action) --help must list


NEW = Command(label="new", words=("new", "{new}"))
COMMANDS = (
    Command(label="--help", words=("--help",)),
    NEW,
    Command(label="doctor", words=("--config", "{config}", "doctor")),
    Command(label="pairing list", words=("--config", "{config}", "pairing", "list")),
    Command(
        label="cron list",
        words=("--config", "{config}", "cron", "list"),
        needs=("cron", "list"),
    ),
    Command(
        label="service generate",
        words=("--config", "{config}", "service", "generate"),
        needs=("service", "generate"),
    ),
    Command(
        label="status", words=("--config", "{config}", "status"), exits=(0, 1), needs=("status",)
    ),
)


@attrs.frozen(kw_only=True)
class Sample:
    """One finished run: wall seconds, peak RSS in MB, exit code, stderr."""

    seconds: float
    peak_mb: float
    code: int
    stderr: str


@attrs.frozen(kw_only=True)
class Figures:
    """The medians of a command's runs."""

    label: str
    seconds: float
    peak_mb: float


class CommandFailed(Exception):
    """A measured command did not do its work (its stderr is in the message)."""


def listed_commands(help_text: str) -> set[str]:
    """The (sub)command names an argparse `--help` lists."""
    return set(_LISTED.findall(help_text))


@attrs.define(kw_only=True)
class Launcher:
    """The launcher process (see LAUNCHER) and the scratch file for stderr."""

    process: subprocess.Popen[str]
    stderr: Path

    def run(self, argv: Sequence[str], *, cwd: Path) -> Sample:
        """Run `argv` to its end in a fresh process; its wall time and peak RSS."""
        assert self.process.stdin is not None and self.process.stdout is not None
        request = [RUN_TIMEOUT, str(cwd), str(self.stderr), *argv]
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        answer = self.process.stdout.readline()
        if not answer:
            raise CommandFailed(f"the launcher died running {' '.join(argv)}")
        seconds, peak_kib, code, timed_out = json.loads(answer)
        stderr = self.stderr.read_text("utf-8", "replace")
        if timed_out:
            stderr += f"\n(killed after {RUN_TIMEOUT:g} s)"
        return Sample(seconds=seconds, peak_mb=peak_kib / 1024, code=code, stderr=stderr)


@contextmanager
def launcher(workdir: Path) -> Iterator[Launcher]:
    """A running launcher; stopped (stdin closed, then waited for) on exit."""
    process = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", LAUNCHER],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    with process:  # closes the pipes and waits for the launcher's exit
        yield Launcher(process=process, stderr=workdir / "stderr.txt")


def checked(command: Command, sample: Sample) -> Sample:
    """`sample`, or CommandFailed when the run did not work."""
    if sample.code not in command.exits or "Traceback" in sample.stderr:
        raise CommandFailed(
            f"{command.label}: exit {sample.code} (expected {command.exits}): "
            f"{sample.stderr.strip() or '(no stderr)'}"
        )
    return sample


def program() -> list[str]:
    """The `autobot` executable beside this interpreter, else `python -m autobot`."""
    script = Path(sys.executable).parent / "autobot"
    return [str(script)] if script.exists() else [sys.executable, "-m", "autobot"]


def available(commands: Sequence[Command], prog: Sequence[str], cwd: Path) -> list[Command]:
    """The commands whose `needs` the program's --help pages list; says which are not."""
    pages: dict[tuple[str, ...], set[str]] = {}

    def lists(parents: tuple[str, ...], name: str) -> bool:
        if parents not in pages:
            done = subprocess.run(
                [*prog, *parents, "--help"],
                cwd=cwd,
                capture_output=True,
                text=True,
                timeout=HELP_TIMEOUT,
                check=False,
            )
            pages[parents] = listed_commands(done.stdout) if done.returncode == 0 else set()
        return name in pages[parents]

    found = []
    for command in commands:
        missing = next(
            (
                (depth, name)
                for depth, name in enumerate(command.needs)
                if not lists(command.needs[:depth], name)
            ),
            None,
        )
        if missing is None:
            found.append(command)
        else:
            depth, name = missing
            where = " ".join(("autobot", *command.needs[:depth], "--help"))
            print(f"skipped: {command.label} (`{where}` lists no `{name}`)")
    return found


def render(baseline: Figures, rows: Sequence[Figures]) -> str:
    """The table: each command beside the baseline, ratios, the goal."""
    lines = [
        f"{'command':<18}{'wall (s)':>10}{'x base':>9}{'peak RSS (MB)':>15}{'x base':>9}"
        f"   goal (<= {GOAL_SECONDS} s, <= {GOAL_MB:g} MB)",
        f"{'python -c pass':<18}{baseline.seconds:>10.3f}{1:>8.2f}x{baseline.peak_mb:>15.1f}"
        f"{1:>8.2f}x",
    ]
    for row in rows:
        lines.append(
            f"{row.label:<18}{row.seconds:>10.3f}{row.seconds / baseline.seconds:>8.2f}x"
            f"{row.peak_mb:>15.1f}{row.peak_mb / baseline.peak_mb:>8.2f}x   {verdict(row)}"
        )
    return "\n".join(lines)


def verdict(row: Figures) -> str:
    """`met`, or `NOT MET` naming what is over."""
    over = []
    if row.seconds > GOAL_SECONDS:
        over.append(f"{row.seconds:.3f} s > {GOAL_SECONDS} s")
    if row.peak_mb > GOAL_MB:
        over.append(f"{row.peak_mb:.1f} MB > {GOAL_MB:g} MB")
    return "met" if not over else "NOT MET: " + ", ".join(over)


def median_of(label: str, samples: Sequence[Sample]) -> Figures:
    """The medians of `samples` (at least one)."""
    return Figures(
        label=label,
        seconds=statistics.median(s.seconds for s in samples),
        peak_mb=statistics.median(s.peak_mb for s in samples),
    )


def measure(runs: int, workdir: Path) -> int:
    """Run the benchmark in `workdir`; returns the exit code."""
    prog = program()
    baseline_argv = [sys.executable, "-c", "pass"]
    with launcher(workdir) as launch:
        try:
            checked(NEW, launch.run([*prog, "new", "bot"], cwd=workdir))
            with (workdir / "bot" / ".env").open("a", encoding="utf-8") as env:
                env.write(f"ANTHROPIC_API_KEY={FAKE_KEY}\n")
            fill = {"{config}": str(workdir / "bot" / "config.yml")}
            commands = available(COMMANDS, prog, workdir)
            made = 0

            def run(command: Command) -> Sample:
                nonlocal made
                made += 1
                words = ({**fill, "{new}": f"new-{made}"}.get(word, word) for word in command.words)
                return checked(command, launch.run([*prog, *words], cwd=workdir))

            launch.run(baseline_argv, cwd=workdir)  # warm-up
            for command in commands:
                run(command)  # warm-up
            baseline: list[Sample] = []
            samples: dict[str, list[Sample]] = {command.label: [] for command in commands}
            for _ in range(runs):
                baseline.append(launch.run(baseline_argv, cwd=workdir))
                for command in commands:
                    samples[command.label].append(run(command))
        except CommandFailed as failed:
            print(f"FAILED: {failed}")
            return 1
    rows = [median_of(command.label, samples[command.label]) for command in commands]
    print(f"autobot CLI start-up: median of {runs} runs each, fresh processes ({' '.join(prog)})")
    print(render(median_of("python -c pass", baseline), rows))
    missed = [row.label for row in rows if verdict(row) != "met"]
    print(
        "goal met by every measured command"
        if not missed
        else f"goal NOT MET by: {', '.join(missed)}"
    )
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit code (1: a command failed)."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per command (default 7)")
    options = parser.parse_args(argv)
    if options.runs < 1:
        parser.error(f"--runs must be at least 1, got {options.runs}")
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as workdir:
        return measure(options.runs, Path(workdir))


if __name__ == "__main__":
    sys.exit(main())
