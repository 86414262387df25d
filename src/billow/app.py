"""The FastAPI application: routers, Lago's error shape, health, OpenAPI.

The transport around the routes (request ids, body-size limit while streaming, authentication before
the body is read, unexpected errors as Lago-shaped JSON 500s) is :mod:`billow.transport`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

from billow import __version__
from billow.api_docs import install_docs
from billow.auth import RecentKeys
from billow.config import Settings, current_settings, get_settings
from billow.db import make_engine, make_sessionmaker
from billow.errors import ERROR_RESPONSES, BillowError
from billow.kit import strict_json
from billow.transport import (
    AuthenticationMiddleware,
    RouteTemplates,
    TransportMiddleware,
    payload_too_large_body,
)

log = logging.getLogger("billow")

API_PREFIX = "/api/v1"
DOCS_URL = f"{API_PREFIX}/docs"

#: Pydantic error types that mean "no usable value was given".
_MISSING_TYPES = {"missing"}
_RANGE_TYPES = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}
_LENGTH_TYPES = {"string_too_long", "too_long"}
#: A string no database can store (billow.kit.schemas.Input): 422 even in a body's root field (the
#: plan metadata body ``{"metadata": {...}}`` has no root object).
_UNSTORABLE = "unstorable_string"


class HealthOut(BaseModel):
    status: str = Field(description="``ok``, or ``unavailable``.")
    version: str | None = Field(default=None, description="Billow's version (when ``ok``).")
    database: str | None = Field(default=None, description="``unreachable`` (when ``unavailable``).")


def _api_routers() -> list[APIRouter]:
    from billow.add_ons.endpoints import router as add_ons
    from billow.alerts.endpoints import router as alerts
    from billow.analytics.endpoints import router as analytics
    from billow.applied_coupons.endpoints import router as applied_coupons
    from billow.audit.endpoints import router as audit_logs
    from billow.billable_metrics.endpoints import router as billable_metrics
    from billow.billing.endpoints import invoice_router as billing_invoices
    from billow.billing.endpoints import router as lifetime_usage
    from billow.coupons.endpoints import router as coupons
    from billow.credit_notes.endpoints import router as credit_notes
    from billow.customers.endpoints import router as customers
    from billow.documents.endpoints import router as documents
    from billow.dunning.endpoints import router as dunning_campaigns
    from billow.events.endpoints import router as events
    from billow.integrations.endpoints import router as integrations
    from billow.integrations.payment_endpoints import router as provider_calls
    from billow.invoices.endpoints import router as invoices
    from billow.mail.endpoints import router as mail
    from billow.organizations.endpoints import router as organizations
    from billow.payment_methods.endpoints import router as payment_methods
    from billow.payments.endpoints import router as payments
    from billow.plans.endpoints import router as plans
    from billow.plans.fixed_charges_endpoints import router as plan_fixed_charges
    from billow.portal.endpoints import router as portal
    from billow.subscription_charges.endpoints import router as subscription_charges
    from billow.subscriptions.endpoints import router as subscriptions
    from billow.subscriptions.fixed_charges_endpoints import router as subscription_fixed_charges
    from billow.taxes.endpoints import router as taxes
    from billow.usage.endpoints import router as usage
    from billow.wallets.endpoints import router as wallets
    from billow.webhook_endpoints.endpoints import router as webhook_endpoints
    from billow.webhooks.endpoints import router as webhooks

    # events first: routes are matched in order, so the ingestion endpoints (the hot path) are found
    # first, and before billable_metrics' /billable_metrics/{code}: events owns
    # POST /billable_metrics/evaluate_expression.
    return [
        events,
        organizations,
        taxes,
        billable_metrics,
        plans,
        plan_fixed_charges,  # /plans/{code}/fixed_charges[/{code}]
        usage,  # GET /customers/{id}/current_usage, before the customers' routes; POST /events/estimate_fees
        customers,
        subscriptions,
        lifetime_usage,  # /subscriptions/{id}/lifetime_usage
        subscription_charges,  # /subscriptions/{id}/charges[/{code}[/filters[/{id}]]]
        subscription_fixed_charges,  # /subscriptions/{id}/fixed_charges[/{code}]
        invoices,  # also GET /customers/{id}/invoices: no clash with /customers/{id}
        billing_invoices,  # PUT /invoices/{id}/refresh, /finalize, POST /invoices/{id}/retry
        documents,  # POST /invoices/{id}/download[_pdf|_xml], /credit_notes/{id}/download[_pdf|_xml]
        add_ons,
        coupons,
        applied_coupons,  # DELETE /customers/{id}/applied_coupons/{id}: no clash with /customers/{id}
        credit_notes,
        mail,  # POST /invoices/{id}/resend_email, /credit_notes/{id}/resend_email
        wallets,  # also /customers/{id}/wallets: no clash with /customers/{id}
        alerts,  # /customers/{id}/wallets/{code}/alerts[/{code}], /subscriptions/{id}/alerts[/{code}]
        dunning_campaigns,
        payment_methods,  # PUT .../payment_methods/{id}/set_as_default, DELETE .../payment_methods/{id}
        payments,  # /payments, /payment_receipts, /payment_requests, /customers/{id}/payment[s|_requests]
        webhook_endpoints,
        webhooks,  # /webhooks/public_key, /webhooks/json_public_key
        integrations,  # /integrations[/{code}[/mappings|/jobs]], /integration_jobs/{id}[/retry]
        # /invoices/{id}/payment_url|retry_payment, /customers/{id}/checkout_url|payment_methods
        provider_calls,
        analytics,  # GET /analytics/gross_revenue|invoice_collection|invoiced_usage|mrr|overdue_balance
        portal,  # GET /customers/{id}/portal_url: no clash with /customers/{id}
        audit_logs,  # GET /activity_logs[/{id}], /api_logs[/{request_id}]
    ]


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    from billow.events.endpoints import close_ingestion_pool

    await close_ingestion_pool(app)
    # Let the running after-commit tasks finish (the queued ones are left to the scans).
    app.state.dispatcher.shutdown(wait=True)


def create_app(settings: Settings | None = None, *, dispatch: str | None = None) -> FastAPI:
    """The API. ``dispatch``: where the work that follows a request runs once it commits
    (:mod:`billow.worker.dispatch`): ``thread`` (a small pool in this process), ``sync`` (in the request's
    thread right after the commit: deterministic tests) or ``off`` (left to the periodic scans); default
    ``BILLOW_DISPATCH``, else ``thread``."""
    from billow.audit.capture import install as capture_activity_logs
    from billow.billing.immediate import IngestionFollowUp
    from billow.worker.dispatch import Dispatcher, bind, dispatch_mode

    settings = settings or get_settings()
    capture_activity_logs()  # every session's changes of tracked objects (billow.audit.capture)
    app = FastAPI(
        title="Billow",
        version=__version__,
        summary="Usage-based billing API compatible with Lago's v1 REST API.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=None,  # billow.api_docs serves it, without a CDN
        redoc_url=None,
        lifespan=_lifespan,
    )
    engine = make_engine(settings.resolved_database_url)
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = make_sessionmaker(engine)
    app.state.recent_keys = RecentKeys()
    # Tasks get sessions without dispatcher: what they do queues nothing more.
    app.state.dispatcher = Dispatcher(make_sessionmaker(engine), mode=dispatch_mode(dispatch))
    bind(app.state.sessionmaker, app.state.dispatcher)
    # Ingestion (billow.events) is below billing: the billing that follows it is wired here.
    app.state.ingestion_follow_up = IngestionFollowUp(app.state.dispatcher)

    routers = _api_routers()
    for router in routers:
        # Every operation documents the error answers it can give, in Lago's shape.
        app.include_router(router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    from billow.documents.endpoints import public_router as signed_documents

    app.include_router(signed_documents)  # GET /documents/{id}: signed links, no API key (outside /api/v1)
    from billow.integrations.payment_endpoints import public_router as provider_webhooks

    # POST /webhooks/{integration_type}/{organization_id}: providers' events, authenticated by their
    # signature (outside /api/v1).
    app.include_router(provider_webhooks)
    strict_json.check(app)  # NaN / Infinity are malformed JSON in every body
    install_docs(app, DOCS_URL)

    @app.get(
        "/health",
        tags=["health"],
        response_model=HealthOut,
        responses={503: {"model": HealthOut, "description": "The database is unreachable"}},
    )
    def health() -> Response:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
        except OperationalError:
            return JSONResponse({"status": "unavailable", "database": "unreachable"}, status_code=503)
        return JSONResponse({"status": "ok", "version": __version__})

    from billow.operations import router as operations

    app.include_router(operations)  # /health/live, /health/ready, /metrics: no API key (outside /api/v1)
    from billow.web.install import install as install_pages

    install_pages(app)  # / -> /app (dashboard), /portal, /static: outside /api/v1, no API key
    _install_param_guard(app, routers)  # inside the authentication (added first = innermost)
    _install_error_handlers(app)
    top_level = [(route, route.path) for route in app.router.routes if isinstance(route, APIRoute | Route)]
    in_routers = [
        (route, (API_PREFIX if router in routers else "") + route.path)
        for router in [*routers, signed_documents, provider_webhooks, operations]
        for route in router.routes
        if isinstance(route, APIRoute)
    ]
    _install_api_logs(app)  # inside the authentication: the organization is known
    _install_transport(app, settings, RouteTemplates([*top_level, *in_routers]))
    return app


def _install_param_guard(app: FastAPI, routers: list[APIRouter]) -> None:
    """NUL characters in path and query parameters (:mod:`billow.param_guard`)."""
    from fastapi.routing import APIRoute

    from billow.param_guard import ParamGuardMiddleware

    routes = [
        # An APIRoute's methods are always a set (Starlette's Route types them as optional).
        (API_PREFIX + route.path, route.methods or set())
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute)
    ]
    app.add_middleware(ParamGuardMiddleware, routes=routes)


#: Event ingestion: authenticated by itself, and never in the API logs (the hot path).
INGESTION = frozenset({("POST", f"{API_PREFIX}/events"), ("POST", f"{API_PREFIX}/events/batch")})


def _install_api_logs(app: FastAPI) -> None:
    """The API logs of mutating requests (:mod:`billow.audit.requests`), event ingestion excepted."""
    from billow.audit.requests import ApiLogMiddleware
    from billow.transport import REQUEST_ID, SESSION

    app.add_middleware(
        ApiLogMiddleware,
        sessions=app.state.sessionmaker,
        prefix=API_PREFIX,
        excluded=INGESTION,
        session_key=SESSION,
        request_id_key=REQUEST_ID,
    )


def _install_transport(app: FastAPI, settings: Settings, templates: RouteTemplates) -> None:
    """Request ids, the body-size limit, unexpected errors and authentication (:mod:`billow.transport`).
    Added last = outermost: the transport middleware sees every response, the 401s included."""
    assert app.openapi_url is not None
    app.add_middleware(
        AuthenticationMiddleware,
        prefix=API_PREFIX,
        sessions=app.state.sessionmaker,
        public=(app.openapi_url, DOCS_URL, f"{DOCS_URL}/"),
        # Event ingestion authenticates by itself (billow.events.endpoints).
        self_authenticating=INGESTION,
    )
    app.add_middleware(TransportMiddleware, limit=settings.max_body_bytes, templates=templates)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(BillowError)
    async def billow_error(_request: Request, exc: BillowError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _validation_response(exc.errors())

    @app.exception_handler(IntegrityError)
    async def integrity_error(_request: Request, exc: IntegrityError) -> JSONResponse:
        field = _unique_violation_field(exc)
        if field is None:
            log.exception("integrity error", exc_info=exc)
            body = {
                "status": 422,
                "error": "Unprocessable Entity",
                "code": "validation_errors",
                "error_details": {"base": ["value_is_invalid"]},
            }
        else:
            body = {
                "status": 422,
                "error": "Unprocessable Entity",
                "code": "validation_errors",
                "error_details": {field: ["value_already_exist"]},
            }
        return JSONResponse(body, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            body: dict[str, Any] = {"status": 404, "error": "Not Found", "code": "resource_not_found"}
        elif exc.status_code == 405:
            body = {"status": 405, "error": "Method Not Allowed", "code": "method_not_allowed"}
        elif exc.status_code == 413:
            body = payload_too_large_body()
        else:
            body = {"status": exc.status_code, "error": str(exc.detail)}
        return JSONResponse(body, status_code=exc.status_code, headers=getattr(exc, "headers", None))


def _validation_response(errors: Any) -> JSONResponse:
    """Map pydantic errors to Lago's 400 (malformed body, missing root key) and 422 shapes."""
    details: dict[str, list[str]] = {}
    for error in errors:
        loc = [part for part in error.get("loc", ()) if not isinstance(part, int)]
        kind = error.get("type", "")
        if kind == "json_invalid":
            return _bad_request("malformed JSON body")
        if loc and loc[0] == "body" and len(loc) <= 2 and kind not in _RANGE_TYPES and kind != _UNSTORABLE:
            # No body, a body that is not an object, or a root key missing / not an object.
            root = loc[1] if len(loc) == 2 else "body"
            return _bad_request(f"param is missing or the value is empty or invalid: {root}")
        if kind in _RANGE_TYPES and loc:
            # A bound (billow.kit.limits) is reported under the field's own name, as the services do.
            field = str(loc[-1])
        else:
            field = (
                str(loc[2]) if loc and loc[0] == "body" and len(loc) > 2 else str(loc[-1]) if loc else "base"
            )
        if kind in _MISSING_TYPES:
            code = "value_is_mandatory"
        elif kind in _RANGE_TYPES:
            code = "value_is_out_of_range"
        elif kind in _LENGTH_TYPES:
            code = "value_is_too_long"
        else:
            code = "value_is_invalid"
        codes = details.setdefault(field, [])
        if code not in codes:
            codes.append(code)
    return JSONResponse(
        {
            "status": 422,
            "error": "Unprocessable Entity",
            "code": "validation_errors",
            "error_details": details,
        },
        status_code=422,
    )


def _bad_request(message: str) -> JSONResponse:
    return JSONResponse({"status": 400, "error": f"BadRequest: {message}"}, status_code=400)


_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (?P<cols>[\w., ]+)")


def _unique_violation_field(exc: IntegrityError) -> str | None:
    """The last column of the violated unique constraint (``code`` for ``(organization_id, code)``)."""
    orig = exc.orig
    diag = getattr(orig, "diag", None)
    constraint = getattr(diag, "constraint_name", None)
    if constraint and constraint.startswith("uq_"):
        from billow.db import Base

        for table in Base.metadata.tables.values():
            for index in [*table.indexes, *table.constraints]:
                if getattr(index, "name", None) == constraint:
                    columns = [c.name for c in index.columns]  # type: ignore[attr-defined]
                    return columns[-1] if columns else None
        return constraint.rsplit("_", 1)[-1]
    match = _SQLITE_UNIQUE.search(str(orig))
    if match:
        return match.group("cols").split(",")[-1].strip().split(".")[-1]
    return None


def serve_app() -> FastAPI:
    """The app of ``billow serve`` (a uvicorn factory): :func:`create_app` plus the in-process
    scheduler when :func:`scheduler_mode` says so."""

    settings = get_settings()
    _log_to_stderr()
    app = create_app()
    from billow.worker.inprocess import attach, scheduler_plan

    plan = scheduler_plan(settings.is_embedded)
    if plan == "inprocess":
        attach(app)
        log.info("background scans run in this server process (BILLOW_SCHEDULER)")
    elif plan == "leader":
        from billow.worker.leader import attach_leader

        attach_leader(app, settings.resolved_database_url)
        log.info("background scans run in the one server elected by an advisory lock (BILLOW_SCHEDULER=auto)")
    else:
        log.info("background scans are off in this server (BILLOW_SCHEDULER=off)")
    log.info(
        "work that follows API calls runs after their commit (BILLOW_DISPATCH=%s)", app.state.dispatcher.mode
    )
    return app


def _log_to_stderr() -> None:
    """Billow's own log lines (scheduler mode and leadership, failed tasks...) next to uvicorn's, in
    ``BILLOW_LOG_FORMAT`` (:mod:`billow.kit.logs`)."""
    from billow.kit import logs

    settings = current_settings()
    logs.configure(settings.resolved_log_format, settings.log_level)
