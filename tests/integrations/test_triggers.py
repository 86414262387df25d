"""What queues which job: customers linked to accounting/CRM integrations, invoices finalized, credit
notes created, payables announced, subscriptions started; an invoice synced twice exists once."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import FastAPI
from sqlalchemy import select

from billow.integrations import jobs
from billow.models.customers import Customer
from billow.models.integrations import Integration
from billow.providers.interface import PAYABLE_CREATED_HOOK, CustomerData, PayableData
from billow.worker.dispatch import run_hooks
from tests.conftest import Api
from tests.integrations.conftest import add_integration
from tests.integrations.providers import FakeProvider
from tests.integrations.test_jobs import job_list, paying_customer
from tests.mail.conftest import one_off_invoice


def linked_customer(api: Api, *codes: tuple[str, str]) -> dict[str, Any]:
    links = [
        {"integration_type": type_, "integration_code": code, "sync_with_provider": True}
        for type_, code in codes
    ]
    body = {"external_id": "cus_1", "name": "Ann", "currency": "EUR", "integration_customers": links}
    response = api.post("/customers", {"customer": body})
    assert response.status_code == 200, response.text
    return dict(response.json()["customer"])


class TestCustomers:
    def test_integration_customers_are_linked_synced_and_returned(self, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testbooks", "books", fake)
        add_integration(api, "testcrm", "crm", fake)
        linked_customer(api, ("testbooks", "books"), ("testcrm", "crm"))
        [books_customer, crm_customer] = fake.of_kind("customers")
        shown = api.get("/customers/cus_1").json()["customer"]["integration_customers"]
        assert [
            (c["type"], c["integration_code"], c["external_customer_id"], c["sync_with_provider"])
            for c in shown
        ] == [
            ("testbooks", "books", books_customer["id"], True),
            ("testcrm", "crm", crm_customer["id"], True),
        ]
        assert [j["operation"] for j in job_list(api, "books")] == ["sync_customer"]

    def test_an_unknown_integration_is_skipped(self, api: Api) -> None:
        body = {"external_id": "cus_1", "integration_customers": [{"integration_code": "nope"}]}
        response = api.post("/customers", {"customer": body})
        assert response.status_code == 200, response.text
        assert response.json()["customer"]["integration_customers"] == []


class TestInvoices:
    def test_synced_with_mappings_and_once(self, app: FastAPI, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testbooks", "books", fake)
        linked_customer(api, ("testbooks", "books"))
        api.post(
            "/integrations/books/mappings",
            {"integration_mapping": {"mapping_type": "fallback_item", "external_id": "FALLBACK"}},
        )
        invoice = one_off_invoice(api, 2500)
        [synced] = fake.of_kind("invoices")
        assert (synced["number"], synced["total"], synced["lines"]) == (
            invoice["number"],
            2500,
            [{"item": "FALLBACK", "amount": 2500}],
        )
        # Synced again (a retry, a resync): the provider's invoice is updated, not duplicated.
        with app.state.sessionmaker.begin() as session:
            integration = session.scalars(select(Integration).where(Integration.code == "books")).one()
            jobs.enqueue(session, integration, "sync_invoice", "invoice", uuid.UUID(invoice["lago_id"]))
        factory = app.state.dispatcher.session_factory
        for item in jobs.run_due(factory, jobs.utcnow()):
            jobs._run_item(factory, item, jobs.utcnow())
        assert len(fake.of_kind("invoices")) == 1
        assert len(fake.calls("POST", rf"/invoices/{synced['id']}")) == 1

    def test_credit_note_synced_with_the_invoice_id(self, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testbooks", "books", fake)
        linked_customer(api, ("testbooks", "books"))
        invoice = one_off_invoice(api, 2500)
        [synced] = fake.of_kind("invoices")
        fee = invoice["fees"][0]["lago_id"]
        response = api.post(
            "/credit_notes",
            {
                "credit_note": {
                    "invoice_id": invoice["lago_id"],
                    "reason": "other",
                    "credit_amount_cents": 1000,
                    "refund_amount_cents": 0,
                    "items": [{"fee_id": fee, "amount_cents": 1000}],
                }
            },
        )
        assert response.status_code == 200, response.text
        [note] = fake.of_kind("credit_notes")
        assert note["invoice"] == synced["id"]
        assert [j["operation"] for j in job_list(api, "books", operation="sync_credit_note")] == [
            "sync_credit_note"
        ]


class TestPayables:
    def test_a_payable_is_collected_from_its_snapshot(
        self, app: FastAPI, api: Api, fake: FakeProvider
    ) -> None:
        add_integration(api, "testpay", "pay", fake)
        customer = paying_customer(api)
        request_id = uuid.uuid4()
        with app.state.sessionmaker.begin() as session:
            row = session.scalars(select(Customer).where(Customer.external_id == "cus_1")).one()
            payable = PayableData(
                type="payment_request",
                id=str(request_id),
                description="Payment request of 2026-12-07",
                amount_cents=4200,
                currency="EUR",
                customer=CustomerData(id=str(row.id), external_id="cus_1", name="Ann"),
                invoice_ids=(str(uuid.uuid4()),),
            )
            run_hooks(
                session,
                PAYABLE_CREATED_HOOK,
                organization_id=row.organization_id,
                customer_id=row.id,
                payable=payable,
            )
        [job] = job_list(api, operation="create_payment")
        assert (job["object_type"], job["object_id"], job["status"]) == (
            "payment_request",
            str(request_id),
            "succeeded",
        )
        [payment] = fake.of_kind("payments")
        assert (payment["amount"], payment["customer"], payment["metadata"]["billow_payable_type"]) == (
            4200,
            api.get("/customers/cus_1").json()["customer"]["billing_configuration"]["provider_customer_id"],
            "payment_request",
        )
        assert customer["lago_id"] == str(row.id)


class TestSubscriptions:
    def test_a_started_subscription_is_synced_to_the_crm(self, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testcrm", "crm", fake)
        linked_customer(api, ("testcrm", "crm"))
        plan = {
            "name": "Starter",
            "code": "starter",
            "interval": "monthly",
            "amount_cents": 1000,
            "amount_currency": "EUR",
        }
        assert api.post("/plans", {"plan": plan}).status_code == 200
        body = {"external_customer_id": "cus_1", "plan_code": "starter", "external_id": "sub_1"}
        assert api.post("/subscriptions", {"subscription": body}).status_code == 200
        [deal] = fake.of_kind("deals")
        assert (deal["name"], deal["status"]) == ("sub_1", "active")
        assert api.delete("/subscriptions/sub_1").status_code == 200
        [deal] = fake.of_kind("deals")
        assert (deal["name"], deal["status"]) == ("sub_1", "terminated")


class TestRecordedPayments:
    def test_a_recorded_payment_is_synced_with_its_invoice_ids(
        self, app: FastAPI, api: Api, fake: FakeProvider
    ) -> None:
        add_integration(api, "testbooks", "books", fake)
        linked_customer(api, ("testbooks", "books"))
        invoice = one_off_invoice(api, 2500)
        [synced_invoice] = fake.of_kind("invoices")
        body = {"invoice_id": invoice["lago_id"], "amount_cents": 2500, "reference": "wire 42"}
        response = api.post("/payments", {"payment": body})
        assert response.status_code == 200, response.text
        payment_id = response.json()["payment"]["lago_id"]
        [job] = job_list(api, "books", operation="sync_payment")
        assert (job["status"], job["object_id"]) == ("succeeded", str(payment_id))
        [synced] = fake.of_kind("payments")
        assert (synced["amount"], synced["invoices"]) == (2500, [synced_invoice["id"]])


def test_an_installed_payment_provider_is_a_valid_payment_provider(api: Api) -> None:
    """Beyond Lago's list (stripe, gocardless, adyen...), any payment provider installed is accepted
    (PayPal, a third party's); an accounting provider's type is not."""
    for name, status in (("testpay", 200), ("testbooks", 422)):
        body = {"external_id": f"cus_{name}", "billing_configuration": {"payment_provider": name}}
        assert api.post("/customers", {"customer": body}).status_code == status
