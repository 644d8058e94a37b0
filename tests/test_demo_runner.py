"""The demo runner's own state: emptied by each run, so "the base model" is never a previous run's adapter."""

from pathlib import Path

from kaizen.config import Settings
from kaizen.demo.plan import DemoOptions
from kaizen.demo.runner import demo_settings
from kaizen.demo.users import RAG_TOP_K


def test_demo_state_is_its_own_while_models_and_prefect_stay_shared(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    state = demo_settings(settings, DemoOptions())
    assert state.data_dir == tmp_path / "demo" / "state"
    assert state.registry_dir == tmp_path / "demo" / "state" / "registry"
    assert state.resolved_vector_store_url.endswith(str(tmp_path / "demo" / "state" / "lancedb"))
    # The base model is prepared once; the Prefect dashboard keeps every run's history.
    assert state.resolved_models_dir == tmp_path / "models"
    assert state.resolved_prefect_home == tmp_path / "prefect"
    assert state.raft_distractors == RAG_TOP_K - 1 and state.chunk_tokens == DemoOptions().chunk_tokens
