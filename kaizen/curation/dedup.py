"""Duplicate detection within a tenant: exact (hash of the normalised text) and near (MinHash + LSH)."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from enum import StrEnum

from datasketch import MinHash, MinHashLSH
from pydantic import BaseModel, ConfigDict, Field

_NON_WORD = re.compile(r"[^\w]+", re.UNICODE)


class DedupConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    near_threshold: float = Field(0.8, gt=0.0, le=1.0, description="Estimated Jaccard similarity of a near-duplicate.")
    num_perm: int = Field(128, ge=16, le=1024)
    shingle_words: int = Field(3, ge=1, le=8, description="Word n-gram size of the shingles.")
    near: bool = True


class Duplicate(StrEnum):
    exact = "exact_duplicate"
    near = "near_duplicate"


class DedupVerdict(BaseModel):
    model_config = ConfigDict(frozen=True)

    duplicate: Duplicate | None = None
    of: str | None = Field(None, description="Key of the earlier item this one duplicates.")


def normalise(text: str) -> str:
    """Case, accents' composed forms, punctuation and spacing do not make a text different."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(_NON_WORD.sub(" ", folded).split())


def exact_hash(text: str) -> str:
    return hashlib.sha256(normalise(text).encode()).hexdigest()


def shingles(text: str, size: int) -> set[bytes]:
    words = normalise(text).split()
    if len(words) <= size:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i : i + size]).encode() for i in range(len(words) - size + 1)}


class Deduplicator:
    """Remembers what it has seen, per tenant; feed items in a deterministic order for reproducible results."""

    def __init__(self, config: DedupConfig | None = None) -> None:
        self.config = config or DedupConfig()
        self._exact: dict[tuple[str, str], str] = {}
        self._lsh: dict[str, MinHashLSH] = {}
        self._signatures: dict[tuple[str, str], MinHash] = {}

    def _minhash(self, text: str) -> MinHash:
        mh = MinHash(num_perm=self.config.num_perm, seed=1)
        mh.update_batch(sorted(shingles(text, self.config.shingle_words)))
        return mh

    def check(self, tenant: str, key: str, text: str) -> DedupVerdict:
        """Record ``text`` under ``key`` unless it duplicates an earlier text of the same tenant."""
        digest = exact_hash(text)
        earlier = self._exact.get((tenant, digest))
        if earlier is not None:
            return DedupVerdict(duplicate=Duplicate.exact, of=earlier)
        self._exact[(tenant, digest)] = key
        if not self.config.near:
            return DedupVerdict()
        lsh = self._lsh.get(tenant)
        if lsh is None:
            lsh = self._lsh[tenant] = MinHashLSH(threshold=self.config.near_threshold, num_perm=self.config.num_perm)
        mh = self._minhash(text)
        # LSH candidates are only probable: confirm with the estimated similarity, then pick deterministically.
        similar = [c for c in lsh.query(mh) if mh.jaccard(self._signatures[(tenant, c)]) >= self.config.near_threshold]
        if similar:
            return DedupVerdict(duplicate=Duplicate.near, of=min(similar))
        lsh.insert(key, mh)
        self._signatures[(tenant, key)] = mh
        return DedupVerdict()
