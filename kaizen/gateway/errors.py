"""Every gateway error is one JSON shape (OpenAI's), naming the offending field in ``param`` when there is one.

Validation errors are 400 ``invalid_request_error``, as OpenAI answers them: its clients raise ``BadRequestError``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from kaizen.events import InteractionResponse
from kaizen.gateway.schemas import ErrorBody, ErrorDetail

_TYPES = {
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    400: "invalid_request_error",
    413: "invalid_request_error",
    502: "api_error",
    503: "service_unavailable",
    504: "timeout_error",
}


BAD_REQUEST = 400


# Serving's error codes (InteractionResponse.error_code) that name the caller's mistake, not a model failure.
SERVING_ERRORS = {"adapter_not_found": 404}


def serving_error(response: InteractionResponse) -> tuple[int, str, str]:
    """(HTTP status, message, code) for a response that carries an error: a refused pin is the caller's 404,
    anything else is the model failing (502)."""
    code = response.error_code or ""
    if code in SERVING_ERRORS:
        return SERVING_ERRORS[code], response.error or code, code
    return 502, f"the model failed to answer: {response.error}", "generation_failed"


def error_type(status: int) -> str:
    return _TYPES.get(status, "invalid_request_error")


class FieldError(ValueError):
    """A body that parsed but breaks a configured limit (e.g. max_text_chars)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def error_response(
    status: int,
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    type: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    detail = ErrorDetail(message=message, type=type or error_type(status), param=param, code=code)
    content = ErrorBody(error=detail).model_dump() | (extra or {})
    return JSONResponse(content, status_code=status, headers=headers)


def _field(loc: tuple[Any, ...]) -> str | None:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or None


def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    if not errors:
        return error_response(BAD_REQUEST, "invalid request", code="validation")
    first = errors[0]
    if first.get("type") == "json_invalid":
        return error_response(BAD_REQUEST, f"body is not valid JSON: {first.get('msg')}", code="json_invalid")
    field = _field(tuple(first.get("loc", ())))
    message = f"{field}: {first.get('msg')}" if field else str(first.get("msg"))
    details = [{"param": _field(tuple(e.get("loc", ()))), "message": e.get("msg")} for e in errors[:10]]
    return error_response(BAD_REQUEST, message, param=field, code="validation", extra={"details": details})


def _event_error(request: Request, exc: Exception) -> JSONResponse:
    # A body that passed the API schema but not the event's own rules (e.g. a blank question).
    assert isinstance(exc, ValidationError)
    first = exc.errors()[0]
    field = _field(tuple(first.get("loc", ())))
    message = f"{field}: {first.get('msg')}" if field else str(first.get("msg"))
    return error_response(BAD_REQUEST, message, param=field, code="validation")


def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return error_response(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))


def _field_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, FieldError)
    return error_response(BAD_REQUEST, f"{exc.field}: {exc}", param=exc.field, code="validation")


def install(app: FastAPI) -> None:
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(FieldError, _field_error)
    app.add_exception_handler(ValidationError, _event_error)


def check_text_limit(body: Any, limit: int, *, prefix: str = "") -> None:
    """Raise ``FieldError`` naming the first text field longer than ``limit`` characters."""
    items = body.items() if isinstance(body, dict) else enumerate(body) if isinstance(body, list) else ()
    for key, value in items:
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, str) and len(value) > limit:
            raise FieldError(name, f"text of {len(value)} characters exceeds the limit of {limit}")
        if isinstance(value, dict | list):
            check_text_limit(value, limit, prefix=name)
