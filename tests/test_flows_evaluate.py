"""The on-demand evaluate flow through Prefect (a test harness server)."""

from __future__ import annotations

from pathlib import Path

import flows  # noqa: F401  (Prefect's offline environment)
from kaizen.config import Settings, settings_environment
from kaizen.registry import AdapterRegistry
from tests.training_facts import fact_dataset


def test_evaluate_scores_the_base_model_and_any_adapter_version(
    prefect_harness: None, kaizen_settings: Settings, tiny_lm_dir: Path
) -> None:
    from flows.evaluate import evaluate_adapter
    from flows.retrain import retrain

    settings = kaizen_settings.with_overrides(base_model=str(tiny_lm_dir), retrain_gate_margin=0.5)
    dataset = fact_dataset(settings)
    with settings_environment(settings):
        outcome = retrain(dataset_version=dataset, overrides={"steps": 2})  # refused: the margin

    # Scored on demand, each model gives the scores the retrain flow measured for it.
    with settings_environment(settings):
        base = evaluate_adapter(version=None, dataset_version=dataset)
    assert base.heldout == outcome.baseline_metrics and base.heldout["n"] > 0
    with settings_environment(settings):
        candidate = evaluate_adapter(version=outcome.version, dataset_version=dataset)
    assert candidate.heldout == outcome.metrics
    assert candidate.regression == AdapterRegistry.from_settings(settings).get(outcome.version).regression_metrics
    assert list((settings.registry_dir / ".reports").glob("*.png"))
