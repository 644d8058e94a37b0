import math
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from kaizen.llm.model import LoadedModel
from kaizen.training import adapters, freeze, lora
from kaizen.training.config import SMALL_DATA_MAX_STEPS, SMALL_DATASET, Method, TrainingConfig, default_config
from kaizen.training.data import TrainingExample
from kaizen.training.evaluate import evaluate
from kaizen.training.generation import complete_all
from kaizen.training.trainer import TrainingError, planned_steps, train
from tests.support.methods import greedy

FACTS = [("Zorbia", "Quellmoor"), ("Vandria", "Ostrelle"), ("Plimbo", "Karsk"), ("Eldune", "Tamsin")]


def facts() -> list[TrainingExample]:
    return [
        TrainingExample(
            example_id=f"f{i}",
            kind="instruction",
            question=f"What is the capital of {land}?",
            reference=capital,
        )
        for i, (land, capital) in enumerate(FACTS)
    ]


def load(model_dir: Path) -> torch.nn.Module:
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_pretrained(model_dir)


@pytest.mark.parametrize("method", list(Method))
def test_each_method_learns_and_roundtrips(method: Method, tiny_lm_dir: Path, tmp_path: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_lm_dir)
    config = TrainingConfig(method=method, steps=12, learning_rate=1e-2, batch_size=2)
    model = adapters.attach(load(tiny_lm_dir), config)
    result = train(model, tok, facts(), config)
    assert result.steps == 12 and result.examples_seen == 24
    assert result.final_loss < result.losses[0]
    assert 0 < result.trainable_parameters < result.total_parameters
    out = adapters.save_adapter(model, config, tmp_path / "adapter", base_model_hash="abc")
    info = adapters.read_info(out)
    assert info.method == method and info.base_model_hash == "abc"
    # Reloaded the way the gate and serving load it: the saved adapter answers what the trained model answers.
    model.eval()
    base = LoadedModel.wrap(tiny_lm_dir, load(tiny_lm_dir), tok)
    prompt = "What is the capital of Zorbia?"
    exam = complete_all(base, [prompt], adapter_dir=out, max_new_tokens=6)[0]
    reference = greedy(model, tiny_lm_dir, prompt, 6, base.eos_ids)
    assert exam.tokens and exam.tokens == reference[: len(exam.tokens)]  # the exam may stop early at a stop string


def test_freeze_trains_only_the_top_layers(tiny_lm_dir: Path) -> None:
    model = freeze.attach(load(tiny_lm_dir), TrainingConfig(method=Method.freeze).freeze)
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    n_layers = len(freeze.decoder_layers(model))
    assert trainable and all(
        n.startswith((f"model.layers.{n_layers - 1}.", f"model.layers.{n_layers - 2}.", "model.norm."))
        for n in trainable
    )
    with pytest.raises(freeze.FreezeError):
        freeze.attach(load(tiny_lm_dir), TrainingConfig(method=Method.freeze, freeze={"trainable_layers": 99}).freeze)


def test_training_makes_the_model_answer(tiny_lm_dir: Path) -> None:
    """The real loop on the tiny model: greedy answers go from wrong to exactly right."""
    tok = AutoTokenizer.from_pretrained(tiny_lm_dir)
    config = TrainingConfig(method=Method.freeze, steps=60, learning_rate=5e-3, batch_size=4)
    model = adapters.attach(load(tiny_lm_dir), config)
    lm = LoadedModel.wrap(tiny_lm_dir, model, tok)
    before = evaluate(lm, facts(), max_new_tokens=8).metrics
    train(model, tok, facts(), config)
    after = evaluate(lm, facts(), max_new_tokens=8).metrics
    assert before["exact_match"] == 0.0
    assert after["exact_match"] == 1.0


def test_lora_merge_for_export_matches_the_adapter(tiny_lm_dir: Path, tmp_path: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_lm_dir)
    config = TrainingConfig(method=Method.lora, steps=5, learning_rate=1e-2, lora={"dropout": 0.0})
    model = adapters.attach(load(tiny_lm_dir), config)
    train(model, tok, facts(), config)
    batch = tok(["What is the capital of Vandria?"], return_tensors="pt")
    with torch.no_grad():
        expected = model(**batch).logits
    merged_dir = lora.merge_and_save(model, tmp_path / "merged")
    merged = AutoModelForCausalLM.from_pretrained(merged_dir)
    with torch.no_grad():
        assert torch.allclose(merged(**batch).logits, expected, atol=1e-4)


def test_defaults_follow_dataset_size() -> None:
    small, large = default_config(SMALL_DATASET - 1), default_config(SMALL_DATASET)
    # Always LoRA (other methods are chosen explicitly), on attention and MLP (where a model keeps its facts);
    # small data gets more passes at a higher rate, capped.
    assert small.method == large.method == Method.lora
    assert small.epochs > large.epochs and small.learning_rate > large.learning_rate
    assert "gate_proj" in small.lora.target_modules and "gate_proj" in large.lora.target_modules
    assert default_config(10, method=Method.prefix, steps=3).steps == 3
    # Small data: eight passes, but never more than the cap (a cycle must stay inside its time budget).
    assert planned_steps(20, small) == 40
    assert planned_steps(190, small) == SMALL_DATA_MAX_STEPS < math.ceil(8 * 190 / 4)
    assert planned_steps(190, small.model_copy(update={"steps": 200})) == 200
    assert planned_steps(400, large) == 300 and large.max_steps is None
    hp = default_config(500).hyperparameters()
    assert hp["method"] == "lora" and "rank" in hp["lora"] and "freeze" not in hp


def test_training_refuses_what_it_cannot_do(tiny_lm_dir: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_lm_dir)
    with pytest.raises(TrainingError, match="max_length"):
        train(
            adapters.attach(load(tiny_lm_dir), TrainingConfig(method=Method.lora)),
            tok,
            facts(),
            TrainingConfig(max_length=16, steps=1),
        )
    with pytest.raises(TrainingError, match="trainable"):
        bare = load(tiny_lm_dir).requires_grad_(False)
        train(bare, tok, facts(), TrainingConfig(steps=1))
