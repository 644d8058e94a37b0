"""The feedback policy: which feedback makes a training example, a preference pair, or nothing."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from kaizen.curation.records import derived_id
from kaizen.events import Feedback, InstructionExample, InteractionResponse, Thumbs


class Verdict(StrEnum):
    accepted = "accepted"  # the answer is a training target
    corrected = "corrected"  # the correction is the target; the original answer the rejected side
    rejected = "rejected"  # a rejected pair only: kept for preference tuning, never a target
    neutral = "neutral"  # no usable signal (comment only, or signals that contradict each other)


class FeedbackPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    accept_rating: int = Field(4, ge=1, le=5, description="A rating at or above this accepts the answer.")
    reject_rating: int = Field(2, ge=1, le=5, description="A rating at or below this rejects the answer.")
    accept_labels: frozenset[str] = frozenset({"correct", "helpful"})
    reject_labels: frozenset[str] = frozenset({"wrong", "incorrect", "hallucination", "unhelpful", "harmful"})
    use_corrections: bool = Field(True, description="A correction replaces the answer as the training target.")
    keep_rejected_pairs: bool = True
    context_from_citations: bool = Field(True, description="Cited quotes become the example's context.")

    def decide(self, fb: Feedback) -> Verdict:
        if self.use_corrections and fb.correction and fb.correction.strip():
            return Verdict.corrected
        labels = {label.casefold() for label in fb.labels}
        positive = (
            fb.thumbs == Thumbs.up
            or (fb.rating is not None and fb.rating >= self.accept_rating)
            or bool(labels & self.accept_labels)
        )
        negative = (
            fb.thumbs == Thumbs.down
            or (fb.rating is not None and fb.rating <= self.reject_rating)
            or bool(labels & self.reject_labels)
        )
        if positive and not negative:
            return Verdict.accepted
        if negative and not positive:
            return Verdict.rejected if self.keep_rejected_pairs else Verdict.neutral
        return Verdict.neutral


def context_of(response: InteractionResponse) -> str:
    quotes = [c.quote.strip() for c in response.citations if c.quote.strip()]
    return "\n\n".join(dict.fromkeys(quotes))


def source_ids(response: InteractionResponse) -> list[str]:
    return list(dict.fromkeys(c.chunk_id for c in response.citations))


def build_instruction(
    response: InteractionResponse,
    fb: Feedback,
    verdict: Verdict,
    policy: FeedbackPolicy,
    *,
    correction: str | None = None,
) -> InstructionExample:
    """One example for one feedback event; ``response`` and ``correction`` must already be scrubbed."""
    if verdict == Verdict.neutral:
        raise ValueError("neutral feedback makes no example")
    example_id = derived_id("instruction", fb.event_id)
    output, rejected, accepted = response.answer, None, True
    if verdict == Verdict.corrected:
        output, rejected = correction or "", response.answer
    elif verdict == Verdict.rejected:
        output, rejected, accepted = "", response.answer, False
    return InstructionExample(
        event_id=derived_id("instruction-event", fb.event_id),
        created_at=fb.created_at,
        tenant=response.tenant,
        example_id=str(example_id),
        feedback_id=fb.event_id,
        response_id=response.response_id,
        instruction=response.question,
        context=context_of(response) if policy.context_from_citations else "",
        output=output,
        # Reasoning that led to an answer users accepted can teach few-shot prompts; one that led to a corrected
        # answer cannot.
        reasoning=list(response.reasoning) if verdict == Verdict.accepted else [],
        rejected_output=rejected,
        accepted=accepted,
        source_ids=source_ids(response),
        strategy=response.strategy or response.mode.value,
        # The whole exchange: a follow-up is only a training example together with the turns it follows.
        session_id=response.session_id,
        system=response.system,
        history=list(response.history),
    )
