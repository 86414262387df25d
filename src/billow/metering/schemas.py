"""The ``customer_usage`` response (Lago's ``V1::Customers::UsageSerializer`` and
``ChargeUsageSerializer``)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from billow.kit.schemas import Date, Output, Timestamp, decimal_str
from billow.metering.usage import ChargeUsage, CurrentUsage, FeeUsage


class UsageChargeOut(Output):
    lago_id: str
    code: str
    charge_model: str
    invoice_display_name: str | None


class UsageMetricOut(Output):
    lago_id: str
    name: str
    code: str
    aggregation_type: str


class FilterUsageOut(Output):
    units: str
    total_aggregated_units: str
    events_count: int
    amount_cents: int
    pricing_unit_details: None = None
    invoice_display_name: str | None
    values: dict[str, list[Any]] | None
    presentation_breakdowns: list[Any] = []


class GroupedUsageOut(Output):
    units: str
    total_aggregated_units: str
    events_count: int
    amount_cents: int
    pricing_unit_details: None = None
    grouped_by: dict[str, str | None]
    filters: list[FilterUsageOut]
    presentation_breakdowns: list[Any] = []


class ChargeUsageOut(Output):
    units: str
    total_aggregated_units: str
    events_count: int
    amount_cents: int
    amount_currency: str
    pricing_unit_details: None = None
    charge: UsageChargeOut
    billable_metric: UsageMetricOut
    filters: list[FilterUsageOut]
    grouped_usage: list[GroupedUsageOut]
    presentation_breakdowns: list[Any] = []


class CustomerUsageOut(Output):
    from_datetime: Timestamp
    to_datetime: Timestamp
    issuing_date: Date
    currency: str
    amount_cents: int
    total_amount_cents: int
    taxes_amount_cents: int
    lago_invoice_id: None = None
    charges_usage: list[ChargeUsageOut]


class CustomerUsageEnvelope(BaseModel):
    customer_usage: CustomerUsageOut


def _totals(fees: Sequence[FeeUsage]) -> dict[str, Any]:
    units = sum((fee.units for fee in fees), Decimal(0))
    aggregated = sum((fee.total_aggregated_units for fee in fees), Decimal(0))
    return {
        "units": decimal_str(units),
        "total_aggregated_units": decimal_str(aggregated),
        "events_count": sum(fee.events_count for fee in fees),
        "amount_cents": sum(fee.amount_cents for fee in fees),
    }


def _grouped(fees: Sequence[FeeUsage], key: Callable[[FeeUsage], Hashable]) -> list[list[FeeUsage]]:
    """Fees grouped by ``key``, groups in order of first appearance (Ruby's ``group_by``)."""
    groups: dict[Hashable, list[FeeUsage]] = {}
    for fee in fees:
        groups.setdefault(key(fee), []).append(fee)
    return list(groups.values())


def _filters(usage: ChargeUsage, fees: Sequence[FeeUsage]) -> list[FilterUsageOut]:
    if not usage.has_filters:
        return []
    entries = []
    for group in _grouped(fees, lambda fee: fee.filter.filter.id if fee.filter else None):
        graph = group[0].filter
        entries.append(
            FilterUsageOut(
                **_totals(group),
                invoice_display_name=graph.filter.invoice_display_name if graph else None,
                values=graph.values if graph else None,
            )
        )
    return entries


def _grouped_usage(usage: ChargeUsage) -> list[GroupedUsageOut]:
    if not any(fee.grouped_by for fee in usage.fees):
        return []
    return [
        GroupedUsageOut(**_totals(group), grouped_by=group[0].grouped_by, filters=_filters(usage, group))
        for group in _grouped(usage.fees, lambda fee: tuple(sorted(fee.grouped_by.items(), key=str)))
    ]


def charge_usage_out(usage: ChargeUsage, currency: str) -> ChargeUsageOut:
    charge, metric = usage.charge, usage.metric
    return ChargeUsageOut(
        **_totals(usage.fees),
        amount_currency=currency,
        charge=UsageChargeOut(
            lago_id=str(charge.id),
            code=charge.code,
            charge_model=charge.charge_model,
            invoice_display_name=charge.invoice_display_name,
        ),
        billable_metric=UsageMetricOut(
            lago_id=str(metric.id),
            name=metric.name,
            code=metric.code,
            aggregation_type=metric.aggregation_type,
        ),
        filters=_filters(usage, usage.fees),
        grouped_usage=_grouped_usage(usage),
    )


def customer_usage_out(usage: CurrentUsage) -> CustomerUsageEnvelope:
    return CustomerUsageEnvelope(
        customer_usage=CustomerUsageOut(
            from_datetime=usage.from_datetime,
            to_datetime=usage.to_datetime,
            issuing_date=usage.issuing_date,
            currency=usage.currency,
            amount_cents=usage.amount_cents,
            total_amount_cents=usage.total_amount_cents,
            taxes_amount_cents=usage.taxes_amount_cents,
            charges_usage=[charge_usage_out(charge, usage.currency) for charge in usage.charges],
        )
    )
