"""The text of a fresh bot's `config.yml`, `.env` and `.gitignore` (pure).

`config.yml` never holds a secret: every credential is a `${VAR}` reference
whose value lives in `.env`. Settings that are not secrets (a Zulip site and
email) are plain values in `config.yml`, left empty for the operator (`.env`
values are all treated, and redacted, as secrets). Chosen channels are
enabled with an empty `allow_from` (deny everyone until the operator lists
who may talk).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from autobot.scaffold.choices import (
    CHANNEL_SETTINGS,
    CHANNEL_VARIABLES,
    DEFAULT_API_BASES,
    DEFAULT_MODELS,
    SEARCH_VARIABLE,
    BotChoices,
    ScaffoldError,
    provider_variable,
)

GITIGNORE = """\
# Secrets and runtime state never go into version control.
.env
.env.*
sessions/
logs/
cron.json
workspace/memory/
"""

_CHANNEL_BLOCKS: dict[str, str] = {
    "telegram": """\
  telegram:
    enabled: true
    token: "${TELEGRAM_BOT_TOKEN}"
""",
    "slack": """\
  slack:
    enabled: true
    bot_token: "${SLACK_BOT_TOKEN}"
    app_token: "${SLACK_APP_TOKEN}"
    group_policy: mention
""",
    "whatsapp": """\
  whatsapp:
    enabled: true
    # The gateway runs the bundled bridge (Node >= 20) on a Unix socket in
    # state/; the first start shows a QR code to link your phone.
    bridge: managed
""",
    "zulip": """\
  zulip:
    enabled: true
    api_key: "${ZULIP_API_KEY}"
""",
}


def _settings_lines(channel: str) -> str:
    """The channel's plain settings, empty, each with its comment."""
    return "".join(
        f'    {key}: ""  # {comment}\n' for key, comment in CHANNEL_SETTINGS.get(channel, ())
    )


def unset_settings(choices: BotChoices) -> tuple[str, ...]:
    """The config keys left empty for the operator (`channels.zulip.site`, ...)."""
    return tuple(
        f"channels.{channel}.{key}"
        for channel in choices.channels
        for key, _ in CHANNEL_SETTINGS.get(channel, ())
    )


_ALLOW_FROM = """\
    # Who may talk to the bot. Empty denies everyone; add user ids here.
    allow_from: []
"""


def _provider_block(provider: str) -> str:
    lines = ["providers:", f"  {provider}:", f'    api_key: "${{{provider_variable(provider)}}}"']
    if provider in DEFAULT_API_BASES:
        lines.append(f'    api_base: "{DEFAULT_API_BASES[provider]}"')
    return "\n".join(lines) + "\n"


def config_text(name: str, choices: BotChoices) -> str:
    """`config.yml` for a new bot called `name`."""
    channels = "".join(
        _CHANNEL_BLOCKS[c] + _settings_lines(c) + _ALLOW_FROM for c in choices.channels
    )
    return (
        f"# autobot configuration for {name}.\n"
        "# Never write a secret here: put NAME=value in .env (mode 0600, outside the\n"
        "# workspace) and refer to it as ${NAME}. Check with: autobot doctor\n"
        "\n"
        "agents:\n"
        "  defaults:\n"
        "    workspace: ./workspace\n"
        f"    model: {DEFAULT_MODELS[choices.provider]}\n"
        "\n"
        f"{_provider_block(choices.provider)}"
        "\n" + (f"channels:\n{channels}\n" if channels else "") + "gateway:\n"
        "  host: 127.0.0.1\n"
        "  port: 18790\n"
        "\n"
        "tools:\n"
        "  sandbox: auto\n"
        "  exec:\n"
        "    network: false\n"
        "  web:\n"
        "    search:\n"
        f'      api_key: "${{{SEARCH_VARIABLE[0]}}}"\n'
    )


# What a value may contain to be written single-quoted into .env and read
# back unchanged by python-dotenv: printable ASCII without quotes, backslash
# or whitespace (real API keys and tokens never need more).
_SAFE_VALUE = re.compile(r"[!#-&(-\[\]-~]*")


def check_env_value(variable: str, value: str) -> str:
    """`value` if it can be stored in `.env` verbatim; ScaffoldError otherwise.

    The error never quotes the value (it is a secret).
    """
    if not _SAFE_VALUE.fullmatch(value):
        raise ScaffoldError(
            f"the value given for {variable} contains whitespace, quotes, a backslash or "
            "non-ASCII characters; paste the exact key, or leave it empty and edit .env later"
        )
    return value


def env_variables(choices: BotChoices) -> tuple[tuple[str, str], ...]:
    """Every `.env` variable the bot uses, as (name, comment), provider first."""
    provider = (provider_variable(choices.provider), f"{choices.provider} API key")
    channel_vars = tuple(v for c in choices.channels for v in CHANNEL_VARIABLES.get(c, ()))
    return (provider, *channel_vars, SEARCH_VARIABLE)


def env_text(choices: BotChoices, values: Mapping[str, str]) -> str:
    """`.env` with a commented line per variable; `values` fills some in."""
    lines = [
        "# Secrets for this bot. Keep this file at mode 0600 and out of the workspace",
        "# and of version control. config.yml refers to these as ${NAME}.",
    ]
    for variable, comment in env_variables(choices):
        value = values.get(variable, "")
        lines += [
            "",
            f"# {comment}",
            f"{variable}='{check_env_value(variable, value)}'" if value else f"{variable}=",
        ]
    return "\n".join(lines) + "\n"
