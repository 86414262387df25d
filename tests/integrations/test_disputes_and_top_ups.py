"""Through a payment provider: Stripe's lost dispute (``charge.dispute.closed``, ``status=lost``) marks the
disputed invoice as ``POST /invoices/{id}/lose_dispute`` does; stored Stripe methods, the default paying;
a wallet top-up's payment link (``POST /wallet_transactions/{id}/payment_url``) and its payment through the
provider's webhook settling the top-up."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import Api
from tests.fixtures.standins.stripe import FakeStripe
from tests.integrations.conftest import add_integration
from tests.integrations.providers import FakeProvider
from tests.integrations.test_inbound import post_event
from tests.integrations.test_jobs import job_list, paying_customer
from tests.integrations.test_stripe import configure
from tests.mail.conftest import one_off_invoice
from tests.wallets.test_api import create_wallet


@pytest.fixture
def stripe_api() -> Iterator[FakeStripe]:
    with FakeStripe() as standin:
        yield standin


def stripe_customer_id(api: Api) -> str:
    found = api.get("/customers/cus_1").json()["customer"]["billing_configuration"]["provider_customer_id"]
    assert found
    return str(found)


def deliver(api: Api, stripe_api: FakeStripe, event_type: str, obj: dict[str, Any]) -> Any:
    headers, body = stripe_api.signed_webhook(event_type, obj)
    path = f"/webhooks/stripe/{api.organization.id}"
    return api.client.post(path, params={"code": "stripe_eu"}, content=body, headers=headers)


class TestStripeDispute:
    def test_a_lost_dispute_marks_the_invoice_once(self, api: Api, stripe_api: FakeStripe) -> None:
        configure(api, stripe_api)
        stripe_api.attach_card(stripe_customer_id(api), default=True)
        invoice = one_off_invoice(api, 4200)
        [intent] = stripe_api.payment_intents.values()
        assert api.get(f"/invoices/{invoice['lago_id']}").json()["invoice"]["payment_status"] == "succeeded"
        dispute = stripe_api.dispute(intent["id"], status="lost")
        headers, body = stripe_api.signed_webhook("charge.dispute.closed", dispute)
        path = f"/webhooks/stripe/{api.organization.id}"
        first = api.client.post(path, params={"code": "stripe_eu"}, content=body, headers=headers)
        assert (first.status_code, first.json()) == (200, {"applied": 1})
        shown = api.get(f"/invoices/{invoice['lago_id']}").json()["invoice"]
        lost_at = shown["payment_dispute_lost_at"]
        assert lost_at is not None
        replay = api.client.post(path, params={"code": "stripe_eu"}, content=body, headers=headers)
        assert (replay.status_code, replay.json()) == (200, {"applied": 0})
        # Another delivery of a lost dispute (a new event id): the invoice keeps its first date.
        assert deliver(api, stripe_api, "charge.dispute.closed", dispute).status_code == 200
        assert (
            api.get(f"/invoices/{invoice['lago_id']}").json()["invoice"]["payment_dispute_lost_at"] == lost_at
        )
        lost = api.get("/invoices", params={"payment_dispute_lost": "true"}).json()["invoices"]
        assert [i["lago_id"] for i in lost] == [invoice["lago_id"]]

    def test_a_won_dispute_changes_nothing(self, api: Api, stripe_api: FakeStripe) -> None:
        configure(api, stripe_api)
        stripe_api.attach_card(stripe_customer_id(api), default=True)
        invoice = one_off_invoice(api, 4200)
        [intent] = stripe_api.payment_intents.values()
        response = deliver(api, stripe_api, "charge.dispute.closed", stripe_api.dispute(intent["id"], "won"))
        assert response.json() == {"applied": 0}
        assert api.get(f"/invoices/{invoice['lago_id']}").json()["invoice"]["payment_dispute_lost_at"] is None


class TestStripeMethods:
    def test_stored_from_stripe_the_default_pays(self, api: Api, stripe_api: FakeStripe) -> None:
        configure(api, stripe_api)
        customer_id = stripe_customer_id(api)
        visa = stripe_api.attach_card(customer_id, "visa", default=True)
        mastercard = stripe_api.attach_card(customer_id, "mastercard")
        methods = {
            m["provider_method_id"]: m
            for m in api.get("/customers/cus_1/payment_methods").json()["payment_methods"]
        }
        assert {
            k: (m["is_default"], m["details"]["brand"], m["details"]["last4"]) for k, m in methods.items()
        } == {
            visa["id"]: (True, "visa", "4242"),
            mastercard["id"]: (False, "mastercard", "4444"),
        }
        assert methods[visa["id"]]["payment_provider_type"] == "stripe"
        chosen = api.put(
            f"/customers/cus_1/payment_methods/{methods[mastercard['id']]['lago_id']}/set_as_default"
        )
        assert chosen.status_code == 200, chosen.text
        invoice = one_off_invoice(api, 4200)
        [intent] = stripe_api.payment_intents.values()
        assert intent["payment_method"] == mastercard["id"]
        assert api.get(f"/invoices/{invoice['lago_id']}").json()["invoice"]["payment_status"] == "succeeded"


def purchased(api: Api, wallet_id: str) -> dict[str, Any]:
    transactions = api.get(f"/wallets/{wallet_id}/wallet_transactions").json()["wallet_transactions"]
    [found] = [t for t in transactions if t["transaction_status"] == "purchased"]
    return dict(found)


class TestTopUpPaymentUrl:
    def test_a_payment_link_then_the_webhook_settles_it(
        self, api: Api, other_api: Api, fake: FakeProvider
    ) -> None:
        add_integration(api, "testpay", "pay", fake)
        customer = paying_customer(api)
        fake.fail_next(1, status=500)  # the automatic payment of the credit invoice waits for a retry
        wallet = create_wallet(api, paid_credits="10")
        top_up = purchased(api, wallet["lago_id"])
        assert top_up["status"] == "pending"
        response = api.post(f"/wallet_transactions/{top_up['lago_id']}/payment_url")
        assert response.status_code == 200, response.text
        assert response.json() == {
            "wallet_transaction_payment_details": {
                "lago_customer_id": customer["lago_id"],
                "lago_wallet_transaction_id": top_up["lago_id"],
                "external_customer_id": "cus_1",
                "payment_provider": "testpay",
                "payment_url": "https://pay.test/checkout/1",
            }
        }
        other = other_api.post(f"/wallet_transactions/{top_up['lago_id']}/payment_url")
        assert (other.status_code, other.json()["code"]) == (404, "wallet_transaction_not_found")
        # The customer pays on the page: the provider's webhook pays the credit invoice and settles.
        invoice_id = top_up["lago_invoice_id"]
        event = {
            "id": "evt_paid",
            "type": "payment.succeeded",
            "data": {
                "id": "pay_page_1",
                "amount": 1000,
                "currency": "EUR",
                "metadata": {"billow_payable_type": "invoice", "billow_payable_id": invoice_id},
            },
        }
        assert post_event(api, event).json() == {"applied": 1}
        assert api.get(f"/invoices/{invoice_id}").json()["invoice"]["payment_status"] == "succeeded"
        assert purchased(api, wallet["lago_id"])["status"] == "settled"
        shown = api.get(f"/wallets/{wallet['lago_id']}").json()["wallet"]
        assert (shown["balance_cents"], shown["credits_balance"]) == (1000, "10.0")
        settled = api.post(f"/wallet_transactions/{top_up['lago_id']}/payment_url")
        assert settled.status_code == 422
        assert settled.json()["error_details"] == {"base": ["wallet_transaction_already_settled"]}
        assert post_event(api, event).json() == {"applied": 0}  # replayed: credited once
        assert api.get(f"/wallets/{wallet['lago_id']}").json()["wallet"]["balance_cents"] == 1000

    def test_a_failed_top_up_has_no_link(self, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        paying_customer(api)
        create_wallet(api, paid_credits="6.66")  # 666 cents: the stand-in declines the payment
        wallet = api.get("/customers/cus_1/wallets").json()["wallets"][0]
        top_up = purchased(api, wallet["lago_id"])
        [job] = job_list(api, operation="create_payment")
        assert job["status"] == "failed", job
        assert top_up["status"] == "failed"
        response = api.post(f"/wallet_transactions/{top_up['lago_id']}/payment_url")
        assert response.status_code == 422
        assert response.json()["error_details"] == {"base": ["invalid_status"]}

    def test_a_provider_error(self, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        paying_customer(api)
        fake.fail_next(1, status=500)
        wallet = create_wallet(api, paid_credits="10")
        top_up = purchased(api, wallet["lago_id"])
        fake.fail_next(1, status=400)
        response = api.post(f"/wallet_transactions/{top_up['lago_id']}/payment_url")
        assert (response.status_code, response.json()["code"]) == (422, "third_party_error")
