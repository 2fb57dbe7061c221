"""`autobot service generate | install | uninstall [--user NAME]`.

`generate` prints the bot's unit on stdout (no root needed); when the unit
would not work on this host (see `autobot.service.layout`) it says why on
stderr, each reason once, and still exits 0: the text is for reading or for
installing by hand. `install` and `uninstall` are in `autobot.service.install`.

Exit codes: 0 done; 1 refused (not root, a config that does not load, a host
layout the unit cannot work with, an account that is not a dedicated one, a
failed system tool) with the reasons on stderr; 2 for usage errors (argparse).
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TextIO

import trio

from autobot.config.errors import ConfigError
from autobot.config.load import LoadedConfig, load_config
from autobot.service.accounts import no_login_shell
from autobot.service.install import REFUSED, ServiceHost, install, spec_for, uninstall
from autobot.service.layout import (
    LayoutRules,
    current_installation,
    layout_problems,
    login_homes,
    outside_state_paths,
)
from autobot.service.unit import UnitError, render_unit


def default_host() -> ServiceHost:
    """This machine: its root check, its autobot, its accounts and tools."""
    return ServiceHost(
        euid=os.geteuid(),
        installation=current_installation(),
        rules=LayoutRules(homes=login_homes()),
        shell=no_login_shell(),
    )


def _generate(
    loaded: LoadedConfig, user: str | None, host: ServiceHost, out: TextIO, err: TextIO
) -> int:
    try:
        spec = spec_for(loaded, user, host.installation)
    except UnitError as exc:
        err.write(f"autobot: cannot generate the unit: {exc}\n")
        return REFUSED
    out.write(render_unit(spec))
    problems = layout_problems(loaded, host.installation, host.rules)
    problems += [
        f"{path} (from config.yml) is outside the bot directory: the unit lets the service "
        "write it, but `autobot service install` refuses it"
        for path in outside_state_paths(loaded)
    ]
    if problems:
        err.write(
            "autobot: note: this unit would not work on this machine as it is:\n"
            + "".join(f"  - {problem}\n" for problem in problems)
        )
    return 0


def service_main(
    config_path: Path,
    args: argparse.Namespace,
    *,
    environ: Mapping[str, str],
    out: TextIO,
    err: TextIO,
    host: ServiceHost | None = None,
) -> int:
    """Run the action parsed by `add_service_parser` for the bot at
    `config_path`; returns the exit code (see the module docstring). `host`
    defaults to this machine (`default_host`)."""
    host = host or default_host()
    if args.service_action == "uninstall":
        return trio.run(lambda: uninstall(config_path, host, out=out, err=err))
    try:
        loaded = load_config(config_path, environ)
    except ConfigError as exc:
        err.write(f"autobot: {exc}\n")
        return REFUSED
    if args.service_action == "generate":
        return _generate(loaded, args.user, host, out, err)
    return trio.run(lambda: install(loaded, args.user, host, out=out, err=err))
