"""Promote, canary and rollback: the registry change and the adapter event that tells serving about it.

The CLI and the console both call these; each publishes the returned event its own way.
"""

from __future__ import annotations

from kaizen.events import AdapterAction, AdapterEvent
from kaizen.registry.events import adapter_event_for
from kaizen.registry.manifest import AdapterManifest, AdapterStatus
from kaizen.registry.store import AdapterRegistry, RegistryError


def _owned(registry: AdapterRegistry, version: str, tenant: str | None) -> AdapterManifest:
    manifest = registry.get(version)
    if tenant is not None and manifest.tenant != tenant:
        # Another tenant's version is indistinguishable from an unknown one.
        raise RegistryError(f"unknown adapter version {version!r}")
    return manifest


def promote(registry: AdapterRegistry, version: str, *, tenant: str | None = None) -> AdapterEvent:
    """Promote ``version`` (the previously promoted one retires) after checking its weights."""
    _owned(registry, version, tenant)
    registry.verify(version)
    previous = registry.promoted(registry.get(version).tenant)
    manifest = registry.promote(version)
    return adapter_event_for(
        registry, manifest, AdapterAction.promoted, previous_version=previous.version if previous else None
    )


def canary(registry: AdapterRegistry, version: str, share: float, *, tenant: str | None = None) -> AdapterEvent:
    """Send ``share`` of the tenant's users to ``version``; the promoted one keeps the rest."""
    if not 0.0 < share <= 1.0:
        raise RegistryError(f"a canary share is in (0, 1], not {share}")
    manifest = _owned(registry, version, tenant)
    if manifest.status == AdapterStatus.promoted:
        raise RegistryError(f"{version} is already promoted: a canary needs another version")
    registry.verify(version)
    previous = registry.promoted(manifest.tenant)
    manifest = registry.set_status(version, AdapterStatus.canary)
    return adapter_event_for(
        registry,
        manifest,
        AdapterAction.canary,
        canary_share=share,
        previous_version=previous.version if previous else None,
    )


def rollback(registry: AdapterRegistry, tenant: str) -> AdapterEvent:
    """Retire the promoted version and promote the one it replaced."""
    current = registry.promoted(tenant)
    manifest = registry.rollback(tenant)
    return adapter_event_for(
        registry, manifest, AdapterAction.rollback, previous_version=current.version if current else None
    )
