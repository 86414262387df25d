"""Which taxes apply to a fee, and how much tax a set of fees owes (Lago's ``Fees::ApplyTaxesService`` and
``Invoices::ApplyTaxesService``). Pure: no database, no clock.

Selection, for a charge fee: the first non-empty list among the charge's taxes, the plan's, the
customer's, then the organization's default taxes (``applied_to_organization``).

Amounts: a fee owes ``Σ_tax base * rate / 100`` where ``base`` is its amount in minor units after coupons;
the fee's ``taxes_amount_cents`` is that sum rounded half-up to an integer. A set of fees (an invoice, a
current usage) owes, per tax, the unrounded ``Σ_fees base * rate / 100``; its ``taxes_amount_cents`` is the
sum over taxes of those unrounded amounts, rounded once, half-up (halves away from zero). Lago does this in
floats; Billow in exact decimals.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol, TypeVar

from billow.kit.money import EXACT, round_minor_units

HUNDRED = Decimal(100)


class TaxLike(Protocol):
    """What tax computations need from a tax: an identity and a rate in percent (``20`` = 20 %)."""

    @property
    def id(self) -> Hashable: ...

    @property
    def rate(self) -> Decimal: ...


T = TypeVar("T", bound=TaxLike)


def applicable_charge_taxes(
    *,
    charge_taxes: Sequence[T],
    plan_taxes: Sequence[T],
    customer_taxes: Sequence[T],
    organization_taxes: Sequence[T],
) -> Sequence[T]:
    """The taxes of a charge fee: the first non-empty of charge, plan, customer, organization defaults."""
    for taxes in (charge_taxes, plan_taxes, customer_taxes, organization_taxes):
        if taxes:
            return taxes
    return ()


def fee_tax_amounts(base_cents: int | Decimal, taxes: Iterable[TaxLike]) -> dict[Hashable, Decimal]:
    """Unrounded tax owed per tax by one fee whose taxable amount is ``base_cents``."""
    base = Decimal(base_cents)
    return {tax.id: EXACT.divide(EXACT.multiply(base, Decimal(tax.rate)), HUNDRED) for tax in taxes}


def fee_taxes_amount_cents(base_cents: int | Decimal, taxes: Iterable[TaxLike]) -> int:
    """A fee's ``taxes_amount_cents``: its taxes' sum, rounded half-up."""
    total = Decimal(0)
    for amount in fee_tax_amounts(base_cents, taxes).values():
        total = EXACT.add(total, amount)
    return round_minor_units(total)


@dataclass(frozen=True)
class TaxTotals:
    """Taxes owed by a set of fees: per tax (rounded, Lago's ``applied_tax.amount_cents``) and in total
    (rounded once over the unrounded per-tax sums)."""

    by_tax: dict[Hashable, int]
    taxes_amount_cents: int


def taxes_of_fees(fees: Iterable[tuple[int | Decimal, Sequence[TaxLike]]]) -> TaxTotals:
    """Taxes of fees given as ``(taxable amount in minor units, applicable taxes)``."""
    per_tax: dict[Hashable, Decimal] = {}
    for base_cents, taxes in fees:
        for tax_id, amount in fee_tax_amounts(base_cents, taxes).items():
            per_tax[tax_id] = EXACT.add(per_tax.get(tax_id, Decimal(0)), amount)
    total = Decimal(0)
    for amount in per_tax.values():
        total = EXACT.add(total, amount)
    return TaxTotals(
        by_tax={tax_id: round_minor_units(amount) for tax_id, amount in per_tax.items()},
        taxes_amount_cents=round_minor_units(total),
    )
