"""``/app/invoices/{id}/credit_notes/new``: issuing a credit note from an invoice's page (the service of
``POST /credit_notes``), its estimate (``POST /credit_notes/estimate``), refusals, roles and tenancy.

The invoice: one add-on fee of 100.00 EUR, the customer's tax ``vat`` at 20 %: taxes 20.00, total
120.00."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from billow.models.credit_notes import CreditNote
from tests.conftest import Api
from tests.dashboard.billing_world import BillingWorld
from tests.dashboard.test_billing_pages_markup import check
from tests.fixtures.pages import Pages

Sign = Callable[..., Pages]


@pytest.fixture
def world(app: FastAPI, api: Api) -> Iterator[BillingWorld]:
    yield BillingWorld(app, api)
    app.dependency_overrides.clear()


def taxed_invoice(world: BillingWorld, customer: str = "acme-1") -> dict[str, Any]:
    if world.api.get("/taxes/vat").status_code != 200:
        world.ok(world.api.post("/taxes", json={"tax": {"code": "vat", "name": "VAT", "rate": "20"}}))
    world.customer(customer, tax_codes=["vat"])
    invoice = world.one_off_invoice(customer, 10000)
    assert (invoice["status"], invoice["fees_amount_cents"], invoice["taxes_amount_cents"]) == (
        "finalized",
        10000,
        2000,
    )
    assert invoice["total_amount_cents"] == 12000
    return invoice


def notes_count(app: FastAPI) -> int:
    with app.state.sessionmaker() as session:
        return int(session.scalar(select(func.count()).select_from(CreditNote)) or 0)


def fee_field(invoice: dict[str, Any]) -> str:
    [fee] = invoice["fees"]
    return f"fee_{fee['lago_id']}"


class TestIssue:
    def test_link_and_form(self, world: BillingWorld, pages_as: Sign) -> None:
        invoice = taxed_invoice(world)
        pages = pages_as("admin")
        shown = pages.get(f"/app/invoices/{invoice['lago_id']}").text
        assert f'href="/app/invoices/{invoice["lago_id"]}/credit_notes/new">Issue a credit note</a>' in shown
        form = pages.get(f"/app/invoices/{invoice['lago_id']}/credit_notes/new")
        assert form.status_code == 200
        assert f'name="{fee_field(invoice)}"' in form.text
        assert '<option value="fraudulent_charge">Fraudulent charge</option>' in form.text
        assert '<option value="other" selected>Other</option>' in form.text
        # Not paid: no refund field.
        assert 'name="refund_amount"' not in form.text
        # A viewer does not see the link.
        viewer_page = pages_as("viewer").get(f"/app/invoices/{invoice['lago_id']}").text
        assert "Issue a credit note" not in viewer_page

    def test_estimate(self, world: BillingWorld, pages_as: Sign, app: FastAPI) -> None:
        invoice = taxed_invoice(world)
        pages = pages_as("admin")
        # 50.00 of the 100.00 fee: taxes 50.00 x 20 % = 10.00; total 50.00 + 10.00 = 60.00.
        answer = pages.post(
            f"/app/invoices/{invoice['lago_id']}/credit_notes/estimate", {fee_field(invoice): "50.00"}
        )
        assert answer.status_code == 200, answer.text
        text = " ".join(answer.text.split())
        assert '<th scope="row">Subtotal excluding taxes</th><td class="num">50.00 EUR</td>' in text
        assert '<th scope="row">Taxes</th><td class="num">10.00 EUR</td>' in text
        assert "<strong>60.00 EUR</strong>" in text
        # Not paid: nothing refundable.
        assert '<th scope="row">Most refundable</th><td class="num">0.00 EUR</td>' in text
        assert notes_count(app) == 0

    def test_create(self, world: BillingWorld, pages_as: Sign) -> None:
        invoice = taxed_invoice(world)
        pages = pages_as("admin")
        form = {
            fee_field(invoice): "50.00",
            "reason": "order_change",
            "description": "Half the setup",
            "credit_amount": "60.00",
        }
        answer = pages.post(f"/app/invoices/{invoice['lago_id']}/credit_notes", form)
        assert answer.status_code == 303, answer.text
        [note] = world.api.get("/credit_notes").json()["credit_notes"]
        assert answer.headers["location"].startswith(f"/app/credit_notes/{note['lago_id']}?flash=")
        # 5000 + 20 % = 5000 + 1000 = 6000, all credited to the balance.
        assert (
            note["sub_total_excluding_taxes_amount_cents"],
            note["taxes_amount_cents"],
            note["total_amount_cents"],
            note["credit_amount_cents"],
            note["balance_amount_cents"],
            note["refund_amount_cents"],
        ) == (5000, 1000, 6000, 6000, 6000, 0)
        assert (note["reason"], note["description"]) == ("order_change", "Half the setup")
        assert [(i["fee"]["lago_id"], i["amount_cents"]) for i in note["items"]] == [
            (invoice["fees"][0]["lago_id"], 5000)
        ]
        shown = pages.get(f"/app/credit_notes/{note['lago_id']}").text
        assert "60.00 EUR" in shown

    def test_credit_and_refund_of_a_paid_invoice(self, world: BillingWorld, pages_as: Sign) -> None:
        invoice = taxed_invoice(world)
        payment = {"invoice_id": invoice["lago_id"], "amount_cents": 12000, "reference": "wire-1"}
        world.ok(world.api.post("/payments", json={"payment": payment}))
        pages = pages_as("finance")
        form_page = pages.get(f"/app/invoices/{invoice['lago_id']}/credit_notes/new")
        assert 'name="refund_amount"' in form_page.text
        # The whole fee: 100.00 + 20.00 = 120.00, split 20.00 credit + 100.00 refund.
        form = {fee_field(invoice): "100", "credit_amount": "20", "refund_amount": "100.00"}
        answer = pages.post(f"/app/invoices/{invoice['lago_id']}/credit_notes", form)
        assert answer.status_code == 303, answer.text
        [note] = world.api.get("/credit_notes").json()["credit_notes"]
        assert (note["total_amount_cents"], note["credit_amount_cents"], note["refund_amount_cents"]) == (
            12000,
            2000,
            10000,
        )
        assert note["refund_status"] == "pending"


class TestRefusals:
    def test_more_than_the_fee(self, world: BillingWorld, pages_as: Sign, app: FastAPI) -> None:
        invoice = taxed_invoice(world)
        pages = pages_as("admin")
        form = {fee_field(invoice): "100.01", "reason": "other", "credit_amount": "120.01"}
        answer = pages.post(f"/app/invoices/{invoice['lago_id']}/credit_notes", form)
        assert answer.status_code == 422
        assert "higher_than_remaining_fee_amount" in answer.text
        assert 'value="100.01"' in answer.text  # the form keeps what was typed
        check(answer.text, "refused credit note")
        estimate = pages.post(f"/app/invoices/{invoice['lago_id']}/credit_notes/estimate", form)
        # The fragment carries the refusal with status 200: htmx 2 does not swap a 4xx answer.
        assert estimate.status_code == 200
        refusal = "Cannot estimate: higher_than_remaining_fee_amount (<code>amount_cents</code>)"
        assert refusal in estimate.text
        assert notes_count(app) == 0

    def test_more_than_the_items(self, world: BillingWorld, pages_as: Sign, app: FastAPI) -> None:
        invoice = taxed_invoice(world)
        pages = pages_as("admin")
        # 50.00 of the fee is 60.00 with taxes; 70.00 asked.
        form = {fee_field(invoice): "50", "reason": "other", "credit_amount": "70"}
        answer = pages.post(f"/app/invoices/{invoice['lago_id']}/credit_notes", form)
        assert answer.status_code == 422
        assert "does_not_match_item_amounts" in answer.text
        assert notes_count(app) == 0

    def test_refund_of_an_unpaid_invoice_and_bad_amounts(
        self, world: BillingWorld, pages_as: Sign, app: FastAPI
    ) -> None:
        invoice = taxed_invoice(world)
        pages = pages_as("admin")
        url = f"/app/invoices/{invoice['lago_id']}/credit_notes"
        refund = {fee_field(invoice): "50", "reason": "other", "refund_amount": "60"}
        answer = pages.post(url, refund)
        assert answer.status_code == 422
        assert "cannot_refund_unpaid_invoice" in answer.text
        typo = pages.post(url, {fee_field(invoice): "50.001", "reason": "other", "credit_amount": "60"})
        assert typo.status_code == 422
        assert f'id="e-{fee_field(invoice)}">value_is_invalid' in typo.text
        reason = pages.post(url, {fee_field(invoice): "50", "reason": "bored", "credit_amount": "60"})
        assert reason.status_code == 422
        assert 'id="e-reason">value_is_invalid' in reason.text
        assert notes_count(app) == 0

    @pytest.mark.usefixtures("bill_backdated_periods")
    def test_draft_invoice(self, world: BillingWorld, pages_as: Sign, app: FastAPI) -> None:
        from tests.dashboard.test_invoices_pages import draft

        invoice = draft(world)
        pages = pages_as("admin")
        assert "Issue a credit note" not in pages.get(f"/app/invoices/{invoice['lago_id']}").text
        answer = pages.post(f"/app/invoices/{invoice['lago_id']}/credit_notes", {"credit_amount": "1"})
        assert answer.status_code == 422
        assert "invalid_type_or_status" in answer.text
        assert notes_count(app) == 0


class TestAccess:
    def test_viewer_is_refused(self, world: BillingWorld, pages_as: Sign, app: FastAPI) -> None:
        invoice = taxed_invoice(world)
        pages = pages_as("viewer")
        base = f"/app/invoices/{invoice['lago_id']}/credit_notes"
        form = {fee_field(invoice): "50", "reason": "other", "credit_amount": "60"}
        assert pages.get(f"{base}/new").status_code == 403
        assert pages.post(base, form).status_code == 403
        assert pages.post(f"{base}/estimate", form).status_code == 403
        assert notes_count(app) == 0

    def test_another_organizations_invoice(
        self, world: BillingWorld, pages_as: Sign, other_api: Api, app: FastAPI
    ) -> None:
        invoice = taxed_invoice(world)
        pages = pages_as("admin", other_api.organization)
        base = f"/app/invoices/{invoice['lago_id']}/credit_notes"
        form = {fee_field(invoice): "50", "reason": "other", "credit_amount": "60"}
        assert pages.get(f"{base}/new").status_code == 404
        assert pages.post(base, form).status_code == 404
        assert pages.post(f"{base}/estimate", form).status_code == 404
        assert notes_count(app) == 0
