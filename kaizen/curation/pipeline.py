"""The curator's core: joins feedback to responses and turns each feedback event into at most one instruction
example and one RAFT example. Pure logic over two mappings, so the Faust service can back them with tables."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import MutableMapping
from datetime import datetime, timedelta

from pydantic import BaseModel, ConfigDict, Field

from kaizen.config import Settings
from kaizen.curation.filters import FilterConfig, QualityFilter, RejectReason
from kaizen.curation.language import guess_language
from kaizen.curation.pii import PiiConfig, PiiScrubber, add_counts
from kaizen.curation.policy import FeedbackPolicy, Verdict, build_instruction
from kaizen.curation.raft import ChunkLookup, DistractorSource, RaftBuilder, RaftConfig
from kaizen.curation.records import (
    CurationResult,
    Outcome,
    PendingFeedback,
    RejectionRecord,
    StoredResponse,
    derived_id,
)
from kaizen.events import Feedback, InteractionResponse, now


class CuratorConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    policy: FeedbackPolicy = Field(default_factory=FeedbackPolicy)
    filters: FilterConfig = Field(default_factory=FilterConfig)
    raft: RaftConfig = Field(default_factory=RaftConfig)
    pii: PiiConfig = Field(default_factory=PiiConfig)
    feedback_wait_seconds: float = Field(300.0, gt=0)
    response_cache_size: int = Field(50_000, ge=0, description="Parsed recent responses kept in memory.")

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> CuratorConfig:
        raft = RaftConfig(
            distractors=settings.raft_distractors,
            oracle_probability=settings.raft_oracle_probability,
            chain_of_thought=settings.raft_chain_of_thought,
        )
        return cls.model_validate({"feedback_wait_seconds": settings.feedback_wait_seconds, "raft": raft, **overrides})


class Curator:
    """``responses`` and ``pending`` map a response id to JSON bytes; plain dicts or Faust tables both fit."""

    def __init__(
        self,
        config: CuratorConfig | None = None,
        *,
        responses: MutableMapping[str, bytes] | None = None,
        pending: MutableMapping[str, bytes] | None = None,
        lookup: ChunkLookup | None = None,
        distractor_source: DistractorSource | None = None,
    ) -> None:
        self.config = config or CuratorConfig()
        self.responses: MutableMapping[str, bytes] = {} if responses is None else responses
        self.pending: MutableMapping[str, bytes] = {} if pending is None else pending
        self._recent: OrderedDict[str, StoredResponse] = OrderedDict()
        self.scrubber = PiiScrubber(self.config.pii)
        self.filter = QualityFilter(self.config.filters)
        self.raft = RaftBuilder(
            self.config.raft, scrub=self._scrub_text, lookup=lookup, distractor_source=distractor_source
        )

    # --- responses ------------------------------------------------------------------------------------
    def _scrub_text(self, text: str) -> tuple[str, dict[str, int]]:
        result = self.scrubber.scrub(text)
        return result.text, result.counts

    def scrub_response(self, resp: InteractionResponse) -> StoredResponse:
        """Every free-text field scrubbed; ids, trace and timings dropped or kept as they carry no text."""
        counts: list[dict[str, int]] = []

        def clean(text: str) -> str:
            result = self.scrubber.scrub(text)
            counts.append(result.counts)
            return result.text

        citations = [c.model_copy(update={"quote": clean(c.quote), "title": clean(c.title)}) for c in resp.citations]
        scrubbed = resp.model_copy(
            update={
                "question": clean(resp.question),
                "answer": clean(resp.answer),
                "reasoning": [clean(r) for r in resp.reasoning],
                "system": clean(resp.system) if resp.system else resp.system,
                "history": [t.model_copy(update={"content": clean(t.content)}) for t in resp.history],
                "citations": citations,
                # The trace can hold raw prompts and tool outputs: curation never needs it, so it is not kept.
                "trace": [],
                "error": clean(resp.error) if resp.error else resp.error,
            }
        )
        return StoredResponse(
            response=scrubbed,
            pii_counts=add_counts(*counts),
            question_language=guess_language(scrubbed.question),
            answer_language=guess_language(scrubbed.answer),
        )

    def add_response(self, resp: InteractionResponse) -> list[CurationResult]:
        """Store the (scrubbed) response; returns the results of any feedback that was waiting for it."""
        return self.store_response(self.scrub_response(resp))

    def store_response(self, stored: StoredResponse) -> list[CurationResult]:
        """The second half of ``add_response``, for callers that scrub elsewhere (off the event loop)."""
        key = str(stored.response.response_id)
        self.responses[key] = stored.model_dump_json().encode()
        self._remember(key, stored)
        raw = self.pending.get(key)
        if raw is None:
            return []
        del self.pending[key]
        waiting = PendingFeedback.model_validate_json(raw)
        return [self.curate(stored, fb) for fb in waiting.feedback]

    def response(self, response_id: str) -> StoredResponse | None:
        cached = self._recent.get(response_id)
        if cached is not None:
            self._recent.move_to_end(response_id)
            return cached
        raw = self.responses.get(response_id)
        if raw is None:
            return None
        stored = StoredResponse.model_validate_json(raw)
        self._remember(response_id, stored)
        return stored

    def _remember(self, key: str, stored: StoredResponse) -> None:
        # The mapping (a Faust table) is the durable copy; this cache only saves re-parsing recent responses.
        self._recent[key] = stored
        self._recent.move_to_end(key)
        while len(self._recent) > self.config.response_cache_size:
            self._recent.popitem(last=False)

    # --- feedback -------------------------------------------------------------------------------------
    def add_feedback(self, fb: Feedback, *, at: datetime | None = None) -> CurationResult:
        """The result for ``fb``; ``Outcome.pending`` when its response has not arrived yet."""
        stored = self.response(str(fb.response_id))
        if stored is not None:
            return self.curate(stored, fb)
        self._wait(fb, at or now())
        return CurationResult(feedback_id=fb.event_id, outcome=Outcome.pending, reason="response not seen yet")

    def _wait(self, fb: Feedback, at: datetime) -> None:
        key = str(fb.response_id)
        raw = self.pending.get(key)
        if raw is None:
            deadline = at + timedelta(seconds=self.config.feedback_wait_seconds)
            entry = PendingFeedback(feedback=[fb], deadline=deadline)
        else:
            entry = PendingFeedback.model_validate_json(raw)
            if any(f.event_id == fb.event_id for f in entry.feedback):  # a redelivered duplicate
                return
            entry = entry.model_copy(update={"feedback": [*entry.feedback, fb]})
        self.pending[key] = entry.model_dump_json().encode()

    def expire(self, at: datetime | None = None) -> list[tuple[Feedback, str]]:
        """Remove feedback whose wait is over; returns each with the reason for the dead-letter topic."""
        at = at or now()
        expired: list[tuple[Feedback, str]] = []
        for key in [
            k for k, raw in list(self.pending.items()) if PendingFeedback.model_validate_json(raw).deadline <= at
        ]:
            entry = PendingFeedback.model_validate_json(self.pending[key])
            del self.pending[key]
            reason = f"no response {key} arrived within {self.config.feedback_wait_seconds:g}s of its feedback"
            expired.extend((fb, reason) for fb in entry.feedback)
        return expired

    # --- the decision ---------------------------------------------------------------------------------
    def curate(self, stored: StoredResponse, fb: Feedback) -> CurationResult:
        resp = stored.response
        if fb.tenant != resp.tenant:
            return CurationResult(
                feedback_id=fb.event_id,
                outcome=Outcome.dead_letter,
                reason=f"feedback of tenant {fb.tenant!r} names a response of another tenant",
                feedback=fb,
            )
        verdict = self.config.policy.decide(fb)
        if verdict == Verdict.neutral:
            return self._rejected(fb, resp, "no_usable_signal", Outcome.skipped, {})
        correction, pii = None, dict(stored.pii_counts)
        if verdict == Verdict.corrected:
            scrubbed = self.scrubber.scrub(fb.correction or "")
            correction, pii = scrubbed.text, add_counts(pii, scrubbed.counts)
        target = correction if verdict == Verdict.corrected else resp.answer
        languages = (stored.question_language, stored.answer_language) if correction is None else None
        reason = self._reject_reason(resp.question, target or "", verdict, languages)
        if reason is not None:
            return self._rejected(fb, resp, reason.value, Outcome.rejected, pii)
        instruction = build_instruction(resp, fb, verdict, self.config.policy, correction=correction)
        raft = None
        if self.config.raft.enabled and verdict != Verdict.rejected:
            raft, _, raft_pii = self.raft.build(resp, fb, instruction.output, lambda: derived_id("raft", fb.event_id))
            pii = add_counts(pii, raft_pii)
        return CurationResult(
            feedback_id=fb.event_id,
            outcome=Outcome.example,
            instruction=instruction,
            raft=raft,
            pii_counts=pii,
            traceparent=stored.traceparent,
        )

    def _reject_reason(
        self, question: str, target: str, verdict: Verdict, languages: tuple[str | None, str | None] | None
    ) -> RejectReason | None:
        if verdict == Verdict.rejected:
            # Not a training target: only an empty rejected answer makes a useless pair.
            return RejectReason.empty if not target.strip() else None
        return self.filter.check(question, target, languages=languages)

    def _rejected(
        self, fb: Feedback, resp: InteractionResponse, reason: str, outcome: Outcome, pii: dict[str, int]
    ) -> CurationResult:
        record = RejectionRecord(
            feedback_id=fb.event_id,
            response_id=resp.response_id,
            tenant=resp.tenant,
            reason=reason,
            created_at=fb.created_at,
        )
        return CurationResult(feedback_id=fb.event_id, outcome=outcome, rejection=record, reason=reason, pii_counts=pii)
