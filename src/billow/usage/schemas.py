"""The ``customer_usage`` response (Lago's ``V1::Customers::UsageSerializer`` and
``ChargeUsageSerializer``) and the fees of ``POST /events/estimate_fees`` (``V1::FeeSerializer``)."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from billow.fees.in_advance import EstimatedFee
from billow.fees.usage import ChargeUsage, CurrentUsage
from billow.fees.window import FeeUsage
from billow.kit.currency import exponent
from billow.kit.schemas import Date, DecimalString, JsonNumber, Output, Timestamp, decimal_str
from billow.metering.filters import ALL_FILTER_VALUES
from billow.plans.repository import FilterGraph
from billow.usage.instant import InstantFee


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


def current_totals(fees: Sequence[FeeUsage]) -> dict[str, Any]:
    """Units, aggregated units, events and amount of some fees of a charge."""
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
                **current_totals(group),
                invoice_display_name=graph.filter.invoice_display_name if graph else None,
                values=graph.values if graph else None,
            )
        )
    return entries


def _grouped_usage(usage: ChargeUsage) -> list[GroupedUsageOut]:
    if not any(fee.grouped_by for fee in usage.fees):
        return []
    return [
        GroupedUsageOut(
            **current_totals(group), grouped_by=group[0].grouped_by, filters=_filters(usage, group)
        )
        for group in _grouped(usage.fees, lambda fee: tuple(sorted(fee.grouped_by.items(), key=str)))
    ]


def charge_usage_out(usage: ChargeUsage, currency: str) -> ChargeUsageOut:
    charge, metric = usage.charge, usage.metric
    return ChargeUsageOut(
        **current_totals(usage.fees),
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


# ----------------------------------------------------------------------------------------- fee estimates
# Lago's ``V1::FeeSerializer`` (with ``applied_taxes``), for the unsaved fees of
# ``POST /events/estimate_fees``.


def iso_offset(value: datetime) -> str:
    """Lago's fee dates: ``Time#iso8601`` of a UTC instant, ``2025-09-01T00:00:00+00:00``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


class FeeItemOut(Output):
    type: str
    code: str
    name: str
    description: str | None
    invoice_display_name: str
    filters: dict[str, list[Any]] | None
    filter_invoice_display_name: str | None
    lago_item_id: str
    item_type: str
    grouped_by: dict[str, str | None]


class FeeAppliedTaxOut(Output):
    lago_id: None = None
    lago_fee_id: None = None
    lago_tax_id: str
    tax_name: str
    tax_code: str
    tax_rate: JsonNumber
    tax_description: str | None
    amount_cents: int
    amount_currency: str
    created_at: None = None


class FeeOut(Output):
    lago_id: None = None
    lago_charge_id: str
    lago_charge_filter_id: str | None
    lago_fixed_charge_id: None = None
    lago_invoice_id: None = None
    lago_true_up_fee_id: None = None
    lago_true_up_parent_fee_id: None = None
    lago_original_fee_id: None = None
    lago_subscription_id: str
    external_subscription_id: str
    lago_customer_id: str
    external_customer_id: str
    item: FeeItemOut
    pay_in_advance: bool
    invoiceable: bool
    amount_cents: int
    amount_currency: str
    precise_amount: JsonNumber
    precise_total_amount: JsonNumber
    taxes_amount_cents: int
    taxes_precise_amount: JsonNumber
    taxes_rate: JsonNumber
    total_aggregated_units: DecimalString
    total_amount_cents: int
    total_amount_currency: str
    units: DecimalString
    description: None = None
    precise_unit_amount: DecimalString
    precise_coupons_amount_cents: DecimalString
    sub_total_excluding_taxes_amount_cents: int
    sub_total_excluding_taxes_precise_amount_cents: DecimalString
    events_count: int
    payment_status: str
    created_at: None = None
    succeeded_at: None = None
    failed_at: None = None
    refunded_at: None = None
    amount_details: dict[str, Any]
    self_billed: bool = False
    pricing_unit_details: None = None
    presentation_breakdowns: list[Any] = []
    from_date: str
    to_date: str
    event_transaction_id: str
    applied_taxes: list[FeeAppliedTaxOut]


class FeesEnvelope(BaseModel):
    fees: list[FeeOut]


def _display_name(graph: FilterGraph) -> str:
    """Lago's ``ChargeFilter#display_name``: its invoice display name, else its values (a key for
    ``__ALL_FILTER_VALUES__``) joined with ``", "``."""
    if graph.filter.invoice_display_name:
        return graph.filter.invoice_display_name
    parts: list[str] = []
    for key, values in graph.values.items():
        parts.extend([key] if list(values) == [ALL_FILTER_VALUES] else [str(value) for value in values])
    return ", ".join(parts)


def _fee_dates(fee: EstimatedFee) -> tuple[str, str]:
    if fee.invoiceable:
        return iso_offset(fee.from_datetime), iso_offset(fee.to_datetime)
    # Lago: the UTC dates of the charges period, from midnight to the end of the last day.
    from_day = fee.from_datetime.astimezone(UTC).date()
    to_day = fee.to_datetime.astimezone(UTC).date()
    return f"{from_day.isoformat()}T00:00:00+00:00", f"{to_day.isoformat()}T23:59:59+00:00"


def estimated_fee_out(fee: EstimatedFee) -> FeeOut:
    charge, metric, graph = fee.charge, fee.metric, fee.filter
    subunit = Decimal(10) ** exponent(fee.currency)
    from_date, to_date = _fee_dates(fee)
    return FeeOut(
        lago_charge_id=str(charge.id),
        lago_charge_filter_id=str(graph.filter.id) if graph else None,
        lago_subscription_id=str(fee.subscription.id),
        external_subscription_id=fee.subscription.external_id,
        lago_customer_id=str(fee.customer.id),
        external_customer_id=fee.customer.external_id,
        item=FeeItemOut(
            type="charge",
            code=metric.code,
            name=metric.name,
            description=metric.description,
            invoice_display_name=charge.invoice_display_name or metric.name,
            filters=graph.values if graph else None,
            filter_invoice_display_name=_display_name(graph) if graph else None,
            lago_item_id=str(metric.id),
            item_type="BillableMetric",
            grouped_by=fee.grouped_by,
        ),
        pay_in_advance=True,
        invoiceable=fee.invoiceable,
        amount_cents=fee.amount_cents,
        amount_currency=fee.currency,
        precise_amount=fee.precise_amount_cents / subunit,
        precise_total_amount=(fee.precise_amount_cents + fee.taxes_precise_amount_cents) / subunit,
        taxes_amount_cents=fee.taxes_amount_cents,
        taxes_precise_amount=fee.taxes_precise_amount_cents / subunit,
        taxes_rate=fee.taxes_rate,
        total_aggregated_units=fee.units,
        total_amount_cents=fee.amount_cents + fee.taxes_amount_cents,
        total_amount_currency=fee.currency,
        units=fee.units,
        precise_unit_amount=fee.unit_amount,
        precise_coupons_amount_cents=Decimal(0),
        sub_total_excluding_taxes_amount_cents=fee.amount_cents,
        sub_total_excluding_taxes_precise_amount_cents=fee.precise_amount_cents,
        events_count=fee.events_count,
        payment_status="pending",
        amount_details=fee.amount_details,
        from_date=from_date,
        to_date=to_date,
        event_transaction_id=fee.transaction_id,
        applied_taxes=[
            FeeAppliedTaxOut(
                lago_tax_id=str(applied.tax.id),
                tax_name=applied.tax.name,
                tax_code=applied.tax.code,
                tax_rate=applied.tax.rate,
                tax_description=applied.tax.description,
                amount_cents=applied.amount_cents,
                amount_currency=fee.currency,
            )
            for applied in fee.applied_taxes
        ],
    )


# Lago's instant fee estimate (``FeeEstimateObject``), for ``POST /events/estimate_instant_fees`` and
# ``/events/batch_estimate_instant_fees``: no taxes, no ids of stored objects, the unit price in minor units.


class InstantFeeItemOut(Output):
    type: str
    code: str
    name: str
    description: str | None
    invoice_display_name: str
    filters: dict[str, list[Any]] | None
    filter_invoice_display_name: str | None
    lago_item_id: str
    item_type: str
    grouped_by: dict[str, str]


class InstantFeeOut(Output):
    lago_id: None = None
    lago_charge_id: str
    lago_charge_filter_id: str | None
    lago_invoice_id: None = None
    lago_true_up_fee_id: None = None
    lago_true_up_parent_fee_id: None = None
    lago_subscription_id: str
    external_subscription_id: str
    lago_customer_id: str
    external_customer_id: str
    item: InstantFeeItemOut
    pay_in_advance: bool
    invoiceable: bool
    amount_cents: int
    amount_currency: str
    precise_amount: JsonNumber
    precise_total_amount: JsonNumber
    taxes_amount_cents: int
    taxes_precise_amount: JsonNumber
    taxes_rate: JsonNumber
    total_amount_cents: int
    total_amount_currency: str
    units: DecimalString
    description: None = None
    precise_unit_amount: JsonNumber
    precise_coupons_amount_cents: str
    events_count: int
    payment_status: str
    created_at: None = None
    succeeded_at: None = None
    failed_at: None = None
    refunded_at: None = None
    amount_details: None = None
    event_transaction_id: str


class InstantFeesEnvelope(BaseModel):
    fees: list[InstantFeeOut]


def instant_fee_out(fee: InstantFee) -> InstantFeeOut:
    charge, metric, graph = fee.graph.charge, fee.graph.metric, fee.filter
    return InstantFeeOut(
        lago_charge_id=str(charge.id),
        lago_charge_filter_id=str(graph.filter.id) if graph else None,
        lago_subscription_id=str(fee.subscription.id),
        external_subscription_id=fee.subscription.external_id,
        lago_customer_id=str(fee.customer.id),
        external_customer_id=fee.customer.external_id,
        item=InstantFeeItemOut(
            type="charge",
            code=metric.code,
            name=metric.name,
            description=metric.description,
            invoice_display_name=charge.invoice_display_name or metric.name,
            filters=graph.values if graph else None,
            filter_invoice_display_name=_display_name(graph) if graph else None,
            lago_item_id=str(metric.id),
            item_type="BillableMetric",
            grouped_by={},
        ),
        pay_in_advance=True,
        invoiceable=charge.invoiceable,
        amount_cents=fee.amount_cents,
        amount_currency=fee.currency,
        precise_amount=fee.amount,
        precise_total_amount=fee.amount,
        taxes_amount_cents=0,
        taxes_precise_amount=Decimal(0),
        taxes_rate=Decimal(0),
        total_amount_cents=fee.amount_cents,
        total_amount_currency=fee.currency,
        units=fee.units,
        precise_unit_amount=fee.unit_amount_cents,
        precise_coupons_amount_cents="0.0",
        events_count=1,
        payment_status="pending",
        event_transaction_id=fee.transaction_id,
    )
