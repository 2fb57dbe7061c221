"""`autobot new`: layout, modes, options, refusal, atomicity, and what doctor says."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from dotenv import dotenv_values

from autobot.config.load import load_config
from autobot.config.schema import (
    CHANNEL_NAMES,
    PROVIDER_NAMES,
    BridgeMode,
    SandboxMode,
    ToolsConfig,
)
from autobot.doctor.findings import Severity
from autobot.doctor.run import run_checks
from autobot.sandbox.probe import SandboxProbe
from autobot.scaffold import create as create_module
from autobot.scaffold.choices import DEFAULT_MODELS, InputEnded, ScaffoldError
from autobot.scaffold.create import create_bot
from autobot.scaffold.interactive import MAX_ATTEMPTS


@pytest.fixture(autouse=True)
def permissive_umask() -> Iterator[None]:
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


async def probe_ok(tools: ToolsConfig) -> SandboxProbe:
    return SandboxProbe(backend=SandboxMode.BUBBLEWRAP, available=True, detail="fake")


def modes(root: Path) -> dict[str, int]:
    found = {".": stat.S_IMODE(root.lstat().st_mode)}
    for path in root.rglob("*"):
        found[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return found


def test_layout_and_modes_under_permissive_umask(tmp_path: Path) -> None:
    created = create_bot(tmp_path / "mybot", interactive=False)
    assert created.path == tmp_path / "mybot"
    assert modes(created.path) == {
        ".": 0o700,
        ".env": 0o600,
        ".gitignore": 0o600,
        "config.yml": 0o600,
        "workspace": 0o700,
        "workspace/AGENTS.md": 0o600,
        "workspace/SOUL.md": 0o600,
        "workspace/USER.md": 0o600,
        "workspace/memory": 0o700,
        "workspace/memory/MEMORY.md": 0o600,
        "workspace/memory/HISTORY.md": 0o600,
        "workspace/skills": 0o700,
        "sessions": 0o700,
        "logs": 0o700,
    }
    assert (created.path / ".gitignore").read_text().split("\n")[1:7] == [
        ".env",
        ".env.*",
        "sessions/",
        "logs/",
        "cron.json",
        "workspace/memory/",
    ]
    for name in ("AGENTS.md", "SOUL.md", "USER.md"):
        assert len((created.path / "workspace" / name).read_text()) > 50
    assert [p.name for p in tmp_path.iterdir()] == ["mybot"]  # no staging left behind


def test_defaults_config_loads_secure(tmp_path: Path) -> None:
    created = create_bot(tmp_path / "b", interactive=False)
    assert created.choices.provider == "anthropic"
    assert created.choices.channels == ()
    loaded = load_config(created.config_file, {})
    config = loaded.config
    assert config.gateway.host == "127.0.0.1"
    assert config.gateway.port == 18790
    assert config.tools.sandbox is SandboxMode.AUTO
    assert config.agents.defaults.model == "anthropic/claude-sonnet-4-5"
    assert loaded.workspace == created.path / "workspace"
    assert loaded.env_file == created.env_file
    assert not any(getattr(config.channels, c).enabled for c in CHANNEL_NAMES)
    assert dotenv_values(created.env_file) == {"ANTHROPIC_API_KEY": "", "BRAVE_API_KEY": ""}
    assert created.unset_variables == ("ANTHROPIC_API_KEY", "BRAVE_API_KEY")
    assert created.next_steps() == (
        f"Created {created.path}\n"
        f"Fill in {created.env_file}: ANTHROPIC_API_KEY, BRAVE_API_KEY\n"
        f"Then check it: autobot --config {created.config_file} doctor\n"
    )


@pytest.mark.parametrize("provider", PROVIDER_NAMES)
def test_every_provider(tmp_path: Path, provider: str) -> None:
    created = create_bot(tmp_path / "b", provider=provider, interactive=False)
    variable = f"{provider.upper()}_API_KEY"
    text = created.config_file.read_text()
    assert f'api_key: "${{{variable}}}"' in text
    assert variable in dotenv_values(created.env_file)
    config = load_config(created.config_file, {variable: "k" * 24}).config
    assert config.agents.defaults.model == DEFAULT_MODELS[provider]
    assert getattr(config.providers, provider).api_key is not None


def test_channels_enabled_deny_all_with_references(tmp_path: Path) -> None:
    created = create_bot(
        tmp_path / "b",
        channels=["telegram", "Slack", "whatsapp", "zulip", "telegram"],
        interactive=False,
    )
    assert created.choices.channels == ("telegram", "slack", "whatsapp", "zulip")
    config = load_config(created.config_file, {}).config
    for name in CHANNEL_NAMES:
        channel = getattr(config.channels, name)
        assert channel.enabled
        assert channel.allow_from == ()
    assert config.channels.whatsapp.bridge is BridgeMode.MANAGED
    assert set(dotenv_values(created.env_file)) == {
        "ANTHROPIC_API_KEY",
        "TELEGRAM_BOT_TOKEN",
        "SLACK_BOT_TOKEN",
        "SLACK_APP_TOKEN",
        "ZULIP_API_KEY",
        "BRAVE_API_KEY",
    }
    text = created.config_file.read_text()
    for variable in ("TELEGRAM_BOT_TOKEN", "SLACK_APP_TOKEN", "ZULIP_API_KEY"):
        assert f'"${{{variable}}}"' in text


def test_zulip_site_and_email_are_plain_settings_not_secrets(tmp_path: Path) -> None:
    created = create_bot(tmp_path / "b", channels=["zulip"], interactive=False)
    assert set(dotenv_values(created.env_file)) == {
        "ANTHROPIC_API_KEY",
        "ZULIP_API_KEY",
        "BRAVE_API_KEY",
    }
    text = created.config_file.read_text()
    assert '    site: ""  # your Zulip server' in text
    assert '    email: ""  # the bot\'s Zulip email' in text
    assert created.unset_settings == ("channels.zulip.site", "channels.zulip.email")
    assert (
        f"Fill in {created.config_file}: channels.zulip.site, channels.zulip.email"
        in created.next_steps()
    )
    site, email = "https://chat.example.com", "bot@chat.example.com"
    created.config_file.write_text(
        text.replace('site: ""', f'site: "{site}"').replace('email: ""', f'email: "{email}"')
    )
    loaded = load_config(created.config_file, {})
    assert loaded.config.channels.zulip.site == site
    assert loaded.config.channels.zulip.email == email
    assert site not in loaded.secret_values and email not in loaded.secret_values


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"provider": "gemini"}, "unknown provider 'gemini': choose one of anthropic, openai"),
        ({"channels": ["irc"]}, "unknown channel 'irc': choose from telegram, slack"),
        ({"channels": ["irc", "matrix"]}, "unknown channels 'irc', 'matrix'"),
    ],
)
def test_bad_options_write_nothing(tmp_path: Path, kwargs: dict, needle: str) -> None:
    with pytest.raises(ScaffoldError, match=needle):
        create_bot(tmp_path / "b", interactive=False, **kwargs)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["empty dir", "full dir", "file", "dangling symlink"])
def test_existing_target_refused_untouched(tmp_path: Path, kind: str) -> None:
    target = tmp_path / "b"
    if kind == "empty dir":
        target.mkdir(mode=0o755)
    elif kind == "full dir":
        target.mkdir(mode=0o755)
        (target / "keep.txt").write_text("mine")
    elif kind == "file":
        target.write_text("mine")
    else:
        target.symlink_to(tmp_path / "nowhere")
    before = (
        modes(target) if target.is_dir() else None,
        os.readlink(target) if target.is_symlink() else None,
    )
    with pytest.raises(ScaffoldError, match="already exists"):
        create_bot(target, interactive=False)
    after = (
        modes(target) if target.is_dir() else None,
        os.readlink(target) if target.is_symlink() else None,
    )
    assert before == after
    if kind == "full dir":
        assert (target / "keep.txt").read_text() == "mine"
    if kind == "file":
        assert target.read_text() == "mine"
    assert [p.name for p in tmp_path.iterdir()] == ["b"]


def test_target_appearing_during_creation_is_not_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "b"
    real_populate = create_module._populate

    def populate_then_race(*args: object) -> None:
        real_populate(*args)  # type: ignore[arg-type]
        target.mkdir()  # someone else creates an empty directory meanwhile

    monkeypatch.setattr(create_module, "_populate", populate_then_race)
    with pytest.raises(ScaffoldError, match="already exists"):
        create_bot(target, interactive=False)
    assert list(target.iterdir()) == []
    assert [p.name for p in tmp_path.iterdir()] == ["b"]


def test_failure_midway_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_template(name: str) -> str:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(create_module, "_template", broken_template)
    with pytest.raises(ScaffoldError, match=f"cannot create bot {tmp_path / 'b'}: No space left"):
        create_bot(tmp_path / "b", interactive=False)
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_midway_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(name: str) -> str:
        raise KeyboardInterrupt

    monkeypatch.setattr(create_module, "_template", interrupted)
    with pytest.raises(KeyboardInterrupt):
        create_bot(tmp_path / "b", interactive=False)
    assert list(tmp_path.iterdir()) == []


def test_a_directory_nothing_can_be_created_in_is_a_clear_error() -> None:
    # /proc exists and is a directory, but no directory can be made in it
    with pytest.raises(ScaffoldError, match=r"^cannot create bot /proc/autobot-test: "):
        create_bot(Path("/proc/autobot-test"), interactive=False)


@pytest.mark.parametrize("name", [".", ".."])
def test_bad_names(tmp_path: Path, name: str) -> None:
    with pytest.raises(ScaffoldError):
        create_bot(tmp_path / name, interactive=False)


def test_missing_parent_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ScaffoldError, match="does not exist"):
        create_bot(tmp_path / "no" / "b", interactive=False)
    assert list(tmp_path.iterdir()) == []


class ScriptedPrompt:
    """Answers questions from a script and records them."""

    def __init__(self, *answers: str) -> None:
        self.answers = list(answers)
        self.asked: list[tuple[str, bool]] = []

    def __call__(self, question: str, secret: bool) -> str:
        self.asked.append((question, secret))
        return self.answers.pop(0)


def test_interactive_asks_provider_channels_and_hidden_key(tmp_path: Path) -> None:
    key = "gsk_" + "k" * 30
    prompt = ScriptedPrompt("groq", "telegram, slack", key)
    created = create_bot(tmp_path / "b", interactive=True, prompt=prompt)
    assert created.choices.provider == "groq"
    assert created.choices.channels == ("telegram", "slack")
    assert [secret for _, secret in prompt.asked] == [False, False, True]
    assert "GROQ_API_KEY" in prompt.asked[2][0]
    assert dotenv_values(created.env_file)["GROQ_API_KEY"] == key
    assert key not in created.config_file.read_text()
    assert "GROQ_API_KEY" not in created.unset_variables


def test_interactive_blank_answers_take_defaults(tmp_path: Path) -> None:
    prompt = ScriptedPrompt("", "", "")
    created = create_bot(tmp_path / "b", interactive=True, prompt=prompt)
    assert created.choices.provider == "anthropic"
    assert created.choices.channels == ()
    assert dotenv_values(created.env_file)["ANTHROPIC_API_KEY"] == ""


def test_interactive_skips_questions_answered_by_options(tmp_path: Path) -> None:
    prompt = ScriptedPrompt("")
    created = create_bot(
        tmp_path / "b", provider="openai", channels=[], interactive=True, prompt=prompt
    )
    assert created.choices.provider == "openai"
    assert len(prompt.asked) == 1  # only the key
    assert prompt.asked[0][1] is True


def test_interactive_reasks_then_gives_up(tmp_path: Path) -> None:
    prompt = ScriptedPrompt("gemini", "anthropic", "", "")
    created = create_bot(tmp_path / "c", interactive=True, prompt=prompt)
    assert created.choices.provider == "anthropic"
    assert "unknown provider 'gemini'" in prompt.asked[1][0]
    with pytest.raises(ScaffoldError, match=f"no valid answer after {MAX_ATTEMPTS} attempts"):
        create_bot(tmp_path / "d", interactive=True, prompt=ScriptedPrompt(*["x"] * MAX_ATTEMPTS))
    assert not (tmp_path / "d").exists()


class EndedPrompt(ScriptedPrompt):
    """Answers from a script, then behaves like a terminal whose input ended."""

    def __call__(self, question: str, secret: bool) -> str:
        if not self.answers:
            raise EOFError
        return super().__call__(question, secret)


@pytest.mark.parametrize("answered", [0, 1, 2])
def test_input_ending_at_any_question_is_a_clear_error_and_writes_nothing(
    tmp_path: Path, answered: int
) -> None:
    prompt = EndedPrompt(*["anthropic", "telegram"][:answered])
    with pytest.raises(InputEnded, match="input ended before the questions were answered"):
        create_bot(tmp_path / "b", interactive=True, prompt=prompt)
    assert len(prompt.asked) == answered
    assert list(tmp_path.iterdir()) == []


def test_interactive_rejects_key_that_env_cannot_hold(tmp_path: Path) -> None:
    bad = "abc 'def\nINJECTED=1"
    with pytest.raises(ScaffoldError) as raised:
        create_bot(
            tmp_path / "b",
            provider="anthropic",
            channels=[],
            interactive=True,
            prompt=ScriptedPrompt(bad, bad, bad),
        )
    assert bad not in str(raised.value)
    assert "abc" not in str(raised.value)
    assert not (tmp_path / "b").exists()


async def test_fresh_bot_doctor_then_key_filled(tmp_path: Path) -> None:
    created = create_bot(tmp_path / "b", interactive=False)
    home = tmp_path / "home"
    report = await run_checks(created.config_file, environ={}, probe=probe_ok, home=home)
    assert report.codes(Severity.ERROR) == ["no_provider"]
    assert report.codes(Severity.WARNING) == []
    assert "web_search_unconfigured" in report.codes(Severity.INFO)

    env = created.env_file.read_text().replace(
        "ANTHROPIC_API_KEY=", "ANTHROPIC_API_KEY=sk-ant-api03-" + "r" * 40
    )
    created.env_file.write_text(env)  # keeps mode 0600
    report = await run_checks(created.config_file, environ={}, probe=probe_ok, home=home)
    assert report.codes(Severity.ERROR) == []
    assert report.codes(Severity.WARNING) == []
    assert report.exit_code(strict=True) == 0


async def test_fresh_bot_with_channels_expected_warnings(tmp_path: Path) -> None:
    created = create_bot(tmp_path / "b", channels=["telegram", "whatsapp"], interactive=False)
    report = await run_checks(
        created.config_file,
        environ={"ANTHROPIC_API_KEY": "from-environment"},
        probe=probe_ok,
        home=tmp_path / "home",
    )
    assert report.codes(Severity.ERROR) == []
    assert report.codes(Severity.WARNING) == [
        "channel_allow_from_empty",  # telegram
        "channel_token_missing",
        "channel_allow_from_empty",  # whatsapp
        "whatsapp_bridge_not_installed",  # the gateway's first start runs npm ci
    ]


@pytest.mark.parametrize("provider", PROVIDER_NAMES)
async def test_every_fresh_provider_passes_doctor_once_key_set(
    tmp_path: Path, provider: str
) -> None:
    created = create_bot(tmp_path / "b", provider=provider, interactive=False)
    environ = {f"{provider.upper()}_API_KEY": "key-" + "9" * 20}
    report = await run_checks(
        created.config_file, environ=environ, probe=probe_ok, home=tmp_path / "home"
    )
    assert report.codes(Severity.ERROR) == []
    assert report.codes(Severity.WARNING) == []
