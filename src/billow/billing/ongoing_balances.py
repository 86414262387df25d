"""Wallets' ongoing balances: what the customer's current usage and draft invoices (taxes included, not
yet finalized) will take from its prepaid credits (Lago's ``ongoing_usage_balance_cents``;
``ongoing_balance_cents`` is the balance minus it).

The usage is shared over the customer's wallets as an invoice of that usage would consume them
(:func:`billow.wallets.consumption.allocate`: priority, then the oldest, ``applies_to``); the usage no
wallet covers goes to the first wallet in that order, so its ongoing balance goes below zero (Lago's
single-wallet ``balance - usage``), which is how a customer is seen to run out.

When: right after an ingestion touching a subscription of a customer with wallets (task
:data:`REFRESH_WALLETS`, queued by :mod:`billow.billing.immediate` from its ingestion hints; one queued
task per set of subscriptions, so a stream of events refreshes once per pass, not per event), and by the
5-minute scan ``wallets.refresh_ongoing`` (every active wallet of a customer with a live subscription: the
safety net, and the refresh after an invoice consumed the usage). A wallet's balance changes keep the
last usage (:func:`billow.wallets.ledger.sync_ongoing`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.billing.immediate import REFRESH_WALLETS
from billow.billing.repository import billing_repository
from billow.fees.usage import UsageFilters, usage_charges, usage_service
from billow.kit.money import round_minor_units
from billow.models.customers import Customer
from billow.models.invoices import Fee, Invoice, InvoiceStatus
from billow.models.organizations import Organization
from billow.models.plans import Plan
from billow.models.subscriptions import Subscription, SubscriptionStatus
from billow.models.wallets import Wallet, WalletStatus
from billow.taxes.rules import fee_tax_amounts
from billow.wallets.consumption import FeeShare, WalletShare, allocate
from billow.wallets.ledger import set_ongoing_usage
from billow.wallets.repository import wallet_repository
from billow.worker.dispatch import split_ids_payload, task
from billow.worker.scans import SessionFactory, scan

log = logging.getLogger(__name__)


def usage_shares(
    fees: Sequence[FeeShare], wallets: Sequence[WalletShare], currency: str
) -> dict[uuid.UUID, int]:
    """Each wallet's part of the usage ``fees`` (taxes included): the allocation an invoice would make,
    and what no wallet covers added to the first wallet that may pay (0 for the others). Pure."""
    in_currency = [w for w in wallets if w.currency == currency]
    total = sum(max(fee.amount_cents, 0) for fee in fees)
    shares = {w.id: 0 for w in in_currency}
    if not in_currency or total <= 0:
        return shares
    shares.update(allocate(fees, in_currency, owed_cents=total, currency=currency))
    left = total - sum(shares.values())
    if left > 0:
        ordered = sorted(in_currency, key=lambda w: (w.priority, w.created_at, str(w.id)))
        shares[ordered[0].id] += left
    return shares


def customer_usage_fees(
    session: Session, organization: Organization, customer: Customer, now: datetime
) -> dict[str, list[FeeShare]]:
    """The current usage of the customer's active subscriptions and the fees of its draft invoices as fee
    shares (taxes included), by currency."""
    by_currency: dict[str, list[FeeShare]] = {}
    drafts = session.execute(
        select(Fee, Invoice.currency)
        .join(Invoice, Invoice.id == Fee.invoice_id)
        .where(Invoice.customer_id == customer.id, Invoice.status == InvoiceStatus.DRAFT)
    ).all()
    codes = billing_repository.metric_codes_of_charges(
        session, {fee.charge_id for fee, _ in drafts if fee.charge_id is not None}
    )
    for fee, currency in drafts:
        by_currency.setdefault(currency, []).append(
            FeeShare(
                key=fee.id,
                fee_type=fee.fee_type,
                billable_metric_code=codes.get(fee.charge_id) if fee.charge_id else None,
                amount_cents=fee.amount_cents + fee.taxes_amount_cents,
            )
        )
    subscriptions = session.scalars(
        select(Subscription).where(
            Subscription.customer_id == customer.id, Subscription.status == SubscriptionStatus.ACTIVE
        )
    ).all()
    for subscription in subscriptions:
        plan = session.get(Plan, subscription.plan_id)
        assert plan is not None
        charges = usage_charges(session, plan, UsageFilters())
        if not charges:
            continue
        usage = usage_service.compute(
            session, organization, customer=customer, subscription=subscription, plan=plan, charges=charges,
            now=now,
        )  # fmt: skip
        for charge in usage.charges:
            for index, usage_fee in enumerate(charge.fees):
                taxes = sum(fee_tax_amounts(usage_fee.amount_cents, charge.taxes).values())
                by_currency.setdefault(usage.currency, []).append(
                    FeeShare(
                        key=(subscription.id, charge.charge.id, index),
                        fee_type="charge",
                        billable_metric_code=charge.metric.code,
                        amount_cents=usage_fee.amount_cents + round_minor_units(taxes),
                    )
                )
    return by_currency


def refresh_customer(session: Session, customer_id: uuid.UUID, now: datetime) -> int:
    """Refresh the ongoing balances of the customer's active wallets (under their locks); how many."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        return 0
    organization = session.get(Organization, customer.organization_id)
    assert organization is not None
    wallets = wallet_repository.active_of_customer(session, organization.id, customer.id, lock=True)
    if not wallets:
        return 0
    fees = customer_usage_fees(session, organization, customer, now)
    views = [
        WalletShare(
            id=w.id, priority=w.priority, created_at=w.created_at, balance_cents=w.balance_cents,
            currency=w.currency, fee_types=tuple(w.allowed_fee_types or ()),
            billable_metric_codes=tuple(w.billable_metric_codes or ()),
        )
        for w in wallets
    ]  # fmt: skip
    shares: dict[uuid.UUID, int] = {}
    for currency in {w.currency for w in wallets}:
        shares.update(usage_shares(fees.get(currency, []), views, currency))
    for wallet in wallets:
        set_ongoing_usage(wallet, shares.get(wallet.id, 0), now)
    session.flush()
    return len(wallets)


@task(REFRESH_WALLETS)
def refresh_task(session_factory: SessionFactory, payload: str, now: datetime) -> int:
    """After an ingestion: the wallets of the customers of an ``organization|external ids`` payload."""
    organization_id, external_ids = split_ids_payload(payload)
    with session_factory() as session:
        customers = session.scalars(
            select(Subscription.customer_id)
            .where(
                Subscription.organization_id == uuid.UUID(organization_id),
                Subscription.external_id.in_(external_ids),
                Subscription.status == SubscriptionStatus.ACTIVE,
            )
            .distinct()
        ).all()
    return sum(_refresh_one(session_factory, customer_id, now) for customer_id in customers)


def _refresh_one(session_factory: SessionFactory, customer_id: uuid.UUID, now: datetime) -> int:
    with session_factory() as session, session.begin():
        return refresh_customer(session, customer_id, now)


@scan("wallets.refresh_ongoing", every=timedelta(minutes=5))
def refresh_all(session_factory: SessionFactory, now: datetime) -> int:
    """Every customer with an active wallet and an active subscription, one transaction each."""
    with session_factory() as session:
        customers = session.scalars(
            select(Wallet.customer_id)
            .join(Subscription, Subscription.customer_id == Wallet.customer_id)
            .where(Wallet.status == WalletStatus.ACTIVE, Subscription.status == SubscriptionStatus.ACTIVE)
            .distinct()
        ).all()
    refreshed = 0
    for customer_id in customers:
        try:
            refreshed += _refresh_one(session_factory, customer_id, now)
        except Exception:  # one customer never stops the others; the next scan retries
            log.exception("could not refresh the ongoing balances of customer %s", customer_id)
    return refreshed
