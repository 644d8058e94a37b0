from kaizen.registry.manifest import AdapterManifest, AdapterStatus
from kaizen.registry.store import AdapterRegistry, RegistryError

__all__ = ["AdapterManifest", "AdapterRegistry", "AdapterStatus", "RegistryError"]
