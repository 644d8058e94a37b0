"""Simulated users: they ask as real producers do (kafka-python, the JSON contract) and give honest feedback."""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Callable, Sequence

from pydantic import BaseModel

from kaizen.config import Settings
from kaizen.demo.domain import DemoQuestion
from kaizen.demo.report import AnswerRecord
from kaizen.events import Feedback, InteractionRequest, InteractionResponse, Mode, RequestOptions, Thumbs
from kaizen.gateway.schemas import FeedbackBody, InteractionBody
from kaizen.streaming.consumer import EventReader
from kaizen.streaming.producer import EventProducer
from kaizen.topics import Topics
from kaizen.training.metrics import contains_answer

# Three chunks keep a RAG prompt near 600 tokens: prefill dominates latency on a CPU.
RAG_TOP_K = 3

# Real users paste personal data into questions; the curator must scrub it before anything is stored.
_PII_PREFIXES = (
    "Hi, this is Dana Whitfield (dana.whitfield@example.org). ",
    "Call me back on +1 415 555 0134 if needed. ",
    "My card 4111 1111 1111 1111 was charged twice, unrelated, but: ",
    "From 10.42.7.19, quick one: ",
)


def _fraction(key: str) -> float:
    """A stable pseudo-random number in [0, 1) per key: the same run twice behaves the same."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) / 0x1_0000_0000


class Exchange(BaseModel):
    question: DemoQuestion
    request: InteractionRequest
    response: InteractionResponse | None = None

    def record(self) -> AnswerRecord:
        if self.response is None:
            raise ValueError(f"no response to {self.question.question_id}")
        return AnswerRecord(
            question_id=self.question.question_id,
            mode=self.request.mode.value,
            expected=self.question.answer,
            answer=self.response.answer,
            correct=self.correct,
            adapter_version=self.response.adapter_version,
            response_id=str(self.response.response_id),
        )

    @property
    def correct(self) -> bool:
        return bool(
            self.response and not self.response.error and contains_answer(self.response.answer, self.question.answer)
        )


class SimulatedUsers:
    def __init__(
        self,
        settings: Settings,
        *,
        knowledge_bases: list[str],
        tenant: str = "default",
        max_new_tokens: int = 32,
        pii_rate: float = 0.1,
        cite_rate: float = 0.5,
    ) -> None:
        self.settings = settings
        self.topics = Topics.from_settings(settings)
        self.knowledge_bases = knowledge_bases
        self.tenant = tenant
        self.max_new_tokens = max_new_tokens
        self.pii_rate = pii_rate
        self.cite_rate = cite_rate

    def _request(self, question: DemoQuestion, mode: Mode, *, salt: str, with_pii: bool) -> InteractionRequest:
        text = question.question
        if with_pii and _fraction(f"pii:{salt}:{question.question_id}") < self.pii_rate:
            prefix = _PII_PREFIXES[int(_fraction(f"which:{question.question_id}") * len(_PII_PREFIXES))]
            text = prefix + text
        return InteractionRequest(
            tenant=self.tenant,
            user_id=f"user-{int(_fraction(question.question_id) * 50)}",
            session_id=f"demo-{salt}",
            question=text,
            mode=mode,
            knowledge_bases=self.knowledge_bases,
            options=RequestOptions(max_new_tokens=self.max_new_tokens, temperature=0.0, top_k=RAG_TOP_K),
        )

    def body(self, question: DemoQuestion, mode: Mode, *, salt: str, with_pii: bool = False) -> InteractionBody:
        """The same request as a gateway caller sends it: the gateway takes the tenant from the token."""
        request = self._request(question, mode, salt=salt, with_pii=with_pii)
        return InteractionBody(**request.model_dump(include=set(InteractionBody.model_fields)))

    def ask(
        self,
        questions: Sequence[DemoQuestion],
        modes: Sequence[Mode],
        *,
        salt: str,
        with_pii: bool = False,
        timeout: float = 600.0,
        on_answer: Callable[[Exchange], None] = lambda _: None,
    ) -> list[Exchange]:
        """Send every question (mode i % len(modes)) and wait for all responses, or until ``timeout``."""
        exchanges = {}
        reader = EventReader(self.settings, self.topics.responses, InteractionResponse)
        try:
            with EventProducer(self.settings) as producer:
                for i, question in enumerate(questions):
                    request = self._request(question, modes[i % len(modes)], salt=salt, with_pii=with_pii)
                    exchanges[request.event_id] = Exchange(question=question, request=request)
                    producer.send(self.topics.requests, request)
            pending = set(exchanges)
            deadline = time.monotonic() + timeout
            while pending and time.monotonic() < deadline:
                for response in reader.collect(until=lambda got: bool(got), timeout=1.0):
                    if response.request_id in pending:
                        pending.discard(response.request_id)
                        exchanges[response.request_id].response = response
                        on_answer(exchanges[response.request_id])
        finally:
            reader.close()
        return list(exchanges.values())

    def feedback_for(self, exchange: Exchange) -> Feedback | None:
        """Thumbs up when right; otherwise thumbs down with the right answer, sometimes naming the source."""
        if exchange.response is None:
            return None
        response_id = exchange.response.response_id
        if exchange.correct:
            return Feedback(
                tenant=self.tenant,
                response_id=response_id,
                user_id=exchange.request.user_id,
                thumbs=Thumbs.up,
                rating=5,
            )
        cites = _fraction(f"cite:{exchange.request.event_id}") < self.cite_rate
        return Feedback(
            tenant=self.tenant,
            response_id=response_id,
            user_id=exchange.request.user_id,
            thumbs=Thumbs.down,
            rating=1,
            correction=exchange.question.answer,
            source_document_ids=[exchange.question.document_id] if cites else [],
            labels=["wrong_answer"],
        )

    def feedback_body(self, exchange: Exchange) -> FeedbackBody | None:
        """``feedback_for`` as a gateway caller posts it."""
        feedback = self.feedback_for(exchange)
        if feedback is None:
            return None
        return FeedbackBody(**feedback.model_dump(include=set(FeedbackBody.model_fields)))

    def send_feedback(self, exchanges: Sequence[Exchange]) -> list[Feedback]:
        sent = [fb for fb in map(self.feedback_for, exchanges) if fb is not None]
        with EventProducer(self.settings) as producer:
            for fb in sent:
                producer.send(self.topics.feedback, fb)
        return sent


def request_ids(exchanges: Sequence[Exchange]) -> set[uuid.UUID]:
    return {e.request.event_id for e in exchanges}
