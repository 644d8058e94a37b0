"""A directory of adapter versions, each with its manifest; the location is a file:// URL."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from kaizen.config import Settings
from kaizen.registry.manifest import AdapterManifest, AdapterStatus

MANIFEST = "manifest.json"
WEIGHTS_DIR = "adapter"


class RegistryError(RuntimeError):
    pass


def checksum_dir(path: Path) -> str:
    """sha256 over every file's relative name and bytes, in a stable order."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(file.relative_to(path)).encode())
        digest.update(b"\0")
        with file.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


class AdapterRegistry:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    @classmethod
    def from_url(cls, url: str) -> AdapterRegistry:
        """``file://<path>`` (or a bare path); other schemes need a shared-storage backend, not this class."""
        if url.startswith("file://"):
            return cls(Path(url.removeprefix("file://")))
        if "://" in url:
            raise RegistryError(f"unsupported registry location {url!r}: only file:// is implemented")
        return cls(Path(url))

    @classmethod
    def from_settings(cls, settings: Settings) -> AdapterRegistry:
        return cls(settings.registry_dir)

    @property
    def regression_dir(self) -> Path:
        """Frozen per-tenant regression sets live with the adapters they judge (a dot-name is never a version)."""
        return self.root / ".regression"

    def next_version(self, tenant: str = "default") -> str:
        taken = {m.version for m in self.list()}
        n = sum(1 for m in self.list() if m.tenant == tenant) + 1
        while f"{tenant}-v{n:04d}" in taken:
            n += 1
        return f"{tenant}-v{n:04d}"

    def history(self, tenant: str = "default") -> list[AdapterManifest]:
        return [m for m in self.list() if m.tenant == tenant]

    def latest(self, tenant: str = "default") -> AdapterManifest | None:
        found = self.history(tenant)
        return found[-1] if found else None

    @property
    def url(self) -> str:
        return f"file://{self.root.resolve()}"

    def _dir(self, version: str) -> Path:
        if not version or "/" in version or version.startswith("."):
            raise RegistryError(f"invalid adapter version {version!r}")
        return self.root / version

    def manifest_url(self, version: str) -> str:
        return f"file://{(self._dir(version) / MANIFEST).resolve()}"

    def adapter_path(self, version: str) -> Path:
        return self._dir(version) / WEIGHTS_DIR

    def register(self, adapter_dir: Path, manifest: AdapterManifest) -> AdapterManifest:
        """Copy an adapter into the registry; the version directory appears atomically."""
        target = self._dir(manifest.version)
        if target.exists():
            raise RegistryError(f"adapter version {manifest.version} already exists")
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=self.root))
        try:
            shutil.copytree(adapter_dir, staging / WEIGHTS_DIR)
            manifest = manifest.model_copy(update={"checksum": checksum_dir(staging / WEIGHTS_DIR)})
            (staging / MANIFEST).write_text(manifest.model_dump_json(indent=2))
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return manifest

    def get(self, version: str) -> AdapterManifest:
        path = self._dir(version) / MANIFEST
        if not path.exists():
            raise RegistryError(f"unknown adapter version {version!r}")
        return AdapterManifest.model_validate_json(path.read_text())

    def exists(self, version: str) -> bool:
        return (self._dir(version) / MANIFEST).exists()

    def list(self) -> list[AdapterManifest]:
        manifests = [
            AdapterManifest.model_validate_json((d / MANIFEST).read_text())
            for d in self.root.iterdir()
            if d.is_dir() and not d.name.startswith(".") and (d / MANIFEST).exists()
        ]
        return sorted(manifests, key=lambda m: m.created_at)

    def save(self, manifest: AdapterManifest) -> None:
        path = self._dir(manifest.version) / MANIFEST
        tmp = path.with_suffix(".tmp")
        tmp.write_text(manifest.model_dump_json(indent=2))
        os.replace(tmp, path)

    def set_status(self, version: str, status: AdapterStatus) -> AdapterManifest:
        manifest = self.get(version).model_copy(update={"status": status})
        self.save(manifest)
        return manifest

    def promoted(self, tenant: str | None = None) -> AdapterManifest | None:
        found = [
            m for m in self.list() if m.status == AdapterStatus.promoted and (tenant is None or m.tenant == tenant)
        ]
        return found[-1] if found else None

    def verify(self, version: str) -> AdapterManifest:
        """The manifest, after checking the weights on disk still match its checksum."""
        manifest = self.get(version)
        actual = checksum_dir(self.adapter_path(version))
        if actual != manifest.checksum:
            raise RegistryError(
                f"adapter {version} is corrupt: checksum {actual[:12]} != manifest {manifest.checksum[:12]}"
            )
        return manifest

    def promote(self, version: str) -> AdapterManifest:
        """Mark ``version`` promoted and retire the previously promoted one of the same tenant."""
        target = self.get(version)
        previous = self.promoted(target.tenant)
        if previous and previous.version != version:
            self.set_status(previous.version, AdapterStatus.retired)
        return self.set_status(version, AdapterStatus.promoted)

    def rollback(self, tenant: str = "default") -> AdapterManifest:
        """Retire the promoted adapter and promote the one it replaced."""
        current = self.promoted(tenant)
        if current is None:
            raise RegistryError("nothing is promoted: nothing to roll back")
        previous = [
            m
            for m in self.list()
            if m.tenant == tenant and m.status == AdapterStatus.retired and m.created_at < current.created_at
        ]
        if not previous:
            raise RegistryError(f"no earlier adapter to roll back to from {current.version}")
        self.set_status(current.version, AdapterStatus.retired)
        return self.set_status(previous[-1].version, AdapterStatus.promoted)


def manifest_json(manifest: AdapterManifest) -> str:
    return json.dumps(manifest.model_dump(mode="json"), indent=2)
