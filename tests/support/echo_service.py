"""A minimal service built like the real ones, to test decoding and dead-lettering through a real broker."""

from __future__ import annotations

from kaizen.events import InteractionRequest, InteractionResponse, Mode
from services.app import make_app
from services.base import validated
from services.runner import run_worker

app = make_app("echo")
requests = app.topic(app.topics_.requests, value_serializer="raw")
responses = app.topic(app.topics_.responses, value_serializer="raw")


@app.agent(requests)
async def echo(stream):  # type: ignore[no-untyped-def]
    async for request in validated(stream, InteractionRequest, service="echo", app=app):
        response = InteractionResponse(
            tenant=request.tenant,
            request_id=request.event_id,
            response_id=InteractionResponse.response_id_for(request.event_id),
            question=request.question,
            mode=request.mode,
            strategy=Mode.direct,
            answer=request.question.upper(),
        )
        await responses.send(value=response.to_bytes())


if __name__ == "__main__":
    run_worker(app)
