"""The accounting providers' pure translations, hand-computed."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal

import pytest

from billow.providers import ledger
from billow.providers.interface import ItemMapping, ProviderError
from billow.providers.quickbooks import mapping as qbo
from billow.providers.xero import mapping as xero
from tests.providers import samples


@pytest.mark.parametrize(
    ("cents", "currency", "expected"),
    [
        (1050, "EUR", "10.50"),  # 2 decimals: 1050 / 100
        (5, "USD", "0.05"),
        (-52, "EUR", "-0.52"),
        (1050, "JPY", "1050"),  # no minor unit
        (1050, "KWD", "1.050"),  # 3 decimals: 1050 / 1000
        (0, "EUR", "0.00"),
    ],
)
def test_money_shifts_the_decimal_point_exactly(cents: int, currency: str, expected: str) -> None:
    assert str(ledger.money(cents, currency)) == expected


def test_floats_for_an_sdk_land_exactly() -> None:
    # 0.10 + 0.20 in cents: 10 + 20 = 30 → Decimal 0.30 → float 0.3 (not 0.30000000000000004)
    value = ledger.money(10 + 20, "EUR")
    assert ledger.to_float(value) == 0.3
    assert json.dumps(ledger.to_float(value)) == "0.3"
    assert (
        qbo.dumps({"Amount": ledger.money(30, "EUR"), "Qty": Decimal("1234")})
        == '{"Amount": 0.3, "Qty": 1234.0}'
    )
    # 1.005 KWD stays 1.005: 1005 fils
    assert json.dumps(ledger.to_float(ledger.money(1005, "KWD"))) == "1.005"


@pytest.mark.parametrize(
    ("units", "unit_cents", "amount", "currency", "places", "expected"),
    [
        ("3", "350", 1050, "EUR", 7, ("3", "3.50")),  # 3 * 3.50 = 10.50
        ("1234", "1.25", 1543, "EUR", 4, ("1234", "0.0125")),  # 1234 * 0.0125 = 15.425 → 15.43
        ("1234", "1.25", 1542, "EUR", 4, ("1", "15.42")),  # does not land on 15.42: quantity 1
        ("3", "0.123456", 0, "EUR", 4, ("1", "0.00")),  # 0.00123456 needs 8 places > 4
        ("3", "0.123456", 0, "EUR", 8, ("3", "0.00123456")),  # 3 * 0.00123456 = 0.0037 → 0.00
        ("0", "500", 0, "EUR", 4, ("1", "0.00")),  # no units: quantity 1 at 0
        ("2", "500", 1000, "JPY", 4, ("2", "500")),  # 2 * 500 yen
        ("2", "1250", 2500, "KWD", 4, ("2", "1.250")),  # 2 * 1.250 KWD = 2.500
    ],
)
def test_quantity_and_unit(
    units: str, unit_cents: str, amount: int, currency: str, places: int, expected: tuple[str, str]
) -> None:
    qty, unit = ledger.quantity_and_unit(Decimal(units), Decimal(unit_cents), amount, currency, places)
    assert (str(qty), str(unit)) == expected


def test_spread_taxes_puts_the_rounding_on_the_largest_line() -> None:
    assert ledger.spread_taxes([150, 309], 459) == [150, 309]
    assert ledger.spread_taxes([150, 309], 460) == [150, 310]  # +1 on 309
    assert ledger.spread_taxes([200, 200], 399) == [199, 200]  # a tie: the first
    assert ledger.spread_taxes([], 0) == []


def test_spread_proportionally() -> None:
    assert xero.spread_proportionally([500, 500], 200) == [100, 100]
    # 100 * 1 // 3 = 33, 100 * 2 // 3 = 66: 99, the missing 1 on the largest share → 67
    assert xero.spread_proportionally([1, 2], 100) == [33, 67]
    assert sum(xero.spread_proportionally([333, 333, 334], 101)) == 101
    assert xero.spread_proportionally([0, 0], 0) == [0, 0]


def test_invoice_lines_add_up_to_the_total() -> None:
    invoice = samples.invoice("c-1")
    lines = [
        *ledger.invoice_fee_lines(invoice, 4),
        *ledger.invoice_deduction_lines(invoice),
    ]
    tax = ledger.tax_line(dict(invoice.mappings), invoice.taxes_amount_cents, invoice.currency)
    assert tax is not None
    # 1050 + 1543 - 300 - 100 - 52 + 459 = 2600
    assert [line.amount_cents for line in [*lines, tax]] == [1050, 1543, -300, -100, -52, 459]
    ledger.check_total([*lines, tax], 0, 2600, "invoice")


def test_a_snapshot_that_does_not_add_up_is_refused() -> None:
    invoice = replace(samples.invoice("c-1"), total_amount_cents=2601)
    with pytest.raises(ProviderError) as err:
        qbo.invoice_payload(invoice, "58")
    assert err.value.code == "amounts_mismatch"
    assert err.value.details == {"lines_total_cents": 2600, "total_amount_cents": 2601}
    with pytest.raises(ProviderError):
        xero.invoice_line_items(replace(invoice, mappings=samples.XERO_MAPPINGS))


def test_a_missing_deduction_or_tax_mapping_names_it() -> None:
    invoice = samples.invoice("c-1")
    for key, label in (("coupon", "Coupons"), ("tax", "Taxes"), ("prepaid_credit", "Prepaid credits")):
        mappings = {k: v for k, v in invoice.mappings.items() if k != key}
        with pytest.raises(ProviderError) as err:
            qbo.invoice_payload(replace(invoice, mappings=mappings), "58")
        assert (err.value.code, err.value.details) == ("missing_mapping", {"line": label})
    # no taxes: no tax mapping needed (Xero sends its NONE tax type)
    untaxed = replace(
        invoice,
        taxes_amount_cents=0,
        total_amount_cents=2141,
        mappings={k: v for k, v in samples.XERO_MAPPINGS.items() if k != "tax"},
    )
    lines = [replace(line, taxes_amount_cents=0) for line in untaxed.lines]
    items = xero.invoice_line_items(replace(untaxed, lines=tuple(lines)))
    assert {item.tax_type for item in items} == {"NONE"}


def test_names_and_query_literals() -> None:
    assert qbo.display_name(samples.customer(name="Acme: EU")) == "Acme- EU (acme-1)"
    assert qbo.query_literal("O'Brien (x)") == "'O\\'Brien (x)'"
    assert xero.contact_name(samples.customer()) == "Acme Corp (acme-1)"
    assert qbo.error_code(6240) == "duplicate_name" and qbo.error_code(6999) == "quickbooks_6999"


def test_idempotency_keys_are_stable_and_content_bound() -> None:
    one = xero.idempotency_key("org", "books", "invoice", "inv-1", {"a": 1})
    assert one == xero.idempotency_key("org", "books", "invoice", "inv-1", {"a": 1})
    assert one != xero.idempotency_key("org", "books", "invoice", "inv-1", {"a": 2})
    assert one != xero.idempotency_key("other", "books", "invoice", "inv-1", {"a": 1})
    assert len(one) <= 128


def test_payment_account_mapping_is_required() -> None:
    payment = replace(samples.payment("c-1", "x-1"), mappings={"fallback_item": ItemMapping("1")})
    with pytest.raises(ProviderError) as err:
        xero.payment(payment, "x-1")
    assert err.value.code == "missing_mapping"


def test_a_credit_note_takes_back_the_coupons_its_lines_carried() -> None:
    """Credited 500 + 500 of fees that carried 300 of coupons: subtotal 1000 - 300 = 700, taxes 20 % =
    140, total 840. QuickBooks: the lines 5.00 + 5.00, a 3.00 discount, 1.40 of taxes (= 8.40); Xero:
    the taxes over the credited lines (70 + 70), the coupons' line without tax: 5 + 5 - 3 + 1.40 = 8.40."""
    note = replace(
        samples.credit_note("cus-1", "inv-1"),
        sub_total_excluding_taxes_amount_cents=700,
        taxes_amount_cents=140,
        total_amount_cents=840,
        credit_amount_cents=840,
        coupons_adjustment_amount_cents=300,
    )
    [coupon] = ledger.credit_note_deduction_lines(note)
    assert (coupon.kind, coupon.amount_cents, coupon.amount, coupon.mapping.external_id) == (
        "coupon",
        -300,
        Decimal("-3.00"),
        "2",
    )
    memo = json.loads(qbo.dumps(qbo.credit_memo_payload(note, "58")))
    assert [(line["DetailType"], line["Amount"]) for line in memo["Line"]] == [
        ("SalesItemLineDetail", 5.0),
        ("SalesItemLineDetail", 5.0),
        ("DiscountLineDetail", 3.0),
        ("SalesItemLineDetail", 1.4),
    ]
    items = xero.credit_note_line_items(replace(note, mappings=samples.XERO_MAPPINGS))
    assert [(i.line_amount, i.tax_amount) for i in items] == [
        (Decimal("5.00"), Decimal("0.70")),
        (Decimal("5.00"), Decimal("0.70")),
        (Decimal("-3.00"), Decimal("0.00")),
    ]
    without = replace(note, mappings={k: v for k, v in note.mappings.items() if k != "coupon"})
    with pytest.raises(ProviderError) as refused:
        ledger.credit_note_deduction_lines(without)
    assert refused.value.code == "missing_mapping"
