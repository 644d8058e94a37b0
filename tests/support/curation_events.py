"""A served response and feedback on it, as the curator receives them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from kaizen.events import Citation, Feedback, InteractionResponse

T0 = datetime(2026, 1, 1, tzinfo=UTC)
PARIS = "Paris is the capital and largest city of France. It lies on the Seine. It has many museums."


def response(
    answer: str = "The capital of France is Paris.",
    question: str = "What is the capital of France?",
    *,
    tenant: str = "acme",
    cited: bool = True,
    **conversation: object,
) -> InteractionResponse:
    request_id = uuid.uuid4()
    citations = (
        [Citation(document_id="geo", chunk_id="geo#0", knowledge_base="kb", title="Geography", quote=PARIS)]
        if cited
        else []
    )
    return InteractionResponse(
        tenant=tenant,
        request_id=request_id,
        response_id=InteractionResponse.response_id_for(request_id),
        question=question,
        strategy="rag",
        answer=answer,
        citations=citations,
        retrieved_chunk_ids=["geo#0", "geo#1", "food#0"] if cited else [],
        **conversation,
    )


def feedback(resp: InteractionResponse, **kw: object) -> Feedback:
    return Feedback(tenant=resp.tenant, response_id=resp.response_id, created_at=T0, **kw)
