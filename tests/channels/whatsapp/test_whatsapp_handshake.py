"""The bridge handshake, attacked from both ends.

From the bridge's side (the fake, which follows the contract): a raw
trio-websocket client that stays silent, answers with a wrong MAC, replays
an answer recorded on an earlier connection, sends an oversized or binary
frame, another frame type or version, or carries an `Origin` header (as a
browser would) is refused with the contract's close code or HTTP status;
five failures within a minute block upgrades with 429. From the client's
side (`connect_bridge`): a bridge that cannot prove the secret is refused,
a bridge with another secret refuses us, over a Unix socket, loopback TCP
and TLS verified against a CA file. Times are exact virtual seconds.
"""

from __future__ import annotations

import json
import ssl
from pathlib import Path

import pytest
import trio
import trustme
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    WebSocketConnection,
    WebSocketRequest,
    open_websocket_url,
    serve_websocket,
)

from autobot.channels.whatsapp.client import (
    BridgeConnection,
    BridgeImpostor,
    BridgeIncompatible,
    BridgeRejected,
    BridgeUnavailable,
    connect_bridge,
)
from autobot.channels.whatsapp.endpoint import UnixEndpoint, UrlEndpoint
from autobot.channels.whatsapp.protocol import (
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    CloseCode,
    LinkState,
    Status,
    client_mac,
)
from autobot.testing.fake_whatsapp_bridge import (
    AUTH_SECONDS,
    FAILURE_LIMIT,
    FAILURE_WINDOW,
    FakeBridge,
    serve_fake_bridge,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))


def url(bridge: FakeBridge) -> str:
    endpoint = bridge.endpoint
    assert isinstance(endpoint, UrlEndpoint)
    return endpoint.url + "/"


async def challenge_of(socket: WebSocketConnection) -> str:
    frame = json.loads(await socket.get_message())
    assert frame["type"] == "challenge" and frame["version"] == PROTOCOL_VERSION
    nonce: str = frame["nonce"]
    return nonce


def auth(nonce: str, *, key: bytes = KEY, version: int = PROTOCOL_VERSION) -> str:
    client_nonce = "22" * 32
    mac = client_mac(key, nonce, client_nonce)
    return json.dumps(
        {"type": "auth", "version": version, "client_nonce": client_nonce, "mac": mac}
    )


async def closed_with(bridge: FakeBridge, send: str | bytes | None) -> int:
    """Open a raw connection, send `send` after the challenge (None: nothing),
    and return the close code the bridge chose."""
    async with open_websocket_url(url(bridge), max_message_size=2 * MAX_FRAME_BYTES) as socket:
        await challenge_of(socket)
        if send is not None:
            await socket.send_message(send)
        with pytest.raises(ConnectionClosed) as caught:
            await socket.get_message()
    assert caught.value.reason is not None
    return caught.value.reason.code


async def test_a_silent_client_is_closed_with_4002_after_exactly_five_seconds(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with serve_fake_bridge(KEY, tcp=True) as bridge:
        start = trio.current_time()
        assert await closed_with(bridge, None) == CloseCode.AUTH_TIMEOUT
        assert trio.current_time() - start == AUTH_SECONDS
        assert bridge.refused_codes() == [4002]


async def test_wrong_mac_malformed_auth_other_frames_and_versions_are_refused(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with serve_fake_bridge(KEY, tcp=True) as bridge:
        async with open_websocket_url(url(bridge)) as socket:
            nonce = await challenge_of(socket)
            await socket.send_message(auth(nonce, key=OTHER_KEY))
            with pytest.raises(ConnectionClosed) as wrong:
                await socket.get_message()
        assert wrong.value.reason is not None
        assert wrong.value.reason.code == CloseCode.AUTH_FAILED
        malformed = json.dumps(
            {"type": "auth", "version": PROTOCOL_VERSION, "client_nonce": "x", "mac": "y"}
        )
        assert await closed_with(bridge, malformed) == CloseCode.AUTH_FAILED
        ack = json.dumps({"type": "ack", "id": "x"})
        assert await closed_with(bridge, ack) == CloseCode.PROTOCOL_ERROR
        assert await closed_with(bridge, "not json") == CloseCode.PROTOCOL_ERROR
        async with open_websocket_url(url(bridge)) as socket:
            nonce = await challenge_of(socket)
            await socket.send_message(auth(nonce, version=1))  # a client of version 1
            with pytest.raises(ConnectionClosed) as version:
                await socket.get_message()
        assert version.value.reason is not None
        assert version.value.reason.code == CloseCode.UNSUPPORTED_VERSION
        assert bridge.handshakes == []


async def test_a_replayed_answer_fails_because_the_nonce_is_fresh(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with serve_fake_bridge(KEY, tcp=True) as bridge:
        async with open_websocket_url(url(bridge)) as socket:  # a genuine client, overheard
            nonce = await challenge_of(socket)
            recorded = auth(nonce)
            await socket.send_message(recorded)
            welcome = json.loads(await socket.get_message())
        assert welcome["type"] == "welcome" and len(bridge.handshakes) == 1
        async with open_websocket_url(url(bridge)) as socket:  # the eavesdropper replays it
            second_nonce = await challenge_of(socket)
            await socket.send_message(recorded)
            with pytest.raises(ConnectionClosed) as caught:
                await socket.get_message()
    assert second_nonce != nonce
    assert caught.value.reason is not None
    assert caught.value.reason.code == CloseCode.AUTH_FAILED
    assert len(bridge.handshakes) == 1


async def test_oversized_and_binary_frames_close_with_1009_and_1003(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with serve_fake_bridge(KEY, tcp=True) as bridge:
        assert await closed_with(bridge, "x" * (MAX_FRAME_BYTES + 1)) == CloseCode.TOO_BIG
        assert await closed_with(bridge, b"\x00binary") == CloseCode.BINARY_FRAME
        # multi-byte characters: under the cap in characters, over it in bytes
        assert await closed_with(bridge, "\u00e9" * (MAX_FRAME_BYTES // 2 + 1)) == CloseCode.TOO_BIG


async def test_an_origin_header_is_refused_with_403_before_any_websocket(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with serve_fake_bridge(KEY, tcp=True) as bridge:
        with pytest.raises(ConnectionRejected) as caught:
            async with open_websocket_url(
                url(bridge), extra_headers=[(b"Origin", b"https://evil.example")]
            ):
                pass
    assert caught.value.status_code == 403
    assert bridge.refused_codes() == [403]


async def test_origin_refusals_never_lock_the_real_client_out(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with serve_fake_bridge(KEY, tcp=True) as bridge:
        for header in [b"Origin", b"Sec-WebSocket-Origin"] * FAILURE_LIMIT:
            with pytest.raises(ConnectionRejected):
                async with open_websocket_url(url(bridge), extra_headers=[(header, b"https://x")]):
                    pass
        async with trio.open_nursery() as nursery:
            connection = await connect_bridge(nursery, bridge.endpoint, KEY)
            await connection.close()
    assert bridge.refused_codes() == [403] * 2 * FAILURE_LIMIT
    assert len(bridge.handshakes) == 1


async def test_five_failures_within_a_minute_block_upgrades_for_sixty_seconds(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with serve_fake_bridge(KEY, tcp=True) as bridge:
        for _ in range(FAILURE_LIMIT):
            assert await closed_with(bridge, "not json") == CloseCode.PROTOCOL_ERROR
        blocked_at = trio.current_time()
        with pytest.raises(ConnectionRejected) as caught:
            async with open_websocket_url(url(bridge)):
                pass
        assert caught.value.status_code == 429
        await trio.sleep_until(blocked_at + FAILURE_WINDOW - 1)
        with pytest.raises(ConnectionRejected):
            async with open_websocket_url(url(bridge)):
                pass
        await trio.sleep_until(blocked_at + FAILURE_WINDOW)
        async with trio.open_nursery() as nursery:
            connection = await connect_bridge(nursery, bridge.endpoint, KEY)
            await connection.close()
    assert len(bridge.handshakes) == 1


# ---- the client's side ------------------------------------------------------------


async def connected(bridge: FakeBridge, key: bytes = KEY) -> tuple[BridgeConnection, object]:
    async with trio.open_nursery() as nursery:
        connection = await connect_bridge(nursery, bridge.endpoint, key)
        first = await connection.receive()
        await connection.close()
    return connection, first


async def test_the_client_authenticates_over_a_unix_socket_and_tcp(
    autojump_clock: trio.testing.MockClock, tmp_path: Path
) -> None:
    async with serve_fake_bridge(KEY, unix=tmp_path / "bridge.sock", tcp=True) as bridge:
        for endpoint in bridge.endpoints:
            async with trio.open_nursery() as nursery:
                connection = await connect_bridge(nursery, endpoint, KEY)
                status = await connection.receive()
                await connection.close()
            assert status == Status(state=LinkState.OPEN, detail="fake bridge")
        # the bridge never saw the secret, only proofs of it
        assert all(KEY.hex() not in frame for frame in bridge.auth_frames)
        assert len(bridge.handshakes) == 2 and bridge.refusals == []


async def test_a_bridge_that_cannot_prove_the_secret_is_refused(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with serve_fake_bridge(KEY, impostor=True) as bridge:
        with pytest.RaisesGroup(pytest.RaisesExc(BridgeImpostor, match="not autobot's bridge")):
            await connected(bridge)
        # the client closed the impostor's connection with 4001
        await bridge.until(lambda: not bridge.connected)


async def test_a_bridge_with_another_secret_refuses_us(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with serve_fake_bridge(OTHER_KEY) as bridge:
        with pytest.RaisesGroup(pytest.RaisesExc(BridgeRejected, match="4001")) as caught:
            await connected(bridge)
    [rejected] = caught.value.exceptions
    assert isinstance(rejected, BridgeRejected) and rejected.code == 4001
    assert bridge.refused_codes() == [4001]


async def test_another_protocol_version_is_not_retried(
    autojump_clock: trio.testing.MockClock,
) -> None:
    closes: list[int | None] = []

    async def newer_bridge(request: WebSocketRequest) -> None:
        socket = await request.accept()
        challenge = {"type": "challenge", "version": 3, "nonce": "1" * 64}
        await socket.send_message(json.dumps(challenge))
        with pytest.raises(ConnectionClosed) as caught:
            await socket.get_message()
        closes.append(caught.value.reason.code if caught.value.reason else None)

    async with trio.open_nursery() as nursery:
        server = await nursery.start(serve_websocket, newer_bridge, "127.0.0.1", 0, None)
        endpoint = UrlEndpoint(
            url=f"ws://127.0.0.1:{server.port}", host="127.0.0.1", port=server.port, tls=False
        )
        with pytest.RaisesGroup(pytest.RaisesExc(BridgeIncompatible, match="version 3")):
            async with trio.open_nursery() as client:
                await connect_bridge(client, endpoint, KEY)
        nursery.cancel_scope.cancel()
    assert closes == [CloseCode.UNSUPPORTED_VERSION]


async def test_an_unreachable_bridge_is_unavailable(tmp_path: Path) -> None:
    with pytest.RaisesGroup(pytest.RaisesExc(BridgeUnavailable, match="cannot reach the bridge")):
        async with trio.open_nursery() as nursery:
            await connect_bridge(nursery, UnixEndpoint(tmp_path / "nobody.sock"), KEY)


async def test_wss_is_verified_against_the_ca_file(tmp_path: Path) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    trusted = ssl.create_default_context()
    ca.configure_trust(trusted)
    bridge = FakeBridge(key=KEY)
    async with trio.open_nursery() as nursery:
        server = await nursery.start(serve_websocket, bridge.handle, "127.0.0.1", 0, server_context)
        endpoint = UrlEndpoint(
            url=f"wss://127.0.0.1:{server.port}", host="127.0.0.1", port=server.port, tls=True
        )
        async with trio.open_nursery() as client:
            connection = await connect_bridge(client, endpoint, KEY, ssl_context=trusted)
            assert isinstance(await connection.receive(), Status)
            await connection.close()
        with pytest.RaisesGroup(
            pytest.RaisesExc(
                BridgeUnavailable, match=r"TLS with the bridge failed: .*CERTIFICATE_VERIFY_FAILED"
            )
        ):
            async with trio.open_nursery() as client:
                await connect_bridge(
                    client, endpoint, KEY, ssl_context=ssl.create_default_context()
                )
        nursery.cancel_scope.cancel()
    assert len(bridge.handshakes) == 1
