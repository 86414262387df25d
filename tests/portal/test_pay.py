"""The Pay button: shown for an unpaid invoice of a customer with a payment provider (Stripe's stand-in),
it asks the provider for a payment page as ``POST /invoices/{id}/payment_url`` does and redirects there."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from billow.config import current_settings
from billow.portal.links import form_token
from tests.billing.test_immediate import ok
from tests.conftest import Api
from tests.fixtures.standins.stripe import API_KEY, WEBHOOK_SECRET, FakeStripe
from tests.integrations.payment_cycle import CUSTOMER, configure, one_off, synced_customer
from tests.portal.conftest import cells, portal_path, token_of

CODE = "stripe_eu"


@pytest.fixture
def stripe_api() -> Iterator[FakeStripe]:
    with FakeStripe() as standin:
        yield standin


def pay_forms(html: str) -> list[str]:
    return re.findall(r'<form method="post" action="(/portal/[^"]+/pay)">', html)


class TestPay:
    def test_redirects_to_the_providers_checkout(self, api: Api, stripe_api: FakeStripe) -> None:
        configure(
            api, "stripe", CODE, stripe_api.url, {"secret_key": API_KEY, "webhook_secret": WEBHOOK_SECRET}
        )
        synced_customer(api, "stripe", CODE)
        bill = one_off(api, 4200)  # no card saved: the automatic payment cannot succeed
        paid = one_off(api, 1000)
        ok(api.put(f"/invoices/{paid['lago_id']}", {"invoice": {"payment_status": "succeeded"}}))
        path = portal_path(api, CUSTOMER)
        html = api.client.get(path).text
        assert cells(html, bill["number"])[3] == "42.00 EUR"
        [action] = pay_forms(html)  # only the unpaid one
        assert action == f"{path}/invoices/{bill['lago_id']}/pay"
        assert f'aria-label="Pay invoice {bill["number"]}">Pay</button>' in html
        sessions_before = set(stripe_api.sessions)

        csrf = form_token(current_settings(), token_of(path))
        response = api.client.post(action, data={"csrf_token": csrf}, follow_redirects=False)
        assert response.status_code == 303, response.text
        assert response.headers["referrer-policy"] == "no-referrer"
        [session_id] = set(stripe_api.sessions) - sessions_before
        session = stripe_api.sessions[session_id]
        assert (
            response.headers["location"]
            == session["url"]
            == f"https://checkout.stripe.com/c/pay/{session_id}"
        )
        assert (session["mode"], session["amount_total"], session["currency"]) == ("payment", 4200, "eur")
        assert bill["lago_id"] in session["metadata"].values()

        # The paid invoice, another customer's or an unknown one: no payment page.
        already = api.client.post(f"{path}/invoices/{paid['lago_id']}/pay", data={"csrf_token": csrf})
        assert already.status_code == 422
        assert "This invoice is already paid." in already.text
        unknown = api.client.post(
            f"{path}/invoices/00000000-0000-0000-0000-000000000000/pay", data={"csrf_token": csrf}
        )
        assert unknown.status_code == 404
        assert api.client.post(action, data={"csrf_token": "forged"}).status_code == 403
        assert set(stripe_api.sessions) - sessions_before == {session_id}

    def test_no_provider_no_button(self, api: Api) -> None:
        ok(api.post("/customers", {"customer": {"external_id": CUSTOMER, "name": "Ada", "currency": "EUR"}}))
        bill = one_off(api, 4200)
        path = portal_path(api, CUSTOMER)
        html = api.client.get(path).text
        assert cells(html, bill["number"])[3:5] == ["42.00 EUR", "Unpaid"]
        assert pay_forms(html) == []
        csrf = form_token(current_settings(), token_of(path))
        response = api.client.post(f"{path}/invoices/{bill['lago_id']}/pay", data={"csrf_token": csrf})
        assert response.status_code == 422
        assert "Online payment is not available for this invoice." in response.text

    def test_another_customers_invoice(self, api: Api, other_api: Api) -> None:
        ok(api.post("/customers", {"customer": {"external_id": CUSTOMER, "name": "Ada", "currency": "EUR"}}))
        ok(
            other_api.post(
                "/customers", {"customer": {"external_id": CUSTOMER, "name": "Bob", "currency": "EUR"}}
            )
        )
        theirs = one_off(other_api, 4200)
        path = portal_path(api, CUSTOMER)
        csrf = form_token(current_settings(), token_of(path))
        response = api.client.post(f"{path}/invoices/{theirs['lago_id']}/pay", data={"csrf_token": csrf})
        assert response.status_code == 404
