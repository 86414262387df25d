"""``/app/invoices`` and ``/app/credit_notes``: filters, an invoice's lines and totals, its actions
(PDF, finalize, refresh, void, record a payment), credit notes (void), roles and tenancy."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI

from tests.conftest import Api
from tests.dashboard.billing_world import BillingWorld
from tests.fixtures.pages import Pages

# The subscriptions start in March 2024 on the frozen clock: bill those periods.
pytestmark = pytest.mark.usefixtures("bill_backdated_periods")

Sign = Callable[..., Pages]


@pytest.fixture
def world(app: FastAPI, api: Api) -> Iterator[BillingWorld]:
    yield BillingWorld(app, api)
    app.dependency_overrides.clear()


def invoice_of(api: Api, lago_id: str) -> dict[str, Any]:
    body: dict[str, Any] = api.get(f"/invoices/{lago_id}").json()["invoice"]
    return body


def draft(world: BillingWorld) -> dict[str, Any]:
    """A draft: the termination invoice of a subscription whose customer has a 3-day grace period."""
    metric = world.metric()
    world.plan(metrics=[metric])
    world.customer(billing_configuration={"invoice_grace_period": 3})
    world.subscribe()
    world.event("t1", "2024-03-02T10:00:00Z", tokens=1000)
    world.ok(world.api.delete("/subscriptions/sub-1"))
    [invoice] = world.api.get("/invoices").json()["invoices"]
    assert invoice["status"] == "draft"
    return invoice


class TestList:
    def test_filters(self, world: BillingWorld, pages_as: Sign) -> None:
        world.customer("acme-1")
        world.customer("globex-7", name="Globex")
        first = world.one_off_invoice("acme-1", 125000)
        second = world.one_off_invoice("globex-7", 2000)
        world.ok(
            world.api.post(
                "/payments",
                json={
                    "payment": {"invoice_id": second["lago_id"], "amount_cents": 2000, "reference": "wire-1"}
                },
            )
        )
        pages = pages_as("viewer")

        def numbers(**params: str) -> set[str]:
            html = pages.get("/app/invoices", params=params).text
            return {n for n in (first["number"], second["number"]) if f">{n}</a>" in html}

        both = {first["number"], second["number"]}
        assert numbers() == both
        assert numbers(external_customer_id="acme-1") == {first["number"]}
        assert numbers(payment_status="succeeded") == {second["number"]}
        assert numbers(payment_status="pending") == {first["number"]}
        assert numbers(status="finalized") == both
        assert numbers(status="draft") == set()
        assert numbers(number=first["number"]) == {first["number"]}
        today = first["issuing_date"]
        assert numbers(issuing_date_from=today, issuing_date_to=today) == both
        assert numbers(issuing_date_to="2000-01-01") == set()
        html = pages.get("/app/invoices", params={"external_customer_id": "acme-1"}).text
        assert '<td class="num">1,250.00 EUR</td>' in html

    def test_an_invalid_filter_is_shown(self, pages_as: Sign) -> None:
        response = pages_as("viewer").get("/app/invoices", params={"status": "lost"})
        assert response.status_code == 422
        assert 'id="e-status">value_is_invalid<' in response.text


class TestDetail:
    def test_lines_and_totals(self, world: BillingWorld, pages_as: Sign) -> None:
        made = world.standard()
        world.ok(world.api.delete("/subscriptions/sub-1"))  # billed now: plan fee and usage
        [invoice] = world.api.get("/invoices").json()["invoices"]
        html = pages_as("viewer").get(f"/app/invoices/{invoice['lago_id']}").text
        assert html.count("<h1>") == 1
        assert f"Invoice {invoice['number']}" in html
        assert '<td class="num">1,250</td>' in html  # units
        assert '<td class="num">1,250.00 EUR</td>' in html  # the usage line
        assert f"<strong>{invoice['total_amount_cents'] / 100:,.2f} EUR</strong>" in html
        assert f'href="/app/customers/{made["customer"]["lago_id"]}"' in html
        assert "PDF not generated (documents are switched off)." in html

    def test_generate_the_pdf(
        self, world: BillingWorld, pages_as: Sign, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        world.customer()
        invoice = world.one_off_invoice()
        pages = pages_as("finance")
        url = f"/app/invoices/{invoice['lago_id']}"
        monkeypatch.setenv("BILLOW_GENERATE_DOCUMENTS", "true")
        assert "Generate PDF" in pages.get(url).text
        assert pages.post(f"{url}/documents").status_code == 303
        html = pages.get(url).text
        assert "Download PDF" in html
        assert invoice_of(world.api, invoice["lago_id"])["file_url"] is not None


class TestPayments:
    def test_partial_then_too_much(self, world: BillingWorld, pages_as: Sign) -> None:
        world.customer()
        invoice = world.one_off_invoice(amount_cents=125000)
        pages = pages_as("finance")
        url = f"/app/invoices/{invoice['lago_id']}"
        assert "Up to 1,250.00 EUR" in pages.get(url).text
        # "1,000.00" or "49,50" is refused (a comma is a decimal point in much of Europe), not guessed.
        grouped = pages.post(f"{url}/payments", {"amount": "1,000.00", "reference": "wire-1"})
        assert grouped.status_code == 422
        assert 'id="e-amount">value_is_invalid<' in grouped.text
        three = pages.post(f"{url}/payments", {"amount": "1000.001", "reference": "wire-1"})
        assert 'id="e-amount">value_is_invalid<' in three.text
        partial = pages.post(f"{url}/payments", {"amount": "1000.00", "reference": "wire-1"})
        assert partial.status_code == 303
        after = invoice_of(world.api, invoice["lago_id"])
        assert (after["total_paid_amount_cents"], after["total_due_amount_cents"]) == (100000, 25000)
        html = pages.get(url).text
        assert "wire-1" in html and "Up to 250.00 EUR" in html
        too_much = pages.post(f"{url}/payments", {"amount": "300", "reference": "wire-2"})
        assert too_much.status_code == 422
        assert 'id="e-amount">invalid_amount<' in too_much.text
        assert 'value="300"' in too_much.text
        assert invoice_of(world.api, invoice["lago_id"])["total_paid_amount_cents"] == 100000
        rest = pages.post(
            f"{url}/payments", {"amount": "250", "reference": "wire-2", "paid_at": "2024-03-10"}
        )
        assert rest.status_code == 303
        assert invoice_of(world.api, invoice["lago_id"])["payment_status"] == "succeeded"

    def test_form_errors(self, world: BillingWorld, pages_as: Sign) -> None:
        world.customer()
        invoice = world.one_off_invoice()
        pages = pages_as("finance")
        url = f"/app/invoices/{invoice['lago_id']}/payments"
        not_money = pages.post(url, {"amount": "1.005", "reference": "r"})
        assert not_money.status_code == 422 and 'id="e-amount">value_is_invalid<' in not_money.text
        no_reference = pages.post(url, {"amount": "1"})
        assert no_reference.status_code == 422 and 'id="e-reference">value_is_mandatory<' in no_reference.text
        assert world.api.get("/payments").json()["payments"] == []


class TestActions:
    def test_refresh_and_finalize_a_draft(self, world: BillingWorld, pages_as: Sign) -> None:
        invoice = draft(world)
        pages = pages_as("finance")
        url = f"/app/invoices/{invoice['lago_id']}"
        html = pages.get(url).text
        assert "A draft has no PDF." in html and ">Finalize<" in html and ">Refresh<" in html
        world.event("t2", "2024-03-03T10:00:00Z", tokens=500)
        assert pages.post(f"{url}/refresh").status_code == 303
        assert (
            invoice_of(world.api, invoice["lago_id"])["fees_amount_cents"]
            == invoice["fees_amount_cents"] + 50000
        )
        assert pages.post(f"{url}/finalize").status_code == 303
        assert invoice_of(world.api, invoice["lago_id"])["status"] == "finalized"
        again = pages.post(f"{url}/finalize")  # not a draft any more: Lago's 404, shown on the page
        assert again.status_code == 422 and "invoice_not_found" in again.text

    def test_void(self, world: BillingWorld, pages_as: Sign) -> None:
        world.customer()
        invoice = world.one_off_invoice()
        pages = pages_as("finance")
        assert pages.post(f"/app/invoices/{invoice['lago_id']}/void").status_code == 303
        assert invoice_of(world.api, invoice["lago_id"])["status"] == "voided"
        again = pages.post(f"/app/invoices/{invoice['lago_id']}/void")
        assert again.status_code == 422 and "not_voidable" in again.text


class TestCreditNotes:
    def test_list_detail_void(self, world: BillingWorld, pages_as: Sign) -> None:
        world.customer()
        invoice = world.one_off_invoice(amount_cents=125000)
        note = world.credit_note(invoice, 5000)
        pages = pages_as("finance")
        listed = pages.get("/app/credit_notes").text
        assert f">{note['number']}</a>" in listed and '<td class="num">50.00 EUR</td>' in listed
        url = f"/app/credit_notes/{note['lago_id']}"
        html = pages.get(url).text
        assert "50.00 EUR (50.00 EUR left)" in html and "Void the remaining credit" in html
        assert pages.post(f"{url}/void").status_code == 303
        after = world.api.get(f"/credit_notes/{note['lago_id']}").json()["credit_note"]
        assert after["credit_status"] == "voided"


class TestRolesAndTenancy:
    def test_a_viewer_changes_nothing(self, world: BillingWorld, pages_as: Sign) -> None:
        world.customer()
        invoice = world.one_off_invoice()
        note = world.credit_note(invoice, 1000)
        pages = pages_as("viewer")
        url = f"/app/invoices/{invoice['lago_id']}"
        for path, data in [
            (f"{url}/finalize", {}),
            (f"{url}/refresh", {}),
            (f"{url}/void", {}),
            (f"{url}/documents", {}),
            (f"{url}/payments", {"amount": "1", "reference": "r"}),
            (f"/app/credit_notes/{note['lago_id']}/void", {}),
        ]:
            assert pages.post(path, data).status_code == 403, path
        html = pages.get(url).text
        assert "Record a payment" not in html and ">Void<" not in html
        after = invoice_of(world.api, invoice["lago_id"])
        assert (after["status"], after["total_paid_amount_cents"]) == ("finalized", 0)

    def test_another_organization_gets_404(self, world: BillingWorld, pages_as: Sign, other_api: Api) -> None:
        world.customer()
        invoice = world.one_off_invoice()
        note = world.credit_note(invoice, 1000)
        pages = pages_as("admin", other_api.organization)
        url = f"/app/invoices/{invoice['lago_id']}"
        assert pages.get(url).status_code == 404
        assert pages.post(f"{url}/void").status_code == 404
        assert pages.post(f"{url}/payments", {"amount": "1", "reference": "r"}).status_code == 404
        assert pages.get(f"/app/credit_notes/{note['lago_id']}").status_code == 404
        assert pages.post(f"/app/credit_notes/{note['lago_id']}/void").status_code == 404
        assert invoice["number"] not in pages.get("/app/invoices").text
        assert note["number"] not in pages.get("/app/credit_notes").text
        assert invoice_of(world.api, invoice["lago_id"])["status"] == "finalized"
