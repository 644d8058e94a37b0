"""The retrain memory cap: RSS sampled per stage, a clear failure past the cap, nothing registered."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import flows  # noqa: F401  (Prefect's offline environment)
from kaizen.config import Settings, settings_environment
from kaizen.registry import AdapterRegistry
from kaizen.training.memory import MB, MemoryCapExceeded, MemoryGuard, check_memory
from tests.training_facts import fact_dataset


def test_peaks_are_kept_per_stage_and_the_cap_fails_with_the_stage_and_setting() -> None:
    with MemoryGuard(150, interval=0.02) as guard:
        with guard.stage("small"):
            pass
        with (
            pytest.raises(MemoryCapExceeded, match=r"during big, \d+ MB more than at the start: over the retrain cap"),
            guard.stage("big"),
        ):
            block = bytearray(300 * MB)  # touched, so resident
            block[::4096] = b"x" * len(block[::4096])
            time.sleep(0.1)
            check_memory()
        del block
    assert guard.peaks["big"] > guard.peaks["small"] + 200
    check_memory()  # no guard active any more: nothing to check


def test_zero_only_measures() -> None:
    with MemoryGuard(0, interval=0.02) as guard, guard.stage("work"):
        check_memory()
    assert guard.peaks["work"] > 0


def test_a_retrain_over_its_cap_fails_clearly_and_registers_nothing(
    prefect_harness: None, kaizen_settings: Settings, tiny_lm_dir: Path
) -> None:
    from flows import tasks
    from flows.retrain import retrain

    settings = kaizen_settings.with_overrides(base_model=str(tiny_lm_dir), retrain_memory_mb=1)
    dataset = fact_dataset(settings)
    original, tasks.train = tasks.train, tasks.train.with_options(retry_delay_seconds=0)
    try:
        with settings_environment(settings), pytest.raises(MemoryCapExceeded, match="KAIZEN_RETRAIN_MEMORY_MB"):
            retrain(dataset_version=dataset, overrides={"steps": 2})
    finally:
        tasks.train = original
    assert AdapterRegistry.from_settings(settings).list() == []


def test_a_retrain_reports_its_peaks(prefect_harness: None, kaizen_settings: Settings, tiny_lm_dir: Path) -> None:
    from flows.retrain import retrain

    settings = kaizen_settings.with_overrides(base_model=str(tiny_lm_dir))
    dataset = fact_dataset(settings)
    with settings_environment(settings):
        outcome = retrain(dataset_version=dataset, overrides={"steps": 2})
    assert {"train", "evaluate-candidate", "evaluate-baseline"} <= set(outcome.memory_peaks_mb)
    assert all(0 < mb < settings.retrain_memory_mb for mb in outcome.memory_peaks_mb.values())
