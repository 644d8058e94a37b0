"""No secret in what Prefect keeps of a flow run: its parameters, its task runs, its logs and its artifacts."""

from __future__ import annotations

import inspect
import json
from pathlib import Path

from prefect import Flow

import flows  # noqa: F401  (Prefect's offline environment)
from flows.bootstrap import bootstrap
from flows.deployments import watch_new_examples
from flows.evaluate import evaluate_adapter
from flows.retrain import retrain
from kaizen.config import Settings, settings_environment
from tests.training_facts import fact_dataset

TOKEN = "tok-7c1f0e9a-never-stored"
WEAVIATE_KEY = "wv-5b2d-never-stored"


def test_no_flow_takes_settings_as_a_parameter() -> None:
    for flow in (retrain, evaluate_adapter, bootstrap, watch_new_examples):
        assert isinstance(flow, Flow)
        for name, parameter in inspect.signature(flow.fn).parameters.items():
            assert "Settings" not in str(parameter.annotation), f"{flow.name}.{name} would store settings"


def test_a_finished_flow_run_keeps_no_secret(prefect_harness: None, tmp_path: Path) -> None:
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId, LogFilter, LogFilterFlowRunId
    from prefect.logging.handlers import APILogWorker

    settings = Settings(data_dir=tmp_path / "data", api_tokens={TOKEN: "acme"}, weaviate_api_key=WEAVIATE_KEY)
    fact_dataset(settings, tenant="acme")
    with settings_environment(settings):
        state = watch_new_examples(tenant="acme", trigger=False, return_state=True)
    assert state.result() is not None  # it found the tenant's dataset

    APILogWorker.drain_all(timeout=10)  # logs reach the API in background batches
    run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(run_id)
        task_runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[run_id])))
        artifacts = client.read_artifacts(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id])))
    assert run.state is not None and run.state.is_completed()
    assert run.parameters == {"tenant": "acme", "trigger": False, "threshold": None}
    assert task_runs, "the flow's tasks ran and are recorded"
    # The run used the caller's settings, read from the environment inside it: its dataset is under their data dir.
    assert any(str(settings.data_dir.resolve()) in log.message for log in logs), [log.message for log in logs]
    kept = json.dumps(
        {
            "run": run.model_dump(mode="json"),
            "task_runs": [t.model_dump(mode="json") for t in task_runs],
            "logs": [log.model_dump(mode="json") for log in logs],
            "artifacts": [a.model_dump(mode="json") for a in artifacts],
        }
    )
    for secret in (TOKEN, WEAVIATE_KEY):
        assert secret not in kept
