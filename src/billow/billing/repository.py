"""The queries of billing (AGENTS.md: ``repository.py`` holds the SQL): the billing run's pending work,
billed keys and absence hints (:mod:`billow.billing.run`; its row locks are :mod:`billow.billing.locks`),
the pay-in-advance candidates and events (:mod:`billow.billing.pay_in_advance`), the progressive-billing
reads (applied thresholds, invoiced usage, :mod:`billow.billing.progressive`), and
:func:`subscription_facts`, the one way a subscription's row becomes the schedule's
:class:`~billow.billing.schedule.SubscriptionFacts`.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Hashable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Exists, Select, and_, exists, func, literal, select
from sqlalchemy.orm import Session, aliased

from billow.billing.schedule import DueInvoice, SubscriptionFacts, billable_from
from billow.config import bill_backdated_default
from billow.models.billable_metrics import BillableMetric
from billow.models.billing import LifetimeUsage
from billow.models.coupons import AppliedCoupon
from billow.models.credit_notes import CreditNote, CreditStatus
from billow.models.customers import Customer
from billow.models.events import Event
from billow.models.invoices import Fee, FeeType, Invoice, InvoiceStatus, InvoiceSubscription, InvoiceType
from billow.models.organizations import Organization
from billow.models.plans import Charge, FixedCharge, Plan, UsageThreshold
from billow.models.subscriptions import Subscription, SubscriptionStatus
from billow.models.wallets import Wallet, WalletStatus
from billow.subscriptions.calendar import trial_end

#: Subscriptions (or customers) per ``IN (...)`` list (SQLite allows 32,766 parameters per statement).
CHUNK = 1000
PROGRESSIVE_BILLING = "progressive_billing"
#: Invoices whose fees count as invoiced usage (voided and deleted ones do not).
COUNTED_STATUSES = (InvoiceStatus.DRAFT, InvoiceStatus.FINALIZED, InvoiceStatus.CLOSED)

BilledKey = tuple[Hashable, str, datetime]


def subscription_facts(row: Any, *, with_trial: bool = True, with_floor: bool = True) -> SubscriptionFacts:
    """What the schedule needs of a subscription, from a row of :meth:`BillingRepository.subscription_rows`.
    ``with_trial=False``: without its trial (the fallback when absurd stored trials fail);
    ``with_floor=False``: without the backdated floor (a draft recomputing a period it billed)."""
    timezone = row.customer_timezone or row.organization_timezone or "UTC"
    bill_past = row.bill_backdated_periods
    floor = None
    if with_floor and not (bill_backdated_default() if bill_past is None else bill_past):
        floor = billable_from(row.created_at, timezone)
    return SubscriptionFacts(
        id=row.id,
        started_at=row.started_at,
        interval=row.interval,
        billing_time=row.billing_time,
        timezone=timezone,
        pay_in_advance=row.pay_in_advance,
        advance_fixed_charges=bool(row.advance_fixed_charges),
        bill_charges_monthly=row.bill_charges_monthly,
        terminated_at=row.terminated_at,
        trial_ended_at=trial_end(row.started_at, row.trial_period) if with_trial else None,
        billable_from=floor,
    )


_SUBSCRIPTION_ROW = (
    select(
        Subscription.id,
        Subscription.started_at,
        Subscription.billing_time,
        Subscription.terminated_at,
        Plan.interval,
        Plan.pay_in_advance,
        Plan.bill_charges_monthly,
        Plan.trial_period,
        Customer.timezone.label("customer_timezone"),
        Organization.timezone.label("organization_timezone"),
        Subscription.created_at,
        Organization.bill_backdated_periods,
        Subscription.customer_id,
        Subscription.external_id,
        Subscription.purchase_order_number,
        Subscription.consolidate_invoice,
        exists()
        .where(
            FixedCharge.plan_id == Plan.id,
            FixedCharge.pay_in_advance.is_(True),
            FixedCharge.deleted_at.is_(None),
        )
        .label("advance_fixed_charges"),
    )
    .join(Plan, Plan.id == Subscription.plan_id)
    .join(Customer, Customer.id == Subscription.customer_id)
    .join(Organization, Organization.id == Subscription.organization_id)
)


def billed_clause(due: DueInvoice) -> Exists:
    """Whether ``due``'s period is in ``invoice_subscriptions``."""
    return billed_exists(due.reason.value, due.subscription_id, due.period_start)


def billed_exists(reason: str, subscription_id: Any, period_start: Any) -> Exists:
    # The reason is written into the SQL, not bound: the period's unique index is partial (on the
    # reasons other than in-advance charges and progressive billing), and a generic plan, which
    # psycopg's prepared statement gets after a few executions, can only use it when the reason is a
    # constant; with a parameter it scans every invoice_subscriptions row, for every invoice.
    return exists().where(
        InvoiceSubscription.subscription_id == subscription_id,
        InvoiceSubscription.invoicing_reason == literal(reason, literal_execute=True),
        InvoiceSubscription.period_start == period_start,
    )


def _pay_in_advance_billed(subscription_id: Any, charge_id: Any) -> Any:
    """The event already has a fee for this subscription and charge (served by the fees' unique index)."""
    return exists().where(
        Fee.subscription_id == subscription_id,
        Fee.charge_id == charge_id,
        Fee.event_transaction_id == Event.transaction_id,
    )


class BillingRepository:
    # ------------------------------------------------------------------------------ the billing run

    def subscription_rows(
        self,
        session: Session,
        as_of: datetime,
        organization_id: uuid.UUID | None,
        customer_ids: Sequence[uuid.UUID] | None = None,
    ) -> Iterator[Any]:
        """The subscriptions that may owe an invoice at ``as_of`` (active ones; terminated ones not finally
        billed), of every customer or of ``customer_ids`` (in chunks of :data:`CHUNK`): one query per
        chunk, rows for :func:`subscription_facts`."""
        final_billed = (
            select(InvoiceSubscription.subscription_id)
            .join(Invoice, Invoice.id == InvoiceSubscription.invoice_id)
            .where(
                InvoiceSubscription.invoicing_reason == "subscription_terminating",
                Invoice.status != InvoiceStatus.FAILED,
            )
        )
        query = _SUBSCRIPTION_ROW.where(
            Subscription.started_at.is_not(None),
            Subscription.started_at <= as_of,
            (Subscription.status == SubscriptionStatus.ACTIVE)
            | (
                (Subscription.status == SubscriptionStatus.TERMINATED)
                & (Subscription.on_termination_invoice != "skip")
                & Subscription.id.not_in(final_billed)
            ),
        ).order_by(Subscription.started_at, Subscription.id)
        if organization_id is not None:
            query = query.where(Subscription.organization_id == organization_id)
        if customer_ids is None:
            yield from session.execute(query)
            return
        for start in range(0, len(customer_ids), CHUNK):
            chunk = list(customer_ids[start : start + CHUNK])
            yield from session.execute(query.where(Subscription.customer_id.in_(chunk)))

    def subscription_row(self, session: Session, subscription_id: uuid.UUID) -> Any:
        """One subscription's row for :func:`subscription_facts`, whatever its status."""
        return session.execute(_SUBSCRIPTION_ROW.where(Subscription.id == subscription_id)).one()

    def customers_of(
        self, session: Session, subscription_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, uuid.UUID]:
        customers: dict[uuid.UUID, uuid.UUID] = {}
        for start in range(0, len(subscription_ids), CHUNK):
            rows = session.execute(
                select(Subscription.id, Subscription.customer_id).where(
                    Subscription.id.in_(subscription_ids[start : start + CHUNK])
                )
            )
            customers.update((row[0], row[1]) for row in rows)
        return customers

    def billed_keys(
        self, session: Session, subscription_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, set[tuple[str, datetime]]]:
        """The keys billed of ``subscription_ids`` (a failed invoice's key is not billed)."""
        billed: dict[uuid.UUID, set[tuple[str, datetime]]] = defaultdict(set)
        for start in range(0, len(subscription_ids), CHUNK):
            rows = session.execute(
                select(
                    InvoiceSubscription.subscription_id,
                    InvoiceSubscription.invoicing_reason,
                    InvoiceSubscription.period_start,
                )
                .join(Invoice, Invoice.id == InvoiceSubscription.invoice_id)
                .where(
                    InvoiceSubscription.subscription_id.in_(subscription_ids[start : start + CHUNK]),
                    Invoice.status != InvoiceStatus.FAILED,
                )
            )
            for subscription_id, reason, period_start in rows:
                billed[subscription_id].add((reason, period_start))
        return billed

    def billed(self, session: Session, dues: Sequence[DueInvoice]) -> set[BilledKey]:
        """The keys of ``dues`` already in ``invoice_subscriptions``."""
        if len(dues) == 1:
            [due] = dues
            return {due.key} if session.execute(select(billed_clause(due))).scalar() else set()
        wanted = {due.key for due in dues}
        rows = session.execute(
            select(
                InvoiceSubscription.subscription_id,
                InvoiceSubscription.invoicing_reason,
                InvoiceSubscription.period_start,
            ).where(
                InvoiceSubscription.subscription_id.in_(list({due.subscription_id for due in dues})),
                InvoiceSubscription.invoicing_reason.in_(sorted({due.reason.value for due in dues})),
            )
        )
        found: set[BilledKey] = {(row[0], row[1], row[2]) for row in rows}
        return found & wanted

    def absences(self, session: Session, subscription_ids: list[uuid.UUID]) -> dict[str, set[Hashable]]:
        """Which of the subscriptions' customers have no credit note to consume, no active coupon and no
        wallet with credits, and which subscriptions have no progressive billing to deduct (no progressive
        invoice, no threshold on the plan): six queries for a chunk of invoices instead of four per invoice
        (:mod:`billow.billing.run_context`). A coupon applied during the chunk waits for the next invoice
        (as one applied while the invoice is being written would)."""
        rows = session.execute(
            select(Subscription.id, Subscription.customer_id, Subscription.plan_id).where(
                Subscription.id.in_(subscription_ids)
            )
        ).all()
        customers = {row.customer_id for row in rows}
        with_credit = set(
            session.scalars(
                select(CreditNote.customer_id)
                .where(
                    CreditNote.customer_id.in_(customers),
                    CreditNote.credit_status == CreditStatus.AVAILABLE,
                    CreditNote.balance_amount_cents > 0,
                )
                .distinct()
            )
        )
        plans = {row.plan_id for row in rows}
        plans_with_thresholds = set(
            session.scalars(
                select(UsageThreshold.plan_id).where(UsageThreshold.plan_id.in_(plans)).distinct()
            )
        )
        with_progressive = set(
            session.scalars(
                select(InvoiceSubscription.subscription_id)
                .join(Invoice, Invoice.id == InvoiceSubscription.invoice_id)
                .where(
                    InvoiceSubscription.subscription_id.in_(subscription_ids),
                    Invoice.invoice_type == InvoiceType.PROGRESSIVE_BILLING,
                )
                .distinct()
            )
        )
        with_coupons = set(
            session.scalars(
                select(AppliedCoupon.customer_id)
                .where(AppliedCoupon.customer_id.in_(customers), AppliedCoupon.status == "active")
                .distinct()
            )
        )
        with_wallets = set(
            session.scalars(
                select(Wallet.customer_id)
                .where(
                    Wallet.customer_id.in_(customers),
                    Wallet.status == WalletStatus.ACTIVE,
                    Wallet.balance_cents > 0,
                )
                .distinct()
            )
        )
        return {
            "credit_notes": set(customers - with_credit),
            "applied_coupons": set(customers - with_coupons),
            "wallets": set(customers - with_wallets),
            "progressive_billing": {
                row.id
                for row in rows
                if row.plan_id not in plans_with_thresholds and row.id not in with_progressive
            },
        }

    def metric_codes_of_charges(self, session: Session, charge_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
        """The billable metric code of each charge (wallets limited to metrics: ``applies_to``)."""
        if not charge_ids:
            return {}
        query = (
            select(Charge.id, BillableMetric.code)
            .join(BillableMetric, BillableMetric.id == Charge.billable_metric_id)
            .where(Charge.id.in_(charge_ids))
        )
        return {row.id: row.code for row in session.execute(query)}

    # ------------------------------------------------------------------------------ pay in advance

    def _candidates_query(
        self,
        now: datetime,
        organization_id: uuid.UUID | None,
        external_ids: Sequence[str] | None = None,
    ) -> Select[uuid.UUID, uuid.UUID, str, datetime | None, uuid.UUID, str]:
        """The pay-in-advance charges of the active subscriptions (one row each: organization,
        subscription, its external id and start, charge, metric code)."""
        query = (
            select(
                Subscription.organization_id,
                Subscription.id,
                Subscription.external_id,
                Subscription.started_at,
                Charge.id,
                BillableMetric.code,
            )
            .join(
                Charge,
                and_(
                    Charge.plan_id == Subscription.plan_id,
                    Charge.pay_in_advance.is_(True),
                    Charge.deleted_at.is_(None),
                ),
            )
            .join(BillableMetric, BillableMetric.id == Charge.billable_metric_id)
            .where(
                Subscription.status == SubscriptionStatus.ACTIVE,
                Subscription.started_at.is_not(None),
                Subscription.started_at <= now,
            )
        )
        if organization_id is not None:
            query = query.where(Subscription.organization_id == organization_id)
        if external_ids is not None:
            query = query.where(Subscription.external_id.in_(list(external_ids)))
        return query

    def candidates(
        self,
        session: Session,
        now: datetime,
        organization_id: uuid.UUID | None,
        external_ids: Sequence[str] | None = None,
    ) -> list[Any]:
        """The pay-in-advance charges of the active subscriptions (:meth:`_candidates_query`), by
        subscription and charge position."""
        return list(
            session.execute(
                self._candidates_query(now, organization_id, external_ids).order_by(
                    Subscription.id, Charge.position, Charge.id
                )
            ).all()
        )

    def unbilled_events(
        self,
        session: Session,
        *,
        organization_id: uuid.UUID,
        external_subscription_id: str,
        code: str,
        subscription_id: uuid.UUID,
        charge_id: uuid.UUID,
        since: datetime,
        now: datetime,
    ) -> list[uuid.UUID]:
        """The events of one pay-in-advance charge of a subscription with a timestamp in ``[since, now]``
        and no fee yet, in time order."""
        return list(
            session.scalars(
                select(Event.id)
                .where(
                    Event.organization_id == organization_id,
                    Event.external_subscription_id == external_subscription_id,
                    Event.code == code,
                    Event.timestamp >= since,
                    Event.timestamp <= now,
                    ~_pay_in_advance_billed(subscription_id, charge_id),
                )
                .order_by(Event.timestamp, Event.created_at, Event.id)
            )
        )

    def recent_unbilled_events(
        self,
        session: Session,
        now: datetime,
        since: datetime,
        organization_id: uuid.UUID | None,
        external_ids: Sequence[str] | None = None,
    ) -> list[Any]:
        """One statement: the candidates' events with a timestamp in ``[since, now]`` and no fee yet (a
        candidate's six columns, then the event's id), in time order per candidate."""
        query = (
            self._candidates_query(now, organization_id, external_ids)
            .add_columns(Event.id)
            .join(
                Event,
                and_(
                    Event.organization_id == Subscription.organization_id,
                    Event.external_subscription_id == Subscription.external_id,
                    Event.code == BillableMetric.code,
                    Event.timestamp >= since,
                    Event.timestamp <= now,
                    Event.timestamp >= Subscription.started_at,
                ),
            )
            .where(~_pay_in_advance_billed(Subscription.id, Charge.id))
            .order_by(
                Subscription.id, Charge.position, Charge.id, Event.timestamp, Event.created_at, Event.id
            )
        )
        return list(session.execute(query).all())

    def has_fee(
        self, session: Session, subscription_id: uuid.UUID, charge_id: uuid.UUID, transaction_id: str
    ) -> bool:
        return (
            session.execute(
                select(Fee.id).where(
                    Fee.subscription_id == subscription_id,
                    Fee.charge_id == charge_id,
                    Fee.event_transaction_id == transaction_id,
                )
            ).first()
            is not None
        )

    # ------------------------------------------------------------------------------ progressive billing

    def threshold_subscription_ids(
        self,
        session: Session,
        now: datetime,
        organization_id: uuid.UUID | None,
        external_ids: Sequence[str] | None,
    ) -> list[uuid.UUID]:
        """The active subscriptions whose plan has usage thresholds (progressive billing not disabled)."""
        query = (
            select(Subscription.id)
            .where(
                Subscription.status == SubscriptionStatus.ACTIVE,
                Subscription.started_at.is_not(None),
                Subscription.started_at <= now,
                Subscription.progressive_billing_disabled.is_(False),
                exists().where(
                    UsageThreshold.plan_id == Subscription.plan_id, UsageThreshold.deleted_at.is_(None)
                ),
            )
            .order_by(Subscription.id)
        )
        if organization_id is not None:
            query = query.where(Subscription.organization_id == organization_id)
        if external_ids is not None:
            query = query.where(Subscription.external_id.in_(list(external_ids)))
        return list(session.scalars(query))

    def applied_usage_thresholds(self, session: Session, subscription_id: uuid.UUID) -> list[Any]:
        """The ``applied_usage_thresholds`` of the subscription's invoices (voided ones excluded)."""
        return list(
            session.scalars(
                select(Invoice.applied_usage_thresholds)
                .join(InvoiceSubscription, InvoiceSubscription.invoice_id == Invoice.id)
                .where(
                    InvoiceSubscription.subscription_id == subscription_id,
                    Invoice.status.in_(COUNTED_STATUSES),
                    Invoice.applied_usage_thresholds.is_not(None),
                )
            )
        )

    def lifetime_usage(self, session: Session, subscription_id: uuid.UUID) -> LifetimeUsage | None:
        return session.scalar(select(LifetimeUsage).where(LifetimeUsage.subscription_id == subscription_id))

    def historical_usage(self, session: Session, subscription_id: uuid.UUID) -> int:
        value = session.scalar(
            select(LifetimeUsage.external_historical_usage_amount_cents).where(
                LifetimeUsage.subscription_id == subscription_id
            )
        )
        return int(value or 0)

    def paid_fixed_charge_fee(
        self,
        session: Session,
        subscription_id: uuid.UUID,
        add_on_id: uuid.UUID,
        span: tuple[datetime, datetime],
    ) -> Fee | None:
        """The latest in-advance fixed-charge fee of ``add_on_id`` invoiced to a subscription for a span
        covering ``span`` (``[from, to)``), on an invoice that counts."""
        paid = (Fee.subscription_id == subscription_id) & (Fee.fee_type == FeeType.FIXED_CHARGE)
        paid &= (
            (Fee.add_on_id == add_on_id) & Fee.pay_in_advance.is_(True) & Invoice.status.in_(COUNTED_STATUSES)
        )
        stmt = select(Fee).join(Invoice, Invoice.id == Fee.invoice_id).where(paid)
        stmt = stmt.where(Fee.from_datetime <= span[0], Fee.to_datetime >= span[1])
        return session.scalars(stmt.order_by(Fee.created_at.desc(), Fee.id).limit(1)).first()

    def invoiced_charge_fees(self, session: Session, subscription_id: uuid.UUID) -> int:
        """Σ the charge fees (in arrears) of the subscription's subscription and progressive invoices."""
        fees = session.scalar(
            select(func.coalesce(func.sum(Fee.amount_cents), 0))
            .join(Invoice, Invoice.id == Fee.invoice_id)
            .where(
                Fee.subscription_id == subscription_id,
                Fee.fee_type == FeeType.CHARGE,
                Fee.pay_in_advance.is_(False),
                Invoice.invoice_type.in_((InvoiceType.SUBSCRIPTION, InvoiceType.PROGRESSIVE_BILLING)),
                Invoice.status.in_(COUNTED_STATUSES),
            )
        )
        return int(fees or 0)

    def progressive_credits(
        self, session: Session, subscription_id: uuid.UUID
    ) -> list[tuple[uuid.UUID, int, datetime | None, bool]]:
        """The subscription invoices of the subscription with a progressive-billing credit: (invoice id,
        credit, the period's charges start, whether the invoice also bills other subscriptions)."""
        others = aliased(InvoiceSubscription)
        rows = session.execute(
            select(
                Invoice.id,
                Invoice.progressive_billing_credit_amount_cents,
                InvoiceSubscription.charges_from_datetime,
                exists().where(others.invoice_id == Invoice.id, others.subscription_id != subscription_id),
            )
            .join(InvoiceSubscription, InvoiceSubscription.invoice_id == Invoice.id)
            .where(
                Invoice.invoice_type == InvoiceType.SUBSCRIPTION,
                Invoice.status.in_(COUNTED_STATUSES),
                Invoice.progressive_billing_credit_amount_cents > 0,
                InvoiceSubscription.subscription_id == subscription_id,
            )
        )
        return [(row[0], row[1], row[2], bool(row[3])) for row in rows]

    def invoice_charge_fees(
        self, session: Session, invoice_id: uuid.UUID, subscription_id: uuid.UUID
    ) -> list[Any]:
        """The charge fees (in arrears) of one subscription on one invoice, in their order: (charge, filter,
        grouped by, amount)."""
        return list(
            session.execute(
                select(Fee.charge_id, Fee.charge_filter_id, Fee.grouped_by, Fee.amount_cents)
                .where(
                    Fee.invoice_id == invoice_id,
                    Fee.subscription_id == subscription_id,
                    Fee.fee_type == FeeType.CHARGE,
                    Fee.pay_in_advance.is_(False),
                )
                .order_by(Fee.created_at, Fee.id)
            )
        )

    def progressive_fees(
        self, session: Session, subscription_id: uuid.UUID, charges_from: datetime
    ) -> list[Any]:
        """The charge fees of the progressive invoices of the charges period starting at ``charges_from``:
        (charge, filter, grouped by, amount)."""
        return list(
            session.execute(
                select(Fee.charge_id, Fee.charge_filter_id, Fee.grouped_by, Fee.amount_cents)
                .join(Invoice, Invoice.id == Fee.invoice_id)
                .where(
                    Fee.subscription_id == subscription_id,
                    Fee.fee_type == FeeType.CHARGE,
                    Fee.from_datetime == charges_from,
                    Invoice.invoice_type == InvoiceType.PROGRESSIVE_BILLING,
                    Invoice.status.in_(COUNTED_STATUSES),
                )
            )
        )


billing_repository = BillingRepository()

__all__ = [
    "CHUNK",
    "COUNTED_STATUSES",
    "PROGRESSIVE_BILLING",
    "BilledKey",
    "BillingRepository",
    "billed_clause",
    "billed_exists",
    "billing_repository",
    "subscription_facts",
]
