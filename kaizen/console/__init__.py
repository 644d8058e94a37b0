"""The Kaizen web console: server-rendered pages over the gateway's own functions (see README, Console)."""

from kaizen.console.app import mount

__all__ = ["mount"]
