"""What every strategy needs: the model, the knowledge bases, exemplars, prompts, and the knobs."""

from __future__ import annotations

from dataclasses import dataclass, field

from kaizen.llm.types import LLM
from kaizen.reasoning.conversation import HISTORY_MAX_TOKENS
from kaizen.reasoning.exemplars import ExemplarPool
from kaizen.reasoning.prompts import PromptLibrary
from kaizen.retrieval.types import Retriever, SearchMode


@dataclass
class ReasoningDeps:
    llm: LLM
    retriever: Retriever | None = None
    exemplars: ExemplarPool | None = None
    prompts: PromptLibrary = field(default_factory=PromptLibrary)
    # Knowledge bases searched when a request names none.
    default_knowledge_bases: list[str] = field(default_factory=list)
    # Further knowledge bases a retrieval chain may widen to after its first hop.
    chain_knowledge_bases: list[str] = field(default_factory=list)
    # Searched by every retrieval besides the request's own; they may not exist yet (the verified answers).
    answer_knowledge_bases: list[str] = field(default_factory=list)
    search_mode: SearchMode = "hybrid"
    alpha: float = 0.5
    cot_exemplars: int = 4
    mmr_lambda: float = 0.7
    # Used when auto picks self-consistency and the request did not ask for a number of samples.
    self_consistency_samples: int = 5
    sample_temperature: float = 0.7
    # Characters of one chunk quoted in a prompt, and the most chunks in one prompt (a 270M model on a CPU pays
    # for every prompt token).
    max_source_chars: int = 800
    max_context_sources: int = 6
    agent_max_steps: int = 4
    plan_max_new_tokens: int = 64
    timeout_s: float | None = 600.0
    # Estimated tokens of earlier conversation turns in a prompt; the oldest turns are dropped first.
    history_max_tokens: int = HISTORY_MAX_TOKENS

    def __post_init__(self) -> None:
        if not 0.0 <= self.mmr_lambda <= 1.0:
            raise ValueError("mmr_lambda must be within [0, 1]")
        if self.cot_exemplars < 0 or self.self_consistency_samples < 1 or self.max_context_sources < 1:
            raise ValueError("cot_exemplars >= 0, self_consistency_samples >= 1, max_context_sources >= 1")
