"""The doctor on WhatsApp: the bridge address, the secret file, Node, the install, the lists.

The configuration part is pure; the facts are gathered from real files (and
`node --version` of this machine, or an injected probe for versions it does
not have). No finding quotes the secret.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import attrs
import pytest

from autobot.channels.whatsapp.bridge_install import INSTALLED_STAMP, installed_bridge_dir
from autobot.config.schema import BridgeMode, WhatsAppConfig
from autobot.doctor.findings import Finding, Severity
from autobot.doctor.whatsapp_checks import (
    NodeProbe,
    node_version,
    whatsapp_config_findings,
    whatsapp_findings,
)
from autobot.testing.whatsapp_channel import write_secret

KEY = bytes(range(32))
MANAGED = WhatsAppConfig(enabled=True, bridge=BridgeMode.MANAGED, allow_from=("+15551234567",))
EXTERNAL = attrs.evolve(MANAGED, bridge=BridgeMode.EXTERNAL, bridge_url="ws://127.0.0.1:8765")


def node(version: str | None, problem: str | None = None) -> object:
    return lambda _: NodeProbe(version=version, problem=problem)


def codes(findings: list[Finding], severity: Severity | None = None) -> list[str]:
    return [f.code for f in findings if severity is None or f.severity is severity]


def installed(bot_dir: Path) -> None:
    """The bridge's dependencies as the gateway installs them (the shipped lockfile's stamp)."""
    from autobot.channels.whatsapp.bridge_install import lock_digest, shipped_bridge_dir

    stamp = installed_bridge_dir(bot_dir) / INSTALLED_STAMP
    stamp.parent.mkdir(parents=True)
    stamp.write_text(lock_digest(shipped_bridge_dir()) + "\n")


# ---- the configuration (pure) --------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "code"),
    [
        ({"bridge": BridgeMode.EXTERNAL}, "whatsapp_bridge_url_missing"),
        (
            {"bridge": BridgeMode.EXTERNAL, "bridge_url": "ws://10.0.0.5:8765"},
            "whatsapp_bridge_exposed",
        ),
        (
            {"bridge": BridgeMode.EXTERNAL, "bridge_url": "ws://bridge.lan:8765"},
            "whatsapp_bridge_exposed",
        ),
        (
            {"bridge": BridgeMode.EXTERNAL, "bridge_url": "ws://0.0.0.0:8765"},
            "whatsapp_bridge_exposed",
        ),
        ({"bridge_url": "wss://bridge.example.com:443"}, "whatsapp_bridge_managed_tls"),
        ({"bridge_url": "ws://127.0.0.1:8765/other"}, "whatsapp_bridge_url_invalid"),
        ({"bridge_url": "ws://127.0.0.1"}, "whatsapp_bridge_url_invalid"),
        ({"bridge_url": "ws://user:pw@127.0.0.1:1"}, "whatsapp_bridge_url_invalid"),
    ],
)
def test_bridge_addresses_the_channel_refuses_are_errors(
    tmp_path: Path, settings: dict[str, object], code: str
) -> None:
    findings = whatsapp_config_findings(attrs.evolve(MANAGED, **settings), tmp_path)
    assert codes(findings) == [code]
    assert all(f.severity is Severity.ERROR and f.fix for f in findings)


@pytest.mark.parametrize(
    "url", ["ws://127.0.0.1:8765", "ws://[::1]:8765", "ws://localhost:8765", "wss://b.example:443"]
)
def test_loopback_ws_and_any_wss_are_fine_for_an_external_bridge(tmp_path: Path, url: str) -> None:
    assert whatsapp_config_findings(attrs.evolve(EXTERNAL, bridge_url=url), tmp_path) == []


def test_a_managed_bridge_socket_path_must_fit_a_socket_address(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 120)
    assert codes(whatsapp_config_findings(MANAGED, deep)) == ["whatsapp_socket_path_too_long"]
    assert whatsapp_config_findings(MANAGED, Path("/srv/bots/alice")) == []
    tcp = attrs.evolve(MANAGED, bridge_url="ws://127.0.0.1:8765")
    assert whatsapp_config_findings(tcp, deep) == []


def test_list_entries_that_can_never_match_are_errors(tmp_path: Path) -> None:
    bad = attrs.evolve(MANAGED, allow_from=("15551234567", "@alice"), group_allow_from=("x",))
    [finding] = whatsapp_config_findings(bad, Path("/srv/bot"))
    assert finding.code == "channel_allow_from_invalid"
    assert "'+15551234567'" in finding.message and "@g.us" in (finding.fix or "")
    good = attrs.evolve(
        MANAGED,
        allow_from=("+15551234567", "15551234568@s.whatsapp.net", "*"),
        group_allow_from=("120363012345678901@g.us",),
    )
    assert whatsapp_config_findings(good, Path("/srv/bot")) == []


# ---- the secret file ----------------------------------------------------------------


def test_a_missing_secret_is_generated_when_managed_and_an_error_when_external(
    tmp_path: Path,
) -> None:
    managed = whatsapp_findings(MANAGED, tmp_path, probe_node=node("v20.11.1"))
    assert codes(managed, Severity.INFO)[0] == "whatsapp_secret_generated"
    assert not (tmp_path / "state").exists()  # the doctor never writes it
    external = whatsapp_findings(EXTERNAL, tmp_path)
    assert codes(external) == ["whatsapp_secret_missing"]
    assert "openssl rand -hex 32" in (external[0].fix or "")


def test_a_secret_others_can_read_is_an_error_without_quoting_it(tmp_path: Path) -> None:
    path = write_secret(tmp_path, KEY)
    path.chmod(0o644)
    findings = whatsapp_findings(EXTERNAL, tmp_path)
    assert codes(findings) == ["whatsapp_secret_permissions"]
    assert "0644" in findings[0].message and "chmod 600" in (findings[0].fix or "")
    assert all(KEY.hex() not in f.message + (f.fix or "") for f in findings)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644  # reported, not changed


def test_a_symlinked_or_malformed_secret_is_refused(tmp_path: Path) -> None:
    target = write_secret(tmp_path, KEY, "elsewhere")
    path = tmp_path / "state" / "whatsapp-bridge-secret"
    path.parent.mkdir(mode=0o700)
    path.symlink_to(target)
    assert codes(whatsapp_findings(EXTERNAL, tmp_path)) == ["whatsapp_secret_refused"]
    path.unlink()
    path.write_text("not hex at all\n")
    path.chmod(0o600)
    [finding] = whatsapp_findings(EXTERNAL, tmp_path)
    assert finding.code == "whatsapp_secret_refused" and "64 lowercase hex" in finding.message
    assert "not hex at all" not in finding.message


def test_a_good_external_setup_has_no_finding(tmp_path: Path) -> None:
    write_secret(tmp_path, KEY)
    assert whatsapp_findings(EXTERNAL, tmp_path) == []
    with_ca = attrs.evolve(EXTERNAL, bridge_url="wss://b.example:443", bridge_ca_file="ca.pem")
    assert codes(whatsapp_findings(with_ca, tmp_path)) == ["whatsapp_ca_file_missing"]
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    assert whatsapp_findings(with_ca, tmp_path) == []


# ---- Node and the install (managed) ----------------------------------------------------


def test_node_missing_or_too_old_is_an_error(tmp_path: Path) -> None:
    write_secret(tmp_path, KEY)
    installed(tmp_path)
    missing = whatsapp_findings(MANAGED, tmp_path, probe_node=node(None, "not found"))
    assert codes(missing, Severity.ERROR) == ["whatsapp_node_missing"]
    assert "'node' not found" in missing[0].message
    old = whatsapp_findings(MANAGED, tmp_path, probe_node=node("v18.19.0"))
    assert codes(old, Severity.ERROR) == ["whatsapp_node_too_old"]
    odd = whatsapp_findings(MANAGED, tmp_path, probe_node=node("20"))
    assert codes(odd, Severity.ERROR) == ["whatsapp_node_too_old"]
    good = whatsapp_findings(MANAGED, tmp_path, probe_node=node("v20.11.1"))
    assert codes(good) == ["whatsapp_node"]
    assert codes(whatsapp_findings(EXTERNAL, tmp_path)) == []  # the operator's bridge: not ours


def test_dependencies_not_installed_yet_are_a_warning(tmp_path: Path) -> None:
    write_secret(tmp_path, KEY)
    findings = whatsapp_findings(MANAGED, tmp_path, probe_node=node("v22.1.0"))
    assert codes(findings, Severity.WARNING) == ["whatsapp_bridge_not_installed"]
    assert "npm ci --ignore-scripts --no-audit --no-fund" in findings[1].message
    installed(tmp_path)
    assert codes(whatsapp_findings(MANAGED, tmp_path, probe_node=node("v22.1.0"))) == [
        "whatsapp_node"
    ]


def test_npm_missing_matters_only_while_the_dependencies_are_not_installed(
    tmp_path: Path,
) -> None:
    write_secret(tmp_path, KEY)
    lonely = tmp_path / "nodejs" / "node"
    lonely.parent.mkdir()
    lonely.touch()
    no_npm = attrs.evolve(MANAGED, node=str(lonely))
    saved_path = os.environ["PATH"]
    os.environ["PATH"] = str(lonely.parent)  # no npm anywhere
    try:
        findings = whatsapp_findings(no_npm, tmp_path, probe_node=node("v20.0.0"))
        assert "whatsapp_npm_missing" in codes(findings, Severity.ERROR)
        installed(tmp_path)
        findings = whatsapp_findings(no_npm, tmp_path, probe_node=node("v20.0.0"))
        assert codes(findings) == ["whatsapp_node"]
    finally:
        os.environ["PATH"] = saved_path


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_the_real_node_version_is_read() -> None:
    probe = node_version("node")
    assert probe.problem is None and probe.version is not None
    assert probe.version.startswith("v")
    assert node_version("/nonexistent/node") == NodeProbe(problem="not found")
