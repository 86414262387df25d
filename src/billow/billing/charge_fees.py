"""The usage fees of an invoice's charges window: one fee per charge, filter and group (Lago's
``Fees::ChargeService``), priced over the closed window by :func:`billow.fees.window.window_fees`.

Each fee stores, as Lago: ``amount_cents`` (the charge model's amount rounded half-up to the currency's
exponent), ``precise_amount_cents`` (unrounded), ``unit_amount`` (Lago's ``precise_unit_amount``) and the
model's ``amount_details``. Fees with no units, no amount and no events are not stored.

A billing run prices thousands of subscriptions of a few plans: with the run's
:class:`~billow.billing.run_context.BillingRun`, a plan's charges and their metrics' filters are loaded
once per run instead of once per invoice, and the usage of a chunk of invoices is priced in batch
(:func:`prefetch`).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.billable_metrics.repository import billable_metric_repository
from billow.billing.run_context import BillingRun, cached
from billow.billing.schedule import DueInvoice
from billow.customers.repository import customer_repository
from billow.fees.window import window_fees, window_fees_many
from billow.metering.aggregation import AGGREGATION_TYPES
from billow.models.customers import Customer
from billow.models.invoices import Fee, FeeType
from billow.models.organizations import Organization
from billow.models.plans import Plan
from billow.models.subscriptions import Subscription
from billow.models.taxes import Tax
from billow.plans.repository import ChargeGraph, plan_repository
from billow.subscriptions.periods import UsageWindow, charges_window

_EPSILON = timedelta(microseconds=1)


@dataclass(frozen=True)
class _PlanCharges:
    graphs: list[ChargeGraph]
    metric_filters: Mapping[uuid.UUID, Mapping[str, Sequence[Any]]]


def _plan_charges(session: Session, plan: Plan, run: BillingRun | None) -> _PlanCharges:
    def load() -> _PlanCharges:
        graphs = [
            graph
            for graph in plan_repository.load_charges(session, plan_repository.charges_of(session, plan))
            if graph.metric.aggregation_type in AGGREGATION_TYPES and not graph.charge.pay_in_advance
        ]
        metric_filters = billable_metric_repository.filter_values(
            session, plan.organization_id, list({g.metric.id for g in graphs})
        )
        return _PlanCharges(graphs, metric_filters)

    return cached(run, session, ("billable_charges", plan.id), load)


def usage_window(subscription: Subscription, plan: Plan, due: DueInvoice, *, timezone: str) -> UsageWindow:
    """The invoice's charges window ``[due.charges_from, due.charges_to)`` inside its charges period."""
    assert due.charges_from is not None and due.charges_to is not None
    period = charges_window(
        subscription,
        plan_interval=plan.interval,
        bill_charges_monthly=plan.bill_charges_monthly,
        timezone=timezone,
        at=max(due.charges_to - _EPSILON, due.charges_from),
    ).period
    if not (period.start <= due.charges_from <= due.charges_to <= period.end):
        raise RuntimeError(
            f"charges window [{due.charges_from}, {due.charges_to}) is not inside the charges period"
            f" [{period.start}, {period.end})"
        )
    return UsageWindow(period, due.charges_from, due.charges_to)


def prefetch(session: Session, run: BillingRun, work: Sequence[tuple[uuid.UUID, DueInvoice]]) -> int:
    """Price the charges windows of a batch of invoices about to be written, with one aggregation query
    per charge for all the subscriptions of a plan that close the same window (a billing run closes the
    same calendar period for many subscriptions): :func:`billow.fees.window.window_fees_many`.
    Returns how many invoices were priced.

    The usage is read before each invoice's own transaction, a moment earlier than that transaction would
    read it: the window is closed (it ended at or before the run's instant), so this is the same as
    billing a moment earlier. The priced usage goes to ``run`` (:attr:`BillingRun.window_fees`), which
    :func:`charge_fees` then takes instead of aggregating.
    """
    wanted = {
        subscription_id: due
        for subscription_id, due in work
        if due.charges_from is not None and due.charges_to is not None and due.charges_to > due.charges_from
    }
    if not wanted:
        return 0
    rows = session.execute(
        select(Subscription, Plan, Customer, Organization)
        .join(Plan, Plan.id == Subscription.plan_id)
        .join(Customer, Customer.id == Subscription.customer_id)
        .join(Organization, Organization.id == Subscription.organization_id)
        .where(Subscription.id.in_(list(wanted)))
    ).all()
    # The customers' taxes, for the invoices (billow.billing.context.invoice_context).
    customer_taxes = customer_repository.taxes_by_customer(session, [row[2].id for row in rows])
    for customer_id, taxes in customer_taxes.items():
        run.store(session, ("customer_taxes", customer_id), taxes)
    groups: dict[tuple[Any, ...], list[tuple[Subscription, DueInvoice]]] = defaultdict(list)
    context: dict[tuple[Any, ...], tuple[Plan, UsageWindow, str]] = {}
    external_ids: dict[tuple[Any, ...], set[str]] = defaultdict(set)
    for subscription, plan, customer, organization in rows:
        due = wanted[subscription.id]
        timezone = customer.applicable_timezone(organization)
        window = usage_window(subscription, plan, due, timezone=timezone)
        key = (
            plan.id,
            timezone,
            window.period.start,
            window.period.end,
            window.from_datetime,
            window.to_datetime,
        )
        # One external id per query batch (several subscriptions may share one over time).
        index = 0
        while subscription.external_id in external_ids[(*key, index)]:
            index += 1
        external_ids[(*key, index)].add(subscription.external_id)
        groups[(*key, index)].append((subscription, due))
        context[(*key, index)] = (plan, window, timezone)
    priced = 0
    for key, members in groups.items():
        plan, window, timezone = context[key]
        plan_charges = _plan_charges(session, plan, run)
        if not plan_charges.graphs:
            continue
        results = window_fees_many(
            session,
            subscriptions=[subscription for subscription, _ in members],
            charges=plan_charges.graphs,
            window=window,
            timezone=timezone,
            currency=plan.amount_currency,
            metric_filters=plan_charges.metric_filters,
        )
        for subscription, due in members:
            assert due.charges_from is not None and due.charges_to is not None
            run.window_fees[(subscription.id, plan.id, due.charges_from, due.charges_to)] = results[
                subscription.id
            ]
            priced += 1
    return priced


def charge_fees(
    session: Session,
    organization: Organization,
    customer: Customer,
    subscription: Subscription,
    plan: Plan,
    due: DueInvoice,
    *,
    invoice_id: uuid.UUID,
    run: BillingRun | None = None,
) -> list[tuple[Fee, Sequence[Tax]]]:
    """The usage fees of the invoice's charges window, each with its charge's own taxes; inside a billing
    ``run``, priced in batch beforehand when :func:`prefetch` did.

    Pay-in-advance charges are billed when their events arrive, not here.
    """
    assert due.charges_from is not None and due.charges_to is not None
    plan_charges = _plan_charges(session, plan, run)
    if not plan_charges.graphs:
        return []
    timezone = customer.applicable_timezone(organization)
    currency = plan.amount_currency
    key = (subscription.id, plan.id, due.charges_from, due.charges_to)
    priced = run.take_window_fees(key) if run is not None else None
    if priced is None:
        priced = window_fees(
            session,
            subscription=subscription,
            charges=plan_charges.graphs,
            window=usage_window(subscription, plan, due, timezone=timezone),
            timezone=timezone,
            currency=currency,
            metric_filters=plan_charges.metric_filters,
        )
    fees: list[tuple[Fee, Sequence[Tax]]] = []
    for charge_fees_ in priced:
        charge = charge_fees_.charge
        for item in charge_fees_.fees:
            if item.empty:
                continue  # Lago does not persist empty fees
            display_name = charge.invoice_display_name
            if item.filter is not None and item.filter.filter.invoice_display_name:
                display_name = item.filter.filter.invoice_display_name
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
                precise_amount_cents=item.precise_amount_cents,
                amount_currency=currency,
                unit_amount=item.unit_amount,
                amount_details=item.amount_details,
                invoice_display_name=display_name,
                pay_in_advance=False,
                invoiceable=charge.invoiceable,
                from_datetime=due.charges_from,
                to_datetime=due.charges_to,
            )
            fees.append((fee, charge_fees_.taxes))
    return fees
