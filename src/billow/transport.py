"""The HTTP transport around the API: request ids, the body-size limit, unexpected errors, authentication.

Two plain ASGI middlewares (Starlette's ``@app.middleware("http")`` wraps every request in an extra task
and stream, a measurable cost on the event ingestion path), outermost first:

:class:`TransportMiddleware`
    * **Request id.** ``X-Request-Id`` is the client's when it sent a sane one (up to 128 letters,
      digits and ``._:@+=/-``), else 32 new random hex digits; it is set on every response, successes
      included, and kept in ``scope["state"]["request_id"]`` and, for the log lines written while the
      request is served, in :data:`billow.kit.logs.request_id`.
    * **Latency.** Every response is timed into ``billow_http_request_duration_seconds``
      (:mod:`billow.kit.metrics`) by method, route template (:class:`RouteTemplates`) and status class.
    * **Body-size limit** (``BILLOW_MAX_BODY_BYTES``). A declared ``Content-Length`` above the limit
      answers 413 at once. A body without ``Content-Length`` (chunked) is counted while the application
      reads it: the read that passes the limit raises :class:`RequestTooLarge` (an ``HTTPException``,
      which FastAPI lets through its own body parsing) before anything more is buffered, so the
      application never sees the overflow as data; the exception becomes Lago's 413 before any
      response starts. (A declared length is enforced by the HTTP parser itself.)
    * **Unexpected errors.** An exception no handler maps answers Lago's JSON shape
      ``{"status": 500, "error": "Internal Server Error", "code": "internal_error"}`` (Rails' JSON 500
      is ``{status, error}``; ``code`` added as on every other Billow error) with the request id,
      and is logged (logger ``billow``) with the request id and the traceback. It is not re-raised, so
      the server keeps the connection (Starlette's ``ServerErrorMiddleware`` would answer
      ``text/plain`` and re-raise, and uvicorn then closes the connection). The request's transaction
      has rolled back by then (:func:`billow.db.session_dependency`). Once a response has started
      nothing else can be sent: the exception is re-raised and the server closes the connection.

:class:`AuthenticationMiddleware`
    Authenticates every ``/api/v1/*`` request **before its body is read**, except the public documents
    (OpenAPI, Swagger UI) and event ingestion (which authenticates itself, see
    :mod:`billow.events.endpoints`). A missing or unknown key answers 401 without reading the body (the
    server discards whatever the client still sends), so a wrong key costs one indexed query and
    never a large body in memory, and a malformed body with no valid key is a 401, not a 400. The one
    authentication query runs on the request's own session, which the middleware opens and leaves in
    ``scope["state"]``: :func:`billow.db.session_dependency` takes it over (commit or rollback, close)
    and ``CurrentOrganization`` (:mod:`billow.auth`) reads the organization,
    attached to that session. A request that never reaches the session dependency (404, 422 of the
    body...) has the session closed here.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billow.auth import ORGANIZATION, bearer_key_of
from billow.errors import PayloadTooLarge, Unauthorized
from billow.kit import logs, metrics
from billow.kit.actor import Actor, set_actor

log = logging.getLogger("billow")

REQUEST_ID_HEADER = b"x-request-id"
#: Keys of ``scope["state"]`` set by the middlewares.
REQUEST_ID = "request_id"
SESSION = "billow.session"

#: What a client's request id may look like to be reused: printable, no spaces, at most 128 characters.
_SANE_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:@+=/\-]{1,128}")

INTERNAL_ERROR_BODY = {"status": 500, "error": "Internal Server Error", "code": "internal_error"}


class RequestTooLarge(StarletteHTTPException):
    """The request body passed the limit while it was read (answered 413 in Lago's shape)."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail="Payload Too Large")


def payload_too_large_body() -> dict[str, Any]:
    return PayloadTooLarge(code="payload_too_large").body()


class TransportMiddleware:
    """Request id, body-size limit and unexpected errors (see the module docstring)."""

    def __init__(self, app: ASGIApp, limit: int, templates: RouteTemplates | None = None) -> None:
        self.app = app
        self.limit = limit
        self.templates = templates or RouteTemplates()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = None
        declared: int | None = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                declared = int(value) if value.isdigit() else None
            elif name == REQUEST_ID_HEADER and _SANE_REQUEST_ID.fullmatch(value):
                request_id = value.decode("ascii")
        if request_id is None:
            request_id = os.urandom(16).hex()  # 128 random bits; a third of uuid4()'s cost
        scope.setdefault("state", {})[REQUEST_ID] = request_id
        id_header = (REQUEST_ID_HEADER, request_id.encode("ascii"))
        started = False
        status = 500
        began = time.perf_counter()
        context = logs.request_id.set(request_id)

        async def send_with_id(message: Message) -> None:
            nonlocal started, status
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        try:
            await self._serve(scope, receive, send_with_id, declared, request_id, lambda: started)
        finally:
            logs.request_id.reset(context)
            _observe(self.templates, scope, status, time.perf_counter() - began)

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send_with_id: Send,
        declared: int | None,
        request_id: str,
        started: Callable[[], bool],
    ) -> None:
        limit = self.limit
        if declared is not None and declared > limit:
            await JSONResponse(payload_too_large_body(), status_code=413)(scope, receive, send_with_id)
            return
        if declared is None:
            received = 0

            async def counted_receive() -> Message:
                nonlocal received
                if received > limit:
                    raise RequestTooLarge()
                message = await receive()
                if message["type"] == "http.request":
                    received += len(message.get("body", b""))
                    if received > limit:
                        raise RequestTooLarge()
                return message

            app_receive: Receive = counted_receive
        else:
            app_receive = receive

        try:
            await self.app(scope, app_receive, send_with_id)
        except Exception as exc:
            if started():
                log.error(
                    "error after the response started (request_id=%s)",
                    request_id,
                    exc_info=exc,
                    extra={"request_id": request_id},
                )
                raise
            if isinstance(exc, RequestTooLarge):
                response = JSONResponse(payload_too_large_body(), status_code=413)
            else:
                log.error(
                    "unexpected error on %s %s (request_id=%s)",
                    scope.get("method"),
                    scope.get("path"),
                    request_id,
                    exc_info=exc,
                    extra={"request_id": request_id},
                )
                response = JSONResponse(INTERNAL_ERROR_BODY, status_code=500)
            await response(scope, receive, send_with_id)


class RouteTemplates:
    """The route template of a request (``/api/v1/customers/{external_id}``), the label of its latency:
    a raw path would make one series per id. ``routes``: each route object with its full template, in
    the order they are matched; a request answered before routing (401) or by no route (404) gets the
    template of the first route whose path matches, else ``unmatched``."""

    def __init__(self, routes: Sequence[tuple[object, str]] = ()) -> None:
        self._of_route = {id(route): template for route, template in routes}
        self._patterns = [(compile_path(template)[0], template) for _, template in routes]

    def of(self, scope: Scope) -> str:
        route = scope.get("route")
        if route is not None:
            return self._of_route.get(id(route)) or getattr(route, "path", None) or "unmatched"
        path = scope["path"]
        for pattern, template in self._patterns:
            if pattern.match(path):
                return template
        return "unmatched"


def _observe(templates: RouteTemplates, scope: Scope, status: int, seconds: float) -> None:
    series = metrics.HTTP_REQUEST_DURATION.labels(
        scope["method"], templates.of(scope), metrics.status_class(status)
    )
    series.observe(seconds)


def _unauthorized() -> JSONResponse:
    return JSONResponse(Unauthorized().body(), status_code=401)


class AuthenticationMiddleware:
    """Authenticate ``/api/v1/*`` before the body is read (see the module docstring).

    ``public``: paths (and path prefixes ending in ``/``) that need no key; ``self_authenticating``:
    ``(method, path)`` pairs whose endpoints authenticate by themselves."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        prefix: str,
        sessions: sessionmaker[Session],
        public: tuple[str, ...] = (),
        self_authenticating: frozenset[tuple[str, str]] = frozenset(),
    ) -> None:
        self.app = app
        self.prefix = prefix.rstrip("/") + "/"
        self.sessions = sessions
        self.public_paths = frozenset(p for p in public if not p.endswith("/"))
        self.public_prefixes = tuple(p for p in public if p.endswith("/"))
        self.self_authenticating = self_authenticating

    def _needs_key(self, scope: Scope) -> bool:
        path: str = scope["path"]
        if not path.startswith(self.prefix) or path in self.public_paths:
            return False
        if self.public_prefixes and path.startswith(self.public_prefixes):
            return False
        return (scope["method"], path) not in self.self_authenticating

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self._needs_key(scope):
            await self.app(scope, receive, send)
            return
        key = bearer_key_of(scope["headers"])
        if key is None:
            await _unauthorized()(scope, receive, send)
            return
        authenticated = await run_in_threadpool(self._authenticate, key)
        if authenticated is None:
            await _unauthorized()(scope, receive, send)
            return
        session, organization = authenticated
        state = scope.setdefault("state", {})
        state[SESSION] = session
        state[ORGANIZATION] = organization
        try:
            await self.app(scope, receive, send)
        finally:
            # Still here: the request ended before the session dependency took the session over.
            if state.pop(SESSION, None) is not None:
                try:
                    await run_in_threadpool(session.close)
                except BaseException:  # cancelled: close it here rather than leak its connection
                    session.close()
                    raise

    def _authenticate(self, key: str) -> tuple[Session, Any] | None:
        from billow.organizations.service import organization_service

        session = self.sessions()
        try:
            found = organization_service.authenticate_key(session, key)
        except BaseException:
            session.close()
            raise
        if found is None:
            session.close()
            return None
        key_id, organization, used_long_ago = found
        if used_long_ago:
            # last_used_at, at most once a minute per key (the query above read it: no statement at
            # all within the minute). In a transaction of its own, committed at once: the request
            # holds no lock on the key's row (nor SQLite's write lock) for its duration.
            try:
                session.commit()
                organization_service.touch_key(session, key_id)
                session.commit()
            except BaseException:
                session.close()
                raise
        set_actor(session, Actor(source="api", api_key_id=key_id))
        return session, organization
