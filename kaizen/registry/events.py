"""The adapter event that tells serving about a registry change."""

from __future__ import annotations

from kaizen.events import AdapterAction, AdapterEvent
from kaizen.registry.manifest import AdapterManifest
from kaizen.registry.store import AdapterRegistry


def adapter_event_for(
    registry: AdapterRegistry,
    manifest: AdapterManifest,
    action: AdapterAction,
    *,
    canary_share: float | None = None,
    previous_version: str | None = None,
) -> AdapterEvent:
    return AdapterEvent(
        tenant=manifest.tenant,
        action=action,
        version=manifest.version,
        manifest_url=registry.manifest_url(manifest.version),
        checksum=manifest.checksum,
        base_model=manifest.base_model,
        canary_share=canary_share if action == AdapterAction.canary else None,
        previous_version=previous_version,
    )
