from kaizen.registry.manifest import AdapterManifest, AdapterStatus
from kaizen.registry.rollout import AdapterNotFound, AdapterRollout, TenantAdapters, VersionState, in_canary
from kaizen.registry.store import AdapterRegistry, RegistryError

__all__ = [
    "AdapterManifest",
    "AdapterNotFound",
    "AdapterRegistry",
    "AdapterRollout",
    "AdapterStatus",
    "RegistryError",
    "TenantAdapters",
    "VersionState",
    "in_canary",
]
