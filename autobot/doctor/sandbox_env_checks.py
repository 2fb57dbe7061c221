"""`tools.sandbox_env` must not hand a secret to the model (pure).

Every variable named there is copied from the gateway's environment into
every command the model runs, where one `exec` of `env` reads it. A name is
an ERROR when it holds a secret this bot loaded, or conventionally holds a
credential:

- it is defined in the bot's `.env` (everything there is a secret);
- it is substituted (`${NAME}`) into a credential field of `config.yml`;
- it is a provider's or channel's conventional variable (`ANTHROPIC_API_KEY`,
  `TELEGRAM_BOT_TOKEN`, ...), whether or not this bot uses it;
- its value in the environment contains one of the bot's loaded secret
  values, under whatever name (compared like the log redactor does).

A name that merely *looks* like a credential (`GITHUB_TOKEN`, `DB_PASSWORD`)
is a WARNING: forwarding it may be deliberate. Findings name the variable
and the reason, never its value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from autobot.config.schema import PROVIDER_NAMES
from autobot.doctor.findings import Finding, error, warning
from autobot.logs.redact import Redactor
from autobot.scaffold.choices import CHANNEL_VARIABLES, SEARCH_VARIABLE, provider_variable
from autobot.security.secret_patterns import sensitive_name


def conventional_credential_variables() -> frozenset[str]:
    """The variables `autobot new` writes credentials to: every provider's
    `<PROVIDER>_API_KEY`, every channel's tokens, the web search key."""
    names = {provider_variable(provider) for provider in PROVIDER_NAMES}
    names.update(name for variables in CHANNEL_VARIABLES.values() for name, _ in variables)
    names.add(SEARCH_VARIABLE[0])
    return frozenset(names)


def _secret_reasons(
    name: str,
    *,
    secret_variables: frozenset[str],
    conventional: frozenset[str],
    environ: Mapping[str, str],
    redactor: Redactor,
) -> list[str]:
    reasons: list[str] = []
    if name in secret_variables:
        reasons.append("it is one of this bot's secrets, in .env or a credential in config.yml")
    if name in conventional:
        reasons.append("it is the conventional variable of a provider or channel credential")
    value = environ.get(name)
    if value is not None and redactor.redact_known(value) != value:
        reasons.append("its value in the environment contains a secret this bot loaded")
    return reasons


def sandbox_env_findings(
    forwarded: Iterable[str],
    *,
    secret_variables: frozenset[str],
    secret_values: Iterable[str],
    environ: Mapping[str, str],
) -> list[Finding]:
    """One finding per name in `forwarded` (`tools.sandbox_env`) that holds a
    secret (ERROR) or is named like one (WARNING), in the listed order.

    `secret_variables` and `secret_values` are `LoadedConfig`'s; `environ` is
    the process environment the sandbox pool forwards from.
    """
    conventional = conventional_credential_variables()
    redactor = Redactor(known_secrets=secret_values)
    findings: list[Finding] = []
    for name in dict.fromkeys(forwarded):  # each name once, in order
        reasons = _secret_reasons(
            name,
            secret_variables=secret_variables,
            conventional=conventional,
            environ=environ,
            redactor=redactor,
        )
        if reasons:
            findings.append(
                error(
                    "sandbox_env_secret",
                    f"tools.sandbox_env forwards {name} into every command the model runs, "
                    f"and {name} holds a secret ({'; '.join(reasons)}): one exec of `env` "
                    "reads it",
                    f"Remove {name} from tools.sandbox_env (and rotate the credential if a "
                    "model already ran with it)",
                )
            )
        elif sensitive_name(name):
            findings.append(
                warning(
                    "sandbox_env_credential_name",
                    f"tools.sandbox_env forwards {name}, whose name says it is a credential, "
                    "into every command the model runs",
                    f"Remove {name} from tools.sandbox_env unless the model's commands must use it",
                )
            )
    return findings
