"""The portal page opened from the link: the right customer's usage, invoices, wallets; refusals."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from billow.config import current_settings
from billow.portal.links import form_token, make_token
from tests.billing.test_immediate import ok
from tests.conftest import Api, Clock
from tests.portal.conftest import CUSTOMER, cells, customer, metered, portal_path, token_of

SECURITY_HEADERS = {"referrer-policy": "no-referrer", "cache-control": "no-store", "x-robots-tag": "noindex"}


def secured(response: Any) -> None:
    for name, value in SECURITY_HEADERS.items():
        assert response.headers[name] == value, name


def one_off(api: Api, cents: int, external_id: str = CUSTOMER) -> dict[str, Any]:
    code = f"setup_{cents}"
    if api.get(f"/add_ons/{code}").status_code == 404:
        add_on = {"name": "Setup", "code": code, "amount_cents": cents, "amount_currency": "EUR"}
        ok(api.post("/add_ons", {"add_on": add_on}))
    body = {"external_customer_id": external_id, "currency": "EUR", "fees": [{"add_on_code": code}]}
    return dict(ok(api.post("/invoices", {"invoice": body}))["invoice"])


class TestUsage:
    def test_the_customers_figures(self, api: Api) -> None:
        metered(api)
        response = api.client.get(portal_path(api))
        assert response.status_code == 200, response.text
        secured(response)
        html = response.text
        assert html.count("<h1>") == 1
        assert re.search(r'<span class="brand">Acme</span>\s*<span class="org">Ada Lovelace</span>', html)
        assert 'data-subscription="sub_portal"' in html
        assert cells(html, "API calls") == ["7", "1.75 EUR"]
        assert cells(html, "Storage") == ["3.5", "5.25 EUR"]
        assert cells(html, "Subtotal") == ["", "7.00 EUR"]
        assert cells(html, "Total") == ["", "7.00 EUR"]
        # The bars: an image with its text alternative (every figure).
        assert 'role="img"' in html
        assert "API calls: 7 units; Storage: 3.5 units" in html
        # The same figures as GET /customers/{id}/current_usage.
        usage = ok(api.get(f"/customers/{CUSTOMER}/current_usage?external_subscription_id=sub_portal"))
        assert usage["customer_usage"]["total_amount_cents"] == 700
        period = usage["customer_usage"]["from_datetime"][:10], usage["customer_usage"]["to_datetime"][:10]
        assert f'Billing period: <time datetime="{period[0]}">' in html
        assert f'<time datetime="{period[1]}">' in html

    def test_refreshed_section(self, api: Api) -> None:
        metered(api)
        path = portal_path(api)
        page = api.client.get(path).text
        assert f'hx-get="{path}/usage" hx-trigger="every 30s" hx-swap="outerHTML"' in page
        ok(
            api.post(
                "/events",
                {
                    "event": {
                        "transaction_id": "call_8",
                        "external_subscription_id": "sub_portal",
                        "code": "calls",
                    }
                },
            )
        )
        response = api.client.get(f"{path}/usage")
        assert response.status_code == 200
        secured(response)
        assert response.text.startswith('<section id="usage"')
        assert "<html" not in response.text
        assert cells(response.text, "API calls") == ["8", "2.00 EUR"]
        assert cells(response.text, "Total") == ["", "7.25 EUR"]

    def test_period_in_the_organizations_time_zone(self, api: Api) -> None:
        ok(api.put("/organizations", {"organization": {"timezone": "America/New_York"}}))
        metered(api)
        html = api.client.get(portal_path(api)).text
        usage = ok(api.get(f"/customers/{CUSTOMER}/current_usage?external_subscription_id=sub_portal"))
        shown = usage["customer_usage"]
        zone = ZoneInfo("America/New_York")
        start, end = (
            datetime.fromisoformat(shown[key].replace("Z", "+00:00")).astimezone(zone).date().isoformat()
            for key in ("from_datetime", "to_datetime")
        )
        # The period ends at 23:59:59 in New York: 04:59:59 (or 03:59:59) UTC the next day.
        assert shown["to_datetime"][:10] != end
        assert f'Billing period: <time datetime="{start}">{start}</time> to <time datetime="{end}">' in html
        assert "Dates are in the America/New_York time zone." in html
        assert cells(html, "Total") == ["", "7.00 EUR"]

    def test_no_subscription(self, api: Api) -> None:
        customer(api)
        html = api.client.get(portal_path(api)).text
        assert "No active subscription." in html
        assert "No invoice yet." in html
        assert "No active wallet." in html


class TestInvoices:
    def test_finalized_and_voided_shown_drafts_not(self, api: Api) -> None:
        customer(api, billing_configuration={"invoice_grace_period": 3})
        plan = {
            "name": "Adv",
            "code": "adv",
            "interval": "monthly",
            "amount_cents": 3100,
            "amount_currency": "EUR",
            "pay_in_advance": True,
        }
        ok(api.post("/plans", {"plan": plan}))
        ok(
            api.post(
                "/subscriptions",
                {
                    "subscription": {
                        "external_customer_id": CUSTOMER,
                        "plan_code": "adv",
                        "external_id": "s1",
                        "billing_time": "anniversary",
                    }
                },
            )
        )
        [draft] = ok(api.get("/invoices"))["invoices"]
        assert draft["status"] == "draft"
        paid, voided = one_off(api, 1200), one_off(api, 3400)
        ok(api.put(f"/invoices/{paid['lago_id']}", {"invoice": {"payment_status": "succeeded"}}))
        ok(api.post(f"/invoices/{voided['lago_id']}/void"))
        html = api.client.get(portal_path(api)).text
        assert draft["number"] not in html
        assert cells(html, paid["number"])[:5] == [
            paid["issuing_date"],
            paid["payment_due_date"],
            "12.00 EUR",
            "0.00 EUR",
            "Paid",
        ]
        assert cells(html, voided["number"])[2:5] == ["34.00 EUR", "0.00 EUR", "Voided"]
        assert "/documents/" not in html  # documents are off in the test suite
        assert cells(html, paid["number"])[5] == "Not available"
        assert ">Pay<" not in html  # no payment provider

    def test_pdf_links_when_documents_are_on(self, api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("BILLOW_GENERATE_DOCUMENTS", "true")
        customer(api)
        invoice = one_off(api, 1500)
        html = api.client.get(portal_path(api)).text
        assert cells(html, invoice["number"])[2:5] == ["15.00 EUR", "15.00 EUR", "Unpaid"]
        [link] = re.findall(r'<a href="(http://localhost:3000/documents/[^"]+)" rel="noreferrer"', html)
        shown = ok(api.get(f"/invoices/{invoice['lago_id']}"))["invoice"]["file_url"]
        assert link.replace("&amp;", "&") == shown
        document = api.client.get(link.replace("&amp;", "&").removeprefix("http://localhost:3000"))
        assert (document.status_code, document.headers["content-type"]) == (200, "application/pdf")
        assert document.content.startswith(b"%PDF")


class TestWallets:
    def test_balance(self, api: Api) -> None:
        customer(api)
        wallet = {
            "external_customer_id": CUSTOMER,
            "name": "Prepaid",
            "currency": "EUR",
            "rate_amount": "2",
            "granted_credits": "10",
            "paid_credits": "0",
        }
        ok(api.post("/wallets", {"wallet": wallet}))
        html = api.client.get(portal_path(api)).text
        assert cells(html, "Prepaid") == ["10", "20.00 EUR", "10", "20.00 EUR", "Never"]


class TestRefusals:
    def test_tampered(self, api: Api) -> None:
        customer(api)
        path = portal_path(api)
        token = token_of(path)
        forged = token[:-5] + ("B" if token[-5] == "A" else "A") + token[-4:]
        for target in (f"/portal/{forged}", f"/portal/{forged}/usage", "/portal/nonsense"):
            response = api.client.get(target)
            assert response.status_code == 403, target
            secured(response)
            assert "This link is not valid." in response.text
            assert "Ada Lovelace" not in response.text and "Acme" not in response.text

    def test_expired(self, api: Api, clock: Clock) -> None:
        customer(api)
        path = portal_path(api)  # at 2024-01-01T00:00:00Z, for 24 hours
        clock.set("2024-01-01T23:59:59+00:00")
        assert api.client.get(path).status_code == 200
        clock.set("2024-01-02T00:00:00+00:00")
        response = api.client.get(path)
        assert response.status_code == 410
        secured(response)
        assert "This link has expired." in response.text and "Ada Lovelace" not in response.text

    def test_deleted_customer(self, api: Api) -> None:
        customer(api)
        path = portal_path(api)
        ok(api.delete(f"/customers/{CUSTOMER}"))
        response = api.client.get(path)
        assert response.status_code == 410
        assert "This link is no longer valid." in response.text and "Ada Lovelace" not in response.text

    def test_a_link_shows_only_its_organizations_customer(self, api: Api, other_api: Api) -> None:
        """Both organizations have a ``cus_portal``; each link shows its own. A token naming organization A
        with organization B's customer (even validly signed) shows nothing."""
        customer(api)
        theirs = customer(other_api, name="Grace Hopper")
        one_off(other_api, 9900)
        mine = api.client.get(portal_path(api)).text
        assert "Ada Lovelace" in mine and "Grace Hopper" not in mine and "99.00 EUR" not in mine
        other = api.client.get(portal_path(other_api)).text
        assert "Grace Hopper" in other and "Ada Lovelace" not in other and "99.00 EUR" in other
        mixed = make_token(current_settings(), api.organization.id, uuid.UUID(theirs["lago_id"]), 2**40)
        response = api.client.get(f"/portal/{mixed}")
        assert response.status_code == 403
        assert "Grace Hopper" not in response.text and "99.00 EUR" not in response.text


class TestBilling:
    def form(self, path: str, **values: str) -> dict[str, str]:
        base = {
            "name": "Ada King",
            "email": "ada@example.com",
            "address_line1": "12 St James's Square",
            "address_line2": "",
            "city": "London",
            "zipcode": "SW1Y 4JH",
            "state": "",
            "country": "gb",
        }
        return {**base, "csrf_token": form_token(current_settings(), token_of(path)), **values}

    def test_saved_through_the_customer_rules(self, api: Api) -> None:
        customer(api)
        path = portal_path(api)
        response = api.client.post(f"{path}/billing", data=self.form(path), follow_redirects=False)
        assert response.status_code == 303
        secured(response)
        assert response.headers["location"] == f"{path}?saved=billing#billing"
        shown = ok(api.get(f"/customers/{CUSTOMER}"))["customer"]
        assert (shown["name"], shown["email"], shown["city"], shown["zipcode"], shown["country"]) == (
            "Ada King",
            "ada@example.com",
            "London",
            "SW1Y 4JH",
            "GB",
        )
        page = api.client.get(f"{path}?saved=billing").text
        assert '<p class="flash" role="status">Billing information saved.</p>' in page
        assert 'value="Ada King"' in page

    def test_invalid_email_shown_next_to_the_field(self, api: Api) -> None:
        customer(api)
        path = portal_path(api)
        response = api.client.post(f"{path}/billing", data=self.form(path, email="not an e-mail"))
        assert response.status_code == 422
        assert (
            '<p class="error" id="billing-email-error">Enter a valid e-mail address (several: separated by'
            " commas). (invalid_email_format)</p>"
        ) in response.text
        assert 'value="not an e-mail"' in response.text
        assert ok(api.get(f"/customers/{CUSTOMER}"))["customer"]["name"] == "Ada Lovelace"

    def test_too_long_and_invalid_country(self, api: Api) -> None:
        customer(api)
        path = portal_path(api)
        response = api.client.post(f"{path}/billing", data=self.form(path, name="x" * 256, country="ZZ"))
        assert response.status_code == 422
        assert (
            '<p class="error" id="billing-name-error">This is too long. (value_is_too_long)</p>'
            in response.text
        )
        assert ok(api.get(f"/customers/{CUSTOMER}"))["customer"]["name"] == "Ada Lovelace"
        response = api.client.post(f"{path}/billing", data=self.form(path, country="ZZ"))
        assert response.status_code == 422
        assert "(not_a_valid_country_code)</p>" in response.text

    def test_form_token_required(self, api: Api, other_api: Api) -> None:
        customer(api)
        customer(other_api)
        path, other = portal_path(api), portal_path(other_api)
        for token in ("", form_token(current_settings(), token_of(other))):
            data = {**self.form(path), "csrf_token": token}
            response = api.client.post(f"{path}/billing", data=data)
            assert response.status_code == 403
        assert ok(api.get(f"/customers/{CUSTOMER}"))["customer"]["name"] == "Ada Lovelace"
