"""`Secret` stays hidden in structured dumps, not only in repr and str."""

from __future__ import annotations

import copy
import json
import pickle

import attrs
import pytest

from autobot.config.convert import make_converter
from autobot.config.schema import Config, ProviderConfig, ProvidersConfig
from autobot.config.secret import REDACTED, Secret

VALUE = "zq9-structured-dump-secret"


def _config() -> Config:
    return attrs.evolve(
        Config(), providers=ProvidersConfig(anthropic=ProviderConfig(api_key=Secret(VALUE)))
    )


def test_asdict_and_unstructure_of_a_config_keep_the_secret_redacted() -> None:
    for dump in (attrs.asdict(_config()), make_converter().unstructure(_config())):
        assert VALUE not in repr(dump)
        assert repr(dump["providers"]["anthropic"]["api_key"]) == f"Secret({REDACTED})"
        with pytest.raises(TypeError):
            json.dumps(dump)  # refuses rather than writing the value


def test_a_secret_itself_cannot_be_dumped_generically() -> None:
    secret = Secret(VALUE)
    with pytest.raises(attrs.exceptions.NotAnAttrsClassError):
        attrs.asdict(secret)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        vars(secret)
    assert VALUE not in repr(secret) + str(secret) + f"{secret}" + repr([secret])


def test_a_secret_is_an_immutable_value() -> None:
    secret = Secret(VALUE)
    assert secret == Secret(value=VALUE) and hash(secret) == hash(Secret(VALUE))
    assert secret != Secret("other") and secret != VALUE
    with pytest.raises(AttributeError):
        secret._value = "x"  # type: ignore[misc]
    assert copy.deepcopy(secret) == secret
    assert pickle.loads(pickle.dumps(secret)).reveal() == VALUE
    assert copy.deepcopy(_config()) == _config()
