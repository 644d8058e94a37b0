"""Training-free strategies: direct, few-shot chain of thought, self-consistency, RAG, retrieval chains, an
agentic workflow, and auto, which picks among them. ``answer`` is the one entry point."""

from kaizen.reasoning.answer import answer
from kaizen.reasoning.deps import ReasoningDeps
from kaizen.reasoning.exemplars import Exemplar, ExemplarPool
from kaizen.reasoning.prompts import PromptLibrary, PromptNotFound

__all__ = ["Exemplar", "ExemplarPool", "PromptLibrary", "PromptNotFound", "ReasoningDeps", "answer"]
