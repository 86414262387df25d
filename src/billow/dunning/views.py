"""Rendering dunning campaigns (the API's answers) and ``dunning_campaign.finished``'s object (its
renderer, :mod:`billow.webhooks.payloads`; the run sends the object as it was when the campaign ended)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.dunning.decisions import main_balance, overdue_balances
from billow.dunning.repository import dunning_repository
from billow.dunning.schemas import (
    DunningCampaignFinishedOut,
    DunningCampaignOut,
    OverdueBalanceOut,
    ThresholdOut,
)
from billow.invoices.repository import invoice_repository
from billow.models.customers import Customer
from billow.models.dunning import DunningCampaign
from billow.models.invoices import Invoice
from billow.models.organizations import Organization
from billow.payments.amounts import due_cents
from billow.webhooks.payloads import renderer


def render_campaigns(
    session: Session, organization: Organization, campaigns: Sequence[DunningCampaign]
) -> list[DunningCampaignOut]:
    thresholds = dunning_repository.thresholds_by_campaign(
        session, organization.id, [c.id for c in campaigns]
    )
    return [
        DunningCampaignOut(
            lago_id=campaign.id,
            code=campaign.code,
            name=campaign.name,
            description=campaign.description,
            bcc_emails=list(campaign.bcc_emails or []),
            days_between_attempts=campaign.days_between_attempts,
            max_attempts=campaign.max_attempts,
            applied_to_organization=campaign.applied_to_organization,
            thresholds=[
                ThresholdOut(currency=t.currency, amount_cents=t.amount_cents)
                for t in thresholds.get(campaign.id, [])
            ],
            created_at=campaign.created_at,
            updated_at=campaign.updated_at,
        )
        for campaign in campaigns
    ]


def invoice_balances(session: Session, invoices: Sequence[Invoice]) -> dict[str, int]:
    """The overdue balance per currency of ``invoices`` (what each still owes after its payments and
    credit notes)."""
    offsets = invoice_repository.credit_note_offsets(session, [invoice.id for invoice in invoices])
    return overdue_balances(
        (
            invoice.currency,
            due_cents(
                invoice.total_amount_cents, invoice.total_paid_amount_cents, offsets.get(invoice.id, 0)
            ),
        )
        for invoice in invoices
    )


def finished_object(customer: Customer, campaign_code: str, balances: Mapping[str, int]) -> dict[str, Any]:
    """``DunningCampaignFinishedObject`` (``balances`` not empty)."""
    currency, amount_cents = main_balance(balances, customer.currency)
    return DunningCampaignFinishedOut(
        external_customer_id=customer.external_id,
        dunning_campaign_code=campaign_code,
        overdue_balance_cents=amount_cents,
        overdue_balance_currency=currency,
        overdue_balances=[OverdueBalanceOut(amount_cents=balances[c], currency=c) for c in sorted(balances)],
    ).model_dump(mode="json")


def applicable_campaign(session: Session, customer: Customer) -> DunningCampaign | None:
    """The customer's own campaign, else the organization's default (None when excluded)."""
    if customer.exclude_from_dunning_campaign:
        return None
    if customer.applied_dunning_campaign_id is not None:
        own = dunning_repository.get(session, customer.organization_id, customer.applied_dunning_campaign_id)
        if own is not None:
            return own
    return dunning_repository.default(session, customer.organization_id)


@renderer("dunning_campaign")
def finished_payloads(
    session: Session, organization: Organization, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    """``dunning_campaign.finished`` of customers (``ids``), as they are now."""
    customers = session.scalars(
        select(Customer).where(Customer.organization_id == organization.id, Customer.id.in_(set(ids)))
    )
    found: dict[uuid.UUID, dict[str, Any]] = {}
    for customer in customers:
        campaign = applicable_campaign(session, customer)
        invoices = dunning_repository.overdue_invoices(session, organization.id, customer.id)
        balances = invoice_balances(session, invoices)
        if campaign is not None and balances:
            found[customer.id] = finished_object(customer, campaign.code, balances)
    return found
