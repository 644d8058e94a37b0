"""Versioned training datasets built from curated feedback."""

from kaizen.datasets.manifest import DatasetManifest
from kaizen.datasets.store import DatasetNotFound, DatasetStore

__all__ = ["DatasetManifest", "DatasetNotFound", "DatasetStore"]
