"""Projected usage (``GET /customers/{external_customer_id}/projected_usage``): the current usage
(:mod:`billow.fees.usage`) and, for each of its fees, what it will amount to at the end of the charges
period at the pace so far (:mod:`billow.pricing.projection`, Lago's ``Fees::ProjectionService``).

Which fees are projected, as Lago's ``ProjectedChargeUsageSerializer``: a charge with filters projects
the fees of its filters only (its default bucket projects nothing); otherwise every fee (group) is
projected on its own. Each fee's projected amount is rounded to the currency on its own; a charge's, a
filter's or a group's projection is the sum of its fees'. A recurring metric's fees are projected as
they are. ``projected_amount_cents`` of the whole usage is the sum of the charges' (Lago projects each
charge's fees together there, on the first fee's filter: Billow keeps the totals consistent).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from billow.fees.usage import ChargeUsage, CurrentUsage
from billow.fees.window import FeeUsage
from billow.kit.money import to_minor_units
from billow.pricing.projection import PeriodRatio, period_ratio, project

ZERO = Decimal(0)


@dataclass(frozen=True)
class FeeProjection:
    units: Decimal
    amount_cents: int


NOTHING = FeeProjection(ZERO, 0)

#: A fee and its projection (None: not projected, the default bucket of a charge with filters).
ProjectedFee = tuple[FeeUsage, FeeProjection | None]


def total(fees: Sequence[ProjectedFee]) -> FeeProjection:
    """The projection of some fees: the sum of theirs."""
    projections = [projection for _, projection in fees if projection is not None]
    return FeeProjection(
        units=sum((p.units for p in projections), ZERO),
        amount_cents=sum(p.amount_cents for p in projections),
    )


@dataclass(frozen=True)
class ProjectedCharge:
    usage: ChargeUsage
    fees: list[ProjectedFee]


@dataclass(frozen=True)
class ProjectedUsage:
    current: CurrentUsage
    charges: list[ProjectedCharge]

    @property
    def projected_amount_cents(self) -> int:
        return sum(total(charge.fees).amount_cents for charge in self.charges)


def project_usage(usage: CurrentUsage, *, now: datetime, timezone: str) -> ProjectedUsage:
    """``usage`` with each fee's projection to the end of its charges period (``timezone``: the
    customer's, in which days are counted)."""
    ratio = period_ratio(usage.from_datetime, usage.to_datetime, now, timezone)
    return ProjectedUsage(
        current=usage,
        charges=[
            ProjectedCharge(
                charge, [(fee, _fee_projection(charge, fee, ratio, usage.currency)) for fee in charge.fees]
            )
            for charge in usage.charges
        ],
    )


def _fee_projection(
    charge: ChargeUsage, fee: FeeUsage, ratio: PeriodRatio, currency: str
) -> FeeProjection | None:
    if charge.has_filters and fee.filter is None:
        return None
    if charge.metric.recurring:
        return FeeProjection(fee.units, fee.amount_cents)
    properties = (
        fee.filter.filter.properties if fee.filter is not None else None
    ) or charge.charge.properties
    projection = project(
        charge.charge.charge_model,
        properties,
        units=fee.units,
        amount=fee.amount,
        ratio=ratio,
        prorated=charge.charge.prorated,
    )
    return FeeProjection(projection.units, to_minor_units(projection.amount, currency))
