"""The configuration schema: frozen attrs classes with defaults.

This module owns only the *shape* of `config.yml`; loading (YAML, `${VAR}`
resolution, `.env`), validation and error reporting live in `load.py`.
A `Secret | None` field that is `None` means "not configured" (absent, empty,
or an unresolved `${VAR}` reference).
"""

from __future__ import annotations

import enum

import attrs

from autobot.config.secret import Secret

PROVIDER_NAMES = ("anthropic", "openai", "openrouter", "deepseek", "groq", "vllm")
CHANNEL_NAMES = ("telegram", "slack", "whatsapp", "zulip")
# The tool names the model may call (the tool contract); `tools.rate_limit.per_tool`
# keys must be one of these.
TOOL_NAMES = (
    "read_file",
    "write_file",
    "edit_file",
    "list_dir",
    "exec",
    "web_fetch",
    "web_search",
    "message",
    "spawn",
    "cron",
)


class SandboxMode(enum.Enum):
    """Which kernel sandbox runs the model's file and exec tools."""

    AUTO = "auto"
    BUBBLEWRAP = "bubblewrap"
    DOCKER = "docker"
    NONE = "none"


class LogLevel(enum.Enum):
    """Minimum level written to the log sinks."""

    DEBUG = "debug"
    INFO = "info"
    WARN = "warn"
    ERROR = "error"


class VisionMode(enum.Enum):
    """Whether photos from chats are shown to the model as images (besides
    the note saying where they were saved)."""

    AUTO = "auto"  # when the model is known to accept images (`autobot.agent.images`)
    ON = "on"  # always: the model accepts images
    OFF = "off"  # never: only the note


@attrs.frozen(kw_only=True)
class Budget:
    """Daily token budgets; `None` means unlimited."""

    session_daily_tokens: int | None = None
    global_daily_tokens: int | None = None


@attrs.frozen(kw_only=True)
class AgentDefaults:
    """Defaults for every agent: model, sampling, loop limits, memory, spend,
    and whether chat photos reach the model as images (`vision`)."""

    workspace: str = "./workspace"
    model: str = "anthropic/claude-sonnet-4-5"
    max_tokens: int = 8192
    temperature: float = 0.7
    max_tool_iterations: int = 20
    memory_window: int = 50
    idle_timeout_seconds: float = 900.0
    budget: Budget = Budget()
    vision: VisionMode = VisionMode.AUTO


@attrs.frozen(kw_only=True)
class AgentsConfig:
    defaults: AgentDefaults = AgentDefaults()


@attrs.frozen(kw_only=True)
class ProviderConfig:
    """One LLM provider: credentials and an optional base URL (proxy, gateway, vLLM)."""

    api_key: Secret | None = None
    api_base: str | None = None


@attrs.frozen(kw_only=True)
class ProvidersConfig:
    anthropic: ProviderConfig = ProviderConfig()
    openai: ProviderConfig = ProviderConfig()
    openrouter: ProviderConfig = ProviderConfig()
    deepseek: ProviderConfig = ProviderConfig()
    groq: ProviderConfig = ProviderConfig()
    vllm: ProviderConfig = ProviderConfig()


class DmPolicy(enum.Enum):
    """What a private chat from a sender nobody allowed gets."""

    ALLOWLIST = "allowlist"  # a denial naming their id
    PAIRING = "pairing"  # a one-time code for the owner to approve


class GroupPolicy(enum.Enum):
    """Which group messages the bot considers at all."""

    MENTION = "mention"  # only those that address the bot
    OPEN = "open"  # every message
    ALLOWLIST = (
        "allowlist"  # every message, in groups `group_allow_from` names one by one ("*" refused)
    )
    DISABLED = "disabled"  # none


class TelegramMode(enum.Enum):
    """How updates arrive: long polling, or Telegram calling the gateway's HTTP actor."""

    POLLING = "polling"
    WEBHOOK = "webhook"


@attrs.frozen(kw_only=True)
class TranscriptionConfig:
    """Voice notes to text through an OpenAI-compatible `POST
    {api_base}/audio/transcriptions` (e.g. `https://api.openai.com/v1`, or a
    local Whisper server); unset `api_base`: voice notes are not transcribed
    and the model is told so. `api_key` is sent as a Bearer token (none for a
    keyless local server); `model` names the transcription model; audio over
    `max_bytes` is not sent; one transcription may take `timeout_seconds`."""

    api_base: str | None = None
    api_key: Secret | None = None
    model: str = "whisper-1"
    max_bytes: int = 20 * 1024 * 1024
    timeout_seconds: float = 60.0


@attrs.frozen(kw_only=True)
class TelegramConfig:
    """The Telegram channel: who may talk (`allow_from`: ids or usernames,
    `dm_policy`, `group_policy`, `group_allow_from`: group chat ids), how
    updates arrive (`mode`, `poll_timeout` seconds, `webhook_url` public HTTPS
    URL, `webhook_path` served by the HTTP actor), where the Bot API is
    (`api_base`), the largest inbound file saved (`max_file_bytes`), and where
    voice notes are transcribed (`transcription`)."""

    enabled: bool = False
    token: Secret | None = None
    allow_from: tuple[str, ...] = ()
    dm_policy: DmPolicy = DmPolicy.ALLOWLIST
    group_policy: GroupPolicy = GroupPolicy.MENTION
    group_allow_from: tuple[str, ...] = ()
    mode: TelegramMode = TelegramMode.POLLING
    api_base: str = "https://api.telegram.org"
    poll_timeout: int = 30
    webhook_url: str | None = None
    webhook_path: str = "/telegram/webhook"
    max_file_bytes: int = 20 * 1024 * 1024
    transcription: TranscriptionConfig = TranscriptionConfig()


@attrs.frozen(kw_only=True)
class SlackConfig:
    """The Slack channel over Socket Mode: the bot token (`xoxb-`) for Web API
    calls and the app-level token (`xapp-`) for the socket; who may talk
    (`allow_from`: user ids, `dm_policy`, `group_policy`, `group_allow_from`:
    channel ids); where the Web API is (`api_base`); the largest inbound file
    saved (`max_file_bytes`)."""

    enabled: bool = False
    bot_token: Secret | None = None
    app_token: Secret | None = None
    allow_from: tuple[str, ...] = ()
    dm_policy: DmPolicy = DmPolicy.ALLOWLIST
    group_policy: GroupPolicy = GroupPolicy.MENTION
    group_allow_from: tuple[str, ...] = ()
    api_base: str = "https://slack.com/api"
    max_file_bytes: int = 20 * 1024 * 1024


class BridgeMode(enum.Enum):
    """Who runs the WhatsApp bridge."""

    MANAGED = "managed"  # the gateway starts and supervises the bundled bridge
    EXTERNAL = "external"  # the operator runs it; the gateway connects to `bridge_url`


@attrs.frozen(kw_only=True)
class WhatsAppConfig:
    """The WhatsApp channel, through the bridge program shipped with autobot.

    `bridge: managed` runs the bridge as a child of the gateway, listening on a
    Unix socket in the bot directory (`state/whatsapp-bridge.sock`) unless
    `bridge_url` names a loopback `ws://127.0.0.1:PORT`; `bridge: external`
    connects to `bridge_url` (loopback `ws://`, or `wss://` verified against
    `bridge_ca_file` or the system CAs). The shared secret of the
    challenge-response lives in `bridge_secret_file` (generated 0600 when
    managed; never in config.yml). `node` is the Node.js (>= 20) executable.
    Who may talk: `allow_from` (phone numbers in international format, or
    JIDs), `dm_policy`, `group_policy`, `group_allow_from` (group JIDs).
    """

    enabled: bool = False
    bridge: BridgeMode = BridgeMode.MANAGED
    bridge_url: str | None = None
    bridge_secret_file: str = "./state/whatsapp-bridge-secret"
    bridge_ca_file: str | None = None
    node: str = "node"
    allow_from: tuple[str, ...] = ()
    dm_policy: DmPolicy = DmPolicy.ALLOWLIST
    group_policy: GroupPolicy = GroupPolicy.MENTION
    group_allow_from: tuple[str, ...] = ()
    max_file_bytes: int = 20 * 1024 * 1024


@attrs.frozen(kw_only=True)
class ZulipConfig:
    """The Zulip channel: the bot's `site` (https), `email` and `api_key`
    (HTTP Basic auth); who may talk (`allow_from`: emails or user ids,
    `dm_policy`); `streams`: the streams where the bot answers when mentioned
    (none by default: private messages only)."""

    enabled: bool = False
    site: str | None = None
    email: str | None = None
    api_key: Secret | None = None
    allow_from: tuple[str, ...] = ()
    dm_policy: DmPolicy = DmPolicy.ALLOWLIST
    streams: tuple[str, ...] = ()
    max_file_bytes: int = 20 * 1024 * 1024


@attrs.frozen(kw_only=True)
class ChannelsConfig:
    """Every chat channel; `down_grace_seconds`: how long an enabled channel may
    be disconnected before `/healthz` answers 503."""

    down_grace_seconds: float = 120.0
    telegram: TelegramConfig = TelegramConfig()
    slack: SlackConfig = SlackConfig()
    whatsapp: WhatsAppConfig = WhatsAppConfig()
    zulip: ZulipConfig = ZulipConfig()


@attrs.frozen(kw_only=True)
class GatewayConfig:
    host: str = "127.0.0.1"
    port: int = 18790


@attrs.frozen(kw_only=True)
class ExecConfig:
    timeout: float = 60.0
    network: bool = False


@attrs.frozen(kw_only=True)
class WebSearchConfig:
    api_key: Secret | None = None
    base_url: str = "https://api.search.brave.com/res/v1/web/search"


@attrs.frozen(kw_only=True)
class WebConfig:
    search: WebSearchConfig = WebSearchConfig()
    ssrf_allowlist: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class RateLimit:
    """At most `max_calls` within any `window_seconds` (a token bucket)."""

    max_calls: int
    window_seconds: float = 60.0


def _default_per_tool() -> dict[str, RateLimit]:
    return {
        "exec": RateLimit(max_calls=10),
        "web_fetch": RateLimit(max_calls=20),
        "web_search": RateLimit(max_calls=10),
    }


def _over_default_per_tool(configured: dict[str, RateLimit]) -> dict[str, RateLimit]:
    """`configured` per-tool limits merged over the defaults: configuring only
    `exec` keeps the web_fetch and web_search defaults."""
    return {**_default_per_tool(), **configured}


@attrs.frozen(kw_only=True)
class RateLimitConfig:
    """Per-session buckets (llm, tools, per_tool) plus one ceiling across all sessions.

    `per_tool` is always merged over the defaults (exec 10/min, web_fetch
    20/min, web_search 10/min); a configured name replaces only its own default.
    """

    llm: RateLimit = RateLimit(max_calls=30)
    tools: RateLimit = RateLimit(max_calls=60)
    per_tool: dict[str, RateLimit] = attrs.field(
        factory=_default_per_tool, converter=_over_default_per_tool
    )
    global_llm: RateLimit = RateLimit(max_calls=300)


@attrs.frozen(kw_only=True)
class MessageToolConfig:
    """The `message` tool: by default it may only write to the current conversation;
    `allow_other_chats` lets the model name another channel and chat (the owner's choice)."""

    allow_other_chats: bool = False


@attrs.frozen(kw_only=True)
class PoolConfig:
    """Sandbox worker pool: how many workers, and when to recycle one."""

    size: int = 2
    max_requests_per_worker: int = 500


@attrs.frozen(kw_only=True)
class ToolsConfig:
    """The model's tools. `sandbox_uid`/`sandbox_gid`: the unprivileged account
    sandboxed commands run as when autobot runs as root (never 0)."""

    sandbox: SandboxMode = SandboxMode.AUTO
    sandbox_env: tuple[str, ...] = ()
    sandbox_uid: int = 65534
    sandbox_gid: int = 65534
    docker_image: str | None = None
    pool: PoolConfig = PoolConfig()
    exec: ExecConfig = ExecConfig()
    web: WebConfig = WebConfig()
    message: MessageToolConfig = MessageToolConfig()
    rate_limit: RateLimitConfig = RateLimitConfig()


@attrs.frozen(kw_only=True)
class CronConfig:
    """Scheduled jobs: the JSON `store` (0600), the IANA `timezone` cron
    expressions are read in (None: the host's), the shortest repeat
    (`min_interval_seconds`) and the most jobs one owner may have."""

    enabled: bool = True
    store: str = "./cron.json"
    timezone: str | None = None
    min_interval_seconds: int = 60
    max_jobs_per_owner: int = 20


@attrs.frozen(kw_only=True)
class LoggingConfig:
    level: LogLevel = LogLevel.INFO
    dir: str = "./logs"
    max_bytes: int = 10 * 1024 * 1024
    backups: int = 5


@attrs.frozen(kw_only=True)
class Config:
    """The whole of `config.yml`."""

    agents: AgentsConfig = AgentsConfig()
    providers: ProvidersConfig = ProvidersConfig()
    channels: ChannelsConfig = ChannelsConfig()
    gateway: GatewayConfig = GatewayConfig()
    tools: ToolsConfig = ToolsConfig()
    cron: CronConfig = CronConfig()
    logging: LoggingConfig = LoggingConfig()
