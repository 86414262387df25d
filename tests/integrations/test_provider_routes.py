"""Lago's routes that call the payment provider in the request: payment and checkout URLs, payment
methods, and the retry of an invoice's payment."""

from __future__ import annotations

from fastapi import FastAPI

from tests.conftest import Api
from tests.integrations.conftest import add_integration
from tests.integrations.providers import FakeProvider
from tests.integrations.test_jobs import job_list, paying_customer
from tests.mail.conftest import create_customer, one_off_invoice


class TestPaymentUrl:
    def test_payment_url(self, api: Api, other_api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        customer = paying_customer(api)
        fake.fail_next(1, status=500)  # the automatic payment fails: the invoice is still due
        invoice = one_off_invoice(api, 3000)
        response = api.post(f"/invoices/{invoice['lago_id']}/payment_url")
        assert response.status_code == 200, response.text
        assert response.json() == {
            "invoice_payment_details": {
                "lago_customer_id": customer["lago_id"],
                "lago_invoice_id": invoice["lago_id"],
                "external_customer_id": "cus_1",
                "payment_provider": "testpay",
                "payment_url": "https://pay.test/checkout/1",
            }
        }
        assert other_api.post(f"/invoices/{invoice['lago_id']}/payment_url").status_code == 404

    def test_a_provider_error_is_a_third_party_error(self, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        paying_customer(api, sync=False)
        fake.fail_next(1, status=500)  # the automatic payment waits for a retry: the invoice is still due
        invoice = one_off_invoice(api, 3000)
        fake.fail_next(1, status=400)
        response = api.post(f"/invoices/{invoice['lago_id']}/payment_url")
        assert response.status_code == 422
        assert response.json() == {
            "status": 422,
            "error": "Unprocessable Entity",
            "code": "third_party_error",
            "error_details": {"third_party": "testpay", "thirdparty_error": "injected fault"},
        }

    def test_no_provider(self, api: Api) -> None:
        create_customer(api)
        invoice = one_off_invoice(api, 3000)
        response = api.post(f"/invoices/{invoice['lago_id']}/payment_url")
        assert response.json()["error_details"] == {"base": ["no_linked_payment_provider"]}


class TestCustomerRoutes:
    def test_checkout_url_and_payment_methods(self, api: Api, other_api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        customer = paying_customer(api)
        response = api.post("/customers/cus_1/checkout_url")
        assert response.status_code == 200, response.text
        assert response.json() == {
            "customer": {
                "lago_customer_id": customer["lago_id"],
                "external_customer_id": "cus_1",
                "payment_provider": "testpay",
                "payment_provider_code": "pay",
                "checkout_url": "https://pay.test/setup/1",
            }
        }
        methods = api.get("/customers/cus_1/payment_methods").json()
        [method] = methods["payment_methods"]
        assert (method["provider_method_id"], method["is_default"], method["payment_provider_type"]) == (
            "pm_1",
            True,
            "testpay",
        )
        assert methods["meta"]["total_count"] == 1
        assert other_api.post("/customers/cus_1/checkout_url").status_code == 404
        assert other_api.get("/customers/cus_1/payment_methods").status_code == 404


class TestRetryPayment:
    def test_retry_queues_a_new_payment_job(self, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        paying_customer(api)
        fake.fail_next(1, status=400)
        invoice = one_off_invoice(api, 3000)
        [failed] = job_list(api, operation="create_payment")
        assert failed["status"] == "failed"
        response = api.post(f"/invoices/{invoice['lago_id']}/retry_payment")
        assert response.status_code == 200, response.text
        statuses = sorted(j["status"] for j in job_list(api, operation="create_payment"))
        assert statuses == ["failed", "succeeded"]
        assert len(fake.of_kind("payments")) == 1

    def test_what_credit_notes_offset_is_not_collected_again(self, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        paying_customer(api)
        fake.fail_next(1, status=402)
        invoice = one_off_invoice(api, 3000)
        note = {
            "invoice_id": invoice["lago_id"],
            "reason": "other",
            "credit_amount_cents": 0,
            "refund_amount_cents": 0,
            "offset_amount_cents": 1000,
            "items": [{"fee_id": invoice["fees"][0]["lago_id"], "amount_cents": 1000}],
        }
        assert api.post("/credit_notes", {"credit_note": note}).status_code == 200
        response = api.post(f"/invoices/{invoice['lago_id']}/retry_payment")
        assert response.status_code == 200, response.text
        [payment] = fake.of_kind("payments")
        assert payment["amount"] == 2000  # 3000 - 1000 offset

    def test_without_provider_405(self, api: Api) -> None:
        create_customer(api)
        invoice = one_off_invoice(api, 3000)
        response = api.post(f"/invoices/{invoice['lago_id']}/retry_payment")
        assert (response.status_code, response.json()["code"]) == (405, "no_linked_payment_provider")

    def test_a_paid_invoice_405(self, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        paying_customer(api)
        invoice = one_off_invoice(api, 3000)
        paid = api.put(f"/invoices/{invoice['lago_id']}", {"invoice": {"payment_status": "succeeded"}})
        assert paid.status_code == 200, paid.text
        response = api.post(f"/invoices/{invoice['lago_id']}/retry_payment")
        assert (response.status_code, response.json()["code"]) == (405, "invalid_status")


class TestRefunds:
    def test_a_refund_credit_note_refunds_the_provider_payment(
        self, app: FastAPI, api: Api, fake: FakeProvider
    ) -> None:
        add_integration(api, "testpay", "pay", fake)
        paying_customer(api)
        invoice = one_off_invoice(api, 3000)
        [payment] = fake.of_kind("payments")
        # The provider's success paid the invoice (billow.payments, through the payment result hook).
        shown = api.get(f"/invoices/{invoice['lago_id']}").json()["invoice"]
        assert (shown["payment_status"], shown["total_paid_amount_cents"]) == ("succeeded", 3000)
        fee = invoice["fees"][0]["lago_id"]
        note = {
            "invoice_id": invoice["lago_id"],
            "reason": "other",
            "credit_amount_cents": 0,
            "refund_amount_cents": 1000,
            "items": [{"fee_id": fee, "amount_cents": 1000}],
        }
        response = api.post("/credit_notes", {"credit_note": note})
        assert response.status_code == 200, response.text
        [refund_job] = job_list(api, operation="refund")
        assert refund_job["status"] == "succeeded", refund_job
        [refund] = fake.of_kind("refunds")
        assert (refund["payment"], refund["amount"]) == (payment["id"], 1000)
