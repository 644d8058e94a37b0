"""The steps of a retraining cycle as plain functions; ``flows/`` wires them into Prefect tasks."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from kaizen.config import Settings
from kaizen.datasets.examples import DatasetSnapshot
from kaizen.events import AdapterAction, AdapterEvent, InstructionExample
from kaizen.llm.methods import SERVABLE_METHODS
from kaizen.llm.model import LoadedModel, load_model, load_tokenizer
from kaizen.llm.prepare import default_model_dir
from kaizen.registry import AdapterManifest, AdapterRegistry, AdapterStatus
from kaizen.registry.events import adapter_event_for
from kaizen.registry.store import checksum_dir
from kaizen.training.adapters import attach, save_adapter
from kaizen.training.answer_cache import AnswerCache
from kaizen.training.choice import choose_method, model_parameters
from kaizen.training.config import MASTER_DTYPE, Method, TrainingConfig, default_config
from kaizen.training.data import TrainingExample, to_training_examples
from kaizen.training.evaluate import EvalReport, evaluate_with
from kaizen.training.gate import GateDecision, GatePolicy
from kaizen.training.generation import exam_model, exam_runtime, generate_answers
from kaizen.training.regression import RegressionStore
from kaizen.training.splits import Splits, make_splits
from kaizen.training.trainer import Progress, TrainResult, train


class SetScores(BaseModel):
    """One model's scores on the held-out split and the regression set."""

    heldout: dict[str, float] = Field(default_factory=dict)
    regression: dict[str, float] = Field(default_factory=dict)
    heldout_report: EvalReport = Field(default_factory=EvalReport)
    regression_report: EvalReport = Field(default_factory=EvalReport)


class Candidate(BaseModel):
    adapter_dir: Path
    config: TrainingConfig
    result: TrainResult


def resolve_config(
    settings: Settings,
    n_train: int,
    *,
    method: str | None = None,
    overrides: dict[str, Any] | None = None,
    model_params: int | None = None,
) -> TrainingConfig:
    """The training config for ``n_train`` examples; ``auto`` takes the measured best method (kaizen.training.choice)
    for the base model's size (``model_params``, else read from the configured model's files when they exist)."""
    chosen = method or settings.training_method
    extra = dict(overrides or {})
    if "method" in extra:
        extra.setdefault("method_reason", "set explicitly")
    elif chosen != "auto":
        extra.update(method=Method(chosen), method_reason=f"training_method={chosen}")
    else:
        choice = choose_method(n_train, model_params if model_params is not None else base_model_params(settings))
        extra.update(method=choice.method, method_reason=choice.reason)
    return default_config(n_train, **extra)


def base_model_params(settings: Settings) -> int | None:
    """The configured base model's parameter count, without preparing or loading it (None if not there yet)."""
    model_dir = Path(settings.base_model).expanduser() if settings.base_model else default_model_dir(settings)
    return model_parameters(model_dir) if model_dir.is_dir() else None


def accepted_keys(snapshot: DatasetSnapshot) -> list[str]:
    """The interactions whose served answer a user accepted as it was, oldest first (their split keys)."""
    accepted = [
        e for e in snapshot.examples if isinstance(e, InstructionExample) and e.accepted and e.rejected_output is None
    ]
    return [str(e.feedback_id) for e in sorted(accepted, key=lambda e: (e.created_at, e.example_id))]


def prepare_splits(snapshot: DatasetSnapshot, registry: AdapterRegistry, config: TrainingConfig) -> Splits:
    examples = to_training_examples(snapshot.examples, max_doc_chars=config.max_doc_chars)
    return make_splits(
        examples,
        heldout_fraction=config.heldout_fraction,
        regression_fraction=config.regression_fraction,
        store=RegressionStore(registry.regression_dir, general=config.regression_general),
        tenant=snapshot.tenant,
        accepted=accepted_keys(snapshot),
    )


def train_candidate(
    model_dir: Path,
    train_set: list[TrainingExample],
    config: TrainingConfig,
    out_dir: Path,
    *,
    base_hash: str = "",
    progress: Progress | None = None,
) -> Candidate:
    tokenizer = load_tokenizer(Path(model_dir))
    model = attach(load_model(Path(model_dir), MASTER_DTYPE).model, config)
    result = train(model, tokenizer, train_set, config, progress=progress)
    if out_dir.exists():  # a retried attempt starts from a clean directory
        shutil.rmtree(out_dir)
    save_adapter(model, config, out_dir, base_model_dir=Path(model_dir), base_model_hash=base_hash)
    return Candidate(adapter_dir=out_dir, config=config, result=result)


def score_sets(
    model_dir: Path,
    adapter_dir: Path | None,
    splits: Splits,
    config: TrainingConfig,
    *,
    cache: AnswerCache | None = None,
) -> SetScores:
    """Scores of the base model with ``adapter_dir`` (None = the bare base model) on held-out and regression.

    With a ``cache`` of this model's answers, only new prompts are generated; the model is not even loaded when
    every answer is known (an unchanged baseline on an unchanged split). Answers come from serving's runtime
    (kaizen.training.generation): the gate scores what serving will answer.
    """
    loaded: list[LoadedModel] = []

    def generate(prompts: list[str]) -> list[str]:
        if not loaded:
            loaded.append(exam_model(Path(model_dir)))
        return generate_answers(
            loaded[0],
            prompts,
            adapter_dir=adapter_dir,
            max_new_tokens=config.eval_max_new_tokens,
            batch_size=config.eval_batch_size,
        )

    heldout = evaluate_with(generate, splits.heldout, max_new_tokens=config.eval_max_new_tokens, cache=cache)
    regression = evaluate_with(generate, splits.regression, max_new_tokens=config.eval_max_new_tokens, cache=cache)
    return SetScores(
        heldout=heldout.metrics,
        regression=regression.metrics,
        heldout_report=heldout,
        regression_report=regression,
    )


def answer_cache(
    registry: AdapterRegistry, base_hash: str, adapter_dir: Path | None, manifest: AdapterManifest | None = None
) -> AnswerCache:
    """The answer cache of the base model with ``adapter_dir``, identified by the weights' checksum."""
    checksum = manifest.checksum if manifest is not None else checksum_dir(adapter_dir) if adapter_dir else None
    return AnswerCache.for_model(
        registry.root / "answer-cache", base_hash=base_hash, adapter_checksum=checksum, runtime=exam_runtime()
    )


def gate_policy(settings: Settings) -> GatePolicy:
    return GatePolicy(
        metric=settings.retrain_gate_metric,
        margin=settings.retrain_gate_margin,
        regression_tolerance=settings.retrain_regression_tolerance,
    )


def register_candidate(
    registry: AdapterRegistry,
    candidate: Candidate,
    scores: SetScores,
    decision: GateDecision,
    *,
    snapshot: DatasetSnapshot,
    base_model: str,
    base_hash: str,
    rollout: str,
) -> AdapterManifest:
    """Register the candidate: promoted (retiring the previous one), canary, or rejected with its metrics.

    An adapter that passed the gate but whose method serving cannot hot-swap (``SERVABLE_METHODS``, derived from
    the methods kaizen/llm/methods serves) stays a candidate: promoting it would make the registry name an
    adapter no server runs.
    """
    parent = registry.promoted(snapshot.tenant)
    servable = candidate.config.method in SERVABLE_METHODS
    reasons = list(decision.reasons)
    if not decision.passed:
        status = AdapterStatus.rejected
    elif not servable:
        status = AdapterStatus.candidate
        reasons.append(
            f"{candidate.config.method.value} adapters cannot be hot-swapped by serving (servable: "
            f"{', '.join(sorted(m.value for m in SERVABLE_METHODS))}): registered as a candidate, not promoted"
        )
    elif rollout == "canary":
        status = AdapterStatus.canary
    else:
        status = AdapterStatus.candidate  # becomes promoted below, through promote() so the old one retires
    manifest = AdapterManifest(
        version=registry.next_version(snapshot.tenant),
        base_model=base_model,
        base_model_hash=base_hash,
        dataset_version=snapshot.version,
        dataset_examples=snapshot.size,
        method=candidate.config.method.value,
        hyperparameters={
            **candidate.config.hyperparameters(),
            "steps_run": candidate.result.steps,
            "trainable_parameters": candidate.result.trainable_parameters,
            "final_loss": candidate.result.final_loss,
        },
        metrics=scores.heldout,
        regression_metrics=scores.regression,
        parent_version=parent.version if parent else None,
        status=status,
        tenant=snapshot.tenant,
        gate=reasons,
    )
    manifest = registry.register(candidate.adapter_dir, manifest)
    if decision.passed and servable and rollout != "canary":
        manifest = registry.promote(manifest.version)
    return manifest


def adapter_event(registry: AdapterRegistry, manifest: AdapterManifest, *, canary_share: float) -> AdapterEvent | None:
    """What serving is told about a newly registered adapter; None for one it must never load."""
    actions = {AdapterStatus.promoted: AdapterAction.promoted, AdapterStatus.canary: AdapterAction.canary}
    action = actions.get(manifest.status)
    if action is None:
        return None
    return adapter_event_for(
        registry, manifest, action, canary_share=canary_share, previous_version=manifest.parent_version
    )
