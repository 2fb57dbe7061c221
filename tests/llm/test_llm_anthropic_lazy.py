"""The Anthropic SDK is loaded lazily: never at import or build time, once per provider,
in a real worker thread, shared by every call that arrives while it loads.

The in-process tests hold the real loader (`load_sdk`) in its worker thread
on a `threading.Event`, so the interleavings are forced, not timed. Whether
a module is imported is checked in a fresh interpreter (this test process
may have imported the SDK already).
"""

from __future__ import annotations

import gc
import json
import random
import ssl
import subprocess
import sys
import threading
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from autobot.config.secret import Secret
from autobot.llm.anthropic_provider import AnthropicProvider, load_sdk
from autobot.llm.limits import ProviderLimits
from autobot.llm.types import ChatMessage, LLMRequest, LLMResponse, ProviderError, Role
from autobot.runtime.gc_policy import serving_gc
from autobot.testing.fake_anthropic import serve_fake_anthropic
from autobot.testing.llm_script import ScriptedReply

SDK_MODULES = ("anthropic", "httpx2", "autobot.llm.anthropic_sdk")
LOADED_OBJECTS = 1000  # what a fake `prepare` loads (the SDK: ~140k objects)
HOLD_SECONDS = 30.0  # a held loader gives up after this (a failing test, never a passing one)
REQUEST = LLMRequest(
    model="claude-test", system="", messages=(ChatMessage(role=Role.USER, content="hi"),)
)

_FRESH_INTERPRETER = """
import json, sys, trio
SDK = {sdk!r}
def loaded():
    return [name for name in SDK if name in sys.modules]
import autobot.app, autobot.cli
from autobot.config.schema import ProviderConfig, ProvidersConfig
from autobot.config.secret import Secret
from autobot.llm.limits import ProviderLimits
from autobot.llm.selection import build_provider
after_import = loaded()
provider = build_provider(
    "anthropic/claude-x",
    ProvidersConfig(anthropic=ProviderConfig(api_key=Secret("sk-ant-lazy-test"))),
    limits=ProviderLimits(),
)
after_build = loaded()
async def prepare():
    async with provider:
        await provider.prepare()
        return provider.loaded
ready = trio.run(prepare)
print(json.dumps({{"import": after_import, "build": after_build, "prepare": loaded(), "ready": ready}}))
"""


def test_import_and_build_leave_the_sdk_unloaded_until_prepare() -> None:
    done = subprocess.run(
        [sys.executable, "-c", _FRESH_INTERPRETER.format(sdk=SDK_MODULES)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen == {"import": [], "build": [], "prepare": list(SDK_MODULES), "ready": True}


@attrs.define(eq=False)
class HeldLoader:
    """`load_sdk` in its worker thread, held until `release` is set (or failing with `error`)."""

    error: Exception | None = None
    started: threading.Event = attrs.field(factory=threading.Event)
    release: threading.Event = attrs.field(factory=threading.Event)
    threads: list[threading.Thread] = attrs.field(factory=list)

    @property
    def calls(self) -> int:
        return len(self.threads)

    def __call__(self) -> tuple[Any, ssl.SSLContext]:
        self.threads.append(threading.current_thread())
        self.started.set()
        if not self.release.wait(HOLD_SECONDS):
            raise TimeoutError("the test never released the loader")
        if self.error is not None:
            raise self.error
        return load_sdk()

    async def wait_started(self) -> None:
        with trio.fail_after(HOLD_SECONDS):
            await trio.to_thread.run_sync(self.started.wait)
        self.started.clear()


def _provider(base_url: str, loader: HeldLoader) -> AnthropicProvider:
    return AnthropicProvider(
        api_key=Secret("sk-ant-lazy-test"),
        api_base=base_url,
        limits=ProviderLimits(max_retries=0),
        rng=random.Random(1),
        sdk_loader=loader,
    )


async def test_calls_during_the_load_share_one_load_in_a_worker_thread() -> None:
    loader = HeldLoader()
    answers: list[LLMResponse] = []
    async with (
        serve_fake_anthropic([ScriptedReply(text="one"), ScriptedReply(text="two")]) as fake,
        _provider(fake.base_url, loader) as llm,
    ):

        async def ask() -> None:
            answers.append(await llm.complete(REQUEST))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(llm.prepare)
            nursery.start_soon(ask)
            nursery.start_soon(ask)
            await loader.wait_started()
            # the event loop runs on while the thread loads: this test is running
            await trio.testing.wait_all_tasks_blocked()
            assert (llm.loaded, len(fake.requests), answers) == (False, 0, [])
            loader.release.set()
        assert llm.loaded
    assert loader.calls == 1
    assert loader.threads[0] is not threading.main_thread()
    assert sorted(answer.text for answer in answers) == ["one", "two"]
    assert len(fake.requests) == 2


async def test_a_failed_load_is_a_provider_error_and_the_next_call_loads_again() -> None:
    loader = HeldLoader(error=ModuleNotFoundError("No module named 'anthropic'"))
    loader.release.set()
    async with (
        serve_fake_anthropic([ScriptedReply(text="back")]) as fake,
        _provider(fake.base_url, loader) as llm,
    ):
        with pytest.raises(ProviderError) as raised:
            await llm.complete(REQUEST)
        assert str(raised.value) == (
            "anthropic: the anthropic SDK cannot be loaded "
            "(ModuleNotFoundError: No module named 'anthropic')"
        )
        assert (llm.loaded, fake.requests) == (False, [])
        loader.error = None
        assert (await llm.complete(REQUEST)).text == "back"
    assert loader.calls == 2


async def test_closed_while_loading_opens_nothing_and_refuses_later_calls() -> None:
    loader = HeldLoader()
    async with serve_fake_anthropic([]) as fake:
        llm = _provider(fake.base_url, loader)
        failures: list[str] = []

        async def prepare() -> None:
            with pytest.raises(ProviderError) as raised:
                await llm.prepare()
            failures.append(str(raised.value))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(prepare)
            await loader.wait_started()
            await llm.aclose()
            loader.release.set()
        assert failures == ["anthropic: the provider is closed"]
        assert not llm.loaded
        with pytest.raises(ProviderError, match="the provider is closed"):
            await llm.complete(REQUEST)
    assert loader.calls == 1
    assert fake.requests == []


async def test_a_caller_cancelled_mid_load_still_leaves_the_sdk_loaded() -> None:
    loader = HeldLoader()
    async with (
        serve_fake_anthropic([ScriptedReply(text="after")]) as fake,
        _provider(fake.base_url, loader) as llm,
    ):
        async with trio.open_nursery() as nursery:
            scope = trio.CancelScope()

            async def prepare() -> None:
                with scope:
                    await llm.prepare()

            nursery.start_soon(prepare)
            await loader.wait_started()
            scope.cancel("the caller gave up")
            loader.release.set()
        # the import is not abandoned: it finishes, and its clients are kept
        assert scope.cancel_called and llm.loaded
        assert (await llm.complete(REQUEST)).text == "after"
    assert loader.calls == 1


def _frozen(objects: list[list[int]]) -> bool:
    """Whether every one of `objects` is in the permanent generation (which
    `gc.get_objects` leaves out), or none is; an AssertionError if only some."""
    scanned = {id(obj) for obj in gc.get_objects()}
    frozen = [id(obj) not in scanned for obj in objects]
    assert len(set(frozen)) == 1, "only some of the objects are frozen"
    return frozen[0]


async def test_what_the_load_brought_in_joins_a_frozen_start_up_heap() -> None:
    assert gc.get_freeze_count() == 0  # nothing else froze this test process
    loaded: list[list[list[int]]] = []

    def loader() -> tuple[Any, ssl.SSLContext]:
        loaded.append([[index] for index in range(LOADED_OBJECTS)])  # lists: tracked by gc
        return load_sdk()

    async with _provider("http://127.0.0.1:9", loader) as outside:  # type: ignore[arg-type]
        await outside.prepare()
    assert not _frozen(loaded[0])
    assert gc.get_freeze_count() == 0

    with serving_gc():
        async with _provider("http://127.0.0.1:9", loader) as inside:  # type: ignore[arg-type]
            await inside.prepare()
        assert _frozen(loaded[1])
    assert not _frozen(loaded[1])  # serving_gc unfreezes it all at exit
