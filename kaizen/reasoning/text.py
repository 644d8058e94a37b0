"""Small text helpers shared by the strategies."""

from __future__ import annotations

# Completion-style prompts are line-oriented: a newline inside user text could start a fake section.
STOP_AFTER_LINE = ["\n\n", "\nQuestion:", "\nTask:"]


def one_line(text: str) -> str:
    return " ".join(text.split())
