"""API logs: one row per authenticated ``/api/v1`` request that may change something (``POST``, ``PUT``,
``PATCH``, ``DELETE``; Lago logs every non-``GET``), except event ingestion (``POST /events`` and
``/events/batch``: the hot path, thousands of requests a second, and the events themselves are kept).

A plain ASGI middleware (:class:`ApiLogMiddleware`), installed by ``billow.app`` *inside* the
authentication middleware, so that the request's organization (``scope["state"]``, key
:data:`billow.auth.ORGANIZATION`) and API key (the actor of the request's session) are known. It keeps
the first :data:`MAX_BODY_BYTES` of the request body and :data:`MAX_RESPONSE_BYTES` of the answer as
they stream by (never buffering more), and writes the row **after the response is sent**, in its own
short transaction on a worker thread: a failure to log is logged (logger ``billow``), never raised,
and the request's own transaction has committed or rolled back by then. A request rejected before
authentication (401) has no organization and is not logged.

Bodies are JSON objects with the values of secret-looking keys replaced by :data:`FILTERED`
(:func:`redact`); a body that is not JSON, or is longer than its bound, is kept as
``{"truncated": true, "excerpt": "..."}`` (its first :data:`EXCERPT_CHARS` characters), without the
excerpt when a secret-looking word appears in it (an unparsed body cannot be redacted).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from billow.auth import ORGANIZATION
from billow.kit.actor import actor_of
from billow.models.audit import ApiLog

log = logging.getLogger("billow")

LOGGED_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_BODY_BYTES = 64 * 1024
MAX_RESPONSE_BYTES = 16 * 1024
#: The excerpt kept of a body too long or not JSON.
EXCERPT_CHARS = 1024
FILTERED = "[FILTERED]"
API_VERSION = "v1"

#: Keys whose values are never logged: ``*secret*``, ``*password*``, ``*token*``, ``*private_key*``,
#: ``api_key`` / ``*_api_key``.
_SECRET_KEY = re.compile(r"secret|password|passphrase|token|private_key|(^|_)api_key$", re.IGNORECASE)
#: The same words anywhere in an unparsed body.
_SECRET_WORD = re.compile(r"secret|password|passphrase|token|private_key|api_key", re.IGNORECASE)


def redact(value: Any) -> Any:
    """``value`` with every secret-looking key's value (:data:`_SECRET_KEY`) replaced by
    :data:`FILTERED`, at any depth."""
    if isinstance(value, dict):
        return {k: FILTERED if _SECRET_KEY.search(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _as_json(data: bytes, overflow: bool, limit: int) -> dict[str, Any]:
    if not data:
        return {}
    if not overflow:
        try:
            parsed = json.loads(data)
        except ValueError:
            parsed = None
        else:
            redacted = redact(parsed)
            return redacted if isinstance(redacted, dict) else {"body": redacted}
    # Too long to keep whole (or not JSON): an excerpt, never with a secret-looking field in it.
    text = data[:limit].decode("utf-8", "replace")
    if _SECRET_WORD.search(text):
        return {"truncated": True}
    return {"truncated": True, "excerpt": text[:EXCERPT_CHARS]}


class _Capture:
    """The first ``limit`` bytes of a stream, and whether it was longer."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.parts: list[bytes] = []
        self.size = 0

    def add(self, chunk: bytes) -> None:
        if self.size <= self.limit:
            self.parts.append(chunk[: self.limit + 1 - self.size])
        self.size += len(chunk)

    @property
    def data(self) -> bytes:
        return b"".join(self.parts)[: self.limit]

    @property
    def overflow(self) -> bool:
        return self.size > self.limit


class ApiLogMiddleware:
    """Record the API's mutating requests (see the module docstring).

    ``sessions``: makes the short session of the write; ``prefix``: the API's (``/api/v1``);
    ``excluded``: ``(method, path)`` pairs never logged; ``session_key``/``request_id_key``: where the
    transport keeps the request's session and id in ``scope["state"]``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        sessions: Callable[[], Session],
        prefix: str,
        excluded: frozenset[tuple[str, str]],
        session_key: str,
        request_id_key: str,
    ) -> None:
        self.app = app
        self.sessions = sessions
        self.prefix = prefix.rstrip("/") + "/"
        self.excluded = excluded
        self.session_key = session_key
        self.request_id_key = request_id_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in LOGGED_METHODS
            or not scope["path"].startswith(self.prefix)
            or (scope["method"], scope["path"]) in self.excluded
        ):
            await self.app(scope, receive, send)
            return
        state = scope.get("state", {})
        organization = state.get(ORGANIZATION)
        if organization is None:  # not authenticated: nothing to log
            await self.app(scope, receive, send)
            return
        # Read now: a rollback of the request's session expires the organization object.
        organization_id: uuid.UUID = organization.id
        session = state.get(self.session_key)
        api_key_id = actor_of(session).api_key_id if isinstance(session, Session) else None
        body = _Capture(MAX_BODY_BYTES)
        answer = _Capture(MAX_RESPONSE_BYTES)
        status = 500

        async def recording_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                body.add(message.get("body", b""))
            return message

        async def recording_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body":
                answer.add(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, recording_receive, recording_send)
        finally:
            row = self._row(scope, organization_id, api_key_id, status, body, answer)
            await run_in_threadpool(self._write, row)

    def _row(
        self,
        scope: Scope,
        organization_id: uuid.UUID,
        api_key_id: uuid.UUID | None,
        status: int,
        body: _Capture,
        answer: _Capture,
    ) -> dict[str, Any]:
        headers = {name: value for name, value in scope["headers"]}
        now = datetime.now(UTC)
        host = headers.get(b"host", b"").decode("latin-1")
        origin = headers.get(b"origin", b"").decode("latin-1") or f"{scope.get('scheme', 'http')}://{host}/"
        return {
            "id": uuid.uuid4(),
            "organization_id": organization_id,
            "created_at": now,
            "updated_at": now,
            "logged_at": now,
            "request_id": str(scope.get("state", {}).get(self.request_id_key, ""))[:128],
            "api_key_id": api_key_id,
            "http_method": scope["method"].lower(),
            "http_status": status,
            "request_path": scope["path"][:2048],
            "request_body": _as_json(body.data, body.overflow, MAX_BODY_BYTES),
            "request_response": _as_json(answer.data, answer.overflow, MAX_RESPONSE_BYTES) or None,
            "api_version": API_VERSION,
            "client": headers.get(b"user-agent", b"").decode("latin-1")[:255],
            "request_origin": origin[:1024],
        }

    def _write(self, row: dict[str, Any]) -> None:
        try:
            with self.sessions() as session, session.begin():
                session.execute(insert(ApiLog.__table__), [row])
        except Exception:
            log.exception("could not write the API log of request %s", row["request_id"])
