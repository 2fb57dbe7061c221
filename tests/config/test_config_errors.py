"""Bad config files: one ConfigError listing every problem, with paths and hints."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from autobot.config import ConfigError, ConfigProblem, load_config

WriteBot = Callable[..., Path]


def _problems(path: Path, environ: dict[str, str] | None = None) -> tuple[ConfigProblem, ...]:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ or {})
    error = caught.value
    assert not isinstance(error, BaseExceptionGroup)
    assert error.__cause__ is None or not isinstance(error.__cause__, BaseExceptionGroup)
    return error.problems


MALFORMED = [
    # (config text, expected problems as (path, message))
    (
        "channels: {telegram: {alow_from: ['@a']}}\n",
        [("channels.telegram.alow_from", "unknown key (did you mean 'allow_from'?)")],
    ),
    ("agent: {}\n", [("agent", "unknown key (did you mean 'agents'?)")]),
    (
        "gateway: {zzz: 1}\n",
        [("gateway.zzz", "unknown key (valid keys here: host, port)")],
    ),
    (
        "tools: {sandbox: firejail}\n",
        [("tools.sandbox", "must be one of auto, bubblewrap, docker, none (got 'firejail')")],
    ),
    (
        "logging: {level: warning}\n",
        [
            (
                "logging.level",
                "must be one of debug, info, warn, error (got 'warning'; did you mean 'warn'?)",
            )
        ],
    ),
    (
        "gateway: {port: '80'}\n",
        [("gateway.port", "must be an integer (got '80'; write it without quotes)")],
    ),
    ("gateway: {port: abc}\n", [("gateway.port", "must be an integer (got 'abc')")]),
    ("gateway: {port: 80.5}\n", [("gateway.port", "must be an integer (got 80.5)")]),
    ("gateway: {port: true}\n", [("gateway.port", "must be an integer (got true)")]),
    ("cron: {enabled: 'yes'}\n", [("cron.enabled", "must be true or false (got 'yes')")]),
    ("cron: {enabled: 1}\n", [("cron.enabled", "must be true or false (got 1)")]),
    (
        "agents: {defaults: {temperature: '0.5'}}\n",
        [("agents.defaults.temperature", "must be a number (got '0.5')")],
    ),
    ("gateway: {host: 127}\n", [("gateway.host", "must be a string (got 127; quote it in YAML)")]),
    (
        "channels: {telegram: {allow_from: '@alice'}}\n",
        [("channels.telegram.allow_from", "must be a list (got '@alice')")],
    ),
    (
        "channels: {telegram: {allow_from: [123456789]}}\n",
        [
            (
                "channels.telegram.allow_from[0]",
                "must be a string (got 123456789; quote it in YAML)",
            )
        ],
    ),
    ("tools: [sandbox]\n", [("tools", "must be a mapping (got a list)")]),
    ("cron: {store: 2024-01-01}\n", [("cron.store", "must be a string (got a date)")]),
    (
        "providers: {anthropic: {api_key: 12345}}\n",
        [("providers.anthropic.api_key", "must be a string (the value is not shown)")],
    ),
    (
        "tools: {rate_limit: {per_tool: {exec: {window_seconds: 5}}}}\n",
        [("tools.rate_limit.per_tool.exec.max_calls", "is required but missing")],
    ),
    (
        "tools: {rate_limit: {per_tool: [exec]}}\n",
        [("tools.rate_limit.per_tool", "must be a mapping (got a list)")],
    ),
    (
        "tools: {rate_limit: {per_tool: {1: {max_calls: 1}}}}\n",
        [("tools.rate_limit.per_tool", "must be a mapping with string keys (got 1)")],
    ),
    (
        "gateway: {host: 'a${bad-name}'}\n",
        [
            (
                "gateway.host",
                "malformed ${...} reference: use ${NAME} with a name of letters, digits and"
                " underscores, or $${ for a literal '${'",
            )
        ],
    ),
]

RANGES = [
    ("gateway: {port: 0}\n", "gateway.port", "must be an integer from 1 to 65535 (got 0)"),
    ("gateway: {port: 65536}\n", "gateway.port", "must be an integer from 1 to 65535 (got 65536)"),
    ("gateway: {host: ''}\n", "gateway.host", "must be a non-empty string (got '')"),
    (
        "agents: {defaults: {max_tokens: 0}}\n",
        "agents.defaults.max_tokens",
        "must be an integer of at least 1 (got 0)",
    ),
    (
        "agents: {defaults: {max_tool_iterations: -1}}\n",
        "agents.defaults.max_tool_iterations",
        "must be an integer of at least 1 (got -1)",
    ),
    (
        "agents: {defaults: {temperature: 2.5}}\n",
        "agents.defaults.temperature",
        "must be a number from 0 to 2 (got 2.5)",
    ),
    (
        "agents: {defaults: {temperature: .nan}}\n",
        "agents.defaults.temperature",
        "must be a number from 0 to 2 (got nan)",
    ),
    (
        "agents: {defaults: {workspace: ''}}\n",
        "agents.defaults.workspace",
        "must be a non-empty string (got '')",
    ),
    (
        "agents: {defaults: {budget: {global_daily_tokens: 0}}}\n",
        "agents.defaults.budget.global_daily_tokens",
        "must be an integer of at least 1 (got 0)",
    ),
    (
        "tools: {rate_limit: {llm: {max_calls: 0}}}\n",
        "tools.rate_limit.llm.max_calls",
        "must be an integer of at least 1 (got 0)",
    ),
    (
        "tools: {rate_limit: {per_tool: {exec: {max_calls: 1, window_seconds: 0}}}}\n",
        "tools.rate_limit.per_tool.exec.window_seconds",
        "must be a finite number greater than 0 (got 0)",
    ),
    (
        "tools: {rate_limit: {global_llm: {max_calls: 1, window_seconds: .inf}}}\n",
        "tools.rate_limit.global_llm.window_seconds",
        "must be a finite number greater than 0 (got inf)",
    ),
    ("tools: {pool: {size: 0}}\n", "tools.pool.size", "must be an integer of at least 1 (got 0)"),
    (
        "tools: {exec: {timeout: -5}}\n",
        "tools.exec.timeout",
        "must be a finite number greater than 0 (got -5)",
    ),
    (
        "tools: {web: {ssrf_allowlist: ['10.0.0.0/8', 'intranet']}}\n",
        "tools.web.ssrf_allowlist[1]",
        "must be an IP network in CIDR form such as 10.0.0.0/8 (got 'intranet')",
    ),
    (
        "providers: {openai: {api_base: 'ftp://example.com'}}\n",
        "providers.openai.api_base",
        "must be a URL with a host, starting with http:// or https:// (got 'ftp://example.com')",
    ),
    (
        "providers: {vllm: {api_base: 'localhost:8000'}}\n",
        "providers.vllm.api_base",
        "must be a URL with a host, starting with http:// or https:// (got 'localhost:8000')",
    ),
    (
        "channels: {telegram: {api_base: 'http://127.0.0.1:99999'}}\n",
        "channels.telegram.api_base",
        "must be a URL with a host, starting with http:// or https://"
        " (got 'http://127.0.0.1:99999')",
    ),
    (
        "channels: {whatsapp: {bridge_url: 'http://127.0.0.1:3001'}}\n",
        "channels.whatsapp.bridge_url",
        "must be a URL with a host, starting with ws:// or wss:// (got 'http://127.0.0.1:3001')",
    ),
    ("logging: {backups: -1}\n", "logging.backups", "must be an integer of at least 0 (got -1)"),
]


@pytest.mark.parametrize(("text", "expected"), MALFORMED)
def test_malformed_values_are_reported_with_path_and_reason(
    write_bot: WriteBot, text: str, expected: list[tuple[str, str]]
) -> None:
    problems = _problems(write_bot(text))
    assert [(p.path, p.message) for p in problems] == expected


@pytest.mark.parametrize(("text", "path", "message"), RANGES)
def test_out_of_range_values_are_reported(
    write_bot: WriteBot, text: str, path: str, message: str
) -> None:
    assert _problems(write_bot(text)) == (ConfigProblem(path, message),)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "gateway:\n  host: 1\n  port: [\n",
            "invalid YAML at line 4, column 1: expected the node content,"
            " but found '<stream end>' (while parsing a flow node)",
        ),
        (
            "tools:\n  sandbox: none\n  bad: x: y\n",
            "invalid YAML at line 3, column 9: mapping values are not allowed here",
        ),
        (
            "channels:\n  telegram:\n    allow_from: []\n  telegram:\n    allow_from: ['*']\n",
            "invalid YAML at line 4, column 3: duplicate key 'telegram'",
        ),
        (
            "a: &x [1]\nb: *x\n",
            "invalid YAML at line 2, column 4: aliases (*name) are not supported"
            " in the configuration",
        ),
        (
            "x: !!python/object/apply:os.system ['true']\n",
            "invalid YAML at line 1, column 4: could not determine a constructor for the tag"
            " 'tag:yaml.org,2002:python/object/apply:os.system'",
        ),
        ("- agents\n- tools\n", None),
        ("just a string\n", None),
        ("42\n", None),
    ],
)
def test_whole_file_problems(write_bot: WriteBot, text: str, message: str | None) -> None:
    (problem,) = _problems(write_bot(text))
    assert problem.path == ""
    if message is None:
        assert problem.message.startswith(
            "the top level must be a mapping of sections (agents, providers, channels,"
            " gateway, tools, cron, logging), got "
        )
    else:
        assert problem.message == message


def test_yaml_error_never_quotes_the_offending_line(write_bot: WriteBot) -> None:
    text = "providers:\n  anthropic:\n    api_key: sk-ant-plaintext-value: oops\n"
    with pytest.raises(ConfigError) as caught:
        load_config(write_bot(text), {})
    assert "line 3" in str(caught.value)
    assert "sk-ant-plaintext-value" not in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope" / "config.yml"
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert str(caught.value) == (
        f"{path}: file not found (create it with `autobot new NAME`, or pass --config PATH)"
    )


def test_directory_instead_of_file(tmp_path: Path) -> None:
    (tmp_path / "config.yml").mkdir()
    (problem,) = _problems(tmp_path / "config.yml")
    assert problem == ConfigProblem("", "is a directory, not a regular file")


def test_config_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "config.yml"
    path.write_bytes(b"gateway: {host: \xff}\n")
    (problem,) = _problems(path)
    assert problem == ConfigProblem("", "cannot read the file: not valid UTF-8 (byte 16)")


def test_unreadable_dotenv_is_reported_with_the_other_problems(write_bot: WriteBot) -> None:
    path = write_bot("gateway: {port: 0}\n")
    (path.parent / ".env").write_bytes(b"KEY=\xff\xfe\n")
    problems = _problems(path)
    assert problems == (
        ConfigProblem("", f"cannot read {path.parent / '.env'}: not valid UTF-8 (byte 4)"),
        ConfigProblem("gateway.port", "must be an integer from 1 to 65535 (got 0)"),
    )


def test_every_problem_is_listed_at_once_and_rendered(write_bot: WriteBot) -> None:
    text = (
        "tools:\n"
        "  sandbox: firejail\n"
        "  pool: {size: 0}\n"
        "channels:\n"
        "  telegram: {alow_from: ['@a'], enabled: 'yes'}\n"
        "gateway: {port: 70000}\n"
        "logging: {levle: info}\n"
    )
    path = write_bot(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert str(caught.value) == (
        f"{path}: 6 problems:\n"
        "  - channels.telegram.enabled: must be true or false (got 'yes')\n"
        "  - channels.telegram.alow_from: unknown key (did you mean 'allow_from'?)\n"
        "  - tools.sandbox: must be one of auto, bubblewrap, docker, none (got 'firejail')\n"
        "  - logging.levle: unknown key (did you mean 'level'?)\n"
        "  - gateway.port: must be an integer from 1 to 65535 (got 70000)\n"
        "  - tools.pool.size: must be an integer of at least 1 (got 0)"
    )


def test_a_bad_file_changes_nothing_on_disk(write_bot: WriteBot) -> None:
    path = write_bot("tools: {sandbox: firejail}\n", "K=v\n")
    before = sorted(p.name for p in path.parent.iterdir())
    _problems(path)
    assert sorted(p.name for p in path.parent.iterdir()) == before == [".env", "config.yml"]


def test_config_error_requires_a_problem() -> None:
    with pytest.raises(ValueError, match="at least one problem"):
        ConfigError("config.yml", [])


def test_single_problem_wording() -> None:
    error = ConfigError("config.yml", [ConfigProblem("tools.sandbox", "must be X")])
    assert str(error) == "config.yml: tools.sandbox: must be X"
