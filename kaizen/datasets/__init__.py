"""Versioned training datasets built from curated feedback."""

from kaizen.datasets.examples import DatasetSnapshot, snapshot_of
from kaizen.datasets.manifest import DatasetManifest
from kaizen.datasets.store import DatasetCorrupt, DatasetNotFound, DatasetStore

__all__ = [
    "DatasetCorrupt",
    "DatasetManifest",
    "DatasetNotFound",
    "DatasetSnapshot",
    "DatasetStore",
    "snapshot_of",
]
