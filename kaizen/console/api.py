"""The console's JSON actions. Each calls the function the API or the CLI already uses; none has its own copy."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from kaizen.console import datasets_view
from kaizen.console.auth import COOKIE, api_tenant, token_tenant
from kaizen.console.resources import Resources, resources
from kaizen.datasets.export import ExportFormat, export_lines
from kaizen.datasets.store import DatasetNotFound
from kaizen.gateway import routes
from kaizen.gateway.schemas import Accepted, DocumentBody, FeedbackBody, InteractionBody
from kaizen.registry import RegistryError, operations
from kaizen.retrieval.loaders import SUFFIXES, UnreadableDocument, load_file
from kaizen.retrieval.store import check_knowledge_base
from kaizen.retrieval.types import KnowledgeBaseNotFound, SearchMode

router = APIRouter(prefix="/console/api")
Tenant = Annotated[str, Depends(api_tenant)]
Res = Annotated[Resources, Depends(resources)]


class Login(BaseModel):
    token: str = Field(min_length=1, max_length=512)


@router.post("/login")
async def login(body: Login, request: Request) -> JSONResponse:
    tenant = token_tenant(request, body.token)
    if tenant is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail="unknown token")
    reply = JSONResponse({"tenant": tenant})
    # HTTP-only: page scripts never read the token; SameSite=strict: other sites cannot make the browser send it.
    reply.set_cookie(COOKIE, body.token, httponly=True, samesite="strict", path="/console")
    return reply


@router.post("/logout")
async def logout() -> JSONResponse:
    reply = JSONResponse({"status": "logged out"})
    reply.delete_cookie(COOKIE, path="/console")
    return reply


# --- chat: the API's own interaction and feedback routes ---------------------------------------------
@router.post("/ask", response_class=StreamingResponse)
async def ask(body: InteractionBody, tenant: Tenant, request: Request) -> StreamingResponse:
    """The API's own stream (``POST /v1/interactions/stream``) with the cookie's tenant: the answer as it decodes."""
    return await routes.stream_interaction(body, tenant, request)


@router.post("/feedback", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
async def feedback(body: FeedbackBody, tenant: Tenant, request: Request) -> Accepted:
    return await routes.submit_feedback(body, tenant, request)


# Plain functions where they read or write the dataset store: FastAPI runs them off the event loop.
@router.get("/curated")
def curated(tenant: Tenant, res: Res, response_id: uuid.UUID | None = None) -> list[dict[str, Any]]:
    """What the curator made of feedback (on one response, with ``response_id``), newest first."""
    return [r.model_dump(mode="json") for r in datasets_view.curated(res.datasets, tenant, response_id=response_id)]


# --- knowledge bases -----------------------------------------------------------------------------------
@router.post("/knowledge/{knowledge_base}/upload", status_code=status.HTTP_202_ACCEPTED, response_model=Accepted)
async def upload(
    knowledge_base: str,
    tenant: Tenant,
    request: Request,
    filename: Annotated[str, Query(min_length=1, max_length=256)],
) -> Accepted:
    """One file as the raw body (no multipart parser needed), read by the ingest loaders and sent as a document
    event like ``kaizen ingest`` does; the indexer stores it."""
    content = await request.body()
    try:
        check_knowledge_base(knowledge_base)
    except ValueError as exc:
        raise HTTPException(422, detail=str(exc)) from exc
    name = Path(filename).name
    if Path(name).suffix.lower() not in SUFFIXES:
        raise HTTPException(422, detail=f"unsupported file type {Path(name).suffix!r}; known: {sorted(SUFFIXES)}")
    with tempfile.TemporaryDirectory(prefix="kaizen-upload-") as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        try:
            document = load_file(path, document_id=f"upload/{name}")
        except UnreadableDocument as exc:
            raise HTTPException(422, detail=f"{name}: {exc}") from exc
    body = DocumentBody(
        document_id=document.document_id,
        knowledge_base=knowledge_base,
        title=document.title,
        text=document.text,
        metadata=document.metadata | {"source": f"upload:{name}"},
    )
    return await routes.submit_document(body, tenant, request)


@router.get("/knowledge/search")
async def search(
    tenant: Tenant,
    res: Res,
    q: Annotated[str, Query(min_length=1, max_length=2000)],
    kb: Annotated[list[str], Query(min_length=1)],
    mode: SearchMode = "hybrid",
    alpha: Annotated[float, Query(ge=0, le=1)] = 0.5,
    top_k: Annotated[int, Query(ge=1, le=50)] = 5,
) -> list[dict[str, Any]]:
    try:
        hits = await res.knowledge.search(q, tenant=tenant, knowledge_bases=kb, mode=mode, top_k=top_k, alpha=alpha)
    except (KnowledgeBaseNotFound, ValueError) as exc:
        raise HTTPException(404 if isinstance(exc, KnowledgeBaseNotFound) else 422, detail=str(exc)) from exc
    return [h.model_dump(mode="json") for h in hits]


# --- datasets ------------------------------------------------------------------------------------------
@router.post("/datasets/snapshot")
def snapshot(tenant: Tenant, res: Res) -> dict[str, Any]:
    """A version from everything curated so far (unchanged data returns its existing version)."""
    return res.datasets.snapshot(tenant).model_dump(mode="json")


@router.get("/datasets/{version}/export")
async def export(version: str, tenant: Tenant, res: Res, fmt: ExportFormat = ExportFormat.chat) -> StreamingResponse:
    try:
        manifest = datasets_view.owned(res.datasets, version, tenant)
    except DatasetNotFound as exc:
        raise HTTPException(404, detail=str(exc)) from exc

    def lines() -> Iterator[str]:
        for line in export_lines(res.datasets, manifest.version, fmt):
            yield line + "\n"

    suffix = "json" if fmt == ExportFormat.stats else "jsonl"
    return StreamingResponse(
        lines(),
        media_type="application/json" if fmt == ExportFormat.stats else "application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="{manifest.version}-{fmt.value}.{suffix}"'},
    )


# --- adapters: the CLI's operations, published on the gateway's producer ---------------------------------
class Canary(BaseModel):
    share: float = Field(gt=0.0, le=1.0)


async def _publish(request: Request, action: Any) -> dict[str, Any]:
    try:
        event = action()
    except RegistryError as exc:
        raise HTTPException(409 if "unknown" not in str(exc) else 404, detail=str(exc)) from exc
    bus = routes.bus_of(request)
    await bus.send(bus.topics.adapters, event)
    return event.model_dump(mode="json")


@router.post("/adapters/{version}/promote")
async def promote(version: str, tenant: Tenant, res: Res, request: Request) -> dict[str, Any]:
    return await _publish(request, lambda: operations.promote(res.registry, version, tenant=tenant))


@router.post("/adapters/{version}/canary")
async def canary(version: str, body: Canary, tenant: Tenant, res: Res, request: Request) -> dict[str, Any]:
    return await _publish(request, lambda: operations.canary(res.registry, version, body.share, tenant=tenant))


@router.post("/adapters/rollback")
async def rollback(tenant: Tenant, res: Res, request: Request) -> dict[str, Any]:
    return await _publish(request, lambda: operations.rollback(res.registry, tenant))
