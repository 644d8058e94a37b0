"""How an adapter is trained: the PEFT method, its hyper-parameters, and defaults chosen by dataset size."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

# Below this many training examples the seed's small-data advice applies (fewer trainable parameters).
SMALL_DATASET = 200
SMALL_DATA_MAX_STEPS = 120


class Method(StrEnum):
    lora = "lora"
    prefix = "prefix"  # prefix tuning: trained key/value prefixes in every layer
    ptuning = "ptuning"  # P-tuning: trained virtual-token embeddings produced by a small encoder
    freeze = "freeze"  # partial freezing: train only the top N decoder layers
    bottleneck = "bottleneck"  # the Adapter (Houlsby et al.): small bottleneck modules after attention and MLP


# Training keeps fp32 master weights whatever the device; bf16 is autocast (TrainingConfig.bf16).
MASTER_DTYPE = "float32"


class LoraParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rank: int = Field(16, ge=1)
    alpha: int = Field(32, ge=1)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: list[str] = Field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    )
    merge_on_export: bool = Field(False, description="Export a merged full model instead of adapter weights.")


class PromptParams(BaseModel):
    """Shared by prefix tuning and P-tuning."""

    model_config = ConfigDict(extra="forbid")

    num_virtual_tokens: int = Field(16, ge=1)
    encoder_hidden_size: int = Field(256, ge=1, description="P-tuning's prompt encoder width.")
    prefix_projection: bool = Field(False, description="Prefix tuning: reparameterise through an MLP.")


class FreezeParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    trainable_layers: int = Field(2, ge=1, description="Train only the top N decoder layers (and final norm).")


class BottleneckParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bottleneck_size: int = Field(64, ge=1, description="Width of the down-projection.")
    positions: list[Literal["attention", "mlp"]] = Field(
        default_factory=lambda: ["attention", "mlp"], min_length=1, description="Sublayers followed by an adapter."
    )
    activation: Literal["gelu", "relu", "silu"] = "gelu"


class TrainingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: Method = Method.lora
    method_reason: str = Field("", description="Why this method: auto's measured choice, or the setting.")
    lora: LoraParams = Field(default_factory=LoraParams)
    prompt: PromptParams = Field(default_factory=PromptParams)
    freeze: FreezeParams = Field(default_factory=FreezeParams)
    bottleneck: BottleneckParams = Field(default_factory=BottleneckParams)

    learning_rate: float = Field(2e-4, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    warmup_steps: int = Field(0, ge=0)
    lr_schedule: Literal["linear", "constant"] = Field(
        "linear", description="After warm-up: decay linearly towards 0 over the run, or hold the rate."
    )
    epochs: float = Field(3.0, gt=0, description="Passes over the training split (ignored when steps is set).")
    steps: int | None = Field(None, ge=1, description="Optimizer steps; None = derived from epochs.")
    max_steps: int | None = Field(
        None, ge=1, description="Cap on the steps derived from epochs (None = no cap); an explicit steps wins."
    )
    batch_size: int = Field(4, ge=1)
    grad_accum: int = Field(1, ge=1)
    max_grad_norm: float = Field(1.0, gt=0)
    # A RAFT example shows its documents as the rag prompt shows retrieved chunks (cut to the same 800
    # characters, kaizen.reasoning.deps): four of them and the template come to ~1,000 tokens.
    max_length: int = Field(1280, ge=16, description="Longest rendered example in tokens; longer ones are skipped.")
    max_batch_tokens: int = Field(
        512,
        ge=16,
        description="Padded tokens per forward pass; a larger batch runs in pieces with the same gradient "
        "(measured on Gemma 3 270M in fp32: ~1.9 MB of activations per token; the demo retrain peaks 1.5 GB over "
        "the loaded model at 512, 2.9 GB at 1024, 4.3 GB unsplit).",
    )
    max_doc_chars: int = Field(800, ge=50, description="RAFT documents are cut to this many characters.")
    bf16: bool = Field(False, description="bf16 autocast (CPU): faster on long sequences.")
    seed: int = 0

    heldout_fraction: float = Field(0.2, ge=0.0, lt=1.0)
    regression_fraction: float = Field(0.1, ge=0.0, lt=1.0)
    regression_general: int = Field(
        16, ge=0, description="Shipped general-ability questions a tenant's new regression set starts with."
    )
    eval_max_new_tokens: int = Field(48, ge=1)
    eval_batch_size: int = Field(8, ge=1)

    def hyperparameters(self) -> dict[str, Any]:
        """What goes into the adapter manifest: the method's own parameters and the optimisation ones."""
        data = self.model_dump(mode="json", exclude={"lora", "prompt", "freeze", "bottleneck"})
        section = {
            Method.lora: "lora",
            Method.prefix: "prompt",
            Method.ptuning: "prompt",
            Method.freeze: "freeze",
            Method.bottleneck: "bottleneck",
        }[self.method]
        data[section] = getattr(self, section).model_dump(mode="json")
        return data


def default_config(n_examples: int, **overrides: Any) -> TrainingConfig:
    """Sensible defaults for a dataset of ``n_examples`` training examples.

    LoRA unless ``method`` is given (retrain.resolve_config gives ``auto``'s measured choice, kaizen.training.choice),
    on attention and MLP at rank 16 in every case: a transformer keeps its facts mostly in
    the MLP weights, and what the flywheel teaches is facts. Measured on the demo domain (2-core CPU, ~25 training
    examples): rank 8 on attention only lifted rephrased held-out questions from 1/30 to 2/30 closed-book; rank 16
    on attention + MLP with eight passes to 6/30, and to 7/8 once the stream held each fact in three phrasings. What
    the seed's small-data advice changes is the schedule: more passes at a higher rate.

    The small-data passes stop at ``SMALL_DATA_MAX_STEPS``: eight passes over 20 examples are 40 steps, over 190
    they would be ~380 (15+ minutes on two CPU cores). The cap keeps a retrain cycle inside ten minutes on that
    class of machine.
    """
    if n_examples < SMALL_DATASET:
        base = TrainingConfig(
            method=Method.lora,
            lora=LoraParams(rank=16, alpha=32),
            learning_rate=1e-3,
            epochs=8.0,
            max_steps=SMALL_DATA_MAX_STEPS,
        )
    else:
        base = TrainingConfig(method=Method.lora, learning_rate=3e-4, epochs=3.0)
    return base.model_validate({**base.model_dump(), **overrides})
