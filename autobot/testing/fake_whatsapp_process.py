"""The fake WhatsApp bridge as a process, with the real bridge's command line.

    python -m autobot.testing.fake_whatsapp_process --listen unix:/abs/bridge.sock \\
        --secret-file S --auth-dir A --state-dir D --workspace W --qr-png P \\
        --max-file-bytes N [--control /abs/control.sock]

It refuses to start (exit 2, a line on stderr) on a malformed `--listen` or a
secret file that is not a private regular file holding 64 hex characters,
as the real bridge does; keeps its unacknowledged messages and the answers
it recorded in `<state-dir>/fake-bridge-state.json` (so a `kill -9` loses
none, and repeats none); exits 0 on
SIGTERM/SIGINT. The test drives it over the `--control` Unix socket, one
JSON object per line each way (`control`):

- `{"op":"post","phone":..,"text":..,"id":..}` a private message arrives;
- `{"op":"state"}` -> pid, pending and acknowledged ids, sent texts,
  successful handshakes, and this process's environment;
- `{"op":"logout"}` WhatsApp logged the bridge out: `status logged_out` to
  the client, then exit 3.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import trio
from trio_websocket import serve_websocket

from autobot.channels.whatsapp.protocol import (
    MAX_FRAME_BYTES,
    LinkState,
    SecretFormatError,
    Send,
    parse_secret,
)
from autobot.testing.fake_whatsapp_bridge import (
    FRAME_QUEUE_SIZE,
    FakeBridge,
    direct_message,
    serve_unix,
)

EXIT_BAD_CONFIG = 2
STATE_FILE = "fake-bridge-state.json"
EXIT_LOGGED_OUT = 3
CONTROL_LINE_LIMIT = 1 << 20  # one control request or answer


class ConfigRefused(Exception):
    """A command line or secret file the bridge refuses (exit 2)."""


def read_secret_file(path: Path) -> bytes:
    """The key in `path`, which must be a regular file (not a symlink) that
    only its owner can read or write. Raises ConfigRefused."""
    try:
        info = os.lstat(path)
    except OSError as exc:
        raise ConfigRefused(f"secret file {path}: {exc.strerror}") from None
    if not stat.S_ISREG(info.st_mode):
        raise ConfigRefused(f"secret file {path} is not a regular file")
    if info.st_mode & 0o077:
        raise ConfigRefused(f"secret file {path} is readable or writable by others")
    try:
        return parse_secret(path.read_bytes())
    except SecretFormatError as exc:
        raise ConfigRefused(f"secret file {path} {exc}") from None


def _arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="fake_whatsapp_bridge")
    parser.add_argument("--listen", required=True)
    parser.add_argument("--secret-file", required=True, type=Path)
    parser.add_argument("--auth-dir", type=Path)
    parser.add_argument("--state-dir", type=Path)
    parser.add_argument("--workspace", type=Path)
    parser.add_argument("--qr-png", type=Path)
    parser.add_argument("--max-file-bytes", type=int, default=20 * 1024 * 1024)
    parser.add_argument("--control", type=Path)
    return parser.parse_args(argv)


async def _serve_control(bridge: FakeBridge, path: Path, done: trio.MemorySendChannel[int]) -> None:
    async def answer(stream: trio.SocketStream) -> None:
        async with stream:
            line = b""
            while not line.endswith(b"\n"):
                chunk = await stream.receive_some(CONTROL_LINE_LIMIT)
                if not chunk:
                    return
                line += chunk
            request = json.loads(line)
            reply = await _control_op(bridge, request)
            await stream.send_all(json.dumps(reply).encode() + b"\n")
        if request.get("op") == "logout":
            await trio.sleep(0.2)  # real time: the status frame reaches the client
            try:
                done.send_nowait(EXIT_LOGGED_OUT)
            except trio.WouldBlock:
                pass  # already exiting for another reason

    with contextlib.suppress(FileNotFoundError):  # left by a killed predecessor
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)
    listener = trio.socket.socket(trio.socket.AF_UNIX, trio.socket.SOCK_STREAM)
    await listener.bind(str(path))
    os.chmod(path, 0o600)
    listener.listen()
    await trio.serve_listeners(answer, [trio.SocketListener(listener)])


async def _control_op(bridge: FakeBridge, request: dict[str, Any]) -> dict[str, Any]:
    op = request.get("op")
    if op == "post":
        message = direct_message(request["phone"], request["text"], message_id=request["id"])
        bridge.post(message)
        return {"id": message.id}
    if op == "logout":
        bridge.push_status(LinkState.LOGGED_OUT, "the phone unlinked this device")
        return {"ok": True}  # then the process exits 3
    sent = [{"to": r.to, "text": r.text} for r in bridge.delivered if isinstance(r, Send)]
    return {
        "pid": os.getpid(),
        "pending": list(bridge.pending),
        "acks": bridge.acks,
        "sent": sent,
        "handshakes": len(bridge.handshakes),
        "environ": dict(os.environ),
    }


def _tcp_port(listen: str) -> int | None:
    """The port of `ws://127.0.0.1:PORT`, None for `unix:/abs/path`; raises ConfigRefused."""
    if listen.startswith("unix:/"):
        return None
    port = listen.removeprefix("ws://127.0.0.1:")
    if port == listen or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigRefused(f"--listen {listen!r}: unix:/abs/path or ws://127.0.0.1:PORT only")
    return int(port)


async def _run(arguments: argparse.Namespace) -> int:
    key = read_secret_file(arguments.secret_file)
    listen: str = arguments.listen
    port = _tcp_port(listen)
    state_file = None if arguments.state_dir is None else arguments.state_dir / STATE_FILE
    if state_file is not None:
        state_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    bridge = FakeBridge(
        key=key,
        workspace=arguments.workspace,
        max_file_bytes=arguments.max_file_bytes,
        state_file=state_file,
    )
    done_send, done = trio.open_memory_channel[int](1)  # the first reason to exit wins
    async with trio.open_nursery() as nursery:
        if port is None:
            await nursery.start(serve_unix, bridge, Path(listen.removeprefix("unix:")))
        else:
            await nursery.start(
                lambda task_status: serve_websocket(
                    bridge.handle,
                    "127.0.0.1",
                    port,
                    None,
                    message_queue_size=FRAME_QUEUE_SIZE,
                    max_message_size=MAX_FRAME_BYTES,
                    task_status=task_status,
                )
            )
        if arguments.control is not None:
            nursery.start_soon(_serve_control, bridge, arguments.control, done_send)
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            nursery.start_soon(_exit_on_signal, signals, done_send)
            code = await done.receive()
        nursery.cancel_scope.cancel("fake bridge exiting")
    return code


async def _exit_on_signal(signals: AsyncIterator[int], done: trio.MemorySendChannel[int]) -> None:
    async for _ in signals:
        try:
            done.send_nowait(0)
        except trio.WouldBlock:
            pass  # already exiting for another reason
        return


def fake_bridge_main(argv: list[str] | None = None) -> int:
    """Run the fake bridge process; its exit code."""
    arguments = _arguments(sys.argv[1:] if argv is None else argv)
    try:
        return trio.run(_run, arguments)
    except ConfigRefused as exc:
        print(f"fake whatsapp bridge: {exc}", file=sys.stderr)
        return EXIT_BAD_CONFIG


async def control(path: Path, op: str, **fields: Any) -> dict[str, Any]:
    """Ask the fake process listening on `path` (its `--control` socket)."""
    stream = await trio.open_unix_socket(str(path))
    async with stream:
        await stream.send_all(json.dumps({"op": op, **fields}).encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = await stream.receive_some(CONTROL_LINE_LIMIT)
            if not chunk:
                raise ConnectionError("the fake bridge closed the control socket")
            data += chunk
    reply: dict[str, Any] = json.loads(data)
    return reply


if __name__ == "__main__":
    raise SystemExit(fake_bridge_main())
