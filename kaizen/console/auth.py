"""The console's login: the API's bearer tokens, kept in an HTTP-only cookie so pages need no script to send them."""

from __future__ import annotations

from fastapi import HTTPException, Request, status
from fastapi.security import HTTPBearer

from kaizen.config import Settings
from kaizen.gateway.auth import tenant_for

COOKIE = "kaizen_console_token"
_bearer = HTTPBearer(auto_error=False)


class LoginRequired(Exception):
    """A page asked for without a known token: the browser is sent to the login page."""


def token_tenant(request: Request, token: str | None) -> str | None:
    settings: Settings = request.app.state.settings
    return tenant_for(token, settings.api_tokens) if token else None


async def _tenant(request: Request) -> str | None:
    credentials = await _bearer(request)
    token = credentials.credentials if credentials else request.cookies.get(COOKIE)
    return token_tenant(request, token)


async def page_tenant(request: Request) -> str:
    tenant = await _tenant(request)
    if tenant is None:
        raise LoginRequired
    return tenant


async def api_tenant(request: Request) -> str:
    """Cookie or bearer token; the same 401 as the API without either."""
    tenant = await _tenant(request)
    if tenant is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="log in: missing or unknown token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return tenant
