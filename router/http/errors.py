"""Errors of the HTTP front door in OpenAI's format: ``{"error": {"message", "type", "param",
"code"}}`` with the HTTP status a client expects (400 bad request, 401 key, 404 unknown model,
429 overloaded, 503 unavailable, 504 deadline). Router errors are mapped by their gRPC code."""

from __future__ import annotations

from edgefleet.openai_serve import OpenAIError
from router.errors import RouterError

# gRPC code of a RouterError -> (HTTP status, OpenAI error type, code)
_BY_CODE: dict[str, tuple[int, str, str | None]] = {
    "INVALID_ARGUMENT": (400, "invalid_request_error", None),
    "UNAUTHENTICATED": (401, "invalid_request_error", "invalid_api_key"),
    "PERMISSION_DENIED": (403, "invalid_request_error", "permission_denied"),
    "NOT_FOUND": (404, "invalid_request_error", "not_found"),
    "RESOURCE_EXHAUSTED": (429, "rate_limit_error", "overloaded"),
    "UNAVAILABLE": (503, "server_error", "unavailable"),
    "DEADLINE_EXCEEDED": (504, "timeout_error", "deadline_exceeded"),
}


def from_router_error(exc: RouterError, param: str | None = None) -> OpenAIError:
    """The OpenAI error for a router error (INTERNAL and unknown codes: 500 server_error)."""
    status, kind, code = _BY_CODE.get(exc.code, (500, "server_error", None))
    return OpenAIError(status, str(exc), kind=kind, param=param if status == 400 else None, code=code)


def internal() -> OpenAIError:
    """A 500 that says where to look, never a traceback."""
    return OpenAIError(500, "internal router error (see the router log)", kind="server_error")


def unknown_model(model: str, task: str, known: list[str]) -> OpenAIError:
    """404 for a `model` that names no route."""
    names = ", ".join([*known, "edgefleet/auto"])
    return OpenAIError(
        404,
        f"the model {model!r} does not exist: name a {task} route ({names})",
        param="model",
        code="model_not_found",
    )
