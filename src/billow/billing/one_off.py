"""One-off invoices (``POST /invoices``, Lago's ``Invoices::CreateOneOffService`` and
``Fees::OneOffService``): an invoice of type ``one_off`` billing add-ons to a customer, finalized at once.

Checks, in Lago's order, before anything is written:

1. the customer by ``external_customer_id`` (404 ``customer_not_found``);
2. at least one fee (404 ``fees_not_found``, as Lago);
3. every ``add_on_code`` names a live add-on of the organization (404 ``add_on_not_found``);
4. the currency: the request's, else the customer's (none: 422 ``value_is_mandatory`` on ``currency``;
   not a currency: ``value_is_invalid``); a customer with another currency refuses it (422
   ``currencies_does_not_match``), one without adopts it;
5. each fee: ``from_datetime`` and ``to_datetime`` both or neither, readable, in order (422
   ``{"boundaries": ["values_are_invalid"]}``); ``units`` a decimal in ``[0, 10^18]`` and
   ``unit_amount_cents`` not negative (422 ``value_is_invalid`` / ``value_is_out_of_range``; Lago does
   not check them); ``tax_codes`` all known (404 ``tax_not_found``).

Each fee: ``unit_amount_cents`` (default the add-on's ``amount_cents``) * ``units`` (default 1) is its
precise amount, rounded half-up (:func:`fee_amount_cents`); its taxes: the request's ``tax_codes`` when
not empty, else the add-on's, the customer's, the organization's defaults (:mod:`billow.taxes.rules`); its
dates: the request's, else the request time. The invoice takes the customer's coupons and credit notes
as every invoice does (:func:`billow.billing.deductions.finalized_amounts`) and is written and finalized by
:func:`billow.billing.writer.write_customer_invoice` (issuing date today in the customer's zone, shared
numbering, a zero total paid at once, a skipped zero-amount invoice closed).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy.orm import Session

from billow.add_ons.repository import add_on_repository
from billow.billing.context import FeeDraft
from billow.billing.schemas import OneOffFeeInput, OneOffInvoiceInput
from billow.billing.writer import write_customer_invoice
from billow.customers.repository import customer_repository
from billow.db import utcnow
from billow.errors import NotFound, ValidationFailed
from billow.kit.currency import is_currency
from billow.kit.limits import MAX_AMOUNT_CENTS, is_quantity, parse_decimal_text
from billow.kit.money import EXACT, from_minor_units, round_minor_units
from billow.kit.time import parse_instant
from billow.models.add_ons import AddOn
from billow.models.customers import Customer
from billow.models.invoices import Fee, FeeType, Invoice, InvoiceType, PaymentStatus
from billow.models.organizations import Organization
from billow.models.taxes import Tax
from billow.taxes.repository import tax_repository
from billow.taxes.rules import applicable_charge_taxes

ONE = Decimal(1)


# ------------------------------------------------------------------------------------------ pure rules


def fee_precise_amount_cents(unit_amount_cents: int, units: Decimal) -> Decimal:
    """``unit_amount_cents * units``, exact."""
    return EXACT.multiply(Decimal(unit_amount_cents), units)


def fee_amount_cents(unit_amount_cents: int, units: Decimal) -> int:
    """A one-off fee's ``amount_cents``: ``unit_amount_cents * units`` rounded half-up."""
    return round_minor_units(fee_precise_amount_cents(unit_amount_cents, units))


def parse_units(value: str | int | float | None) -> Decimal | None:
    """The ``units`` of a fee: absent → 1; a decimal string or a JSON number; ``None`` when unreadable."""
    if value is None:
        return ONE
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return parse_decimal_text(repr(value))
    return parse_decimal_text(value)


# ------------------------------------------------------------------------------------------ use case


@dataclass(frozen=True)
class _Line:
    add_on: AddOn
    data: OneOffFeeInput
    units: Decimal
    unit_amount_cents: int
    from_datetime: datetime
    to_datetime: datetime
    explicit_taxes: Sequence[Tax] | None


def create_one_off_invoice(
    session: Session, organization: Organization, data: OneOffInvoiceInput, now: datetime
) -> Invoice:
    """Check ``data`` (see the module documentation), then write the one-off invoice, finalized."""
    customer = (
        customer_repository.by_external_id(session, organization.id, data.external_customer_id)
        if data.external_customer_id
        else None
    )
    if customer is None:
        raise NotFound("customer")
    if not data.fees:
        raise NotFound("fees")
    add_ons = _add_ons(session, organization, data.fees)
    currency = _currency(customer, data.currency)
    lines = [_line(session, organization, add_ons, fee, now) for fee in data.fees]
    amounts_cents = [fee_amount_cents(line.unit_amount_cents, line.units) for line in lines]
    if sum(amounts_cents) > MAX_AMOUNT_CENTS:
        raise ValidationFailed.one("fees", "value_is_out_of_range")

    # Valid: write.
    customer.currency = currency
    drafts = _drafts(session, organization, customer, currency, lines)
    return write_customer_invoice(
        session,
        organization=organization,
        customer=customer,
        invoice_type=InvoiceType.ONE_OFF,
        currency=currency,
        now=now,
        drafts=drafts,
    )


def _add_ons(
    session: Session, organization: Organization, fees: Sequence[OneOffFeeInput]
) -> dict[str, AddOn]:
    found: dict[str, AddOn] = {}
    for fee in fees:
        code = fee.add_on_code
        if not code:
            raise NotFound("add_on")
        add_on = found.get(code) or add_on_repository.by_code(session, organization.id, code)
        if add_on is None:
            raise NotFound("add_on")
        found[code] = add_on
    return found


def _currency(customer: Customer, requested: str | None) -> str:
    currency = requested or customer.currency
    if not currency:
        raise ValidationFailed.one("currency", "value_is_mandatory")
    if not is_currency(currency):
        raise ValidationFailed.one("currency", "value_is_invalid")
    if customer.currency is not None and customer.currency != currency:
        raise ValidationFailed.one("currency", "currencies_does_not_match")
    return currency


def _line(
    session: Session,
    organization: Organization,
    add_ons: dict[str, AddOn],
    fee: OneOffFeeInput,
    now: datetime,
) -> _Line:
    assert fee.add_on_code is not None  # checked by _add_ons
    add_on = add_ons[fee.add_on_code]
    from_datetime, to_datetime = _boundaries(fee, now)
    units = parse_units(fee.units)
    if units is None or units < 0:
        raise ValidationFailed.one("units", "value_is_invalid")
    if not is_quantity(units):
        raise ValidationFailed.one("units", "value_is_out_of_range")
    unit_amount_cents = add_on.amount_cents if fee.unit_amount_cents is None else fee.unit_amount_cents
    if unit_amount_cents < 0:
        raise ValidationFailed.one("unit_amount_cents", "value_is_invalid")
    if fee_amount_cents(unit_amount_cents, units) > MAX_AMOUNT_CENTS:
        raise ValidationFailed.one("units", "value_is_out_of_range")
    explicit: Sequence[Tax] | None = None
    if fee.tax_codes:
        codes = sorted(set(fee.tax_codes))
        explicit = sorted(tax_repository.by_codes(session, organization.id, codes), key=lambda t: t.code)
        if len(explicit) != len(codes):
            raise NotFound("tax")
    return _Line(add_on, fee, units, unit_amount_cents, from_datetime, to_datetime, explicit)


def _boundaries(fee: OneOffFeeInput, now: datetime) -> tuple[datetime, datetime]:
    if fee.from_datetime is None and fee.to_datetime is None:
        return now, now
    try:
        if fee.from_datetime is None or fee.to_datetime is None:
            raise ValueError("one boundary")
        start, end = parse_instant(fee.from_datetime), parse_instant(fee.to_datetime)
    except (ValueError, OverflowError) as exc:
        raise ValidationFailed.one("boundaries", "values_are_invalid") from exc
    if start > end:
        raise ValidationFailed.one("boundaries", "values_are_invalid")
    return start, end


def _drafts(
    session: Session,
    organization: Organization,
    customer: Customer,
    currency: str,
    lines: Sequence[_Line],
) -> list[FeeDraft]:
    add_on_ids = list({line.add_on.id for line in lines})
    add_on_taxes = add_on_repository.taxes_by_add_on(session, add_on_ids)
    customer_taxes = customer_repository.taxes_by_customer(session, [customer.id])[customer.id]
    organization_taxes = tax_repository.organization_default_taxes(session, organization.id)
    drafts = []
    # The fees are listed by creation time: one microsecond apart, they keep the request's order.
    created_at = utcnow()
    for index, line in enumerate(lines):
        taxes = (
            line.explicit_taxes
            if line.explicit_taxes is not None
            else applicable_charge_taxes(
                charge_taxes=add_on_taxes[line.add_on.id],
                plan_taxes=(),
                customer_taxes=customer_taxes,
                organization_taxes=organization_taxes,
            )
        )
        precise = fee_precise_amount_cents(line.unit_amount_cents, line.units)
        fee = Fee(
            id=uuid.uuid4(),
            created_at=created_at + timedelta(microseconds=index),
            organization_id=organization.id,
            customer_id=customer.id,
            add_on_id=line.add_on.id,
            fee_type=FeeType.ADD_ON,
            grouped_by={},
            units=line.units,
            total_aggregated_units=Decimal(0),
            events_count=0,
            amount_cents=round_minor_units(precise),
            precise_amount_cents=precise,
            amount_currency=currency,
            unit_amount=from_minor_units(line.unit_amount_cents, currency),
            amount_details={},
            invoice_display_name=line.data.invoice_display_name or None,
            description=line.add_on.description if line.data.description is None else line.data.description,
            pay_in_advance=False,
            invoiceable=True,
            payment_status=PaymentStatus.PENDING,
            from_datetime=line.from_datetime,
            to_datetime=line.to_datetime,
        )
        drafts.append(FeeDraft(fee=fee, taxes=taxes))
    return drafts
