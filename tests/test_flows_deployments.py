"""The watch deployment on a real Prefect server: one retrain per tenant and dataset, however often it polls."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

import flows  # noqa: F401  (Prefect's offline environment)
from kaizen.config import Settings, settings_environment
from kaizen.curation.records import CurationResult, Outcome
from kaizen.datasets.store import DatasetStore
from kaizen.events import InstructionExample
from kaizen.registry import AdapterRegistry
from kaizen.training.triggers import TriggerDecision, new_examples_decision, tenant_tag

pytestmark = pytest.mark.timeout(600)


def stage(settings: Settings, tenant: str, n: int, start: int = 0) -> None:
    results = []
    for i in range(start, start + n):
        feedback_id = uuid.uuid5(uuid.NAMESPACE_URL, f"watch/{tenant}/{i}")
        example = InstructionExample(
            tenant=tenant,
            example_id=f"ex-{tenant}-{i}",
            feedback_id=feedback_id,
            response_id=uuid.uuid5(uuid.NAMESPACE_URL, f"watch/response/{tenant}/{i}"),
            instruction=f"Which bell of Quillmoor rings at hour {i}?",
            output=f"The bell of hour {i} is the brass bell number {i}.",
        )
        results.append(CurationResult(feedback_id=feedback_id, outcome=Outcome.example, instruction=example))
    DatasetStore.from_settings(settings).append(results)


def retrain_runs(tenant: str) -> list[object]:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowFilter, FlowFilterName, FlowRunFilter, FlowRunFilterTags

    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=["retrain"])),
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[tenant_tag(tenant)])),
        )


def test_polls_during_a_queued_or_running_retrain_start_exactly_one(
    prefect_harness: None, kaizen_settings: Settings
) -> None:
    from prefect import get_client
    from prefect.states import Completed, Running

    from flows.deployments import watch_new_examples
    from flows.retrain import retrain

    retrain.to_deployment(name="retrain-on-data").apply()  # registered, not served: its runs wait, as a slow one
    settings = kaizen_settings.with_overrides(retrain_min_new_examples=3)

    def watch(tenant: str) -> TriggerDecision | None:
        with settings_environment(settings):  # flows read their settings inside the run
            return watch_new_examples(tenant=tenant)

    def watch_interval(tenant: str) -> TriggerDecision | None:
        with settings_environment(settings):
            return watch_new_examples(tenant=tenant, threshold=1)

    versions_before = DatasetStore.from_settings(settings).list_versions()
    stage(settings, "acme", 4)

    decisions = [watch(tenant="acme") for _ in range(3)]
    assert decisions[0] is not None and decisions[0].retrain and decisions[0].blocked_by is None
    runs = retrain_runs("acme")
    assert len(runs) == 1
    assert all(d is not None and d.blocked_by == runs[0].name and not d.retrain for d in decisions[1:])
    # Polling writes no dataset version: only a retrain does.
    assert DatasetStore.from_settings(settings).list_versions() == versions_before

    # The hourly schedule goes through the same check: any new data would do, but not while a retrain waits.
    assert watch_interval(tenant="acme").blocked_by == runs[0].name

    with get_client(sync_client=True) as client:
        client.set_flow_run_state(runs[0].id, Running(), force=True)
        assert watch(tenant="acme").blocked_by == runs[0].name
        assert watch_interval(tenant="acme").blocked_by == runs[0].name
        # Finished without registering (as if it crashed after the run ended): the same data never starts a
        # second run, the idempotency key returns the first.
        client.set_flow_run_state(runs[0].id, Completed(), force=True)
    watch(tenant="acme")
    watch_interval(tenant="acme")
    assert len(retrain_runs("acme")) == 1

    stage(settings, "acme", 3, start=4)  # new data: a new retrain
    watch(tenant="acme")
    assert len(retrain_runs("acme")) == 2
    assert watch_interval(tenant="acme").blocked_by is not None
    assert len(retrain_runs("acme")) == 2
    stage(settings, "globex", 5)  # another tenant is not blocked by acme's run
    assert watch(tenant="globex").retrain
    assert len(retrain_runs("globex")) == 1


def test_a_dataset_already_trained_on_does_not_trigger_again(tmp_path: Path) -> None:
    from kaizen.registry import AdapterManifest

    registry = AdapterRegistry(tmp_path / "registry")
    decision = new_examples_decision(registry, tenant="acme", dataset_examples=5, threshold=3, dataset_version="v1")
    assert decision.retrain and decision.new_examples == 5
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(b"weights")
    manifest = AdapterManifest(
        version="acme-v0001",
        tenant="acme",
        base_model="m",
        base_model_hash="h",
        dataset_version="v1",
        dataset_examples=2,
    )
    registry.register(adapter, manifest)
    # Fewer examples were counted then (a smaller preview), but it is the same data: no second retrain on it.
    again = new_examples_decision(registry, tenant="acme", dataset_examples=5, threshold=3, dataset_version="v1")
    assert again.new_examples == 3 and not again.retrain
    moved_on = new_examples_decision(registry, tenant="acme", dataset_examples=5, threshold=3, dataset_version="v2")
    assert moved_on.retrain


def test_no_schedule_starts_a_retrain_itself(kaizen_settings: Settings) -> None:
    """Schedules only trigger ``retrain-on-data`` through the watch's checks: a scheduled retrain flow would start
    beside a running one and train on the same data again (the storm of #19)."""
    from flows.deployments import deployments

    found = deployments(kaizen_settings.with_overrides(retrain_interval_seconds=3600), ["default", "acme"])
    scheduled = {d.name: d for d in found if d.schedules}
    assert set(scheduled) == {"retrain-interval", "watch", "retrain-interval-acme", "watch-acme"}
    assert {d.flow_name for d in scheduled.values()} == {"watch-new-examples"}
    assert scheduled["retrain-interval-acme"].parameters == {"tenant": "acme", "threshold": 1}
    assert scheduled["watch"].parameters == {"tenant": "default"}
    assert scheduled["retrain-interval"].schedules[0].schedule.interval.total_seconds() == 3600
    assert {d.name for d in found if not d.schedules} == {"retrain-on-data", "evaluate", "bootstrap"}
