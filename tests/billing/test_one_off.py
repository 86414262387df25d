"""One-off invoices: ``POST /invoices`` (:mod:`billow.billing.one_off`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select

from billow.billing.one_off import fee_amount_cents, fee_precise_amount_cents, parse_units
from billow.models.customers import Customer
from billow.models.invoices import AppliedTax, Fee, Invoice
from tests.conftest import Api, Clock

# ------------------------------------------------------------------------------------------ helpers


def create_customer(api: Api, external_id: str = "cus_1", **fields: Any) -> dict:
    response = api.post(
        "/customers", json={"customer": {"external_id": external_id, "name": "Ann", **fields}}
    )
    assert response.status_code == 200, response.text
    return response.json()["customer"]


def create_tax(api: Api, code: str, rate: str, **fields: Any) -> dict:
    body = {"tax": {"name": code.upper(), "code": code, "rate": rate, **fields}}
    response = api.post("/taxes", json=body)
    assert response.status_code == 200, response.text
    return response.json()["tax"]


def create_add_on(api: Api, code: str = "setup", amount_cents: int = 1234, **fields: Any) -> dict:
    body = {
        "add_on": {
            "name": code.title(),
            "code": code,
            "amount_cents": amount_cents,
            "amount_currency": "EUR",
            **fields,
        }
    }
    response = api.post("/add_ons", json=body)
    assert response.status_code == 200, response.text
    return response.json()["add_on"]


def one_off(api: Api, fees: Any, *, customer: str = "cus_1", **fields: Any) -> Any:
    return api.post(
        "/invoices",
        json={"invoice": {"external_customer_id": customer, "currency": "EUR", "fees": fees, **fields}},
    )


def created(api: Api, fees: Any, **fields: Any) -> dict:
    response = one_off(api, fees, **fields)
    assert response.status_code == 200, response.text
    return response.json()["invoice"]


def counts(api: Api) -> tuple[int, int, int]:
    """Invoices, fees and applied taxes in the database (every organization)."""
    sessionmaker = api.client.app.state.sessionmaker  # type: ignore[attr-defined]
    with sessionmaker() as session:
        return (
            session.scalar(select(func.count()).select_from(Invoice)) or 0,
            session.scalar(select(func.count()).select_from(Fee)) or 0,
            session.scalar(select(func.count()).select_from(AppliedTax)) or 0,
        )


def customer_currency(api: Api, external_id: str = "cus_1") -> str | None:
    sessionmaker = api.client.app.state.sessionmaker  # type: ignore[attr-defined]
    with sessionmaker() as session:
        return session.scalar(select(Customer.currency).where(Customer.external_id == external_id))


def error(response: Any, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()


# ------------------------------------------------------------------------------------------ pure rules


class TestAmounts:
    def test_amount_is_units_times_unit_amount_rounded_half_up(self) -> None:
        assert fee_amount_cents(1234, Decimal("2.5")) == 3085  # 1234 * 2.5 = 3085.0
        assert fee_amount_cents(1234, Decimal("2.25")) == 2777  # 1234 * 2.25 = 2776.5 -> 2777 (half up)
        assert fee_amount_cents(1001, Decimal("0.333")) == 333  # 1001 * 0.333 = 333.333 -> 333
        assert fee_amount_cents(1, Decimal("0.5")) == 1  # 0.5 -> 1
        assert fee_amount_cents(1, Decimal("0.49")) == 0  # 0.49 -> 0
        assert fee_amount_cents(0, Decimal(7)) == 0
        assert fee_amount_cents(1234, Decimal(0)) == 0

    def test_precise_amount_is_exact(self) -> None:
        assert fee_precise_amount_cents(1001, Decimal("0.333")) == Decimal("333.333")
        # 10^15 cents * 0.000000000000001 = 1 exactly
        assert fee_precise_amount_cents(10**15, Decimal("0.000000000000001")) == Decimal(1)

    @pytest.mark.parametrize(
        ("value", "units"),
        [
            (None, Decimal(1)),
            ("2.5", Decimal("2.5")),
            (2.5, Decimal("2.5")),
            (0.1, Decimal("0.1")),  # the float's shortest text, not its binary expansion
            (3, Decimal(3)),
            (" 4 ", Decimal(4)),
            (True, None),
            ("two", None),
            ("", None),
            ("NaN", None),
        ],
    )
    def test_units(self, value: Any, units: Decimal | None) -> None:
        assert parse_units(value) == units


# ------------------------------------------------------------------------------------------ API


class TestCreate:
    def test_lago_body_with_two_taxes(self, api: Api, clock: Clock) -> None:
        # 20:00 UTC is the next day in Tokyo: the issuing date is the customer's.
        clock.set("2024-03-10T20:00:00Z")
        customer = create_customer(api, timezone="Asia/Tokyo", net_payment_term=30)
        local = create_tax(api, "local", "8.5")
        vat = create_tax(api, "vat", "20")
        add_on = create_add_on(api, description="Onboarding")
        invoice = created(api, [{"add_on_code": "setup", "units": "2.5", "tax_codes": ["vat", "local"]}])

        # fee = 1234 * 2.5 = 3085; taxes 3085 * 20% = 617 and 3085 * 8.5% = 262.225 (262);
        # the fee's taxes 617 + 262.225 = 879.225 -> 879; total 3085 + 879 = 3964.
        [fee] = invoice.pop("fees")
        [tax_local, tax_vat] = invoice.pop("applied_taxes")
        assert invoice.pop("customer")["lago_id"] == customer["lago_id"]
        lago_id, created_at = invoice.pop("lago_id"), invoice.pop("created_at")
        assert created_at.endswith("Z") and invoice.pop("updated_at").endswith("Z")
        assert invoice == {
            "billing_entity_code": None,
            "sequential_id": 1,
            "number": invoice["number"],
            "purchase_order_number": None,
            "issuing_date": "2024-03-11",
            "payment_due_date": "2024-04-10",
            "net_payment_term": 30,
            "invoice_type": "one_off",
            "status": "finalized",
            "payment_status": "pending",
            "payment_dispute_lost_at": None,
            "payment_overdue": False,
            "currency": "EUR",
            "fees_amount_cents": 3085,
            "taxes_amount_cents": 879,
            "progressive_billing_credit_amount_cents": 0,
            "coupons_amount_cents": 0,
            "credit_notes_amount_cents": 0,
            "sub_total_excluding_taxes_amount_cents": 3085,
            "sub_total_including_taxes_amount_cents": 3964,
            "total_amount_cents": 3964,
            "total_due_amount_cents": 3964,
            "total_paid_amount_cents": 0,
            "total_offsetted_credit_note_amount_cents": 0,
            "prepaid_credit_amount_cents": 0,
            "prepaid_granted_credit_amount_cents": 0,
            "prepaid_purchased_credit_amount_cents": 0,
            "file_url": None,
            "xml_url": None,
            "web_url": None,
            "version_number": 4,
            "self_billed": False,
            "voided_at": None,
            "subscriptions": [],
            "billing_periods": [],
            "credits": [],
            "metadata": [],
            "applied_usage_thresholds": [],
            "applied_invoice_custom_sections": [],
            "error_details": [],
        }
        assert invoice["number"].endswith("-001-001")
        assert fee == {
            "lago_id": fee["lago_id"],
            "lago_charge_id": None,
            "lago_charge_filter_id": None,
            "lago_fixed_charge_id": None,
            "lago_invoice_id": lago_id,
            "lago_true_up_fee_id": None,
            "lago_true_up_parent_fee_id": None,
            "lago_original_fee_id": None,
            "lago_subscription_id": None,
            "external_subscription_id": None,
            "lago_customer_id": customer["lago_id"],
            "external_customer_id": "cus_1",
            "item": {
                "type": "add_on",
                "code": "setup",
                "name": "Setup",
                "description": "Onboarding",
                "invoice_display_name": "Setup",
                "filters": None,
                "filter_invoice_display_name": None,
                "lago_item_id": add_on["lago_id"],
                "item_type": "AddOn",
                "grouped_by": {},
            },
            "pay_in_advance": False,
            "invoiceable": True,
            "amount_cents": 3085,
            "amount_currency": "EUR",
            "precise_amount": 30.85,
            "precise_total_amount": 39.64225,  # (3085 + 879.225) / 100
            "taxes_amount_cents": 879,
            "taxes_precise_amount": 8.79225,
            "taxes_rate": 28.5,
            "total_aggregated_units": "0.0",
            "total_amount_cents": 3964,
            "total_amount_currency": "EUR",
            "units": "2.5",
            "description": "Onboarding",
            "precise_unit_amount": "12.34",
            "precise_coupons_amount_cents": "0.0",
            "sub_total_excluding_taxes_amount_cents": 3085,
            "sub_total_excluding_taxes_precise_amount_cents": "3085.0",
            "events_count": 0,
            "payment_status": "pending",
            "created_at": fee["created_at"],
            "succeeded_at": None,
            "failed_at": None,
            "refunded_at": None,
            "amount_details": {},
            "self_billed": False,
            "pricing_unit_details": None,
            "presentation_breakdowns": [],
            "from_date": "2024-03-10T20:00:00Z",
            "to_date": "2024-03-10T20:00:00Z",
            "event_transaction_id": None,
            "applied_taxes": [],
        }
        assert tax_local == {
            "lago_id": tax_local["lago_id"],
            "lago_invoice_id": lago_id,
            "lago_tax_id": local["lago_id"],
            "tax_name": "LOCAL",
            "tax_code": "local",
            "tax_rate": 8.5,
            "tax_description": None,
            "amount_cents": 262,
            "amount_currency": "EUR",
            "fees_amount_cents": 3085,
            "created_at": tax_local["created_at"],
        }
        assert (tax_vat["lago_tax_id"], tax_vat["amount_cents"], tax_vat["fees_amount_cents"]) == (
            vat["lago_id"],
            617,
            3085,
        )
        assert api.get(f"/invoices/{lago_id}").json()["invoice"]["fees"][0]["item"]["type"] == "add_on"

    def test_defaults_and_overrides_per_line(self, api: Api, clock: Clock) -> None:
        clock.set("2024-03-10T12:00:00Z")
        create_customer(api)
        create_add_on(api, "setup", 1234, invoice_display_name="Setup (SF1)", description="Onboarding")
        create_add_on(api, "training", 10000)
        invoice = created(
            api,
            [
                {"add_on_code": "setup"},  # 1 unit at 1234
                {
                    "add_on_code": "training",
                    "units": 2.25,  # a JSON number, as lago-python-client sends it
                    "unit_amount_cents": 999,  # 999 * 2.25 = 2247.75 -> 2248
                    "description": "Two days and a quarter",
                    "invoice_display_name": "Training",
                    "from_datetime": "2024-03-01T00:00:00Z",
                    "to_datetime": "2024-03-03T06:00:00Z",
                },
            ],
        )
        setup, training = invoice["fees"]
        assert (setup["units"], setup["amount_cents"], setup["precise_unit_amount"]) == ("1.0", 1234, "12.34")
        assert setup["item"]["invoice_display_name"] == "Setup (SF1)"
        assert setup["description"] == "Onboarding"
        assert setup["from_date"] == setup["to_date"] == "2024-03-10T12:00:00Z"
        assert (training["units"], training["amount_cents"], training["precise_unit_amount"]) == (
            "2.25",
            2248,
            "9.99",
        )
        assert training["precise_amount"] == 22.4775
        assert training["item"]["invoice_display_name"] == "Training"
        assert training["description"] == "Two days and a quarter"
        assert (training["from_date"], training["to_date"]) == (
            "2024-03-01T00:00:00Z",
            "2024-03-03T06:00:00Z",
        )
        # 1234 + 2248 = 3482, no tax anywhere
        assert (
            invoice["fees_amount_cents"],
            invoice["taxes_amount_cents"],
            invoice["total_amount_cents"],
        ) == (
            3482,
            0,
            3482,
        )
        assert invoice["applied_taxes"] == []

    def test_shared_numbering(self, api: Api) -> None:
        create_customer(api)
        create_customer(api, "cus_2")
        create_add_on(api)
        first = created(api, [{"add_on_code": "setup"}])
        second = created(api, [{"add_on_code": "setup"}])
        other = created(api, [{"add_on_code": "setup"}], customer="cus_2")
        assert (first["sequential_id"], second["sequential_id"], other["sequential_id"]) == (1, 2, 1)
        assert first["number"].endswith("-001-001") and second["number"].endswith("-001-002")
        listed = api.get("/invoices", params={"invoice_type": "one_off"}).json()["invoices"]
        assert {i["lago_id"] for i in listed} == {first["lago_id"], second["lago_id"], other["lago_id"]}
        fees = api.get("/fees", params={"fee_type": "add_on"}).json()["fees"]
        assert len(fees) == 3 and {f["item"]["type"] for f in fees} == {"add_on"}

    def test_zero_total_is_paid_at_once(self, api: Api) -> None:
        create_customer(api)
        create_add_on(api)
        invoice = created(api, [{"add_on_code": "setup", "unit_amount_cents": 0}])
        assert (invoice["status"], invoice["payment_status"], invoice["total_amount_cents"]) == (
            "finalized",
            "succeeded",
            0,
        )
        assert invoice["fees"][0]["payment_status"] == "succeeded"

    def test_customer_without_currency_adopts_the_invoices(self, api: Api) -> None:
        create_customer(api)
        create_add_on(api)
        assert customer_currency(api) is None
        created(api, [{"add_on_code": "setup"}], currency="USD")
        assert customer_currency(api) == "USD"
        # Then the customer's currency is the default, and another one is refused.
        response = api.post(
            "/invoices",
            json={"invoice": {"external_customer_id": "cus_1", "fees": [{"add_on_code": "setup"}]}},
        )
        assert response.status_code == 200 and response.json()["invoice"]["currency"] == "USD"
        mismatch = one_off(api, [{"add_on_code": "setup"}], currency="EUR")
        assert error(mismatch, 422)["error_details"] == {"currency": ["currencies_does_not_match"]}


class TestTaxes:
    """Lago's order: the request's tax codes, else the add-on's, the customer's, the organization's."""

    def taxes_of(self, invoice: dict) -> list[tuple[str, int]]:
        return [(t["tax_code"], t["amount_cents"]) for t in invoice["applied_taxes"]]

    def test_hierarchy(self, api: Api) -> None:
        create_tax(api, "org", "10", applied_to_organization=True)
        create_tax(api, "cus", "5")
        create_tax(api, "addon", "20")
        create_tax(api, "explicit", "1")
        create_customer(api)
        create_customer(api, "cus_taxed", tax_codes=["cus"])
        create_add_on(api, "taxed", 1000, tax_codes=["addon"])
        create_add_on(api, "plain", 1000)

        # 1000 * 10% = 100: the organization's default.
        assert self.taxes_of(created(api, [{"add_on_code": "plain"}])) == [("org", 100)]
        # 1000 * 5% = 50: the customer's before the organization's.
        assert self.taxes_of(created(api, [{"add_on_code": "plain"}], customer="cus_taxed")) == [("cus", 50)]
        # 1000 * 20% = 200: the add-on's before the customer's.
        assert self.taxes_of(created(api, [{"add_on_code": "taxed"}], customer="cus_taxed")) == [
            ("addon", 200)
        ]
        # 1000 * 1% = 10: the request's before everything; an empty list is no choice.
        explicit = created(api, [{"add_on_code": "taxed", "tax_codes": ["explicit"]}], customer="cus_taxed")
        assert self.taxes_of(explicit) == [("explicit", 10)]
        empty = created(api, [{"add_on_code": "taxed", "tax_codes": []}], customer="cus_taxed")
        assert self.taxes_of(empty) == [("addon", 200)]

    def test_per_line_taxes_summed_per_tax(self, api: Api) -> None:
        create_tax(api, "vat", "20")
        create_tax(api, "reduced", "5.5")
        create_customer(api)
        create_add_on(api, "a", 1000, tax_codes=["vat"])
        create_add_on(api, "b", 333)
        invoice = created(
            api, [{"add_on_code": "a"}, {"add_on_code": "b", "units": "3", "tax_codes": ["vat", "reduced"]}]
        )
        # a: 1000, vat 200. b: 333 * 3 = 999, vat 199.8, reduced 54.945.
        # vat: 200 + 199.8 = 399.8 -> 400 on 1999; reduced 54.945 -> 55 on 999; taxes 454.745 -> 455.
        assert sorted(self.taxes_of(invoice)) == [("reduced", 55), ("vat", 400)]
        assert {t["tax_code"]: t["fees_amount_cents"] for t in invoice["applied_taxes"]} == {
            "vat": 1999,
            "reduced": 999,
        }
        assert (
            invoice["fees_amount_cents"],
            invoice["taxes_amount_cents"],
            invoice["total_amount_cents"],
        ) == (
            1999,
            455,
            2454,
        )
        assert [f["taxes_amount_cents"] for f in invoice["fees"]] == [200, 255]  # 199.8 + 54.945 = 254.745


class TestErrors:
    """Lago's answers, in Lago's order; nothing is written."""

    @pytest.fixture(autouse=True)
    def catalog(self, api: Api) -> None:
        create_customer(api)
        create_add_on(api)
        create_tax(api, "vat", "20")

    def assert_nothing_written(self, api: Api) -> None:
        assert counts(api) == (0, 0, 0)
        assert customer_currency(api) is None

    @pytest.mark.parametrize(
        ("body", "code"),
        [
            ({"external_customer_id": "nobody", "fees": [{"add_on_code": "setup"}]}, "customer_not_found"),
            ({"fees": [{"add_on_code": "setup"}]}, "customer_not_found"),
            ({"external_customer_id": "cus_1"}, "fees_not_found"),
            ({"external_customer_id": "cus_1", "fees": []}, "fees_not_found"),
            ({"external_customer_id": "cus_1", "fees": [{"add_on_code": "nope"}]}, "add_on_not_found"),
            ({"external_customer_id": "cus_1", "fees": [{"units": "1"}]}, "add_on_not_found"),
            (
                {
                    "external_customer_id": "cus_1",
                    "fees": [{"add_on_code": "setup"}, {"add_on_code": "nope"}],
                },
                "add_on_not_found",
            ),
            (
                {
                    "external_customer_id": "cus_1",
                    "currency": "EUR",
                    "fees": [{"add_on_code": "setup", "tax_codes": ["vat", "nope"]}],
                },
                "tax_not_found",
            ),
        ],
    )
    def test_not_found(self, api: Api, body: dict, code: str) -> None:
        response = api.post("/invoices", json={"invoice": {"currency": "EUR", **body}})
        assert error(response, 404) == {"status": 404, "error": "Not Found", "code": code}
        self.assert_nothing_written(api)

    @pytest.mark.parametrize(
        ("invoice", "details"),
        [
            ({"fees": [{"add_on_code": "setup"}]}, {"currency": ["value_is_mandatory"]}),
            ({"currency": "XYZ", "fees": [{"add_on_code": "setup"}]}, {"currency": ["value_is_invalid"]}),
            (
                {
                    "currency": "EUR",
                    "fees": [{"add_on_code": "setup", "from_datetime": "2024-01-01T00:00:00Z"}],
                },
                {"boundaries": ["values_are_invalid"]},
            ),
            (
                {
                    "currency": "EUR",
                    "fees": [
                        {"add_on_code": "setup", "from_datetime": "2024-02-01", "to_datetime": "2024-01-01"}
                    ],
                },
                {"boundaries": ["values_are_invalid"]},
            ),
            (
                {
                    "currency": "EUR",
                    "fees": [{"add_on_code": "setup", "from_datetime": "x", "to_datetime": "y"}],
                },
                {"boundaries": ["values_are_invalid"]},
            ),
            (
                {"currency": "EUR", "fees": [{"add_on_code": "setup", "units": "-1"}]},
                {"units": ["value_is_invalid"]},
            ),
            (
                {"currency": "EUR", "fees": [{"add_on_code": "setup", "units": "lots"}]},
                {"units": ["value_is_invalid"]},
            ),
            (
                {"currency": "EUR", "fees": [{"add_on_code": "setup", "units": "1e30"}]},
                {"units": ["value_is_out_of_range"]},
            ),
            (
                {
                    "currency": "EUR",
                    "fees": [{"add_on_code": "setup", "units": "1000000", "unit_amount_cents": 10**15}],
                },
                {"units": ["value_is_out_of_range"]},
            ),
            (
                {"currency": "EUR", "fees": [{"add_on_code": "setup", "unit_amount_cents": -1}]},
                {"unit_amount_cents": ["value_is_invalid"]},
            ),
        ],
    )
    def test_unprocessable(self, api: Api, invoice: dict, details: dict) -> None:
        response = api.post("/invoices", json={"invoice": {"external_customer_id": "cus_1", **invoice}})
        assert error(response, 422) == {
            "status": 422,
            "error": "Unprocessable Entity",
            "code": "validation_errors",
            "error_details": details,
        }
        self.assert_nothing_written(api)

    def test_an_error_on_a_later_line_writes_nothing(self, api: Api) -> None:
        response = one_off(api, [{"add_on_code": "setup"}, {"add_on_code": "setup", "tax_codes": ["nope"]}])
        assert error(response, 404)["code"] == "tax_not_found"
        self.assert_nothing_written(api)

    def test_missing_root_key(self, api: Api) -> None:
        assert api.post("/invoices", json={"fees": []}).status_code == 400


class TestTenancy:
    def test_other_organizations_objects_are_unknown(self, api: Api, other_api: Api) -> None:
        create_customer(api)
        create_add_on(api)
        create_tax(api, "vat", "20")
        invoice = created(api, [{"add_on_code": "setup"}])

        assert error(one_off(other_api, [{"add_on_code": "setup"}]), 404)["code"] == "customer_not_found"
        create_customer(other_api)
        assert error(one_off(other_api, [{"add_on_code": "setup"}]), 404)["code"] == "add_on_not_found"
        create_add_on(other_api)
        taxed = one_off(other_api, [{"add_on_code": "setup", "tax_codes": ["vat"]}])
        assert error(taxed, 404)["code"] == "tax_not_found"
        assert other_api.get(f"/invoices/{invoice['lago_id']}").status_code == 404
        assert other_api.get("/invoices").json()["invoices"] == []
        assert other_api.get("/fees").json()["fees"] == []


class TestDeductions:
    def test_a_coupon_then_taxes(self, api: Api) -> None:
        create_customer(api, currency="EUR")
        create_add_on(api, "setup", 1000)
        vat = create_tax(api, "vat", "20")
        response = api.post(
            "/coupons",
            json={
                "coupon": {
                    "name": "Once",
                    "code": "once",
                    "coupon_type": "fixed_amount",
                    "amount_cents": 300,
                    "amount_currency": "EUR",
                    "frequency": "once",
                    "expiration": "no_expiration",
                }
            },
        )
        assert response.status_code == 200, response.text
        applied = api.post(
            "/applied_coupons",
            json={"applied_coupon": {"external_customer_id": "cus_1", "coupon_code": "once"}},
        )
        assert applied.status_code == 200, applied.text
        invoice = created(api, [{"add_on_code": "setup", "units": 2, "tax_codes": [vat["code"]]}])
        # 2 x 1000 = 2000; the 300 coupon first: 1700 taxed 20 % = 340; total 2040.
        assert (
            invoice["fees_amount_cents"],
            invoice["coupons_amount_cents"],
            invoice["taxes_amount_cents"],
            invoice["total_amount_cents"],
        ) == (2000, 300, 340, 2040)
        assert [(c["item"]["type"], c["amount_cents"]) for c in invoice["credits"]] == [("coupon", 300)]
        # Consumed: the next one-off invoice pays in full.
        again = created(api, [{"add_on_code": "setup", "tax_codes": [vat["code"]]}])
        assert (again["coupons_amount_cents"], again["total_amount_cents"]) == (0, 1200)
