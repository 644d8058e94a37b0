"""Training examples: the instruction + RAFT mix, rendered as the serving prompts, loss on answers only."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from kaizen.events import InstructionExample, RaftExample, Turn
from kaizen.training.prompting import Source, answer_target, as_source, closed_book_prompt, open_book_prompt

log = logging.getLogger(__name__)

IGNORE = -100
ANSWER_MARK = "<ANSWER>:"
QUOTE_OPEN = "##begin_quote##"
QUOTE_CLOSE = "##end_quote##"

Kind = Literal["instruction", "raft"]
_CLOSING_MARKS = "*_`"
_QUOTE = re.compile(re.escape(QUOTE_OPEN) + r"(.*?)" + re.escape(QUOTE_CLOSE), re.DOTALL)


class TrainingExample(BaseModel):
    """One example: closed-book (the question alone) and, with sources, open-book (the ``rag`` prompt)."""

    model_config = ConfigDict(frozen=True)

    example_id: str
    group_id: str = Field(
        "", description="The interaction it came from: its instruction and RAFT forms share it (and a split)."
    )
    tenant: str = "default"
    kind: Kind
    question: str
    sources: list[Source] = Field(default_factory=list, description="RAFT documents, numbered as in serving.")
    oracle_numbers: list[int] = Field(default_factory=list, description="Numbers of the oracle sources shown.")
    reference: str = Field(description="The short answer scored by exact match / F1.")
    oracle_texts: list[str] = Field(default_factory=list, description="RAFT: text of the oracle documents.")
    quoted: str = Field(
        "", description="RAFT: the oracle's words up to and including the answer, the open-book training target."
    )
    system: str | None = Field(None, description="The conversation's system prompt, rendered as serving does.")
    history: list[Turn] = Field(default_factory=list, description="Turns before the question, as serving shows them.")

    @property
    def split_key(self) -> str:
        return self.group_id or self.example_id

    @property
    def open_book(self) -> bool:
        return bool(self.sources)

    def prompt(self, *, open_book: bool) -> str:
        if open_book and self.sources:
            return open_book_prompt(self.question, self.sources)
        return closed_book_prompt(self.question, system=self.system, history=self.history)

    def target(self, *, open_book: bool) -> str:
        """Open-book answers cite the oracle sources shown, as the rag strategy expects; closed-book ones do not.

        With the oracle shown, the target is the oracle's own words up to the answer (RAFT's quote, as one
        clause): copying the sentence that answers teaches reading the sources, which carries over to questions
        never trained on, where a bare answer only teaches recalling this one.
        """
        if open_book and self.sources and self.oracle_numbers:
            return answer_target(self.quoted or self.reference, self.oracle_numbers)
        return answer_target(self.reference, None)


def from_instruction(example: InstructionExample) -> TrainingExample:
    # Closed-book: the flywheel teaches the model the answers users confirmed or corrected.
    return TrainingExample(
        example_id=example.example_id,
        group_id=str(example.feedback_id),
        tenant=example.tenant,
        kind="instruction",
        question=example.instruction,
        reference=example.output,
        system=example.system,
        history=list(example.history),
    )


def quoted_clause(reasoning: str, answer: str, shown: Sequence[str]) -> str:
    """The first quote (between RAFT's quote marks) that holds the answer and a shown source holds, cut after it."""
    want = answer.strip().casefold()
    if not want:
        return ""
    for quote in _QUOTE.findall(reasoning):
        start = quote.casefold().find(want)
        end = start + len(want)
        while start >= 0 and end < len(quote) and quote[end] in _CLOSING_MARKS:
            end += 1  # close the emphasis the answer sits in (**27 days**), as the source shows it
        clause = quote[:end].strip() if start >= 0 else ""
        if clause and any(clause in text for text in shown):
            return clause
    return ""


def from_raft(example: RaftExample, *, max_doc_chars: int = 800) -> TrainingExample:
    sources = [as_source(i, d.title, d.text, max_doc_chars) for i, d in enumerate(example.documents, start=1)]
    oracle_sources = [s.text for s, d in zip(sources, example.documents, strict=True) if d.oracle]
    return TrainingExample(
        example_id=example.example_id,
        group_id=str(example.feedback_id) if example.feedback_id else "",
        tenant=example.tenant,
        kind="raft",
        question=example.question,
        sources=sources,
        oracle_numbers=[i for i, d in enumerate(example.documents, start=1) if d.oracle],
        reference=example.final_answer,
        oracle_texts=[d.text for d in example.documents if d.oracle],
        quoted=quoted_clause(example.answer, example.final_answer, oracle_sources),
    )


def to_training_examples(
    examples: Iterable[InstructionExample | RaftExample | TrainingExample], *, max_doc_chars: int = 800
) -> list[TrainingExample]:
    """The mix, in a stable order; rejected instruction examples (thumbs down, no correction) are left out."""
    out: list[TrainingExample] = []
    for ex in examples:
        if isinstance(ex, TrainingExample):
            out.append(ex)
        elif isinstance(ex, InstructionExample):
            if ex.accepted:
                out.append(from_instruction(ex))
        elif isinstance(ex, RaftExample):
            out.append(from_raft(ex, max_doc_chars=max_doc_chars))
        else:
            raise TypeError(f"not a training example: {type(ex).__name__}")
    return sorted(out, key=lambda e: e.example_id)


class Encoded(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    example_id: str
    input_ids: list[int]
    labels: list[int]

    @property
    def answer_tokens(self) -> int:
        return sum(1 for t in self.labels if t != IGNORE)


def encode(tokenizer: object, example: TrainingExample, *, max_length: int) -> Encoded | None:
    """Token ids and labels (answer tokens only); None when the example does not fit in ``max_length``.

    RAFT examples train in their open-book form, instructions closed-book: the forms the serving strategies use.
    """
    open_book = example.open_book
    # A plain-text prompt gets BOS from the tokenizer, as the generation engine encodes it.
    prompt_ids = tokenizer(example.prompt(open_book=open_book))["input_ids"]  # type: ignore[operator]
    answer_ids = tokenizer(example.target(open_book=open_book), add_special_tokens=False)["input_ids"]  # type: ignore[operator]
    ids = prompt_ids + answer_ids
    if len(ids) > max_length:
        return None
    labels = [IGNORE] * len(prompt_ids) + answer_ids
    return Encoded(example_id=example.example_id, input_ids=ids, labels=labels)


def encode_all(
    tokenizer: object, examples: Sequence[TrainingExample], *, max_length: int
) -> tuple[list[Encoded], list[str]]:
    """Encoded examples and the ids of those skipped for length (reported, never silently dropped)."""
    encoded: list[Encoded] = []
    skipped: list[str] = []
    for ex in examples:
        item = encode(tokenizer, ex, max_length=max_length)
        if item is None:
            skipped.append(ex.example_id)
        else:
            encoded.append(item)
    if skipped:
        log.warning("%d examples longer than %d tokens were skipped: %s", len(skipped), max_length, skipped[:5])
    return encoded, skipped


class Batch(BaseModel):
    """Left-padded, so every answer ends at the last position and logits are needed only for the tail."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    input_ids: torch.Tensor
    attention_mask: torch.Tensor
    labels: torch.Tensor  # already shifted: labels[:, t] is the token predicted at position t
    logits_to_keep: int

    @property
    def answer_tokens(self) -> int:
        return int((self.labels != IGNORE).sum())


def split_by_tokens(items: Sequence[Encoded], max_tokens: int) -> list[list[Encoded]]:
    """``items`` cut into runs of similar length whose padded size (rows x longest) stays within ``max_tokens``.

    Activation memory grows with the padded tokens of one forward pass, not with the batch size: four 400-token
    RAFT examples hold ~2.7 GB of activations in fp32 on Gemma 3 270M, one of them a quarter. An example longer
    than the budget runs alone.
    """
    pieces: list[list[Encoded]] = []
    current: list[Encoded] = []
    for item in sorted(items, key=lambda it: len(it.input_ids)):
        if current and (len(current) + 1) * len(item.input_ids) > max_tokens:
            pieces.append(current)
            current = []
        current.append(item)
    if current:
        pieces.append(current)
    return pieces


def collate(items: Sequence[Encoded], pad_id: int) -> Batch:
    width = max(len(it.input_ids) for it in items)
    ids = torch.full((len(items), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(items), width), dtype=torch.long)
    labels = torch.full((len(items), width), IGNORE, dtype=torch.long)
    for row, it in enumerate(items):
        n = len(it.input_ids)
        ids[row, width - n :] = torch.tensor(it.input_ids)
        mask[row, width - n :] = 1
        # Position t predicts token t+1: shift once here so the loss lines up with the kept logits.
        labels[row, width - n : width - 1] = torch.tensor(it.labels[1:])
    supervised = (labels != IGNORE).any(dim=0).nonzero()
    first = int(supervised.min()) if len(supervised) else width - 1
    keep = width - first
    return Batch(input_ids=ids, attention_mask=mask, labels=labels[:, -keep:], logits_to_keep=keep)
