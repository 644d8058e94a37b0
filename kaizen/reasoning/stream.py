"""Streaming a request's answer while the model decodes it: what the client sees is the answer, not the raw
completion (no ``Answer:`` label, no ``[n]`` citation marks, no reasoning).

Only the generation that produces the final answer streams (direct, rag, cot). Intermediate model calls of chain,
agent and self-consistency do not: their answer is known only at the end and arrives whole with the response.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from kaizen.llm.types import OnDelta

# The answer so far, read from the raw completion so far with the strategy's own parser.
Extract = Callable[[str], str]
# A tail the next tokens may still change: an unfinished citation mark ("[", " [1") the parser would remove.
_UNSTABLE_TAIL = re.compile(r"\s*\[\d{0,3}$")


class AnswerStream:
    """Hands ``sink`` only text that the final answer will start with, so the pieces join to the answer."""

    def __init__(self, sink: OnDelta) -> None:
        self.sink = sink
        self.sent = ""

    def _send(self, text: str) -> None:
        if text:
            self.sent += text
            self.sink(text)

    def feed(self, raw: str, extract: Extract) -> None:
        stable = _UNSTABLE_TAIL.sub("", extract(raw))
        if len(stable) > len(self.sent) and stable.startswith(self.sent):
            self._send(stable[len(self.sent) :])

    def finish(self, answer: str) -> None:
        """The rest of the final answer; nothing when the stream went another way (the response still has it)."""
        if answer.startswith(self.sent):
            self._send(answer[len(self.sent) :])
