"""Cold start: RAFT question/answer pairs written by the model from a knowledge base that has no traffic yet.

For each sampled chunk, one sentence becomes the oracle fact: the model writes a question that the sentence
answers and a short answer; the example quotes the sentence (##begin_quote##...##end_quote##) and mixes the oracle
with distractor chunks, leaving the oracle out of a share of examples as RAFT does.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import re
from collections.abc import Sequence

from pydantic import BaseModel, Field

from kaizen.events import RaftDocument, RaftExample
from kaizen.llm.types import LLM
from kaizen.retrieval.types import Chunk
from kaizen.training.data import QUOTE_CLOSE, QUOTE_OPEN

_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_QUESTION_PROMPT = (
    "Write one question that the fact answers.\n\n"
    "Fact: The Eiffel Tower is 330 metres tall.\nQuestion: How tall is the Eiffel Tower?\n\n"
    "Fact: Marie Curie won the Nobel Prize in Physics in 1903.\nQuestion: When did Marie Curie win the Nobel "
    "Prize in Physics?\n\n"
    "Fact: {fact}\nQuestion:"
)
_ANSWER_PROMPT = "Fact: {fact}\nQuestion: {question}\nShort answer (a few words from the fact):"


class BootstrapParams(BaseModel):
    distractors: int = Field(3, ge=0)
    oracle_share: float = Field(0.8, ge=0.0, le=1.0, description="Share of examples that include the oracle.")
    min_sentence_chars: int = Field(30, ge=1)
    seed: int = 0


def pick_fact(text: str, min_chars: int) -> str | None:
    """The longest sentence of the chunk: most likely to carry a self-contained fact."""
    sentences = [s.strip() for s in _SENTENCE.split(text) if len(s.strip()) >= min_chars]
    return max(sentences, key=len) if sentences else None


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0].strip() if text.strip() else ""


async def write_pair(llm: LLM, fact: str) -> tuple[str, str] | None:
    """(question, short answer), or None when the model produced nothing usable."""
    q = _first_line((await llm.generate(_QUESTION_PROMPT.format(fact=fact), max_new_tokens=40, stop=["\n"])).text)
    if not q.endswith("?") or len(q) < 8:
        return None
    a = _first_line(
        (await llm.generate(_ANSWER_PROMPT.format(fact=fact, question=q), max_new_tokens=24, stop=["\n"])).text
    )
    # An answer the fact does not contain is a hallucination: fall back to the fact itself.
    return q, a if a and a.lower() in fact.lower() else fact


def _document(chunk: Chunk, *, oracle: bool) -> RaftDocument:
    return RaftDocument(
        chunk_id=chunk.chunk_id, document_id=chunk.document_id, title=chunk.title, text=chunk.text, oracle=oracle
    )


async def bootstrap_examples(
    llm: LLM, chunks: Sequence[Chunk], params: BootstrapParams | None = None
) -> list[RaftExample]:
    params = params or BootstrapParams()
    rng = random.Random(params.seed)
    facts = {c.chunk_id: pick_fact(c.text, params.min_sentence_chars) for c in chunks}
    with_fact = [c for c in chunks if facts[c.chunk_id] is not None]
    # All questions at once: a batching engine writes them side by side. Results keep the chunks' order, so the
    # random draws below (and the dataset) do not depend on which generation finished first.
    pairs = await asyncio.gather(*(write_pair(llm, facts[c.chunk_id] or "") for c in with_fact))
    examples: list[RaftExample] = []
    for chunk, pair in zip(with_fact, pairs, strict=True):
        fact = facts[chunk.chunk_id] or ""
        if pair is None:
            continue
        question, answer = pair
        others = [c for c in chunks if c.chunk_id != chunk.chunk_id]
        docs = [_document(c, oracle=False) for c in rng.sample(others, min(params.distractors, len(others)))]
        with_oracle = rng.random() < params.oracle_share
        if with_oracle:
            docs.insert(rng.randrange(len(docs) + 1), _document(chunk, oracle=True))
        example_id = hashlib.sha256(f"bootstrap:{chunk.chunk_id}:{fact}".encode()).hexdigest()[:32]
        examples.append(
            RaftExample(
                tenant=chunk.tenant,
                example_id=example_id,
                question=question,
                documents=docs,
                oracle_included=with_oracle,
                answer=f"The document says: {QUOTE_OPEN}{fact}{QUOTE_CLOSE}",
                final_answer=answer,
                knowledge_base=chunk.knowledge_base,
            )
        )
    return examples
