from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session

from billow.auth import CurrentOrganization
from billow.customers.service import customer_service
from billow.db import DbSession
from billow.kit.pagination import Pagination, paginate
from billow.kit.strict_json import StrictJSONRoute
from billow.models.organizations import Organization
from billow.models.subscriptions import Subscription
from billow.plans.repository import plan_repository
from billow.subscriptions.dependencies import Now
from billow.subscriptions.repository import subscription_repository
from billow.subscriptions.schemas import (
    SubscriptionEnvelope,
    SubscriptionFilters,
    SubscriptionList,
    SubscriptionOut,
    SubscriptionRequest,
    SubscriptionUpdateRequest,
    subscription_detail_out,
    subscription_out,
)
from billow.subscriptions.service import subscription_service

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


def _render(
    session: Session, organization: Organization, subscriptions: Sequence[Subscription], now: datetime
) -> list[SubscriptionOut]:
    customers = subscription_repository.customers_by_id(session, [s.customer_id for s in subscriptions])
    plans = subscription_repository.plans_by_id(session, [s.plan_id for s in subscriptions])
    changes = subscription_service.plan_changes(
        session,
        list(subscriptions),
        timezone_of=lambda s: customers[s.customer_id].applicable_timezone(organization),
    )
    out: list[SubscriptionOut] = []
    for subscription in subscriptions:
        customer = customers[subscription.customer_id]
        out.append(
            subscription_out(
                subscription,
                customer,
                plans[subscription.plan_id],
                timezone=customer.applicable_timezone(organization),
                now=now,
                plan_change=changes[subscription.id],
            )
        )
    return out


def _envelope(
    session: Session, organization: Organization, subscription: Subscription, now: datetime
) -> SubscriptionEnvelope:
    [customer] = subscription_repository.customers_by_id(session, [subscription.customer_id]).values()
    [plan] = subscription_repository.plans_by_id(session, [subscription.plan_id]).values()
    [graph] = plan_repository.load_plans(session, [plan])
    timezone = customer.applicable_timezone(organization)
    changes = subscription_service.plan_changes(session, [subscription], timezone_of=lambda _: timezone)
    return SubscriptionEnvelope(
        subscription=subscription_detail_out(
            subscription,
            customer,
            graph,
            timezone=timezone,
            now=now,
            plan_change=changes[subscription.id],
        )
    )


@router.post("/subscriptions", response_model=SubscriptionEnvelope)
def create(
    body: SubscriptionRequest, session: DbSession, organization: CurrentOrganization, now: Now
) -> SubscriptionEnvelope:
    subscription = subscription_service.create(session, organization, body.subscription, now)
    return _envelope(session, organization, subscription, now)


@router.get("/subscriptions", response_model=SubscriptionList)
def index(
    request: Request, session: DbSession, organization: CurrentOrganization, pages: Pagination, now: Now
) -> SubscriptionList:
    stmt = subscription_service.list_stmt(organization, subscription_filters(request))
    subscriptions, meta = paginate(session, stmt, pages)
    return SubscriptionList(subscriptions=_render(session, organization, subscriptions, now), meta=meta)


@router.get("/subscriptions/{external_id}", response_model=SubscriptionEnvelope)
def show(
    external_id: str,
    session: DbSession,
    organization: CurrentOrganization,
    now: Now,
    status: str | None = None,
) -> SubscriptionEnvelope:
    subscription = subscription_service.get(session, organization, external_id, status)
    return _envelope(session, organization, subscription, now)


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
    return _envelope(session, organization, subscription, now)


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
    return _envelope(session, organization, subscription, now)


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
    return SubscriptionList(subscriptions=_render(session, organization, subscriptions, now), meta=meta)
