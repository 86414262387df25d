"""The ``customer_projected_usage`` response: Lago's ``V1::Customers::ProjectedUsageSerializer`` and
``ProjectedChargeUsageSerializer``, the current usage's figures (without ``total_aggregated_units`` and the
charge's ``code``) with the projections of :mod:`billow.usage.projected` beside them."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

from pydantic import BaseModel

from billow.fees.usage import ChargeUsage
from billow.fees.window import FeeUsage
from billow.kit.schemas import Date, Output, Timestamp, decimal_str
from billow.usage.projected import ProjectedCharge, ProjectedFee, ProjectedUsage
from billow.usage.projected import total as projected_total
from billow.usage.schemas import UsageMetricOut, current_totals


class ProjectedChargeOut(Output):
    lago_id: str
    charge_model: str
    invoice_display_name: str | None


class ProjectedFilterUsageOut(Output):
    units: str
    events_count: int
    amount_cents: int
    projected_units: str
    projected_amount_cents: int
    projected_presentation_breakdowns: list[Any] = []
    pricing_unit_details: None = None
    invoice_display_name: str | None
    values: dict[str, list[Any]]
    presentation_breakdowns: list[Any] = []


class ProjectedGroupedUsageOut(Output):
    units: str
    events_count: int
    amount_cents: int
    projected_units: str
    projected_amount_cents: int
    projected_presentation_breakdowns: list[Any] = []
    pricing_unit_details: None = None
    grouped_by: dict[str, str | None]
    filters: list[ProjectedFilterUsageOut]
    presentation_breakdowns: list[Any] = []


class ProjectedChargeUsageOut(Output):
    units: str
    events_count: int
    amount_cents: int
    amount_currency: str
    projected_units: str
    projected_amount_cents: int
    projected_presentation_breakdowns: list[Any] = []
    pricing_unit_details: None = None
    charge: ProjectedChargeOut
    billable_metric: UsageMetricOut
    filters: list[ProjectedFilterUsageOut]
    grouped_usage: list[ProjectedGroupedUsageOut]
    presentation_breakdowns: list[Any] = []


class CustomerProjectedUsageOut(Output):
    from_datetime: Timestamp
    to_datetime: Timestamp
    issuing_date: Date
    currency: str
    amount_cents: int
    projected_amount_cents: int
    total_amount_cents: int
    taxes_amount_cents: int
    lago_invoice_id: None = None
    charges_usage: list[ProjectedChargeUsageOut]


class CustomerProjectedUsageEnvelope(BaseModel):
    customer_projected_usage: CustomerProjectedUsageOut


def _projected_totals(fees: Sequence[ProjectedFee]) -> dict[str, Any]:
    current = current_totals([fee for fee, _ in fees])
    projection = projected_total(fees)
    return {
        "units": current["units"],
        "events_count": current["events_count"],
        "amount_cents": current["amount_cents"],
        "projected_units": decimal_str(projection.units),
        "projected_amount_cents": projection.amount_cents,
    }


def _projected_groups(
    fees: Sequence[ProjectedFee], key: Callable[[FeeUsage], Hashable]
) -> list[list[ProjectedFee]]:
    groups: dict[Hashable, list[ProjectedFee]] = {}
    for item in fees:
        groups.setdefault(key(item[0]), []).append(item)
    return list(groups.values())


def _projected_filters(usage: ChargeUsage, fees: Sequence[ProjectedFee]) -> list[ProjectedFilterUsageOut]:
    if not usage.has_filters:
        return []
    entries = []
    for group in _projected_groups(fees, lambda fee: fee.filter.filter.id if fee.filter else None):
        graph = group[0][0].filter
        entries.append(
            ProjectedFilterUsageOut(
                **_projected_totals(group),
                invoice_display_name=graph.filter.invoice_display_name if graph else None,
                # Lago sends null for the default bucket, which lago-python-client 1.55 refuses here
                # (``values`` is not optional in its projected filter model): Billow sends {}.
                values=graph.values if graph else {},
            )
        )
    return entries


def projected_charge_usage_out(charge: ProjectedCharge, currency: str) -> ProjectedChargeUsageOut:
    usage = charge.usage
    grouped: list[ProjectedGroupedUsageOut] = []
    if any(fee.grouped_by for fee, _ in charge.fees):
        grouped = [
            ProjectedGroupedUsageOut(
                **_projected_totals(group),
                grouped_by=group[0][0].grouped_by,
                filters=_projected_filters(usage, group),
            )
            for group in _projected_groups(
                charge.fees, lambda fee: tuple(sorted(fee.grouped_by.items(), key=str))
            )
        ]
    return ProjectedChargeUsageOut(
        **_projected_totals(charge.fees),
        amount_currency=currency,
        charge=ProjectedChargeOut(
            lago_id=str(usage.charge.id),
            charge_model=usage.charge.charge_model,
            invoice_display_name=usage.charge.invoice_display_name,
        ),
        billable_metric=UsageMetricOut(
            lago_id=str(usage.metric.id),
            name=usage.metric.name,
            code=usage.metric.code,
            aggregation_type=usage.metric.aggregation_type,
        ),
        filters=_projected_filters(usage, charge.fees),
        grouped_usage=grouped,
    )


def customer_projected_usage_out(projected: ProjectedUsage) -> CustomerProjectedUsageEnvelope:
    usage = projected.current
    return CustomerProjectedUsageEnvelope(
        customer_projected_usage=CustomerProjectedUsageOut(
            from_datetime=usage.from_datetime,
            to_datetime=usage.to_datetime,
            issuing_date=usage.issuing_date,
            currency=usage.currency,
            amount_cents=usage.amount_cents,
            projected_amount_cents=projected.projected_amount_cents,
            total_amount_cents=usage.total_amount_cents,
            taxes_amount_cents=usage.taxes_amount_cents,
            charges_usage=[
                projected_charge_usage_out(charge, usage.currency) for charge in projected.charges
            ],
        )
    )
