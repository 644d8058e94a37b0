"""Mounting the console on the gateway: its pages, its JSON actions and its packaged static files."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from kaizen.config import Settings
from kaizen.console import api, pages
from kaizen.console.auth import LoginRequired
from kaizen.console.resources import Resources

STATIC = Path(__file__).parent / "static"


def _login(request: Request, exc: Exception) -> RedirectResponse:
    return RedirectResponse("/console/login", status_code=303)


def mount(app: FastAPI, settings: Settings) -> None:
    app.state.console = Resources(settings)
    app.include_router(pages.router)
    app.include_router(api.router)
    app.mount("/console/static", StaticFiles(directory=STATIC), name="console-static")
    app.add_exception_handler(LoginRequired, _login)
