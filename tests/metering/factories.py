"""Rows for metering tests, inserted directly with a session (no API needed)."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from billow.models.billable_metrics import BillableMetric, BillableMetricFilter
from billow.models.customers import Customer, CustomerTax
from billow.models.events import Event
from billow.models.organizations import Organization
from billow.models.plans import Charge, ChargeFilter, ChargeFilterValue, Plan, charge_taxes, plan_taxes
from billow.models.subscriptions import Subscription
from billow.models.taxes import Tax

_sequence = itertools.count(1)


def at(text: str) -> datetime:
    """``"2023-08-01T01:30:00"`` (or with a ``Z``) as an aware UTC datetime."""
    return datetime.fromisoformat(text.removesuffix("Z")).replace(tzinfo=UTC)


def organization(session: Session, **fields: Any) -> Organization:
    row = Organization(name=fields.pop("name", "Acme"), **fields)
    session.add(row)
    session.flush()
    return row


def metric(
    session: Session,
    org: Organization,
    aggregation_type: str,
    *,
    code: str | None = None,
    field_name: str | None = "value",
    recurring: bool = False,
    rounding_function: str | None = None,
    rounding_precision: int | None = None,
    filters: Mapping[str, Sequence[str]] | None = None,
    name: str | None = None,
) -> BillableMetric:
    code = code or f"{aggregation_type}_{next(_sequence)}"
    row = BillableMetric(
        organization_id=org.id,
        name=name or code,
        code=code,
        aggregation_type=aggregation_type,
        field_name=None if aggregation_type == "count_agg" else field_name,
        weighted_interval="seconds" if aggregation_type == "weighted_sum_agg" else None,
        recurring=recurring,
        rounding_function=rounding_function,
        rounding_precision=rounding_precision,
    )
    session.add(row)
    session.flush()
    for key, values in (filters or {}).items():
        session.add(
            BillableMetricFilter(
                organization_id=org.id, billable_metric_id=row.id, key=key, values=list(values)
            )
        )
    session.flush()
    return row


def plan(session: Session, org: Organization, **fields: Any) -> Plan:
    code = fields.pop("code", f"plan_{next(_sequence)}")
    row = Plan(
        organization_id=org.id,
        name=fields.pop("name", code),
        code=code,
        interval=fields.pop("interval", "monthly"),
        amount_cents=fields.pop("amount_cents", 0),
        amount_currency=fields.pop("amount_currency", "USD"),
        **fields,
    )
    session.add(row)
    session.flush()
    return row


def charge(
    session: Session,
    org: Organization,
    plan_row: Plan,
    metric_row: BillableMetric,
    charge_model: str = "standard",
    properties: Mapping[str, Any] | None = None,
    **fields: Any,
) -> Charge:
    row = Charge(
        organization_id=org.id,
        plan_id=plan_row.id,
        billable_metric_id=metric_row.id,
        code=fields.pop("code", f"charge_{next(_sequence)}"),
        charge_model=charge_model,
        properties=dict(properties if properties is not None else {"amount": "1"}),
        position=fields.pop("position", next(_sequence)),
        **fields,
    )
    session.add(row)
    session.flush()
    return row


def charge_filter(
    session: Session,
    org: Organization,
    charge_row: Charge,
    values: Mapping[str, Sequence[str]],
    properties: Mapping[str, Any] | None = None,
    invoice_display_name: str | None = None,
) -> ChargeFilter:
    row = ChargeFilter(
        organization_id=org.id,
        charge_id=charge_row.id,
        properties=dict(properties if properties is not None else {"amount": "1"}),
        invoice_display_name=invoice_display_name,
        position=next(_sequence),
    )
    session.add(row)
    session.flush()
    for key, accepted in values.items():
        session.add(
            ChargeFilterValue(organization_id=org.id, charge_filter_id=row.id, key=key, values=list(accepted))
        )
    session.flush()
    return row


def customer(session: Session, org: Organization, external_id: str = "cus_1", **fields: Any) -> Customer:
    number = next(_sequence)
    row = Customer(
        organization_id=org.id,
        external_id=external_id,
        sequential_id=number,
        slug=f"CUS-{number:03d}",
        **fields,
    )
    session.add(row)
    session.flush()
    return row


def subscription(
    session: Session,
    org: Organization,
    customer_row: Customer,
    plan_row: Plan,
    external_id: str = "sub_1",
    started_at: datetime | None = None,
    **fields: Any,
) -> Subscription:
    started_at = started_at or at("2023-01-01T00:00:00")
    row = Subscription(
        organization_id=org.id,
        customer_id=customer_row.id,
        plan_id=plan_row.id,
        external_id=external_id,
        status=fields.pop("status", "active"),
        billing_time=fields.pop("billing_time", "calendar"),
        subscription_at=fields.pop("subscription_at", started_at),
        started_at=started_at,
        **fields,
    )
    session.add(row)
    session.flush()
    return row


def tax(session: Session, org: Organization, code: str, rate: str, *, default: bool = False) -> Tax:
    row = Tax(
        organization_id=org.id, name=code, code=code, rate=Decimal(rate), applied_to_organization=default
    )
    session.add(row)
    session.flush()
    return row


def link_plan_tax(session: Session, plan_row: Plan, tax_row: Tax) -> None:
    session.execute(
        insert(plan_taxes).values(
            plan_id=plan_row.id, tax_id=tax_row.id, organization_id=tax_row.organization_id
        )
    )


def link_charge_tax(session: Session, charge_row: Charge, tax_row: Tax) -> None:
    session.execute(
        insert(charge_taxes).values(
            charge_id=charge_row.id, tax_id=tax_row.id, organization_id=tax_row.organization_id
        )
    )


def link_customer_tax(session: Session, customer_row: Customer, tax_row: Tax) -> None:
    session.add(
        CustomerTax(organization_id=tax_row.organization_id, customer_id=customer_row.id, tax_id=tax_row.id)
    )
    session.flush()


_created = itertools.count()


def event(
    session: Session,
    org: Organization,
    code: str,
    timestamp: datetime | str,
    properties: Mapping[str, Any] | None = None,
    *,
    external_subscription_id: str = "sub_1",
    transaction_id: str | None = None,
    precise_total_amount_cents: Decimal | None = None,
    created_at: datetime | None = None,
) -> Event:
    """One event. ``created_at`` defaults to an increasing instant, so insertion order breaks ties."""
    if isinstance(timestamp, str):
        timestamp = at(timestamp)
    row = Event(
        id=uuid.uuid4(),
        organization_id=org.id,
        transaction_id=transaction_id or f"tr_{uuid.uuid4().hex}",
        external_subscription_id=external_subscription_id,
        code=code,
        timestamp=timestamp,
        properties=dict(properties or {}),
        precise_total_amount_cents=precise_total_amount_cents,
        created_at=created_at or at("2020-01-01T00:00:00") + timedelta(microseconds=next(_created)),
    )
    session.add(row)
    session.flush()
    return row
