"""When the supervisor restarts a crashed part: at once the first time, then with doubling backoff, and not at all
once a part keeps crashing (a crash loop is a bug to read in the log, not to hide)."""

from __future__ import annotations

from collections import deque

from pydantic import BaseModel, Field


class RestartPolicy(BaseModel):
    max_restarts: int = Field(5, ge=0, description="Crashes of one part within the window that are restarted.")
    window_seconds: float = Field(600.0, gt=0)
    first_delay: float = Field(1.0, ge=0)
    max_delay: float = Field(30.0, ge=0)


class Restarts:
    """Crash times per part, and the delay before the next restart (None: give up)."""

    def __init__(self, policy: RestartPolicy) -> None:
        self.policy = policy
        self._crashes: dict[str, deque[float]] = {}

    def crashed(self, part: str, now: float) -> float | None:
        crashes = self._crashes.setdefault(part, deque())
        crashes.append(now)
        while crashes and now - crashes[0] > self.policy.window_seconds:
            crashes.popleft()
        if len(crashes) > self.policy.max_restarts:
            return None
        return min(self.policy.max_delay, self.policy.first_delay * 2 ** (len(crashes) - 1))

    def count(self, part: str) -> int:
        return len(self._crashes.get(part, ()))
