"""What the supervisor reports: each part's state, and the error that stops the platform."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel


class PlatformError(RuntimeError):
    """A part could not start or stopped on its own; carries the tail of its log."""

    def __init__(self, message: str, *, part: str = "", log_path: Path | None = None, log_tail: str = "") -> None:
        self.part = part
        self.log_path = log_path
        self.log_tail = log_tail
        detail = f"\n--- last lines of {log_path} ---\n{log_tail}" if log_tail else ""
        super().__init__(message + detail)
        self.summary = message


class PartState(StrEnum):
    waiting = "waiting"
    starting = "starting"
    healthy = "healthy"
    exited = "exited"
    restarting = "restarting"
    stopped = "stopped"
    external = "external"


class PartStatus(BaseModel):
    name: str
    state: PartState
    address: str = ""
    pid: int | None = None
    detail: str = ""
    log_path: Path | None = None
