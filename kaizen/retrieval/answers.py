"""Verified answers: the retrieval half of the flywheel.

Every accepted or corrected answer that curation publishes becomes a small document in the tenant's answers
knowledge base, which every retrieval also searches. The next user who asks the same thing in other words gets
the verified answer among the sources at once, before any retraining, and so does a retrieval miss: the answer
holds the words users ask with, where the handbook holds the words its authors wrote with.
"""

from __future__ import annotations

import hashlib

from kaizen.events import DocumentEvent, InstructionExample

ANSWER_TITLE = "Verified answer"
# An answer document must stay one chunk, or its question and answer are cut apart: 400 characters are about 100
# tokens, under the smallest chunk size in use (the demo's 128).
MAX_ANSWER_CHARS = 400


def answer_document_id(question: str) -> str:
    """One document per question (case and spacing aside): a newer verified answer replaces an older one."""
    key = " ".join(question.casefold().split())
    return "answer-" + hashlib.sha256(key.encode()).hexdigest()[:20]


def answer_document(example: InstructionExample, *, knowledge_base: str) -> DocumentEvent | None:
    """The upsert of a curated example's verified answer; None when there is nothing to remember.

    Curation has already scrubbed PII from both texts. Rejected examples (thumbs down without a correction) and
    answers too long to stay one chunk with their question are not kept.
    """
    question, answer = " ".join(example.instruction.split()), " ".join(example.output.split())
    if not (knowledge_base and example.accepted and question and answer):
        return None
    text = f"Question: {question}\nAnswer: {answer}"
    if len(text) > MAX_ANSWER_CHARS:
        return None
    return DocumentEvent(
        tenant=example.tenant,
        knowledge_base=knowledge_base,
        document_id=answer_document_id(question),
        title=ANSWER_TITLE,
        text=text,
        metadata={
            "format": "text",
            "source": "feedback",
            "example_id": example.example_id,
            "feedback_id": str(example.feedback_id),
            "strategy": example.strategy,
        },
    )
