"""Evaluation's generation: serving's engine, dtype and adapter loader, so the gate scores what serving answers."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from kaizen.config import get_settings
from kaizen.llm.adapters import AdapterManager
from kaizen.llm.engine import GenerationEngine
from kaizen.reasoning.text import STOP_AFTER_LINE
from kaizen.registry import AdapterRegistry
from kaizen.training import retrain as steps
from kaizen.training.config import TrainingConfig
from kaizen.training.data import to_training_examples
from kaizen.training.generation import complete_all, exam_model, generate_answers
from kaizen.training.memory import MemoryCapExceeded, MemoryGuard
from kaizen.training.splits import Splits
from tests.fixtures.llm import register_lora
from tests.training_facts import fact_examples


def test_batched_answers_keep_prompt_order_and_match_one_by_one(tiny_lm_dir: Path) -> None:
    lm = exam_model(tiny_lm_dir)
    prompts = [
        "Question: what is the capital of Zorbia?\nAnswer:",
        "Q: x?\nA:",
        "A much longer prompt about the quick brown fox and the lazy dog, asked twice. Question: why?\nAnswer:",
        "Question: and now?\nAnswer:",
    ]
    batched = generate_answers(lm, prompts, max_new_tokens=6, batch_size=3)
    alone = [generate_answers(lm, [p], max_new_tokens=6)[0] for p in prompts]
    assert batched == alone
    assert all("\n\n" not in a and "\nQuestion:" not in a for a in batched)


def _gate_equals_serving(model_dir: Path, tmp_path: Path, *, examples: int, max_new_tokens: int) -> None:
    """The gate's answers (score_sets, a LoRA from the registry) equal serving's (the engine the serving service
    builds, the adapter manager loading the same registry version), token for token."""
    registry = AdapterRegistry(tmp_path / "registry")
    register_lora(registry, model_dir, "v1", seed=1, scale=0.3, work=tmp_path)
    adapter_dir = registry.adapter_path("v1")
    heldout = to_training_examples(fact_examples())[:examples]
    prompts = [ex.prompt(open_book=False) for ex in heldout]
    config = TrainingConfig(eval_max_new_tokens=max_new_tokens, eval_batch_size=4)

    gate = steps.score_sets(model_dir, adapter_dir, Splits(train=[], heldout=heldout, regression=[]), config)
    gate_answers = [p.answer for p in gate.heldout_report.predictions]
    exam = complete_all(
        exam_model(model_dir), prompts, adapter_dir=adapter_dir, max_new_tokens=max_new_tokens, batch_size=4
    )
    base = generate_answers(exam_model(model_dir), prompts, max_new_tokens=max_new_tokens)

    with GenerationEngine.from_settings(get_settings(), model_dir=model_dir) as serving:
        AdapterManager(serving, registry).load("v1")
        served = [
            serving.complete(p, max_new_tokens=max_new_tokens, stop=STOP_AFTER_LINE, adapter="v1") for p in prompts
        ]
    assert [c.tokens for c in exam] == [c.tokens for c in served]
    assert gate_answers == [c.text for c in served]
    assert gate_answers != base  # the adapter is really applied (it changes what the model answers)


def test_the_gate_answers_what_serving_answers(tiny_model_dir: Path, tmp_path: Path) -> None:
    _gate_equals_serving(tiny_model_dir, tmp_path, examples=6, max_new_tokens=12)


@pytest.mark.slow
def test_the_gate_answers_what_serving_answers_on_the_real_model(base_model_dir: Path, tmp_path: Path) -> None:
    _gate_equals_serving(base_model_dir, tmp_path, examples=4, max_new_tokens=16)


def test_an_exam_over_the_memory_cap_fails_and_its_engine_stops(tiny_lm_dir: Path) -> None:
    lm = exam_model(tiny_lm_dir)
    prompts = [f"Question: what is {i} plus {i}?\nAnswer:" for i in range(40)]
    before = set(threading.enumerate())  # engines of other tests in this process are not this exam's
    with MemoryGuard(1, interval=0.01) as guard:
        ballast = torch.ones(64 * 2**20 // 4)  # 64 MB more than when the guard started
        guard.sample()
        with pytest.raises(MemoryCapExceeded, match="KAIZEN_RETRAIN_MEMORY_MB"):
            complete_all(lm, prompts, max_new_tokens=8, batch_size=2)
        del ballast
    assert not [t for t in set(threading.enumerate()) - before if t.name == "kaizen-llm-worker"]
