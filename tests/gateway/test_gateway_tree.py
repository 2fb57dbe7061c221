"""The gateway's tree in-process: health, metrics, redacted 0600 log, permission fixes."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import attrs
import httpx
import trio

from autobot.app import build_gateway
from autobot.config import LoadedConfig, load_config
from autobot.testing.gateway_process import free_port

from .botfactory import API_KEY, make_gateway_bot


def _any_port(loaded: LoadedConfig) -> LoadedConfig:
    """Port 0 (the kernel picks a free one): no race with other processes for a port.
    Config validation refuses 0, so this goes around it, as only a test may."""
    gateway = attrs.evolve(loaded.config.gateway, port=0)
    return attrs.evolve(loaded, config=attrs.evolve(loaded.config, gateway=gateway))


async def test_tree_serves_health_and_metrics_logs_redacted_and_stops(tmp_path: Path) -> None:
    config_path = make_gateway_bot(tmp_path, port=free_port())
    loaded = _any_port(load_config(config_path, {}))
    stderr = io.StringIO()
    gateway = build_gateway(loaded, echo=stderr)
    async with trio.open_nursery() as nursery:
        await nursery.start(gateway.run)
        assert gateway.http_url is not None
        gateway.logger.info(f"a record that mentions the key {API_KEY}")
        async with httpx.AsyncClient(base_url=gateway.http_url) as client:
            assert (await client.get("/healthz")).text == "ok\n"
            metrics = (await client.get("/metrics")).text
        gateway.stop()
    for child in ("log", "sandbox", "router", "http"):
        assert f'autobot_child_running{{child="{child}",supervisor="root"}} 1' in metrics
    assert 'autobot_sandbox_workers{state="idle"} 2' in metrics
    assert "autobot_log_records_dropped_total 0" in metrics
    assert "autobot_sessions_active 0" in metrics

    log_file = loaded.logs_dir / "autobot.log"
    text = log_file.read_text()
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
    assert "gateway starting" in text
    assert "root: http stopped" in text
    assert "a record that mentions the key" in text
    assert API_KEY not in text and API_KEY not in stderr.getvalue()


async def test_loose_state_files_are_tightened_and_reported(tmp_path: Path) -> None:
    config_path = make_gateway_bot(tmp_path, port=free_port())
    loaded = _any_port(load_config(config_path, {}))
    session = loaded.sessions_dir / "telegram_42.jsonl"
    session.write_text("{}\n")
    os.chmod(session, 0o644)
    os.chmod(loaded.logs_dir, 0o755)
    gateway = build_gateway(loaded, echo=io.StringIO())
    assert stat.S_IMODE(session.stat().st_mode) == 0o600
    assert stat.S_IMODE(loaded.logs_dir.stat().st_mode) == 0o700
    async with trio.open_nursery() as nursery:
        await nursery.start(gateway.run)
        gateway.stop()
    text = (loaded.logs_dir / "autobot.log").read_text()
    assert f"tightened permissions of {session}: 644 -> 600" in text
    assert f"tightened permissions of {loaded.logs_dir}: 755 -> 700" in text


def test_state_permission_targets_never_include_the_workspace(tmp_path: Path) -> None:
    from autobot.app import state_permissions

    loaded = load_config(make_gateway_bot(tmp_path, port=free_port()), {})
    files, dirs = state_permissions(loaded)
    assert loaded.env_file in files and loaded.path in files
    assert all(not Path(p).is_relative_to(loaded.workspace) for p in [*files, *dirs])
