"""Routes for the people and machines that run Billow, outside ``/api/v1`` and without API key.

- ``GET /health/live``: liveness, the process answers (no database query): restart it when this fails.
- ``GET /health/ready``: readiness, the database answers and has every migration of this Billow applied
  (503 otherwise): send traffic only when this succeeds. (``GET /health``, the former check, is kept.)
- ``GET /metrics``: Prometheus' text format (:mod:`billow.kit.metrics`); with ``BILLOW_METRICS_TOKEN``
  set, only for ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool

from billow import __version__
from billow.auth import bearer_key_of
from billow.config import Settings
from billow.errors import Unauthorized
from billow.kit import metrics
from billow.migrate import at_head

router = APIRouter(tags=["health"])


class LiveOut(BaseModel):
    status: str = Field(description="``ok``.")
    version: str = Field(description="Billow's version.")


class ReadyOut(BaseModel):
    status: str = Field(description="``ok``, or ``unavailable``.")
    version: str = Field(description="Billow's version.")
    database: str = Field(description="``ok``, ``unreachable`` or ``migrations_pending``.")


@router.get("/health/live", response_model=LiveOut, summary="Liveness: the process answers")
async def live() -> Response:
    return JSONResponse({"status": "ok", "version": __version__})


@router.get(
    "/health/ready",
    response_model=ReadyOut,
    summary="Readiness: the database answers, migrated to this version",
    responses={503: {"model": ReadyOut, "description": "Database unreachable, or migrations pending"}},
)
async def ready(request: Request) -> Response:
    database = await run_in_threadpool(database_state, request.app.state.engine)
    status, code = ("ok", 200) if database == "ok" else ("unavailable", 503)
    return JSONResponse({"status": status, "version": __version__, "database": database}, status_code=code)


def database_state(engine: Engine) -> str:
    """``ok``, ``unreachable`` or ``migrations_pending`` (the database is behind, or ahead of, this code)."""
    try:
        with engine.connect() as connection:
            return "ok" if at_head(connection) else "migrations_pending"
    except SQLAlchemyError:
        return "unreachable"


@router.get("/metrics", include_in_schema=False)
async def metrics_endpoint(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    token = settings.metrics_token
    if token:
        given = bearer_key_of(request.scope["headers"]) or ""
        if not hmac.compare_digest(given.encode(), token.encode()):
            return JSONResponse(Unauthorized().body(), status_code=401)
    body, content_type = metrics.exposition()
    return Response(body, media_type=content_type)
