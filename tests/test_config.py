from pathlib import Path

import pytest

from kaizen.config import Settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("KAIZEN_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)


def test_defaults() -> None:
    s = Settings()
    assert s.data_dir == Path(".kaizen")
    assert s.embedded_broker and s.is_tansu
    assert s.resolved_models_dir == Path(".kaizen/models")
    assert s.resolved_vector_store_url.startswith("lancedb://")
    assert s.registry_dir == Path(".kaizen/registry")


def test_precedence_init_over_env_over_toml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "kaizen.toml").write_text('topic_prefix = "from-toml"\ndata_dir = "/toml"\nchunk_tokens = 100\n')
    assert Settings().topic_prefix == "from-toml"
    monkeypatch.setenv("KAIZEN_TOPIC_PREFIX", "from-env")
    s = Settings()
    assert s.topic_prefix == "from-env"
    assert s.data_dir == Path("/toml")  # untouched by env: the toml still applies
    assert s.chunk_tokens == 100
    assert Settings(topic_prefix="from-init").topic_prefix == "from-init"


def test_config_file_location_is_configurable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    other = tmp_path / "elsewhere.toml"
    other.write_text('topic_prefix = "elsewhere"\n')
    monkeypatch.setenv("KAIZEN_CONFIG_FILE", str(other))
    assert Settings().topic_prefix == "elsewhere"


def test_external_kafka_is_not_tansu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIZEN_KAFKA_BOOTSTRAP", "kafka:9092")
    s = Settings()
    assert not s.embedded_broker and not s.is_tansu
    assert Settings(kafka_bootstrap="127.0.0.1:1", broker_kind="tansu").is_tansu


def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAIZEN_CANARY_SHARE", "1.5")
    with pytest.raises(ValueError, match="canary_share"):
        Settings()


def test_to_env_round_trips(monkeypatch: pytest.MonkeyPatch) -> None:
    original = Settings(topic_prefix="x1", api_tokens={"a": "t1"}, canary_share=0.25, data_dir=Path("/d"))
    for key, value in original.to_env().items():
        monkeypatch.setenv(key, value)
    assert Settings() == original


def test_only_registry_location_urls_are_files() -> None:
    assert Settings(registry_url="file:///srv/reg").registry_dir == Path("/srv/reg")
    with pytest.raises(ValueError, match="file://"):
        _ = Settings(registry_url="s3://bucket/x").registry_dir
