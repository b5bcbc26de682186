"""Checks made from the request line and headers alone, before the app reads a body byte.

A pure ASGI middleware (no per-request task or copy, unlike BaseHTTPMiddleware), in this order:
1. Host: when bound to loopback, only loopback host names are answered (a DNS-rebinding page cannot
   talk to the server under its own name).
2. Origin: a state-changing request from a page of another origin is refused (no cross-site enrolment
   by a form post, even when no token is set).
3. Token: writes need `Authorization: Bearer <token>` when a token is configured, compared in constant time.
4. Content type: uploads must be multipart/form-data (415).
5. Size: a declared Content-Length over the limit is refused at once; otherwise the body is counted while
   it streams in and the request fails with 413 the moment it passes the limit.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from urllib.parse import urlsplit

from starlette.exceptions import HTTPException

from .errors import send_error

LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}
_UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}


def _host_name(host: str) -> str:
    """'127.0.0.1:8000' -> '127.0.0.1'; '[::1]:8000' -> '::1'."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _token_ok(header: str, token: str) -> bool:
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer":
        return False
    # Both sides as bytes (the header was decoded as latin-1, so this gives back its raw bytes; the token is
    # UTF-8 on the wire): compare_digest takes the same time wherever they differ.
    return hmac.compare_digest(given.strip().encode("latin-1"), token.encode("utf-8"))


class Guard:
    """ASGI middleware. `is_write(method, path)` and `is_upload(method, path)` say which routes need
    a token and which take multipart uploads; `loopback_only` turns on the Host check."""

    def __init__(self, app, *, token: str | None, max_bytes: int, loopback_only: bool,
                 is_write: Callable[[str, str], bool], is_upload: Callable[[str, str], bool]):
        self.app, self.token, self.max_bytes = app, token, max_bytes
        self.loopback_only, self.is_write, self.is_upload = loopback_only, is_write, is_upload

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers: dict[str, str] = {}
        for k, v in scope["headers"]:
            headers.setdefault(k.decode("latin-1"), v.decode("latin-1"))  # first wins: no smuggled duplicate
        refusal = self._refusal(scope["method"], scope["path"], headers)
        if refusal is not None:
            return await send_error(send, *refusal)
        if scope["method"] in _UNSAFE:
            receive = self._counting(receive)
        await self.app(scope, receive, send)

    def _refusal(self, method: str, path: str, headers: dict[str, str]):
        """(status, code, message[, headers]) when the request must not reach the app, else None."""
        if self.loopback_only and _host_name(headers.get("host", "")) not in LOOPBACK_NAMES:
            return 403, "forbidden_host", "this server answers only to localhost / 127.0.0.1 / [::1]"
        if method in _UNSAFE and "origin" in headers:
            origin = urlsplit(headers["origin"]).netloc.lower()
            if origin != headers.get("host", "").lower():
                return 403, "forbidden_origin", "requests that change data must come from this server's own page"
        if self.token and self.is_write(method, path) and not _token_ok(headers.get("authorization", ""), self.token):
            return 401, "unauthorized", "this server needs a token for writes: send 'Authorization: Bearer <token>'", \
                {"WWW-Authenticate": 'Bearer realm="voxprint"'}
        if self.is_upload(method, path):
            ctype = headers.get("content-type", "").split(";")[0].strip().lower()
            if ctype != "multipart/form-data":
                return 415, "unsupported_media_type", \
                    f"send audio as multipart/form-data (got '{ctype or 'no content type'}')"
        length = headers.get("content-length")
        if length is not None and length.strip().isdigit() and int(length) > self.max_bytes:
            return 413, "payload_too_large", f"request body is {int(length)} bytes; the limit is {self.max_bytes}"
        return None

    def _counting(self, receive):
        """`receive` that fails with 413 once more than max_bytes have arrived (chunked bodies)."""
        seen = 0
        limit = self.max_bytes

        async def counted():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # FastAPI passes an HTTPException raised while reading the body through unchanged.
                    raise HTTPException(413, f"request body is over the limit of {limit} bytes")
            return message

        return counted
