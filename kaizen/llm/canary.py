"""Canary routing: a stable share of users goes to the candidate adapter, the rest to the active one."""

from __future__ import annotations

import hashlib

from pydantic import BaseModel, Field


class CanaryRouter(BaseModel):
    """Chooses candidate or active per user by a hash of the user id, so a user stays on one side."""

    share: float = Field(0.1, ge=0.0, le=1.0, description="Fraction of users sent to the candidate.")
    salt: str = Field("kaizen-canary", description="Change it to reshuffle which users are in the canary.")

    def bucket(self, user_id: str) -> float:
        """The user's fixed position in [0, 1)."""
        digest = hashlib.sha256(f"{self.salt}\0{user_id}".encode()).digest()
        return int.from_bytes(digest[:8], "big") / 2**64

    def in_canary(self, user_id: str) -> bool:
        return self.bucket(user_id) < self.share

    def choose(self, user_id: str, active: str | None, candidate: str | None) -> str | None:
        """The adapter version for this user's request (None = the base model)."""
        if candidate is not None and self.in_canary(user_id):
            return candidate
        return active
