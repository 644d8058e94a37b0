"""Adapters from the registry, hot-swapped into a running generation engine.

Loading checks the checksum, the base model and the PEFT method, reads the weights in the caller's thread and
installs them in the engine's worker between two decode steps; each method's serving code is in
kaizen/llm/methods (what mixes in a batch and what is grouped is documented there). Every request names its
adapter explicitly; which one is decided by ``kaizen.registry.rollout.AdapterRollout``, not here. An unloaded
adapter is deleted in the engine only once no queued or running request uses it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

from kaizen.llm.engine import GenerationEngine
from kaizen.llm.methods import AdapterError, method_of
from kaizen.registry import AdapterManifest, AdapterRegistry, RegistryError
from kaizen.training.config import Method

log = logging.getLogger(__name__)

__all__ = ["AdapterError", "AdapterManager", "install_adapter"]


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
        install_adapter(self.engine, version, self.registry.adapter_path(version), method=manifest.method)
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
                self.engine.remove_adapter(version, self.engine.served.delete)
                log.info("unloading adapter %s", version)

    def unload_all(self) -> None:
        for version in self.loaded:
            self.unload(version)


def install_adapter(engine: GenerationEngine, name: str, path: Path, *, method: str | None = None) -> Method:
    """Read the adapter in ``path`` (in the caller's thread) and install it in ``engine`` as ``name``.

    The one way an adapter gets into a model, for serving (``AdapterManager``) and the gate's exam alike. ``method``
    is what the adapter's manifest says it is; files of another method are refused.
    """
    found = method_of(path, name)
    served = engine.served.method(found, name)  # refuses a method serving cannot run
    if method is not None and found.value != method:
        raise AdapterError(
            f"refusing adapter {name}: its manifest says {method}, its files are a {found.value} adapter"
        )
    payload = served.read(path, name)
    engine.add_adapter(name, lambda model: engine.served.install(model, name, served, payload))
    return found
