"""The one adapter loader: an adapter directory read, then installed into a model, for serving and evaluation.

Serving (``AdapterManager``) hot-swaps registry adapters into a running generation engine. Loading checks the
checksum and the base model, reads the weights in the caller's thread and installs them in the engine's worker
between two decode steps. Every request names its adapter explicitly; which one is decided by
``kaizen.registry.rollout.AdapterRollout``, not here. An unloaded adapter is deleted in the engine only once no
queued or running request uses it. Evaluation (``load_adapter``) installs an adapter the same way into a fresh base
model, so the gate scores exactly the weights serving would run.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path
from typing import Any

from peft import PeftConfig, PeftModel, get_peft_model
from peft.utils import load_peft_weights, set_peft_model_state_dict
from pydantic import BaseModel, ConfigDict, Field

from kaizen.llm.engine import GenerationEngine
from kaizen.registry import AdapterManifest, AdapterRegistry, RegistryError
from kaizen.training import bottleneck, freeze, prefix
from kaizen.training.adapters import KAIZEN_ADAPTER, read_info
from kaizen.training.config import SERVABLE_METHODS, Method

log = logging.getLogger(__name__)

OFFLINE_NAME = bottleneck.TRAINING_NAME  # the adapter's name in a model that runs only it (evaluation, export)
_PEFT_METHODS = {"LORA": Method.lora, "PREFIX_TUNING": Method.prefix, "P_TUNING": Method.ptuning}


class AdapterError(RuntimeError):
    """An adapter the manager refuses: corrupt, trained on another base model, unknown, or not servable."""


class AdapterManager:
    """Verified loading and unloading of registry adapters in one engine (serving's ``AdapterLoader``)."""

    def __init__(self, engine: GenerationEngine, registry: AdapterRegistry) -> None:
        self.engine = engine
        self.registry = registry
        self._lock = threading.RLock()
        self._loaded: dict[str, AdapterManifest] = {}

    @property
    def loaded(self) -> list[str]:
        with self._lock:
            return sorted(self._loaded)

    def manifest(self, version: str) -> AdapterManifest:
        with self._lock:
            if version not in self._loaded:
                raise AdapterError(f"adapter {version} is not loaded")
            return self._loaded[version]

    def load(self, version: str, *, checksum: str | None = None) -> AdapterManifest:
        """Verify ``version`` (and ``checksum``, the one its adapter event announced) and load it into the
        engine. Safe while requests run."""
        with self._lock:
            if version in self._loaded:
                return self._loaded[version]
        manifest = self._verified(version)
        if checksum is not None and manifest.checksum != checksum:
            raise AdapterError(
                f"refusing adapter {version}: the event's checksum {checksum[:12]} does not match the registry's "
                f"{manifest.checksum[:12]}"
            )
        adapter = read_adapter(self.registry.adapter_path(version), version)
        if adapter.method not in SERVABLE_METHODS:
            raise AdapterError(
                f"refusing adapter {version}: {adapter.method.value} adapters cannot be hot-swapped into a shared "
                f"batch; servable methods: {', '.join(sorted(m.value for m in SERVABLE_METHODS))}"
            )
        self.engine.add_adapter(version, lambda model: install(model, version, adapter))
        with self._lock:
            self._loaded[version] = manifest
        log.info("loaded adapter %s", version)
        return manifest

    async def aload(self, version: str, *, checksum: str | None = None) -> AdapterManifest:
        return await asyncio.to_thread(self.load, version, checksum=checksum)

    def _verified(self, version: str) -> AdapterManifest:
        try:
            manifest = self.registry.verify(version)
        except RegistryError as exc:
            raise AdapterError(f"refusing adapter {version}: {exc}") from exc
        expected = self.engine.lm.fingerprint
        if manifest.base_model_hash != expected:
            raise AdapterError(
                f"refusing adapter {version}: trained on base model {manifest.base_model!r} "
                f"(hash {manifest.base_model_hash[:12]}), this engine runs {self.engine.lm.model_dir.name} "
                f"(hash {expected[:12]})"
            )
        return manifest

    def unload(self, version: str) -> None:
        with self._lock:
            if self._loaded.pop(version, None) is not None:
                # Deleted in the worker once the last request using it has finished.
                self.engine.remove_adapter(version, _delete)
                log.info("unloading adapter %s", version)

    def unload_all(self) -> None:
        for version in self.loaded:
            self.unload(version)


class AdapterFiles(BaseModel):
    """An adapter as read from its directory (in the caller's thread): its method and what installing it needs."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    path: Path
    method: Method
    peft_config: PeftConfig | None = None
    weights: dict[str, Any] = Field(default_factory=dict)


def adapter_method(path: Path, name: str) -> Method:
    """The method ``path`` was trained with: from Kaizen's own info file, else from the peft config."""
    if (path / KAIZEN_ADAPTER).exists():
        return read_info(path).method
    config = _peft_config(path, name)
    kind = str(getattr(config.peft_type, "value", config.peft_type)).upper()
    if kind not in _PEFT_METHODS:
        raise AdapterError(f"refusing adapter {name}: unknown peft adapter type {kind}")
    return _PEFT_METHODS[kind]


def read_adapter(path: Path, name: str) -> AdapterFiles:
    path = Path(path)
    method = adapter_method(path, name)
    if method is not Method.lora:
        return AdapterFiles(path=path, method=method)  # read where they are installed
    return AdapterFiles(
        path=path,
        method=method,
        peft_config=_peft_config(path, name),
        weights=load_peft_weights(str(path), device="cpu"),
    )


def install(model: Any, name: str, adapter: AdapterFiles) -> Any:
    """``model`` with ``adapter`` added as ``name``. In an engine this runs in its worker, between two steps."""
    match adapter.method:
        case Method.lora:
            assert adapter.peft_config is not None
            return _install(model, name, adapter.peft_config, adapter.weights)
        case Method.freeze:
            return freeze.load(model, adapter.path)
        case Method.bottleneck:
            return bottleneck.install(model, name, *bottleneck.read(adapter.path))
        case Method.prefix | Method.ptuning:
            return prefix.load(model, adapter.path)


def load_adapter(model: Any, adapter_dir: Path) -> Any:
    """``model`` (a freshly loaded base model) running the adapter in ``adapter_dir`` for every row, frozen."""
    adapter = read_adapter(Path(adapter_dir), OFFLINE_NAME)
    if adapter.method is Method.bottleneck:
        model = bottleneck.load(model, adapter.path)  # installed as OFFLINE_NAME and routed for every row
    else:
        model = install(model, OFFLINE_NAME, adapter)
    model.requires_grad_(False)
    return model.eval()


def _peft_config(path: Path, name: str) -> PeftConfig:
    try:
        config = PeftConfig.from_pretrained(str(path))
    except Exception as exc:
        raise AdapterError(f"refusing adapter {name}: no readable peft adapter config ({exc})") from exc
    config.inference_mode = True
    return config


def _install(model: Any, version: str, config: PeftConfig, weights: dict[str, Any]) -> Any:
    """Runs in the engine worker: add ``version`` to the peft model (wrapping the base model the first time)."""
    first = not isinstance(model, PeftModel)
    if first:
        model = get_peft_model(model, config, adapter_name=version, low_cpu_mem_usage=True)
    else:
        model.add_adapter(version, config, low_cpu_mem_usage=True)
    try:
        result = set_peft_model_state_dict(model, weights, adapter_name=version, low_cpu_mem_usage=True)
        missing = [k for k in result.missing_keys if version in k and "lora_" in k]
        if result.unexpected_keys or missing:
            raise AdapterError(
                f"refusing adapter {version}: weights do not fit the model "
                f"(unexpected {list(result.unexpected_keys)[:3]}, missing {missing[:3]})"
            )
    except Exception:
        if first:
            model.unload()  # removes the injected layers in place: the engine keeps the bare base model
        else:
            model.delete_adapter(version)
        raise
    return model


def _delete(model: Any, version: str) -> Any:
    """Runs in the engine worker: remove ``version``; the last adapter gone, the bare base model comes back."""
    if not isinstance(model, PeftModel) or version not in model.peft_config:
        return model
    if len(model.peft_config) == 1:
        return model.unload()
    model.delete_adapter(version)
    return model
