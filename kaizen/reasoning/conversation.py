"""A request's conversation as the strategies use it: the system prompt, the history that fits the budget, and the
query retrieval runs for a follow-up question.

History is rendered newest-first into a token budget and the oldest turns are dropped first, so a long
conversation never crowds the question or the sources out of a small model's context. Tokens are estimated at
four characters each (the prompt is rendered before the tokenizer sees it)."""

from __future__ import annotations

from typing import Any

from kaizen.events import InteractionRequest, Turn
from kaizen.reasoning.text import one_line

CHARS_PER_TOKEN = 4
# Default token budget of the rendered history; training renders curated conversations within the same one.
HISTORY_MAX_TOKENS = 384
# Earlier user turns joined to a follow-up's retrieval query: enough to resolve "it", "they", "and how long...".
QUERY_USER_TURNS = 2


def estimated_tokens(text: str) -> int:
    return len(text) // CHARS_PER_TOKEN + 1


def fitting_history(history: list[Turn], budget: int) -> list[Turn]:
    """The newest turns whose estimated tokens fit ``budget``, in their original order."""
    kept: list[Turn] = []
    used = 0
    for turn in reversed(history):
        used += estimated_tokens(turn.content)
        if used > budget:
            break
        kept.append(turn)
    return kept[::-1]


def conversation_variables(system: str | None, history: list[Turn], budget: int) -> dict[str, Any]:
    """``system`` and ``history`` for a prompt template, each one line (user text cannot start a fake section)."""
    return {
        "system": one_line(system or ""),
        "history": [{"role": t.role, "content": one_line(t.content)} for t in fitting_history(history, budget)],
    }


def prompt_variables(request: InteractionRequest, budget: int) -> dict[str, Any]:
    return conversation_variables(request.system, request.history, budget)


def search_query(request: InteractionRequest) -> str:
    """The question with the conversation's latest user turns before it, so a follow-up retrieves in context."""
    earlier = [t.content for t in request.history if t.role == "user"][-QUERY_USER_TURNS:]
    return " ".join(one_line(text) for text in [*earlier, request.question])
