"""The usage fees of an invoice's charges window: one fee per charge, filter and group (Lago's
``Fees::ChargeService``), priced by the metering engine."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from billow.billing.schedule import DueInvoice
from billow.customers.models import Customer
from billow.invoices.models import Fee, FeeType
from billow.kit.money import from_minor_units
from billow.metering.aggregation import AGGREGATION_TYPES
from billow.metering.usage import usage_service
from billow.organizations.models import Organization
from billow.plans.models import Plan
from billow.plans.repository import plan_repository
from billow.subscriptions.models import Subscription
from billow.taxes.models import Tax

_EPSILON = timedelta(microseconds=1)


def charge_fees(
    session: Session,
    organization: Organization,
    customer: Customer,
    subscription: Subscription,
    plan: Plan,
    due: DueInvoice,
    *,
    invoice_id: uuid.UUID,
) -> list[tuple[Fee, Sequence[Tax]]]:
    """The usage fees of the invoice's charges window, through the metering engine.

    ``usage_service.compute`` prices the charges period containing an instant, clipped to the
    subscription's life; asked at the window's last instant it prices exactly ``[charges_from,
    charges_to)`` (checked). Pay-in-advance charges are billed when their events arrive, not here.
    """
    assert due.charges_from is not None and due.charges_to is not None
    graphs = [
        graph
        for graph in plan_repository.load_charges(session, plan_repository.charges_of(session, plan))
        if graph.metric.aggregation_type in AGGREGATION_TYPES and not graph.charge.pay_in_advance
    ]
    if not graphs:
        return []
    usage = usage_service.compute(
        session,
        organization,
        customer=customer,
        subscription=subscription,
        plan=plan,
        charges=graphs,
        now=due.charges_to - _EPSILON,
        apply_taxes=False,
    )
    if usage.from_datetime != due.charges_from:
        raise RuntimeError(
            f"usage window {usage.from_datetime} differs from the invoice's {due.charges_from}"
        )
    by_charge = {graph.charge.id: graph for graph in graphs}
    fees: list[tuple[Fee, Sequence[Tax]]] = []
    for charge_usage in usage.charges:
        charge = charge_usage.charge
        graph = by_charge[charge.id]
        for item in charge_usage.fees:
            if item.units == 0 and item.amount_cents == 0 and item.events_count == 0:
                continue  # Lago does not persist empty fees
            display_name = charge.invoice_display_name
            if item.filter is not None and item.filter.filter.invoice_display_name:
                display_name = item.filter.filter.invoice_display_name
            amount = from_minor_units(item.amount_cents, usage.currency)
            fee = Fee(
                organization_id=subscription.organization_id,
                invoice_id=invoice_id,
                customer_id=customer.id,
                subscription_id=subscription.id,
                charge_id=charge.id,
                charge_filter_id=item.filter.filter.id if item.filter is not None else None,
                fee_type=FeeType.CHARGE,
                grouped_by=dict(item.grouped_by),
                units=item.units,
                total_aggregated_units=item.total_aggregated_units,
                events_count=item.events_count,
                amount_cents=item.amount_cents,
                precise_amount_cents=Decimal(item.amount_cents),
                amount_currency=usage.currency,
                unit_amount=amount / item.units if item.units else Decimal(0),
                amount_details={},
                invoice_display_name=display_name,
                pay_in_advance=False,
                invoiceable=charge.invoiceable,
                from_datetime=due.charges_from,
                to_datetime=due.charges_to,
            )
            fees.append((fee, graph.taxes))
    return fees
