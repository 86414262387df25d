"""``GET`` and ``PUT /subscriptions/{external_id}/lifetime_usage`` (progressive billing), and the invoice
routes whose work is billing's: ``POST /invoices`` (a one-off invoice),
``PUT /invoices/{id}/refresh``, ``PUT /invoices/{id}/finalize`` (drafts) and
``POST /invoices/{id}/retry`` (a failed invoice billed again) and ``POST /invoices/preview`` (the next
invoice, not stored).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from sqlalchemy.orm import Session

from billow.auth import CurrentOrganization
from billow.billing import drafts, one_off, preview, progressive
from billow.billing.preview_views import preview_envelope
from billow.billing.run import bill_subscriptions
from billow.billing.schemas import (
    InvoicePreviewRequest,
    LifetimeUsageEnvelope,
    LifetimeUsageOut,
    LifetimeUsageRequest,
    OneOffInvoiceRequest,
    PreviewInvoiceEnvelope,
    UsageThresholdProgressOut,
)
from billow.db import DbSession, utcnow
from billow.errors import NotFound, ValidationFailed
from billow.invoices.repository import invoice_repository
from billow.invoices.schemas import InvoiceEnvelope
from billow.invoices.service import invoice_service
from billow.invoices.views import invoice_envelope
from billow.kit.limits import is_amount_cents
from billow.kit.strict_json import StrictJSONRoute
from billow.models.organizations import Organization
from billow.models.subscriptions import Subscription
from billow.subscriptions.dependencies import Now, request_time
from billow.subscriptions.repository import subscription_repository

router = APIRouter(tags=["subscriptions"], route_class=StrictJSONRoute)


def _subscription(session: Session, organization: Organization, external_id: str) -> Subscription:
    subscription = subscription_repository.by_external_id(session, organization.id, external_id)
    if subscription is None:
        raise NotFound("subscription")
    return subscription


def _out(session: Session, subscription: Subscription, now: datetime) -> LifetimeUsageOut:
    figures = progressive.lifetime_usage(session, subscription, now)
    progress = progressive.threshold_progress(
        progressive.plan_thresholds(session, subscription.plan_id),
        progressive.applied_thresholds(session, subscription.id),
        figures.total_amount_cents,
    )
    return LifetimeUsageOut(
        lago_id=progressive.lifetime_usage_id(subscription.id),
        lago_subscription_id=subscription.id,
        external_subscription_id=subscription.external_id,
        external_historical_usage_amount_cents=figures.external_historical_usage_amount_cents,
        invoiced_usage_amount_cents=figures.invoiced_usage_amount_cents,
        current_usage_amount_cents=figures.current_usage_amount_cents,
        from_datetime=subscription.started_at or subscription.subscription_at,
        to_datetime=now,
        usage_thresholds=[
            UsageThresholdProgressOut(
                amount_cents=p.amount_cents, completion_ratio=p.completion_ratio, reached_at=p.reached_at
            )
            for p in progress
        ],
    )


@router.get("/subscriptions/{external_id}/lifetime_usage", response_model=LifetimeUsageEnvelope)
def show(external_id: str, session: DbSession, organization: CurrentOrganization) -> LifetimeUsageEnvelope:
    subscription = _subscription(session, organization, external_id)
    return LifetimeUsageEnvelope(lifetime_usage=_out(session, subscription, utcnow()))


@router.put("/subscriptions/{external_id}/lifetime_usage", response_model=LifetimeUsageEnvelope)
def update(
    external_id: str, body: LifetimeUsageRequest, session: DbSession, organization: CurrentOrganization
) -> LifetimeUsageEnvelope:
    subscription = _subscription(session, organization, external_id)
    value = body.lifetime_usage.external_historical_usage_amount_cents
    if value is not None:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationFailed.one("external_historical_usage_amount_cents", "value_is_invalid")
        if not is_amount_cents(value):
            raise ValidationFailed.one("external_historical_usage_amount_cents", "value_is_out_of_range")
        progressive.set_historical_usage(session, subscription, value)
    return LifetimeUsageEnvelope(lifetime_usage=_out(session, subscription, utcnow()))


# ------------------------------------------------------------------------------------------ invoices

#: ``PUT /invoices/{id}/refresh`` and ``/finalize`` (the draft lifecycle, :mod:`billow.billing.drafts`) and
#: ``POST /invoices/{id}/retry`` (the billing run): invoice routes whose work is billing's, rendered as
#: every invoice (:mod:`billow.invoices.views`).
invoice_router = APIRouter(tags=["invoices"], route_class=StrictJSONRoute)


@invoice_router.post("/invoices", response_model=InvoiceEnvelope)
def create_one_off(
    body: OneOffInvoiceRequest, session: DbSession, organization: CurrentOrganization, now: Now
) -> InvoiceEnvelope:
    """A one-off invoice of add-ons, finalized at once (:mod:`billow.billing.one_off`)."""
    invoice = one_off.create_one_off_invoice(session, organization, body.invoice, now)
    return invoice_envelope(session, organization, invoice)


@invoice_router.post("/invoices/preview", response_model=PreviewInvoiceEnvelope)
def create_preview(
    body: InvoicePreviewRequest,
    session: DbSession,
    organization: CurrentOrganization,
    now: Annotated[datetime, Depends(request_time)],
) -> PreviewInvoiceEnvelope:
    """The customer's next invoice, computed and not stored (:mod:`billow.billing.preview`): the
    transaction is rolled back once the answer is built, whatever was read in it."""
    try:
        return preview_envelope(session, preview.preview_invoice(session, organization, body, now), now)
    finally:
        session.rollback()


@invoice_router.put("/invoices/{lago_id}/refresh", response_model=InvoiceEnvelope)
def refresh(lago_id: str, session: DbSession, organization: CurrentOrganization) -> InvoiceEnvelope:
    invoice = drafts.refresh_invoice(session, organization, lago_id)
    return invoice_envelope(session, organization, invoice)


@invoice_router.put("/invoices/{lago_id}/finalize", response_model=InvoiceEnvelope)
def finalize(lago_id: str, session: DbSession, organization: CurrentOrganization) -> InvoiceEnvelope:
    invoice = drafts.finalize_invoice(session, organization, lago_id)
    return invoice_envelope(session, organization, invoice)


@invoice_router.post("/invoices/{lago_id}/retry", response_model=InvoiceEnvelope)
def retry(
    lago_id: str,
    request: Request,
    session: DbSession,
    organization: CurrentOrganization,
    now: Annotated[datetime, Depends(request_time)],
) -> InvoiceEnvelope:
    """Bill a failed invoice's period again now (Lago's retry of a failed invoice). The billing run's own
    transactions do it (:func:`billow.billing.run.bill_subscriptions`, with the subscription's other
    periods due): on success the invoice (same id) is the real one; on failure it is still ``failed``,
    with the new ``error_details``. The request's transaction only reads."""
    invoice = invoice_service.failed(session, organization, lago_id)
    subscription_ids = [
        link.subscription_id
        for link in invoice_repository.links_by_invoice(session, [invoice.id])[invoice.id]
    ]
    session.commit()  # nothing written: end the read before the billing transactions
    bill_subscriptions(request.app.state.sessionmaker, subscription_ids, now)
    session.expire_all()
    retried = invoice_repository.get(session, organization.id, invoice.id)
    if retried is None:  # the period was billed by another invoice meanwhile
        raise NotFound("invoice")
    return invoice_envelope(session, organization, retried)
