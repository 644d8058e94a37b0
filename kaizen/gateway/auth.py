"""Bearer-token authentication: the token decides the tenant, nothing in a body can."""

from __future__ import annotations

import hmac

from fastapi import HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

from kaizen.config import Settings

_bearer = HTTPBearer(auto_error=False)


def tenant_for(token: str, tokens: dict[SecretStr, str]) -> str | None:
    # Compare against every token in constant time, with no early exit, so timing reveals neither how much of a
    # token matched nor which one did.
    found = None
    for known, tenant in tokens.items():
        if hmac.compare_digest(token.encode(), known.get_secret_value().encode()):
            found = tenant
    return found


async def require_tenant(request: Request) -> str:
    credentials: HTTPAuthorizationCredentials | None = await _bearer(request)
    settings: Settings = request.app.state.settings
    tenant = tenant_for(credentials.credentials, settings.api_tokens) if credentials else None
    if tenant is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail="missing or unknown bearer token" if credentials is None else "unknown bearer token",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return tenant
