"""load_config: defaults, every section, ${VAR} resolution, secrets, bot paths."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from autobot.config import ConfigError, LoadedConfig, find_config_path, load_config
from autobot.config.schema import (
    AgentDefaults,
    AgentsConfig,
    BridgeMode,
    Budget,
    ChannelsConfig,
    Config,
    CronConfig,
    ExecConfig,
    GatewayConfig,
    GroupPolicy,
    LoggingConfig,
    LogLevel,
    PoolConfig,
    ProviderConfig,
    ProvidersConfig,
    RateLimit,
    RateLimitConfig,
    SandboxMode,
    SlackConfig,
    TelegramConfig,
    ToolsConfig,
    WebConfig,
    WebSearchConfig,
    WhatsAppConfig,
    ZulipConfig,
)
from autobot.config.secret import REDACTED, Secret

WriteBot = Callable[..., Path]


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n", "---\n", "{}\n"])
def test_empty_file_gives_all_defaults(write_bot: WriteBot, text: str) -> None:
    loaded = load_config(write_bot(text), {})
    assert loaded.config == Config()
    assert loaded.unresolved == ()
    assert loaded.secret_values == frozenset()
    assert loaded.raw_text == text


def test_null_section_and_null_list_mean_defaults(write_bot: WriteBot) -> None:
    text = "tools:\nchannels:\n  telegram:\n    allow_from:\n      # - '@alice'\n"
    assert load_config(write_bot(text), {}).config == Config()


SECTIONS = [
    pytest.param(
        """
agents:
  defaults:
    workspace: /srv/ws
    model: openai/gpt-4o
    max_tokens: 1024
    temperature: 1
    max_tool_iterations: 5
    memory_window: 10
    idle_timeout_seconds: 30
    budget: {session_daily_tokens: 1000, global_daily_tokens: 50000}
""",
        Config(
            agents=AgentsConfig(
                defaults=AgentDefaults(
                    workspace="/srv/ws",
                    model="openai/gpt-4o",
                    max_tokens=1024,
                    temperature=1.0,
                    max_tool_iterations=5,
                    memory_window=10,
                    idle_timeout_seconds=30.0,
                    budget=Budget(session_daily_tokens=1000, global_daily_tokens=50000),
                )
            )
        ),
        id="agents",
    ),
    pytest.param(
        """
providers:
  anthropic: {api_key: sk-ant-1}
  vllm: {api_base: "http://127.0.0.1:8000/v1"}
  openai: {api_key: "", api_base: ""}
""",
        Config(
            providers=ProvidersConfig(
                anthropic=ProviderConfig(api_key=Secret("sk-ant-1")),
                vllm=ProviderConfig(api_base="http://127.0.0.1:8000/v1"),
            )
        ),
        id="providers",
    ),
    pytest.param(
        """
channels:
  telegram: {enabled: true, token: "123:abc", allow_from: ["@alice", "42"],
             api_base: "http://127.0.0.1:9000"}
  slack: {enabled: true, bot_token: xoxb-1, app_token: xapp-1, allow_from: [U1],
          group_policy: open}
  whatsapp: {enabled: true, bridge: external, bridge_url: "wss://127.0.0.1:3002",
             allow_from: ["+1555"]}
  zulip: {enabled: true, site: "https://z.example.com", email: b@z.example.com,
          api_key: zk, allow_from: [a@z.example.com]}
""",
        Config(
            channels=ChannelsConfig(
                telegram=TelegramConfig(
                    enabled=True,
                    token=Secret("123:abc"),
                    allow_from=("@alice", "42"),
                    api_base="http://127.0.0.1:9000",
                ),
                slack=SlackConfig(
                    enabled=True,
                    bot_token=Secret("xoxb-1"),
                    app_token=Secret("xapp-1"),
                    allow_from=("U1",),
                    group_policy=GroupPolicy.OPEN,
                ),
                whatsapp=WhatsAppConfig(
                    enabled=True,
                    bridge=BridgeMode.EXTERNAL,
                    bridge_url="wss://127.0.0.1:3002",
                    allow_from=("+1555",),
                ),
                zulip=ZulipConfig(
                    enabled=True,
                    site="https://z.example.com",
                    email="b@z.example.com",
                    api_key=Secret("zk"),
                    allow_from=("a@z.example.com",),
                ),
            )
        ),
        id="channels",
    ),
    pytest.param(
        "gateway: {host: 0.0.0.0, port: 8080}\n",
        Config(gateway=GatewayConfig(host="0.0.0.0", port=8080)),
        id="gateway",
    ),
    pytest.param(
        """
tools:
  sandbox: bubblewrap
  sandbox_env: [LANG, TZ]
  docker_image: python:3.11-slim
  pool: {size: 4, max_requests_per_worker: 100}
  exec: {timeout: 5, network: true}
  web:
    search: {api_key: brave-1, base_url: "http://127.0.0.1:9100/search"}
    ssrf_allowlist: ["10.20.0.0/16", "fd00::/8"]
  rate_limit:
    llm: {max_calls: 3, window_seconds: 1.5}
    tools: {max_calls: 4}
    per_tool: {exec: {max_calls: 1, window_seconds: 10}}
    global_llm: {max_calls: 99, window_seconds: 3600}
""",
        Config(
            tools=ToolsConfig(
                sandbox=SandboxMode.BUBBLEWRAP,
                sandbox_env=("LANG", "TZ"),
                docker_image="python:3.11-slim",
                pool=PoolConfig(size=4, max_requests_per_worker=100),
                exec=ExecConfig(timeout=5.0, network=True),
                web=WebConfig(
                    search=WebSearchConfig(
                        api_key=Secret("brave-1"), base_url="http://127.0.0.1:9100/search"
                    ),
                    ssrf_allowlist=("10.20.0.0/16", "fd00::/8"),
                ),
                rate_limit=RateLimitConfig(
                    llm=RateLimit(max_calls=3, window_seconds=1.5),
                    tools=RateLimit(max_calls=4),
                    per_tool={"exec": RateLimit(max_calls=1, window_seconds=10.0)},
                    global_llm=RateLimit(max_calls=99, window_seconds=3600.0),
                ),
            )
        ),
        id="tools",
    ),
    pytest.param(
        "cron: {enabled: false, store: data/cron.json}\n",
        Config(cron=CronConfig(enabled=False, store="data/cron.json")),
        id="cron",
    ),
    pytest.param(
        "logging: {level: debug, dir: /var/log/bot, max_bytes: 1000, backups: 0}\n",
        Config(
            logging=LoggingConfig(
                level=LogLevel.DEBUG, dir="/var/log/bot", max_bytes=1000, backups=0
            )
        ),
        id="logging",
    ),
]


@pytest.mark.parametrize(("text", "expected"), SECTIONS)
def test_every_section_structures_exactly(write_bot: WriteBot, text: str, expected: Config) -> None:
    assert load_config(write_bot(text), {}).config == expected


def test_empty_string_in_optional_fields_means_not_set(write_bot: WriteBot) -> None:
    text = 'providers: {anthropic: {api_key: "", api_base: ""}}\ntools: {docker_image: ""}\n'
    config = load_config(write_bot(text), {}).config
    assert config.providers.anthropic == ProviderConfig(api_key=None, api_base=None)
    assert config.tools.docker_image is None


def test_process_environment_beats_dotenv(write_bot: WriteBot) -> None:
    path = write_bot(
        "providers:\n  anthropic: {api_key: '${KEY}'}\n  openai: {api_key: '${ONLY_DOTENV}'}\n",
        "KEY=from-dotenv\nONLY_DOTENV=dotenv-only-value\n",
    )
    config = load_config(path, {"KEY": "from-process"}).config
    assert config.providers.anthropic.api_key == Secret("from-process")
    assert config.providers.openai.api_key == Secret("dotenv-only-value")


def test_loading_never_touches_os_environ(write_bot: WriteBot) -> None:
    before = dict(os.environ)
    load_config(
        write_bot("gateway: {host: '${HOST_FROM_DOTENV_X}'}\n", "HOST_FROM_DOTENV_X=::1\n"), {}
    )
    assert dict(os.environ) == before
    assert "HOST_FROM_DOTENV_X" not in os.environ


def test_process_environment_is_the_injected_mapping_only(
    write_bot: WriteBot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SNEAKY_TOKEN", "from-os-environ")
    loaded = load_config(write_bot("channels: {telegram: {token: '${SNEAKY_TOKEN}'}}\n"), {})
    assert loaded.config.channels.telegram.token is None
    assert loaded.unresolved == ("${SNEAKY_TOKEN} at channels.telegram.token",)


def test_unresolved_references_become_none_and_are_listed(write_bot: WriteBot) -> None:
    text = (
        "providers: {anthropic: {api_key: '${MISSING_A}', api_base: 'https://${MISSING_B}/v1'}}\n"
        "channels: {zulip: {email: '${MISSING_C}'}}\n"
    )
    loaded = load_config(write_bot(text), {})
    assert loaded.config.providers.anthropic == ProviderConfig()
    assert loaded.config.channels.zulip.email is None
    assert loaded.unresolved == (
        "${MISSING_A} at providers.anthropic.api_key",
        "${MISSING_B} at providers.anthropic.api_base",
        "${MISSING_C} at channels.zulip.email",
    )


def test_unresolved_reference_in_a_required_string_is_an_error(write_bot: WriteBot) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write_bot("gateway: {host: '${GATEWAY_HOST}'}\n"), {})
    (problem,) = caught.value.problems
    assert problem.path == "gateway.host"
    assert "${GATEWAY_HOST} is not set" in problem.message


def test_embedded_references_and_escape(write_bot: WriteBot) -> None:
    text = "providers: {vllm: {api_base: 'http://${VHOST}:${VPORT}/v1', api_key: 'pre-$${KEEP}-${K}'}}\n"
    loaded = load_config(write_bot(text), {"VHOST": "127.0.0.1", "VPORT": "8000", "K": "kk"})
    vllm = loaded.config.providers.vllm
    assert vllm.api_base == "http://127.0.0.1:8000/v1"
    assert vllm.api_key == Secret("pre-${KEEP}-kk")


def test_variable_content_cannot_inject_yaml_structure(write_bot: WriteBot) -> None:
    evil = "x\ngateway:\n  host: 0.0.0.0\n  port: 1\ntools: {sandbox: none}"
    loaded = load_config(write_bot("channels: {telegram: {token: '${EVIL}'}}\n"), {"EVIL": evil})
    assert loaded.config.channels.telegram.token == Secret(evil)
    assert loaded.config.gateway == GatewayConfig()
    assert loaded.config.tools.sandbox is SandboxMode.AUTO


def test_variable_values_are_not_expanded_again(write_bot: WriteBot) -> None:
    loaded = load_config(
        write_bot("providers: {openai: {api_key: '${A}'}}\n"), {"A": "${B}", "B": "leak"}
    )
    assert loaded.config.providers.openai.api_key == Secret("${B}")


def test_secret_values_collects_dotenv_and_secret_fields(write_bot: WriteBot) -> None:
    path = write_bot(
        "providers:\n"
        "  anthropic: {api_key: '${ANTHROPIC_API_KEY}'}\n"
        "  openai: {api_key: 'Bearer ${OPENAI_PART}', api_base: 'https://${API_HOST}/v1'}\n"
        "channels: {slack: {bot_token: xoxb-literal-in-config}}\n",
        "ANTHROPIC_API_KEY=sk-ant-dotenv\nUNUSED_PASSWORD=hunter2-unused\nEMPTY=\nBARE\n",
    )
    loaded = load_config(path, {"OPENAI_PART": "sk-openai-proc", "API_HOST": "api.example.com"})
    assert loaded.secret_values == frozenset(
        {
            "sk-ant-dotenv",
            "hunter2-unused",
            "Bearer sk-openai-proc",
            "sk-openai-proc",
            "xoxb-literal-in-config",
        }
    )


def test_loaded_config_repr_hides_secret_values_and_raw_text(write_bot: WriteBot) -> None:
    path = write_bot(
        "providers: {anthropic: {api_key: sk-ant-plaintext}}\n", "OTHER=dotenv-secret-value\n"
    )
    loaded = load_config(path, {})
    text = repr(loaded) + str(loaded)
    assert "sk-ant-plaintext" not in text
    assert "dotenv-secret-value" not in text
    assert "secret_values" not in text and "raw_text" not in text
    assert loaded.raw_text.startswith("providers:")


@pytest.mark.parametrize("secret", [Secret("sk-ant-xyz"), Secret(value="tok")])
def test_secret_repr_and_str_are_redacted(secret: Secret) -> None:
    raw = secret.reveal()
    for text in (
        repr(secret),
        str(secret),
        f"{secret}",
        f"{secret!r}",
        repr(ProviderConfig(api_key=secret)),
    ):
        assert raw not in text
        assert REDACTED in text


def test_paths_resolve_from_the_bot_dir_not_the_cwd(
    write_bot: WriteBot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_bot(
        "agents: {defaults: {workspace: ws}}\ncron: {store: ../shared/cron.json}\n"
        "logging: {dir: /var/log/autobot-test}\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    loaded = load_config(Path(os.path.relpath(path, elsewhere)), {})
    bot_dir = (tmp_path / "bot").resolve()
    assert loaded == LoadedConfig(
        config=loaded.config,
        path=bot_dir / "config.yml",
        bot_dir=bot_dir,
        env_file=bot_dir / ".env",
        workspace=bot_dir / "ws",
        sessions_dir=bot_dir / "sessions",
        logs_dir=Path("/var/log/autobot-test"),
        cron_store=tmp_path.resolve() / "shared" / "cron.json",
        secret_values=frozenset(),
        unresolved=(),
        raw_text=loaded.raw_text,
    )


def test_default_paths(write_bot: WriteBot) -> None:
    loaded = load_config(write_bot(""), {})
    bot_dir = loaded.bot_dir
    assert bot_dir.is_absolute()
    assert (loaded.workspace, loaded.logs_dir, loaded.cron_store) == (
        bot_dir / "workspace",
        bot_dir / "logs",
        bot_dir / "cron.json",
    )


def test_find_config_path(tmp_path: Path) -> None:
    cwd = tmp_path / "cwd"
    (cwd / "bots" / "alpha").mkdir(parents=True)
    assert find_config_path(None, cwd) == cwd / "config.yml"
    assert find_config_path("my.yml", cwd) == cwd / "my.yml"
    assert find_config_path("bots/alpha", cwd) == cwd / "bots" / "alpha" / "config.yml"
    assert find_config_path("bots/../x.yml", cwd) == cwd / "x.yml"
    assert find_config_path("/etc/autobot/config.yml", cwd) == Path("/etc/autobot/config.yml")


@pytest.mark.parametrize("value", ["", "   "])
def test_find_config_path_rejects_an_empty_value(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        find_config_path(value, tmp_path)
    assert caught.value.problems[0].message == "needs a path to a config file"
