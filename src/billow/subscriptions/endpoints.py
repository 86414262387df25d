from __future__ import annotations

from fastapi import APIRouter, Request

from billow.auth import CurrentOrganization
from billow.customers.service import customer_service
from billow.db import DbSession
from billow.kit.pagination import Pagination, paginate
from billow.kit.strict_json import StrictJSONRoute
from billow.subscriptions.dependencies import Now
from billow.subscriptions.schemas import (
    SubscriptionEnvelope,
    SubscriptionFilters,
    SubscriptionList,
    SubscriptionRequest,
    SubscriptionUpdateRequest,
)
from billow.subscriptions.service import subscription_service
from billow.subscriptions.views import render_subscriptions, subscription_envelope

router = APIRouter(tags=["subscriptions"], route_class=StrictJSONRoute)


def subscription_filters(request: Request) -> SubscriptionFilters:
    """Query filters; statuses are accepted as ``status[]=x`` (Lago) or ``status=x``."""
    query = request.query_params
    statuses = [value for value in [*query.getlist("status[]"), *query.getlist("status")] if value != ""]
    return SubscriptionFilters(
        external_customer_id=query.get("external_customer_id"),
        plan_code=query.get("plan_code"),
        external_id=query.get("external_id"),
        currency=query.get("currency"),
        statuses=statuses or None,
    )


@router.post("/subscriptions", response_model=SubscriptionEnvelope)
def create(
    body: SubscriptionRequest, session: DbSession, organization: CurrentOrganization, now: Now
) -> SubscriptionEnvelope:
    subscription = subscription_service.create(session, organization, body.subscription, now)
    return subscription_envelope(session, organization, subscription, now)


@router.get("/subscriptions", response_model=SubscriptionList)
def index(
    request: Request, session: DbSession, organization: CurrentOrganization, pages: Pagination, now: Now
) -> SubscriptionList:
    stmt = subscription_service.list_stmt(organization, subscription_filters(request))
    subscriptions, meta = paginate(session, stmt, pages)
    return SubscriptionList(
        subscriptions=render_subscriptions(session, organization, subscriptions, now), meta=meta
    )


@router.get("/subscriptions/{external_id}", response_model=SubscriptionEnvelope)
def show(
    external_id: str,
    session: DbSession,
    organization: CurrentOrganization,
    now: Now,
    status: str | None = None,
) -> SubscriptionEnvelope:
    subscription = subscription_service.get(session, organization, external_id, status)
    return subscription_envelope(session, organization, subscription, now)


@router.put("/subscriptions/{external_id}", response_model=SubscriptionEnvelope)
def update(
    external_id: str,
    body: SubscriptionUpdateRequest,
    session: DbSession,
    organization: CurrentOrganization,
    now: Now,
    status: str | None = None,
) -> SubscriptionEnvelope:
    subscription = subscription_service.update(
        session, organization, external_id, body.subscription, status=status, now=now
    )
    return subscription_envelope(session, organization, subscription, now)


@router.delete("/subscriptions/{external_id}", response_model=SubscriptionEnvelope)
def terminate(
    external_id: str,
    session: DbSession,
    organization: CurrentOrganization,
    now: Now,
    status: str | None = None,
    on_termination_credit_note: str | None = None,
    on_termination_invoice: str | None = None,
) -> SubscriptionEnvelope:
    subscription = subscription_service.terminate(
        session,
        organization,
        external_id,
        status=status,
        on_termination_credit_note=on_termination_credit_note,
        on_termination_invoice=on_termination_invoice,
        now=now,
    )
    return subscription_envelope(session, organization, subscription, now)


@router.get("/customers/{external_id}/subscriptions", response_model=SubscriptionList)
def customer_index(
    external_id: str,
    request: Request,
    session: DbSession,
    organization: CurrentOrganization,
    pages: Pagination,
    now: Now,
) -> SubscriptionList:
    """The customer's subscriptions, with ``GET /subscriptions``' filters. (``lago-python-client``'s
    ``customers.subscriptions.find_all`` sends no API key: a client bug, answered 401 like Lago.)"""
    customer = customer_service.get(session, organization, external_id)
    stmt = subscription_service.list_stmt(organization, subscription_filters(request), customer=customer)
    subscriptions, meta = paginate(session, stmt, pages)
    return SubscriptionList(
        subscriptions=render_subscriptions(session, organization, subscriptions, now), meta=meta
    )
