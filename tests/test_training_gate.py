"""The gate from day one: a tenant's first retrain already has a regression set (the shipped general-ability
questions plus its earliest accepted answers), so a candidate that breaks what used to work is refused."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kaizen.config import Settings
from kaizen.datasets.examples import snapshot_of
from kaizen.registry import AdapterRegistry
from kaizen.training.config import TrainingConfig
from kaizen.training.data import TrainingExample
from kaizen.training.evaluate import evaluate_with
from kaizen.training.gate import GatePolicy, decide
from kaizen.training.prompting import answer_target
from kaizen.training.regression import GENERAL_PREFIX
from kaizen.training.retrain import prepare_splits, resolve_config
from kaizen.training.splits import Splits, split_of
from tests.training_facts import fact_examples


def _answers(splits: Splits, knows: Callable[[TrainingExample], bool]) -> Callable[[list[str]], list[str]]:
    """A model double: the reference for the examples it ``knows``, a wrong answer for the rest."""
    by_prompt = {e.prompt(open_book=False): e for s in (splits.heldout, splits.regression) for e in s}

    def generate(prompts: list[str]) -> list[str]:
        return [answer_target(by_prompt[p].reference if knows(by_prompt[p]) else "I do not know.") for p in prompts]

    return generate


def _general(e: TrainingExample) -> bool:
    return e.example_id.startswith(GENERAL_PREFIX)


@pytest.fixture
def first_splits(tmp_path: Path) -> Splits:
    registry = AdapterRegistry(tmp_path / "registry")
    snapshot = snapshot_of(fact_examples(tenant="acme"), tenant="acme")
    assert not registry.regression_dir.joinpath("acme.jsonl").exists()  # a first retrain: nothing frozen yet
    return prepare_splits(snapshot, registry, TrainingConfig())


@pytest.mark.parametrize(("breaks", "passes"), [(True, False), (False, True)])
def test_a_first_retrain_refuses_a_candidate_that_breaks_general_ability(
    first_splits: Splits, breaks: bool, passes: bool
) -> None:
    splits = first_splits
    assert sum(map(_general, splits.regression)) == 16 and any(not _general(e) for e in splits.regression)
    base = _answers(splits, _general)  # the base model: general knowledge, none of the tenant's facts
    # The candidate learned the facts; the breaking one forgot what the base model knew.
    candidate = _answers(splits, (lambda e: not _general(e)) if breaks else (lambda e: True))

    def scores(generate: Callable[[list[str]], list[str]], examples: list[TrainingExample]) -> dict[str, float]:
        return evaluate_with(generate, examples, max_new_tokens=16).metrics

    decision = decide(
        GatePolicy(),
        candidate_heldout=scores(candidate, splits.heldout),
        baseline_heldout=scores(base, splits.heldout),
        candidate_regression=scores(candidate, splits.regression),
        baseline_regression=scores(base, splits.regression),
    )
    assert decision.passed is passes, decision.reasons
    assert not any("regression set empty" in r for r in decision.reasons)
    assert decision.candidate > decision.baseline  # held-out alone would have promoted both
    if breaks:
        assert any(r.startswith("regression contains fell") for r in decision.reasons)


def test_the_earliest_accepted_answer_seeds_the_tenant_part(tmp_path: Path) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    # Six interactions none of which hashes into the regression bucket: a first dataset too small to spare one.
    hashed_to_train = [
        e
        for e in fact_examples()
        if split_of(str(e.feedback_id), heldout_fraction=0.0, regression_fraction=0.1) == "train"
    ]
    few = [
        e.model_copy(update={"created_at": start + timedelta(minutes=10 - i)})
        for i, e in enumerate(hashed_to_train[:6])
    ]
    # The oldest is a correction: not an answer that worked, so not what the regression set keeps.
    few[-1] = few[-1].model_copy(update={"rejected_output": "A wrong capital."})
    snapshot = snapshot_of(few)
    splits = prepare_splits(snapshot, AdapterRegistry(tmp_path / "registry"), TrainingConfig(heldout_fraction=0.0))
    tenant_part = [e.split_key for e in splits.regression if not _general(e)]
    assert tenant_part == [str(few[-2].feedback_id)]


def test_the_general_set_can_be_left_out(tmp_path: Path) -> None:
    # The demo does (its small adapter forgets general knowledge, measured 0.889 -> 0.333, and would be refused).
    config = resolve_config(Settings(), 30, overrides={"regression_general": 0})
    splits = prepare_splits(snapshot_of(fact_examples()), AdapterRegistry(tmp_path / "registry"), config)
    assert splits.regression and not any(map(_general, splits.regression))
