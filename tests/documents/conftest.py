"""A customer with a rich one-off invoice, built through the API: two add-ons under two tax rates (20 % and
5.5 %), a 50.00 coupon, a 30.00 credit note available from an earlier invoice and 10.00 of wallet credits."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api

CUSTOMER = {
    "external_id": "cus_doc",
    "name": "Zoë Ångström & Søn",
    "email": "billing@zoe.example",
    "address_line1": "12 rue de l'Église",
    "city": "Besançon",
    "zipcode": "25000",
    "country": "FR",
    "tax_identification_number": "FR40303265045",
    "currency": "EUR",
}


def create_catalog(api: Api, locale: str | None = None) -> None:
    customer = dict(CUSTOMER)
    if locale:
        customer["billing_configuration"] = {"document_locale": locale}
    for code, rate in (("vat20", "20"), ("vat55", "5.5")):
        assert (
            api.post("/taxes", {"tax": {"name": f"VAT {rate}", "code": code, "rate": rate}}).status_code
            == 200
        )
    assert api.post("/customers", {"customer": customer}).status_code == 200
    for code, name, cents, tax in (
        ("setup", "Onboarding — Setup", 100000, "vat20"),
        ("books", "Livres numériques", 20000, "vat55"),
        ("audit", "Audit", 5000, "vat20"),
    ):
        answer = api.post(
            "/add_ons",
            {
                "add_on": {
                    "code": code,
                    "name": name,
                    "amount_cents": cents,
                    "amount_currency": "EUR",
                    "tax_codes": [tax],
                }
            },
        )
        assert answer.status_code == 200, answer.json()


def one_off(api: Api, *codes: str) -> dict[str, Any]:
    answer = api.post(
        "/invoices",
        {
            "invoice": {
                "external_customer_id": "cus_doc",
                "currency": "EUR",
                "fees": [{"add_on_code": c} for c in codes],
            }
        },
    )
    assert answer.status_code == 200, answer.json()
    return dict(answer.json()["invoice"])


def rich_invoice(api: Api) -> dict[str, Any]:
    """The first invoice (audit, 50.00 + 20 %) is credited 30.00 to the customer's balance; then a coupon
    of 50.00 and a wallet of 10.00 granted credits; the second invoice (setup + books) takes all three."""
    first = one_off(api, "audit")
    note = api.post(
        "/credit_notes",
        {
            "credit_note": {
                "invoice_id": first["lago_id"],
                "reason": "other",
                "credit_amount_cents": 3000,
                "refund_amount_cents": 0,
                "items": [{"fee_id": first["fees"][0]["lago_id"], "amount_cents": 2500}],
            }
        },
    )
    assert note.status_code == 200, note.json()
    coupon = {
        "coupon": {
            "name": "Welcome",
            "code": "welcome",
            "coupon_type": "fixed_amount",
            "amount_cents": 5000,
            "amount_currency": "EUR",
            "frequency": "once",
            "expiration": "no_expiration",
        }
    }
    assert api.post("/coupons", coupon).status_code == 200
    applied = {"applied_coupon": {"external_customer_id": "cus_doc", "coupon_code": "welcome"}}
    assert api.post("/applied_coupons", applied).status_code == 200
    wallet = {
        "wallet": {
            "external_customer_id": "cus_doc",
            "currency": "EUR",
            "rate_amount": "1",
            "granted_credits": "10",
            "paid_credits": "0",
        }
    }
    answer = api.post("/wallets", wallet)
    assert answer.status_code == 200, answer.json()
    return one_off(api, "setup", "books")


@pytest.fixture
def invoice(api: Api) -> dict[str, Any]:
    create_catalog(api)
    return rich_invoice(api)


@pytest.fixture(autouse=True)
def generate_documents(monkeypatch: pytest.MonkeyPatch) -> None:
    """Documents are rendered after finalization here (the rest of the suite turns it off)."""
    monkeypatch.setenv("BILLOW_GENERATE_DOCUMENTS", "true")
