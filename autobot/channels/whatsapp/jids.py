"""WhatsApp addresses: phone numbers, JIDs, and the access policy built from them (pure).

The gate matches stable ids exactly (`access.AllowList`), so both sides are
normalised to one notation first:

- a person is `+<digits>` (international format, 6 to 15 digits, no leading
  0) whenever the phone number is known: `allow_from: ["+15551234567"]` and
  `["15551234567@s.whatsapp.net"]` are the same entry, and a device suffix
  (`15551234567:12@s.whatsapp.net`) is dropped;
- a person known only by a linked identity is that JID, `<digits>@lid`
  (without device suffix): it can be listed as such;
- a group is its JID, `<digits>[-<digits>]@g.us`, exactly.

Nothing is matched by prefix or suffix: `+1555123` never admits
`+15551234567`. An entry in no such form (`15551234567` without `+`, a
username, spaces, a group JID in `allow_from`) can never match anyone and is
refused with a line saying so (`AccessConfigError`), as the other channels'
lists are.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from autobot.channels.access import ANYONE, AccessConfigError, AccessPolicy
from autobot.config.schema import WhatsAppConfig

CHANNEL = "whatsapp"

_PHONE = re.compile(r"\+[1-9][0-9]{5,14}")
_USER_JID = re.compile(r"([1-9][0-9]{5,14})(?::[0-9]{1,5})?@s\.whatsapp\.net")
_LID_JID = re.compile(r"([0-9]{1,20})(?::[0-9]{1,5})?@lid")
_GROUP_JID = re.compile(r"[0-9]{1,20}(?:-[0-9]{1,20})?@g\.us")
_BARE_NUMBER = re.compile(r"[0-9]{6,15}")


def person_id(address: str) -> str | None:
    """The stable id of a person (see the module docstring) from a phone
    number or a user JID; None for anything else."""
    if _PHONE.fullmatch(address):
        return address
    match = _USER_JID.fullmatch(address)
    if match:
        return f"+{match.group(1)}"
    match = _LID_JID.fullmatch(address)
    if match:
        return f"{match.group(1)}@lid"
    return None


def is_group_jid(address: str) -> bool:
    """Whether `address` is a group JID (`...@g.us`)."""
    return _GROUP_JID.fullmatch(address) is not None


def sender_id(phone: str | None, sender: str) -> str:
    """Who wrote, as the gate sees it: the phone number when the bridge
    knows it (in international format), else the sender JID normalised by
    `person_id`, else the JID as given (then no allow-list entry can name it
    but `"*"`)."""
    if phone is not None and _PHONE.fullmatch(phone):
        return phone
    return person_id(sender) or sender


def _allow_entry(raw: str) -> tuple[str | None, str | None]:
    """(normalised entry, None) or (None, problem)."""
    entry = raw.strip()
    if not entry or entry == ANYONE:
        return entry, None
    found = person_id(entry)
    if found is not None:
        return found, None
    if _BARE_NUMBER.fullmatch(entry):
        hint = f"write it in international format with a '+': '+{entry}'"
    elif is_group_jid(entry):
        hint = "that is a group: list groups in group_allow_from"
    elif entry.startswith("+"):
        hint = "a phone number is '+' and 6 to 15 digits, without spaces or dashes"
    else:
        hint = "use a phone number ('+15551234567') or a JID ('15551234567@s.whatsapp.net')"
    return None, f"channels.{CHANNEL}.allow_from: {entry!r} can never match a sender ({hint})"


def _group_entry(raw: str) -> tuple[str | None, str | None]:
    entry = raw.strip()
    if not entry or entry == ANYONE or is_group_jid(entry):
        return entry, None
    return None, (
        f"channels.{CHANNEL}.group_allow_from: {entry!r} is not a group JID "
        "(digits@g.us or digits-digits@g.us)"
    )


_Parse = Callable[[str], tuple[str | None, str | None]]


def _normalised(entries: Iterable[str], parse: _Parse, problems: list[str]) -> tuple[str, ...]:
    """The entries `parse` accepts (normalised), each problem added to `problems`."""
    kept: list[str] = []
    for raw in entries:
        value, problem = parse(raw)
        if problem is not None:
            problems.append(problem)
        elif value:
            kept.append(value)
    return tuple(kept)


def whatsapp_policy(config: WhatsAppConfig) -> AccessPolicy:
    """The access policy of `channels.whatsapp`, its lists normalised (module
    docstring). Raises `AccessConfigError` listing every entry that can
    never match, one per line."""
    problems: list[str] = []
    allow = _normalised(config.allow_from, _allow_entry, problems)
    groups = _normalised(config.group_allow_from, _group_entry, problems)
    try:
        policy = AccessPolicy.from_settings(
            CHANNEL,
            allow_from=allow,
            dm_policy=config.dm_policy,
            group_policy=config.group_policy,
            group_allow_from=groups,
        )
    except AccessConfigError as exc:
        problems.append(str(exc))
    if problems:
        raise AccessConfigError("\n".join(problems))
    return policy
