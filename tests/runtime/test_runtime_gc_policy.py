"""serving_gc: start-up heap frozen and young threshold raised while entered; restored after."""

from __future__ import annotations

import gc

import pytest

from autobot.runtime.gc_policy import SERVING_YOUNG_THRESHOLD, serving_gc


def test_serving_settings_apply_inside_and_are_restored_after() -> None:
    before, frozen_before = gc.get_threshold(), gc.get_freeze_count()
    with serving_gc():
        assert gc.get_threshold() == (SERVING_YOUNG_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > frozen_before
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_settings_are_restored_when_serving_fails() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError, match="boom"), serving_gc():
        raise RuntimeError("boom")
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0
