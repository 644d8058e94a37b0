from pathlib import Path

import pytest

from kaizen.datasets.examples import snapshot_of
from kaizen.llm.methods import SERVABLE_METHODS
from kaizen.registry import AdapterManifest, AdapterRegistry, AdapterStatus
from kaizen.training import retrain as steps
from kaizen.training.config import Method, TrainingConfig
from kaizen.training.gate import GateDecision
from kaizen.training.trainer import TrainResult
from tests.training_facts import fact_examples


def _candidate(tmp_path: Path, method: Method) -> steps.Candidate:
    adapter = tmp_path / f"{method.value}-adapter"
    adapter.mkdir()
    (adapter / "weights.bin").write_bytes(method.value.encode())
    result = TrainResult(
        steps=1, examples_seen=4, seconds=1.0, seconds_per_step=1.0, examples_per_second=4.0,
        trainable_parameters=10, total_parameters=100,
    )  # fmt: skip
    return steps.Candidate(adapter_dir=adapter, config=TrainingConfig(method=method), result=result)


def _register(registry: AdapterRegistry, candidate: steps.Candidate, passed: bool) -> AdapterManifest:
    decision = GateDecision(passed=passed, reasons=["gate says so"], candidate=0.5, baseline=0.1)
    return steps.register_candidate(
        registry,
        candidate,
        steps.SetScores(heldout={"contains": 0.5}),
        decision,
        snapshot=snapshot_of(fact_examples()),
        base_model="tiny",
        base_hash="h",
        rollout="promoted",
    )


def test_an_adapter_serving_cannot_load_is_never_promoted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Every method is servable today (kaizen.llm.methods); the rule stays for a method added without a serving module.
    monkeypatch.setattr(steps, "SERVABLE_METHODS", SERVABLE_METHODS - {Method.freeze})
    method = Method.freeze
    registry = AdapterRegistry(tmp_path / "registry")
    manifest = _register(registry, _candidate(tmp_path, method), passed=True)
    assert manifest.status == AdapterStatus.candidate and registry.promoted("default") is None
    assert "cannot be hot-swapped" in manifest.gate[-1] and manifest.gate[0] == "gate says so"
    assert steps.adapter_event(registry, manifest, canary_share=0.1) is None  # nothing tells serving to load it


@pytest.mark.parametrize("method", sorted(SERVABLE_METHODS))
def test_a_servable_adapter_that_passes_is_promoted_and_announced(tmp_path: Path, method: Method) -> None:
    registry = AdapterRegistry(tmp_path / "registry")
    manifest = _register(registry, _candidate(tmp_path, method), passed=True)
    assert manifest.method == method.value
    assert manifest.status == AdapterStatus.promoted and registry.promoted("default").version == manifest.version
    event = steps.adapter_event(registry, manifest, canary_share=0.1)
    assert event is not None and event.version == manifest.version
    (tmp_path / "next").mkdir()
    refused = _register(registry, _candidate(tmp_path / "next", method), passed=False)
    assert refused.status == AdapterStatus.rejected and registry.promoted("default").version == manifest.version
