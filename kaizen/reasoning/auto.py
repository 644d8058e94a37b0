"""auto: adaptive compute — estimate how hard a question is and whether it needs outside knowledge, then pick the
cheapest strategy that fits. A 270M model cannot judge this itself, so the estimate is read from the question."""

from __future__ import annotations

import re

from pydantic import BaseModel

from kaizen.reasoning.context import RunContext

_ARITHMETIC = re.compile(
    r"\d\s*[-+*/x×÷^%]\s*\d|\b(?:how many|how much|total|sum|difference|percent|average|per|each|times|twice|"
    r"double|half|combined|altogether|more than|less than|left)\b",
    re.IGNORECASE,
)
_MULTI_HOP = re.compile(
    r"\b(?:and (?:what|who|when|where|which|how)|both|compare|compared|whose|of the (?:team|person|product|"
    r"department|company|office) (?:that|which|who)|before|after|between)\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
_NAME = re.compile(r"(?<![.?!]\s)(?<!^)\b[A-Z][a-zA-Z0-9]+")


class Features(BaseModel):
    words: int
    numbers: int
    arithmetic: bool
    multi_hop: bool
    named_entities: int
    knowledge_available: bool
    difficulty: float
    needs_knowledge: bool


class Route(BaseModel):
    strategy: str
    reason: str
    features: Features


def estimate(question: str, knowledge_available: bool) -> Features:
    words = len(question.split())
    numbers = len(_NUMBER.findall(question))
    arithmetic = bool(_ARITHMETIC.search(question))
    multi_hop = bool(_MULTI_HOP.search(question)) or question.count("?") > 1
    names = len(set(_NAME.findall(question.strip())))
    # Difficulty in [0, 1]: reasoning steps implied by arithmetic, hops and length.
    difficulty = min(1.0, 0.3 * arithmetic + 0.3 * multi_hop + 0.05 * min(numbers, 4) + min(words, 40) / 100)
    # Numbers given in full in the question can be solved without any document.
    self_contained = arithmetic and numbers >= 2 and names == 0
    needs_knowledge = knowledge_available and not self_contained
    return Features(
        words=words,
        numbers=numbers,
        arithmetic=arithmetic,
        multi_hop=multi_hop,
        named_entities=names,
        knowledge_available=knowledge_available,
        difficulty=round(difficulty, 3),
        needs_knowledge=needs_knowledge,
    )


def route(question: str, knowledge_available: bool, hard_threshold: float = 0.6) -> Route:
    f = estimate(question, knowledge_available)
    if f.needs_knowledge:
        if f.arithmetic:
            return Route(strategy="agent", reason="needs documents and a calculation", features=f)
        if f.multi_hop:
            return Route(strategy="chain", reason="needs documents over several hops", features=f)
        return Route(strategy="rag", reason="needs documents, one lookup", features=f)
    if f.difficulty >= hard_threshold:
        return Route(strategy="self_consistency", reason="hard closed-book reasoning: vote over chains", features=f)
    if f.arithmetic or f.multi_hop:
        return Route(strategy="cot", reason="closed-book reasoning in steps", features=f)
    reason = "simple question" + ("" if knowledge_available else ", no knowledge base to consult")
    return Route(strategy="direct", reason=reason, features=f)


def choose(ctx: RunContext) -> Route:
    available = ctx.deps.retriever is not None and bool(ctx.knowledge_bases)
    decision = route(ctx.request.question, available)
    ctx.record("route", decision.strategy, {"reason": decision.reason, "features": decision.features.model_dump()})
    return decision
