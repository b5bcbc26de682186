"""Every error leaves the server as JSON `{"error": "<stable code>", "message": "<one line>"}`.

Codes are part of the API: clients branch on `error`, people read `message`.
"""

from __future__ import annotations

import json
import logging

log = logging.getLogger(__name__)

# Status for HTTP errors raised by Starlette/FastAPI themselves (routing, body parsing).
_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
}


class ApiError(Exception):
    """An error with an HTTP status, a stable code and a message for people."""

    def __init__(self, status: int, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.headers = status, code, message, headers or {}


def error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": code, "message": message}, separators=(",", ":")).encode()


def http_code(status: int) -> str:
    return _HTTP_CODES.get(status, f"http_{status}")


async def send_error(send, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
    """Answer with a JSON error straight from ASGI middleware (before any app code ran)."""
    body = error_body(code, message)
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def _field(err: dict) -> str:
    """The form field a validation error is about: ('body', 'audio', 0) -> 'audio'."""
    return next((str(x) for x in reversed(err.get("loc", ())) if not isinstance(x, int)), "?")


def install_handlers(app) -> None:
    """Map every exception the app can raise to a JSON error."""
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse
    from starlette.exceptions import HTTPException

    from ..errors import VoxprintError
    from ..vad.regions import NoSpeechError

    def reply(status, code, message, headers=None):
        return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)

    @app.exception_handler(ApiError)
    async def _api(request, exc: ApiError):
        return reply(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request, exc: RequestValidationError):
        errs = exc.errors()
        missing = [_field(e) for e in errs if e.get("type") == "missing"]
        if missing:
            return reply(400, "missing_field", f"missing form field(s): {', '.join(dict.fromkeys(missing))}")
        first = errs[0] if errs else {"loc": ["?"], "msg": "invalid"}
        why = "must be a file upload, not text" if "UploadFile" in str(first["msg"]) else first["msg"]
        return reply(400, "invalid_field", f"field '{_field(first)}': {why}")

    @app.exception_handler(HTTPException)
    async def _http(request, exc: HTTPException):
        message = str(exc.detail)
        if exc.status_code in (404, 405):
            message = f"{message}: {request.method} {request.url.path} (the API is listed at /docs)"
        return reply(exc.status_code, http_code(exc.status_code), message, getattr(exc, "headers", None))

    @app.exception_handler(NoSpeechError)
    async def _no_speech(request, exc: NoSpeechError):
        # An upload with no voice (noise, music, silence), from any route: the client sent the wrong audio.
        return reply(400, "no_speech", str(exc))

    @app.exception_handler(VoxprintError)
    async def _voxprint(request, exc: VoxprintError):
        # From the store: profiles of another model, mixed dimensions, a db it cannot open.
        return reply(409, "store_conflict", str(exc))

    @app.exception_handler(Exception)
    async def _internal(request, exc: Exception):
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return reply(500, "internal_error", f"internal error ({type(exc).__name__}); see the server log")
