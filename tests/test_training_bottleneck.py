"""The bottleneck Adapter on the tiny model: identity at start, per-row routing, install/delete, beside LoRA."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from kaizen.training import adapters, bottleneck
from kaizen.training.config import Method, TrainingConfig
from kaizen.training.data import TrainingExample
from kaizen.training.trainer import train

PROMPTS = ["What is the capital of Zorbia?", "Name the river of Vandria."]


def _load(model_dir: Path) -> torch.nn.Module:
    torch.manual_seed(0)
    return AutoModelForCausalLM.from_pretrained(model_dir).eval()


def _logits(model: torch.nn.Module, tok: AutoTokenizer) -> torch.Tensor:
    batch = tok(PROMPTS, return_tensors="pt", padding=True)
    with torch.no_grad():
        return model(**batch).logits


def _alone(model_dir: Path, adapter_dir: Path, tok: object) -> torch.Tensor:
    """Logits of the base model with only this adapter, routed for every prompt."""
    model = bottleneck.install(_load(model_dir), "solo", *bottleneck.read(adapter_dir))
    with bottleneck.route(model, ["solo"] * len(PROMPTS)):
        return _logits(model, tok)


def _trained(model_dir: Path, out: Path, seed: int, positions: list[str]) -> Path:
    tok = AutoTokenizer.from_pretrained(model_dir)
    config = TrainingConfig(
        method=Method.bottleneck,
        steps=6,
        learning_rate=5e-2,
        batch_size=2,
        seed=seed,
        bottleneck={"bottleneck_size": 8, "positions": positions},
    )
    model = adapters.attach(_load(model_dir), config)
    examples = [
        TrainingExample(example_id=f"e{i}", kind="instruction", question=q, reference=f"Answer {seed}-{i}")
        for i, q in enumerate(PROMPTS)
    ]
    train(model, tok, examples, config)
    return adapters.save_adapter(model, config, out)


@pytest.fixture(scope="module")
def two_adapters(tiny_lm_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("bottleneck")
    return _trained(tiny_lm_dir, root / "a", 1, ["attention", "mlp"]), _trained(tiny_lm_dir, root / "b", 2, ["mlp"])


def test_an_untrained_adapter_is_the_identity_and_only_it_trains(tiny_lm_dir: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_lm_dir)
    base = _logits(_load(tiny_lm_dir), tok)
    model = bottleneck.attach(_load(tiny_lm_dir), TrainingConfig(method=Method.bottleneck).bottleneck)
    assert torch.allclose(_logits(model, tok), base, atol=1e-6)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(bottleneck.HOST in n for n in trainable)


def test_the_saved_format_is_documented_and_checked(two_adapters: tuple[Path, Path], tiny_lm_dir: Path) -> None:
    fmt, weights = bottleneck.read(two_adapters[1])
    assert fmt.format == "kaizen-bottleneck" and fmt.positions == ["mlp"] and fmt.bottleneck_size == 8
    assert set(weights) == {
        f"layers.{i}.mlp.{p}.{k}" for i in range(2) for p in ("down", "up") for k in ("weight", "bias")
    }
    model = _load(tiny_lm_dir)
    with pytest.raises(bottleneck.BottleneckError, match="do not fit"):
        bottleneck.install(model, "bad", fmt, {k: v for k, v in weights.items() if "layers.1." not in k})
    with pytest.raises(bottleneck.BottleneckError, match="hidden size"):
        bottleneck.install(model, "bad", fmt.model_copy(update={"hidden_size": 99}), weights)
    assert not bottleneck.hosts(model)  # a refused adapter leaves nothing behind
    (two_adapters[1] / bottleneck.WEIGHTS).write_bytes(b"truncated")
    with pytest.raises(bottleneck.BottleneckError, match="not a readable"):
        bottleneck.read(two_adapters[1])


def test_rows_of_one_batch_each_go_through_their_own_adapter(tiny_lm_dir: Path, tmp_path: Path) -> None:
    tok = AutoTokenizer.from_pretrained(tiny_lm_dir)
    a = _trained(tiny_lm_dir, tmp_path / "a", 1, ["attention", "mlp"])
    b = _trained(tiny_lm_dir, tmp_path / "b", 2, ["mlp"])
    alone_a = _alone(tiny_lm_dir, a, tok)
    alone_b = _alone(tiny_lm_dir, b, tok)
    base = _logits(_load(tiny_lm_dir), tok)
    assert not torch.allclose(alone_a, base, atol=1e-4) and not torch.allclose(alone_b, alone_a, atol=1e-4)

    serving = _load(tiny_lm_dir)
    for name, path in (("t1.v1", a), ("t2-v1", b)):
        bottleneck.install(serving, name, *bottleneck.read(path))
    assert bottleneck.names(serving) == {"t1_v1", "t2-v1"}
    assert torch.allclose(_logits(serving, tok), base, atol=1e-6)  # no route: the base model
    with bottleneck.route(serving, ["t1.v1", "t2-v1"]):
        mixed = _logits(serving, tok)
    assert torch.allclose(mixed[0], alone_a[0], atol=1e-5) and torch.allclose(mixed[1], alone_b[1], atol=1e-5)
    with bottleneck.route(serving, [None, "t1.v1"]):
        mixed = _logits(serving, tok)
    assert torch.allclose(mixed[0], base[0], atol=1e-5) and torch.allclose(mixed[1], alone_a[1], atol=1e-5)

    bottleneck.delete(serving, "t1.v1")
    with bottleneck.route(serving, ["t2-v1", "t2-v1"]):
        assert torch.allclose(_logits(serving, tok), alone_b, atol=1e-5)
    bottleneck.delete(serving, "t2-v1")
    assert not bottleneck.hosts(serving) and torch.allclose(_logits(serving, tok), base, atol=1e-6)
    assert {n for n, _ in serving.named_modules()} == {n for n, _ in _load(tiny_lm_dir).named_modules()}


def test_a_bottleneck_adapter_and_lora_share_one_model(tiny_lm_dir: Path, tmp_path: Path) -> None:
    """Hooks rename nothing, so peft can wrap the same model before or after and load LoRA weights by name."""
    from peft import get_peft_model

    from kaizen.training.lora import peft_config

    tok = AutoTokenizer.from_pretrained(tiny_lm_dir)
    a = _trained(tiny_lm_dir, tmp_path / "a", 1, ["attention", "mlp"])
    alone = _alone(tiny_lm_dir, a, tok)
    model = _load(tiny_lm_dir)
    bottleneck.install(model, "v1", *bottleneck.read(a))
    wrapped = get_peft_model(model, peft_config(TrainingConfig().lora), adapter_name="lora1")
    assert not any(bottleneck.HOST in n and "lora_" in n for n, _ in wrapped.named_modules())
    with wrapped.disable_adapter(), bottleneck.route(wrapped, ["v1", "v1"]):
        assert torch.allclose(_logits(wrapped, tok), alone, atol=1e-5)
