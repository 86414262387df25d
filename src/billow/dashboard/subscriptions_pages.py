"""``/app/subscriptions``: the list (filters: status, plan, customer), a subscription's page (its plan and
usage), and the forms: create, change plan (upgrade/downgrade: Lago's ``POST /subscriptions`` with the
same ``external_id`` and another ``plan_code``, :meth:`billow.subscriptions.service.SubscriptionService.
create`) and terminate (after a confirmation page)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from billow.dashboard import queries
from billow.dashboard.pages import (
    FormInvalid,
    PageNow,
    blank_to_none,
    error_codes,
    form_input,
    not_found,
    organization_of,
    page_links,
    page_params,
    redirect,
    refused,
)
from billow.db import DbSession
from billow.errors import BillowError
from billow.kit.pagination import paginate
from billow.models.customers import Customer
from billow.models.subscriptions import Subscription, SubscriptionStatus
from billow.subscriptions.repository import subscription_repository
from billow.subscriptions.schemas import SubscriptionFilters, SubscriptionInput
from billow.subscriptions.service import subscription_service
from billow.subscriptions.views import render_subscriptions, subscription_envelope
from billow.web.auth import Viewer, require
from billow.web.templating import render

router = APIRouter(prefix="/app/subscriptions")

View = Annotated[Viewer, Depends(require("subscriptions:view"))]
Create = Annotated[Viewer, Depends(require("subscriptions:create"))]
Update = Annotated[Viewer, Depends(require("subscriptions:update"))]
Terminate = Annotated[Viewer, Depends(require("subscriptions:terminate"))]

STATUSES = [status.value for status in SubscriptionStatus]
BILLING_TIMES = [("calendar", "Calendar (1st of the month)"), ("anniversary", "Anniversary (the start date)")]


@router.get("")
def index(request: Request, session: DbSession, viewer: View, now: PageNow) -> Response:
    organization = organization_of(session, viewer)
    query = request.query_params
    status = query.get("status", "active")
    filters = {
        "status": status,
        "plan_code": query.get("plan_code", "").strip(),
        "external_customer_id": query.get("external_customer_id", "").strip(),
    }
    stmt = subscription_service.list_stmt(
        organization,
        SubscriptionFilters(
            external_customer_id=filters["external_customer_id"] or None,
            plan_code=filters["plan_code"] or None,
            statuses=STATUSES if status not in STATUSES else [status],
        ),
    )
    subscriptions, meta = paginate(session, stmt, page_params(request))
    return render(
        request,
        "subscriptions/index.html",
        {
            "subscriptions": render_subscriptions(session, organization, subscriptions, now),
            "filters": filters,
            "statuses": [("all", "Any status"), *((s, s.capitalize()) for s in STATUSES)],
            "plans": queries.live_plans(session, viewer.organization_id),
            "meta": meta,
            "links": page_links(request, meta),
        },
    )


def form_context(session: Session, viewer: Viewer, values: dict[str, Any]) -> dict[str, Any]:
    return {
        "values": values,
        "errors": {},
        "plans": queries.live_plans(session, viewer.organization_id),
        "billing_times": BILLING_TIMES,
    }


@router.get("/new")
def new(request: Request, session: DbSession, viewer: Create) -> Response:
    values = {
        "external_customer_id": request.query_params.get("external_customer_id", ""),
        "billing_time": "calendar",
    }
    return render(request, "subscriptions/form.html", form_context(session, viewer, values))


@router.post("/new")
async def create(request: Request, session: DbSession, viewer: Create, now: PageNow) -> Response:
    organization = organization_of(session, viewer)
    form = await request.form()
    context = form_context(session, viewer, dict(form))
    data = blank_to_none(form, "external_customer_id", "plan_code", "external_id", "name", "billing_time")
    subscription_at = blank_to_none(form, "subscription_at").get("subscription_at")
    if subscription_at:
        # A date alone is its midnight UTC (the form's date field).
        data["subscription_at"] = (
            subscription_at if "T" in subscription_at else f"{subscription_at}T00:00:00Z"
        )
    try:
        subscription = subscription_service.create(
            session, organization, form_input(SubscriptionInput, data), now
        )
    except FormInvalid as invalid:
        return refused(request, session, "subscriptions/form.html", context, invalid.errors)
    except BillowError as error:
        return refused(request, session, "subscriptions/form.html", context, error_codes(error))
    return redirect(f"/app/subscriptions/{subscription.id}", "Subscription created.")


def _load(session: Session, viewer: Viewer, lago_id: str) -> tuple[Subscription, Customer] | None:
    subscription = queries.subscription_by_id(session, viewer.organization_id, lago_id)
    if subscription is None:
        return None
    customer = session.get(Customer, subscription.customer_id)
    assert customer is not None
    return subscription, customer


@router.get("/{lago_id}")
def show(lago_id: str, request: Request, session: DbSession, viewer: View, now: PageNow) -> Response:
    organization = organization_of(session, viewer)
    found = _load(session, viewer, lago_id)
    if found is None:
        return not_found(request, "subscription")
    subscription, customer = found
    detail = subscription_envelope(session, organization, subscription, now).subscription
    return render(
        request,
        "subscriptions/show.html",
        {"subscription": detail, "row": subscription, "customer": customer},
    )


@router.get("/{lago_id}/change_plan")
def change_plan_form(lago_id: str, request: Request, session: DbSession, viewer: Update) -> Response:
    found = _load(session, viewer, lago_id)
    if found is None:
        return not_found(request, "subscription")
    subscription, customer = found
    context = form_context(session, viewer, {})
    return render(
        request, "subscriptions/change_plan.html", {**context, "row": subscription, "customer": customer}
    )


@router.post("/{lago_id}/change_plan")
async def change_plan(
    lago_id: str, request: Request, session: DbSession, viewer: Update, now: PageNow
) -> Response:
    organization = organization_of(session, viewer)
    found = _load(session, viewer, lago_id)
    if found is None:
        return not_found(request, "subscription")
    subscription, customer = found
    form = await request.form()
    context = {**form_context(session, viewer, dict(form)), "row": subscription, "customer": customer}
    data = {
        "external_customer_id": customer.external_id,
        "external_id": subscription.external_id,
        **blank_to_none(form, "plan_code"),
    }
    if subscription.status != SubscriptionStatus.ACTIVE:
        return refused(request, session, "subscriptions/change_plan.html", context, {"base": ["not_active"]})
    if not data.get("plan_code"):
        return refused(
            request, session, "subscriptions/change_plan.html", context, {"plan_code": ["value_is_mandatory"]}
        )
    try:
        changed = subscription_service.create(session, organization, form_input(SubscriptionInput, data), now)
    except FormInvalid as invalid:
        return refused(request, session, "subscriptions/change_plan.html", context, invalid.errors)
    except BillowError as error:
        return refused(request, session, "subscriptions/change_plan.html", context, error_codes(error))
    if changed.id == subscription.id:
        # A downgrade: the subscription runs to its period's end, the next one waits (pending).
        pending = subscription_repository.pending_plan_change_of(session, subscription.id)
        message = "Downgrade scheduled at the period's end." if pending is not None else "Plan unchanged."
    else:
        message = "Plan changed."
    return redirect(f"/app/subscriptions/{changed.id}", message)


@router.get("/{lago_id}/terminate")
def terminate_confirm(lago_id: str, request: Request, session: DbSession, viewer: Terminate) -> Response:
    found = _load(session, viewer, lago_id)
    if found is None:
        return not_found(request, "subscription")
    subscription, customer = found
    return render(
        request, "subscriptions/terminate.html", {"row": subscription, "customer": customer, "errors": {}}
    )


@router.post("/{lago_id}/terminate")
def terminate(
    lago_id: str, request: Request, session: DbSession, viewer: Terminate, now: PageNow
) -> Response:
    organization = organization_of(session, viewer)
    found = _load(session, viewer, lago_id)
    if found is None:
        return not_found(request, "subscription")
    subscription, customer = found
    try:
        ended = subscription_service.terminate(
            session,
            organization,
            subscription.external_id,
            status=subscription.status,
            on_termination_credit_note=None,
            on_termination_invoice=None,
            now=now,
        )
    except BillowError as error:
        context = {"row": subscription, "customer": customer}
        return refused(request, session, "subscriptions/terminate.html", context, error_codes(error))
    return redirect(f"/app/subscriptions/{ended.id}", f"Subscription {ended.status}.")
