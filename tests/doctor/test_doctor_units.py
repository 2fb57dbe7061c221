"""Pure pieces: loopback hosts, plaintext detection, workspace scan bounds, probe timeout."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from autobot.config.schema import SandboxMode, ToolsConfig
from autobot.doctor.bot_files import inspect_workspace
from autobot.doctor.plaintext import plaintext_secret_findings, secret_field_paths
from autobot.doctor.sandbox_check import PROBE_TIMEOUT, probe_sandbox_findings
from autobot.doctor.workspace_scan import find_dotenv_files
from autobot.sandbox.probe import SandboxProbe, probe_configured
from autobot.security.hosts import is_loopback_host


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("LOCALHOST.", True),
        ("0.0.0.0", False),
        ("::", False),
        ("", False),
        ("192.168.1.20", False),
        ("10.0.0.1", False),
        ("localhost.evil.com", False),
        ("127.0.0.1.nip.io", False),
        ("bot.example.com", False),
    ],
)
def test_is_loopback_host(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


@given(st.ip_addresses())
def test_loopback_matches_ipaddress(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> None:
    assert is_loopback_host(str(address)) is address.is_loopback


def test_secret_field_paths_cover_every_credential() -> None:
    dotted = {".".join(p) for p in secret_field_paths()}
    assert {
        "providers.anthropic.api_key",
        "providers.vllm.api_key",
        "channels.telegram.token",
        "channels.slack.bot_token",
        "channels.slack.app_token",
        "channels.zulip.api_key",
        "tools.web.search.api_key",
    } <= dotted
    assert "gateway.host" not in dotted


@pytest.mark.parametrize(
    ("text", "lines"),
    [
        ('providers:\n  anthropic:\n    api_key: "${ANTHROPIC_API_KEY}"\n', []),
        ('providers:\n  anthropic:\n    api_key: ""\n', []),
        ("providers:\n  anthropic:\n    api_key: null\n", []),
        ('channels:\n  slack:\n    bot_token: "Bearer ${TOKEN}"\n', []),
        ("providers:\n  openai:\n    api_key: plain-but-unknown\n", [3]),
        ('channels:\n  slack:\n    bot_token: "$${NOT_A_REF}"\n', [3]),
        ("# old key: sk-ant-api03-" + "a" * 30 + "\nagents: {}\n", [1]),
    ],
)
def test_plaintext_lines(text: str, lines: list[int]) -> None:
    findings = plaintext_secret_findings(text, "config.yml")
    assert [f.message.split(" line ")[1].split(" ")[0] for f in findings] == [str(n) for n in lines]


def test_plaintext_one_finding_per_line_naming_family_and_field() -> None:
    text = "providers:\n  anthropic:\n    api_key: sk-ant-api03-" + "b" * 40 + "\n"
    (finding,) = plaintext_secret_findings(text, "config.yml")
    assert "line 3" in finding.message
    assert "Anthropic" in finding.message
    assert "providers.anthropic.api_key" in finding.message
    assert "b" * 10 not in finding.message + (finding.fix or "")


def test_scan_finds_nested_and_respects_boundaries(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "a" / "b").mkdir(parents=True)
    (ws / "a" / "b" / "prod.env").write_text("")
    (ws / "environment.py").write_text("")
    (tmp_path / "ws2").mkdir()
    (tmp_path / "ws2" / ".env").write_text("")
    scan = find_dotenv_files(ws)
    assert scan.found == (ws / "a" / "b" / "prod.env",)
    assert not scan.truncated


def test_scan_does_not_follow_directory_symlinks(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / ".env").write_text("")
    (ws / "loop").symlink_to(ws)
    (ws / "out").symlink_to(tmp_path / "outside")
    assert find_dotenv_files(ws).found == ()


def test_scan_depth_bound_is_reported(tmp_path: Path) -> None:
    deep = tmp_path.joinpath(*["d"] * 5)
    deep.mkdir(parents=True)
    (deep / ".env").write_text("")
    assert find_dotenv_files(tmp_path, max_depth=3).truncated
    assert find_dotenv_files(tmp_path, max_depth=6).found == (deep / ".env",)


def test_scan_entry_bound_is_reported(tmp_path: Path) -> None:
    for i in range(30):
        (tmp_path / f"f{i}").write_text("")
    scan = find_dotenv_files(tmp_path, max_entries=10)
    assert scan.truncated


def test_missing_workspace_scans_empty(tmp_path: Path) -> None:
    scan = find_dotenv_files(tmp_path / "absent")
    assert scan.found == ()
    assert not scan.truncated


def test_inspect_workspace_component_boundary(tmp_path: Path) -> None:
    (tmp_path / "ws").mkdir()
    (tmp_path / "ws2").mkdir()
    env = tmp_path / "ws2" / ".env"
    env.write_text("")
    facts = inspect_workspace(tmp_path / "ws", env, home=tmp_path / "home")
    assert not facts.contains_env_file
    assert not facts.contains_home
    inside = inspect_workspace(tmp_path / "ws2", env, home=tmp_path / "home")
    assert inside.contains_env_file
    assert inside.dotenv_files == ()  # reported once, as the bot's own .env


def test_inspect_workspace_root_contains_home(tmp_path: Path) -> None:
    assert inspect_workspace(Path("/"), tmp_path / ".env", home=tmp_path).contains_home


async def test_hanging_probe_times_out_at_exact_virtual_time(autojump_clock: object) -> None:
    async def hang(tools: ToolsConfig) -> SandboxProbe:
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    findings = await probe_sandbox_findings(ToolsConfig(sandbox=SandboxMode.AUTO), hang)
    assert trio.current_time() == PROBE_TIMEOUT
    assert [f.code for f in findings] == ["sandbox_unavailable"]
    assert "did not answer" in findings[0].message


async def test_probe_not_called_for_sandbox_none() -> None:
    async def boom(tools: ToolsConfig) -> SandboxProbe:
        raise AssertionError("probed")

    findings = await probe_sandbox_findings(ToolsConfig(sandbox=SandboxMode.NONE), boom)
    assert [f.code for f in findings] == ["sandbox_backend"]


@pytest.mark.skipif(not os.path.exists("/usr/bin/bwrap"), reason="bubblewrap not installed")
async def test_real_bubblewrap_probe() -> None:
    findings = await probe_sandbox_findings(
        ToolsConfig(sandbox=SandboxMode.BUBBLEWRAP), probe_configured
    )
    assert [f.code for f in findings] == ["sandbox_backend"]
    assert findings[0].message.startswith("Sandbox backend: bubblewrap")


@pytest.mark.skipif(os.geteuid() != 0, reason="only a root gateway drops to the configured account")
async def test_the_configured_sandbox_account_is_the_one_probed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from autobot.sandbox import probe as probe_module
    from autobot.sandbox.userns import SandboxIdentity

    seen: list[object] = []

    async def recording(mode: SandboxMode, identity: object = "default") -> SandboxProbe:
        seen.append((mode, identity))
        return SandboxProbe(backend=mode, available=True, detail="recorded")

    monkeypatch.setattr(probe_module, "probe_sandbox", recording)
    tools = ToolsConfig(sandbox=SandboxMode.BUBBLEWRAP, sandbox_uid=4242, sandbox_gid=4343)
    await probe_configured(tools)
    assert seen == [(SandboxMode.BUBBLEWRAP, SandboxIdentity(4242, 4343))]
