"""API keys and request size limits, as ASGI middleware (they answer before
any route runs, so nothing reads a body it should not)."""

from __future__ import annotations

import hmac
import json

from fastapi.security import APIKeyHeader
from starlette.types import ASGIApp, Message, Receive, Scope, Send

API_KEY_HEADER = "X-API-Key"
# Documents the header in /openapi.json; the middleware enforces it.
api_key_scheme = APIKeyHeader(name=API_KEY_HEADER, auto_error=False, description="required when service.api_keys is set")

# Open without a key: liveness, and the search page's static files (they hold
# no data; the page asks for a key when the API answers 401).
OPEN_PATHS = frozenset({"/health", "/", "/favicon.ico"})
OPEN_PREFIXES = ("/static/",)


async def _json(send: Send, status: int, body: dict, headers: list[tuple[bytes, bytes]] | None = None) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode()), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": data})


def key_ok(given: str | None, keys: list[str]) -> bool:
    if not given:
        return False
    ok = False
    for k in keys:  # compare with every key, in constant time each
        ok |= hmac.compare_digest(given.encode(), k.encode())
    return ok


class ApiKeyMiddleware:
    """When keys are configured, every path but OPEN_PATHS needs one in the
    X-API-Key header. ``/events/s3`` also takes ``?api_key=`` (bucket
    notifications cannot set headers)."""

    def __init__(self, app: ASGIApp, keys: list[str]) -> None:
        self.app = app
        self.keys = [k for k in keys if k]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.keys:
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if path in OPEN_PATHS or path.startswith(OPEN_PREFIXES) or scope.get("method") == "OPTIONS":
            await self.app(scope, receive, send)
            return
        given = None
        for name, value in scope.get("headers", []):
            if name == b"x-api-key":
                given = value.decode("latin-1")
                break
        if given is None and path == "/events/s3":
            from urllib.parse import parse_qs

            given = (parse_qs(scope.get("query_string", b"").decode("latin-1")).get("api_key") or [None])[0]
        if not key_ok(given, self.keys):
            await _json(send, 401, {"error": f"missing or invalid API key (send it in the {API_KEY_HEADER} header)"}, [(b"www-authenticate", b"ApiKey")])
            return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """413 for bodies over ``limit`` bytes: by Content-Length up front, and by
    counting for chunked bodies (read here, then handed on whole: bodies under
    the limit are small). Uploads (PUT /documents/{name}) have their own,
    larger limit and stream through untouched."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    def _exempt(self, scope: Scope) -> bool:
        return scope.get("method") == "PUT" and scope.get("path", "").startswith("/documents/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._exempt(scope) or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        too_large = {"error": f"request body larger than {self.limit} bytes"}
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    n = int(value)
                except ValueError:
                    await _json(send, 400, {"error": "invalid Content-Length"})
                    return
                if n > self.limit:
                    await _json(send, 413, too_large)
                    return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # client went away
                return
            body = message.get("body", b"")
            size += len(body)
            if size > self.limit:
                await _json(send, 413, too_large)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
