"""Curation: feedback on responses becomes PII-free, filtered, deduplicated instruction and RAFT examples."""

from kaizen.curation.pii import PiiConfig, PiiScrubber, PiiType
from kaizen.curation.pipeline import Curator, CuratorConfig
from kaizen.curation.records import CurationResult, Outcome

__all__ = ["CurationResult", "Curator", "CuratorConfig", "Outcome", "PiiConfig", "PiiScrubber", "PiiType"]
