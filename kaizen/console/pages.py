"""The console's pages, rendered on the server from the same objects the CLI prints."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel

from kaizen.console import adapters_view, datasets_view, flywheel_view
from kaizen.console.auth import page_tenant
from kaizen.console.chart import Series, line_chart
from kaizen.console.resources import Resources, resources
from kaizen.datasets.store import DatasetNotFound, DatasetStore
from kaizen.demo.report import CycleReport, DemoReport
from kaizen.events import Mode
from kaizen.gateway.routes import bus_of
from kaizen.retrieval.types import KnowledgeBaseNotFound

router = APIRouter(prefix="/console", include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
Tenant = Annotated[str, Depends(page_tenant)]
Res = Annotated[Resources, Depends(resources)]


class KnowledgeBaseRow(BaseModel):
    name: str
    documents: int | None
    chunks: int


def _page(request: Request, name: str, tenant: str, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"tenant": tenant, "page": name.removesuffix(".html"), **context})


def _knowledge_bases(res: Resources, tenant: str) -> list[KnowledgeBaseRow]:
    store = res.store
    return [
        KnowledgeBaseRow(
            name=kb,
            documents=store.document_count(tenant=tenant, knowledge_base=kb),
            chunks=store.count(tenant=tenant, knowledge_base=kb),
        )
        for kb in store.knowledge_bases(tenant=tenant)
    ]


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "login.html", {"tenant": None, "page": "login"})


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
async def chat_page(request: Request, tenant: Tenant, res: Res) -> HTMLResponse:
    kbs = await asyncio.to_thread(_knowledge_bases, res, tenant)
    recent = bus_of(request).store.recent(tenant, 10)
    return _page(request, "chat.html", tenant, modes=[m.value for m in Mode], kbs=kbs, recent=recent)


@router.get("/knowledge", response_class=HTMLResponse)
async def knowledge_page(request: Request, tenant: Tenant, res: Res) -> HTMLResponse:
    kbs = await asyncio.to_thread(_knowledge_bases, res, tenant)
    return _page(request, "knowledge.html", tenant, kbs=kbs)


@router.get("/knowledge/{knowledge_base}/chunks/{chunk_id:path}", response_class=HTMLResponse)
async def chunk_page(request: Request, knowledge_base: str, chunk_id: str, tenant: Tenant, res: Res) -> HTMLResponse:
    try:
        found = await asyncio.to_thread(
            res.store.get_chunks, tenant=tenant, knowledge_base=knowledge_base, chunk_ids=[chunk_id]
        )
    except (KnowledgeBaseNotFound, ValueError):
        found = []
    if not found:
        raise HTTPException(404, detail=f"no chunk {chunk_id!r} in {knowledge_base!r}")
    return _page(request, "chunk.html", tenant, chunk=found[0])


def _datasets_context(
    store: DatasetStore, tenant: str, version: str | None, old: str | None, new: str | None
) -> dict[str, Any]:
    versions = datasets_view.versions(store, tenant)
    context: dict[str, Any] = {"versions": versions, "curated": datasets_view.curated(store, tenant)}
    selected = datasets_view.owned(store, version, tenant) if version else (versions[0] if versions else None)
    if selected is not None:
        context |= {
            "selected": selected,
            "instructions": store.instructions(selected.version),
            "rafts": store.raft(selected.version),
        }
    if old and new:
        context["diff"] = datasets_view.diff(store, old, new, tenant)
    return context


@router.get("/datasets", response_class=HTMLResponse)
async def datasets_page(
    request: Request,
    tenant: Tenant,
    res: Res,
    version: str | None = None,
    old: str | None = None,
    new: str | None = None,
) -> HTMLResponse:
    try:
        # Off the loop: a version's files can be large, and the loop relays every tenant's answers.
        context = await asyncio.to_thread(_datasets_context, res.datasets, tenant, version, old, new)
    except DatasetNotFound as exc:
        raise HTTPException(404, detail=str(exc)) from exc
    return _page(request, "datasets.html", tenant, **context)


@router.get("/adapters", response_class=HTMLResponse)
async def adapters_page(request: Request, tenant: Tenant, res: Res) -> HTMLResponse:
    bus = bus_of(request)
    settings = res.settings
    return _page(
        request,
        "adapters.html",
        tenant,
        history=list(reversed(res.registry.history(tenant))),
        metric=settings.retrain_gate_metric,
        serving=adapters_view.serving_view(bus.state, bus.store, tenant),
        replicas=await adapters_view.replicas(settings, tenant),
        default_share=settings.canary_share,
    )


def _stream_accuracy(cycle: CycleReport) -> float | None:
    """What the simulated users got in the cycle, all modes together; None before any question was streamed."""
    total = sum(s.total for s in cycle.stream_by_mode.values())
    return sum(s.correct for s in cycle.stream_by_mode.values()) / total if total else None


def _demo_charts(report: DemoReport) -> str:
    labels = ["base" if c.cycle == 0 else f"cycle {c.cycle}" for c in report.cycles]
    return line_chart(
        labels,
        [
            Series(name="closed-book (direct)", values=[c.closed_book.accuracy for c in report.cycles]),
            Series(name="open-book (rag)", values=[c.open_book.accuracy for c in report.cycles]),
            Series(name="users' stream", values=[_stream_accuracy(c) for c in report.cycles]),
        ],
        title="Held-out accuracy per cycle (demo report)",
    )


@router.get("/flywheel", response_class=HTMLResponse)
async def flywheel_page(request: Request, tenant: Tenant, res: Res) -> HTMLResponse:
    settings = res.settings
    report = flywheel_view.demo_report(settings, tenant)
    history = flywheel_view.metric_history(res.registry.history(tenant), settings.retrain_gate_metric)
    registry_chart = (
        line_chart(
            [version for version, _, _ in history],
            [
                Series(name="closed-book", values=[closed for _, closed, _ in history]),
                Series(name="open-book", values=[open_ for _, _, open_ in history]),
            ],
            title=f"Held-out {settings.retrain_gate_metric} per adapter version (registry)",
        )
        if history
        else None
    )
    runs = await asyncio.to_thread(flywheel_view.retrain_runs, settings, tenant)
    return _page(
        request,
        "flywheel.html",
        tenant,
        report=report,
        report_path=flywheel_view.demo_report_path(settings),
        demo_chart=_demo_charts(report) if report and report.cycles else None,
        registry_chart=registry_chart,
        history=history,
        runs=runs,
        dashboard=flywheel_view.dashboard_url(settings),
    )
