"""Current usage: what a subscription's charges cost so far in the current charges period (Lago's
``Invoices::CustomerUsageService``; the API is :mod:`billow.usage`, which finds the customer, the
subscription and the charges and answers the HTTP errors). Also what progressive billing measures.

Nothing is stored. For each charge given (:func:`usage_charges`: the plan's live charges, or the one asked
for with ``charge_id`` / ``charge_code`` / ``billable_metric_code``):

1. aggregate the events of the charges window (:func:`billow.subscriptions.periods.charges_window` at
   ``now``, in the customer's applicable time zone) per bucket (charge filter or default) and group, and
   price each bucket/group (:func:`billow.fees.window.charge_fees`);
2. taxes (``apply_taxes``, default true): :mod:`billow.taxes.rules` (charge, else plan, else customer,
   else organization default taxes).

Pay-in-advance sum and unique-count charges are priced on the largest total the period reached (what was
billed event by event) while ``units`` shows the current total, as Lago. ``prorated`` charges are priced on
their prorated units (:mod:`billow.metering.proration`) while ``units`` and ``total_aggregated_units`` show
the full units, as Lago. Charges are listed by billable metric name (case-insensitive), as Lago sorts its
fees. Not computed: ``custom_agg`` charges (Billow runs no aggregation scripts: they are left out),
pricing units and presentation breakdowns (always ``null`` / ``[]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy.orm import Session

from billow.customers.repository import customer_repository
from billow.fees.window import FeeUsage, charges_usage
from billow.metering.aggregation import AGGREGATION_TYPES, UsageSource
from billow.metering.sources import usage_source
from billow.models.billable_metrics import BillableMetric
from billow.models.customers import Customer
from billow.models.organizations import Organization
from billow.models.plans import Charge, Plan, plan_taxes
from billow.models.subscriptions import Subscription
from billow.models.taxes import Tax
from billow.plans.repository import ChargeGraph, plan_repository
from billow.subscriptions.periods import charges_window
from billow.taxes.repository import tax_repository
from billow.taxes.rules import applicable_charge_taxes, taxes_of_fees


@dataclass(frozen=True)
class UsageFilters:
    """Restrict the usage to one charge (Lago's ``charge_id``, ``charge_code``, ``billable_metric_code``)."""

    charge_id: str | None = None
    charge_code: str | None = None
    billable_metric_code: str | None = None

    @property
    def any(self) -> bool:
        return bool(self.charge_id or self.charge_code or self.billable_metric_code)


@dataclass(frozen=True)
class ChargeUsage:
    charge: Charge
    metric: BillableMetric
    has_filters: bool
    fees: list[FeeUsage]
    taxes: Sequence[Tax]


@dataclass(frozen=True)
class CurrentUsage:
    from_datetime: datetime
    to_datetime: datetime
    issuing_date: date
    currency: str
    amount_cents: int
    taxes_amount_cents: int
    total_amount_cents: int
    charges: list[ChargeUsage] = field(default_factory=list)


class UsageService:
    """Current usage (and progressive billing's measure of it)."""

    def compute(
        self,
        session: Session,
        organization: Organization,
        *,
        customer: Customer,
        subscription: Subscription,
        plan: Plan,
        charges: Sequence[ChargeGraph],
        now: datetime,
        apply_taxes: bool = True,
        source: UsageSource | None = None,
    ) -> CurrentUsage:
        """The usage of ``charges`` for the subscription's charges period containing ``now``."""
        window = charges_window(
            subscription,
            plan_interval=plan.interval,
            bill_charges_monthly=plan.bill_charges_monthly,
            timezone=customer.applicable_timezone(organization),
            at=now,
        )
        currency = plan.amount_currency
        tax_sources = _TaxSources(session, organization, customer, plan) if apply_taxes else None
        priced = charges_usage(
            session,
            subscription,
            charges,
            window,
            timezone=customer.applicable_timezone(organization),
            currency=currency,
            source=source or usage_source(session),
        )
        usages = []
        for graph, fees in priced:
            taxes = tax_sources.for_charge(graph) if tax_sources else ()
            usages.append(ChargeUsage(graph.charge, graph.metric, bool(graph.filters), fees, taxes))

        amount_cents = sum(fee.amount_cents for usage in usages for fee in usage.fees)
        taxes_amount_cents = 0
        if apply_taxes:
            fee_lines = [(fee.amount_cents, usage.taxes) for usage in usages for fee in usage.fees]
            taxes_amount_cents = taxes_of_fees(fee_lines).taxes_amount_cents
        period = window.period
        to_datetime = period.lago_to_datetime if window.to_datetime == period.end else window.to_datetime
        # Lago's issuing date is the last day of the plan's billing period, even when charges are billed
        # monthly on a yearly or semiannual plan.
        billing_period = charges_window(
            subscription,
            plan_interval=plan.interval,
            bill_charges_monthly=False,
            timezone=customer.applicable_timezone(organization),
            at=now,
        ).period
        return CurrentUsage(
            from_datetime=window.from_datetime,
            to_datetime=to_datetime,
            issuing_date=billing_period.end_date - timedelta(days=1),
            currency=currency,
            amount_cents=amount_cents,
            taxes_amount_cents=taxes_amount_cents,
            total_amount_cents=amount_cents + taxes_amount_cents,
            charges=usages,
        )


def usage_charges(session: Session, plan: Plan, filters: UsageFilters) -> list[ChargeGraph]:
    """The live charges of ``plan`` that current usage prices (``custom_agg`` left out), or the one(s)
    ``filters`` ask for (none: the caller answers 404 ``charge_not_found``), by billable metric name."""
    charges = plan_repository.charges_of(session, plan)
    if filters.charge_id:
        charges = [charge for charge in charges if str(charge.id) == filters.charge_id]
    elif filters.charge_code:
        charges = [charge for charge in charges if charge.code == filters.charge_code]
    graphs = [
        graph
        for graph in plan_repository.load_charges(session, charges)
        if graph.metric.aggregation_type in AGGREGATION_TYPES
    ]
    if not filters.charge_id and not filters.charge_code and filters.billable_metric_code:
        graphs = [graph for graph in graphs if graph.metric.code == filters.billable_metric_code]
    positions = {graph.charge.id: index for index, graph in enumerate(graphs)}
    return sorted(graphs, key=lambda g: (g.metric.name.lower(), positions[g.charge.id]))


class _TaxSources:
    """The taxes that may apply to the usage's fees, loaded once."""

    def __init__(self, session: Session, organization: Organization, customer: Customer, plan: Plan) -> None:
        self.plan_taxes = plan_repository.taxes_of(session, plan_taxes, [plan.id])[plan.id]
        self.customer_taxes = customer_repository.taxes_by_customer(session, [customer.id])[customer.id]
        self.organization_taxes = tax_repository.organization_default_taxes(session, organization.id)

    def for_charge(self, graph: ChargeGraph) -> Sequence[Tax]:
        return applicable_charge_taxes(
            charge_taxes=graph.taxes,
            plan_taxes=self.plan_taxes,
            customer_taxes=self.customer_taxes,
            organization_taxes=self.organization_taxes,
        )


usage_service = UsageService()
