"""Training examples: the instruction + RAFT mix, rendered with the model's chat template, loss on answers only."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from kaizen.events import InstructionExample, RaftExample

log = logging.getLogger(__name__)

IGNORE = -100
ANSWER_MARK = "<ANSWER>:"
QUOTE_OPEN = "##begin_quote##"
QUOTE_CLOSE = "##end_quote##"
# Used when a tokenizer ships without a chat template; it is Gemma's own format.
_GEMMA_TURNS = "<start_of_turn>user\n{user}<end_of_turn>\n<start_of_turn>model\n"
_END_OF_TURN = "<end_of_turn>"

Kind = Literal["instruction", "raft"]


class TrainingExample(BaseModel):
    """One example, in both exam forms: open-book (with its context) and closed-book (the question alone)."""

    model_config = ConfigDict(frozen=True)

    example_id: str
    tenant: str = "default"
    kind: Kind
    question: str
    context: str = Field("", description="Rendered documents or the instruction's context; empty = none.")
    target: str = Field(description="What the model is trained to say.")
    reference: str = Field(description="The short answer scored by exact match / F1.")
    oracle_texts: list[str] = Field(default_factory=list, description="RAFT: text of the oracle documents.")

    def user_text(self, *, open_book: bool = True) -> str:
        if open_book and self.context:
            return f"{self.context}\n\n{self.question}"
        return self.question


def from_instruction(example: InstructionExample) -> TrainingExample:
    return TrainingExample(
        example_id=example.example_id,
        tenant=example.tenant,
        kind="instruction",
        question=example.instruction,
        context=example.context,
        target=example.output,
        reference=example.output,
    )


def raft_target(example: RaftExample) -> str:
    """RAFT's answer form: reasoning that quotes the oracle, then the final answer after a marker."""
    if ANSWER_MARK in example.answer:
        return example.answer
    return f"{example.answer}\n{ANSWER_MARK} {example.final_answer}"


def render_documents(example: RaftExample, max_doc_chars: int) -> str:
    parts = []
    for i, doc in enumerate(example.documents, start=1):
        title = f" {doc.title}" if doc.title else ""
        parts.append(f"[{i}]{title}\n{doc.text[:max_doc_chars]}")
    return "Documents:\n" + "\n\n".join(parts)


def from_raft(example: RaftExample, *, max_doc_chars: int = 1200) -> TrainingExample:
    return TrainingExample(
        example_id=example.example_id,
        tenant=example.tenant,
        kind="raft",
        question=example.question,
        context=render_documents(example, max_doc_chars) if example.documents else "",
        target=raft_target(example),
        reference=example.final_answer,
        oracle_texts=[d.text for d in example.documents if d.oracle],
    )


def to_training_examples(
    examples: Iterable[InstructionExample | RaftExample | TrainingExample], *, max_doc_chars: int = 1200
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


def render_prompt(tokenizer: object, user_text: str) -> str:
    """The prompt up to where the model starts answering, as the model's chat template writes it."""
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(  # type: ignore[attr-defined]
            [{"role": "user", "content": user_text}], tokenize=False, add_generation_prompt=True
        )
    bos = getattr(tokenizer, "bos_token", None) or ""
    return bos + _GEMMA_TURNS.format(user=user_text)


def end_of_turn(tokenizer: object) -> str:
    """The token that closes the model's turn: trained after every answer so generation stops."""
    vocab = tokenizer.get_vocab()  # type: ignore[attr-defined]
    return _END_OF_TURN if _END_OF_TURN in vocab else tokenizer.eos_token  # type: ignore[attr-defined]


class Encoded(BaseModel):
    model_config = ConfigDict(arbitrary_types_allowed=True)

    example_id: str
    input_ids: list[int]
    labels: list[int]


def encode(tokenizer: object, example: TrainingExample, *, max_length: int, open_book: bool = True) -> Encoded | None:
    """Token ids and labels (answer tokens only); None when the example does not fit in ``max_length``."""
    prompt = render_prompt(tokenizer, example.user_text(open_book=open_book))
    # The rendered prompt already carries BOS: adding special tokens again would double it.
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]  # type: ignore[operator]
    answer_ids = tokenizer(example.target + end_of_turn(tokenizer), add_special_tokens=False)["input_ids"]  # type: ignore[operator]
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
