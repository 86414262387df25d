"""``/app/customers``: list and search, the form (create, edit, errors), deletion, the customer's page
with its live usage and daily charts, coupons, roles and tenancy."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billow.models.customers import Customer
from tests.conftest import Api
from tests.dashboard.billing_world import BillingWorld
from tests.fixtures.pages import Pages

Sign = Callable[..., Pages]


@pytest.fixture
def world(app: FastAPI, api: Api) -> Iterator[BillingWorld]:
    yield BillingWorld(app, api)
    app.dependency_overrides.clear()


def customer_count(session: Session, api: Api) -> int:
    stmt = select(func.count()).where(Customer.organization_id == api.organization.id)
    return session.scalar(stmt.select_from(Customer)) or 0


def desc(html: str, key_part: str) -> str:
    match = re.search(rf'<desc id="chart-[0-9a-f]+-{key_part}-desc">([^<]*)</desc>', html)
    assert match, html
    return match.group(1)


class TestList:
    def test_search_by_name_email_external_id(self, world: BillingWorld, pages_as: Sign) -> None:
        world.customer("acme-1", name="Acme Corp", email="billing@acme.test")
        world.customer("globex-7", name="Globex", email="ap@globex.test")
        pages = pages_as("viewer")
        everyone = pages.get("/app/customers")
        assert everyone.status_code == 200
        assert "acme-1" in everyone.text and "globex-7" in everyone.text
        assert "2 customers" in everyone.text
        for q in ("Acme", "billing@acme", "acme-1"):
            found = pages.get("/app/customers", params={"q": q}).text
            assert "acme-1" in found and "globex-7" not in found, q
            assert "1 customer matching" in found
        assert "No customer matches" in pages.get("/app/customers", params={"q": "nobody"}).text

    def test_pages(self, world: BillingWorld, pages_as: Sign) -> None:
        for index in range(27):
            world.customer(f"c-{index:02d}")
        pages = pages_as("viewer")
        first = pages.get("/app/customers").text
        assert "Page 1 of 2 · 27 in all" in first
        assert '<a href="/app/customers?page=2">Next page</a>' in first
        second = pages.get("/app/customers", params={"page": 2}).text
        assert "Page 2 of 2" in second
        assert second.count('<a href="/app/customers/') == 2  # 25 on page 1, then 2


class TestForm:
    def test_create(self, world: BillingWorld, pages_as: Sign, session: Session, api: Api) -> None:
        world.api.post("/taxes", json={"tax": {"name": "VAT", "code": "vat", "rate": "20"}})
        pages = pages_as("manager")
        assert pages.get("/app/customers/new").status_code == 200
        response = pages.post(
            "/app/customers/new",
            {
                "external_id": "new-1",
                "name": "New Co",
                "email": "a@new.test",
                "currency": "EUR",
                "timezone": "Europe/Paris",
                "address_line1": "1 rue de la Paix",
                "city": "Paris",
                "zipcode": "75002",
                "country": "fr",
                "tax_identification_number": "FR123",
                "tax_codes": "vat",
                "net_payment_term": "30",
                "invoice_grace_period": "3",
            },
        )
        assert response.status_code == 303
        body = world.api.get("/customers/new-1").json()["customer"]
        assert response.headers["location"].startswith(f"/app/customers/{body['lago_id']}?flash=")
        assert (body["name"], body["email"], body["currency"], body["timezone"]) == (
            "New Co",
            "a@new.test",
            "EUR",
            "Europe/Paris",
        )
        assert (body["country"], body["city"], body["tax_identification_number"]) == ("FR", "Paris", "FR123")
        assert body["net_payment_term"] == 30
        assert body["billing_configuration"]["invoice_grace_period"] == 3
        assert [tax["code"] for tax in body["taxes"]] == ["vat"]
        page = pages.get(f"/app/customers/{body['lago_id']}").text
        assert "1 rue de la Paix, 75002, Paris, FR" in page and "30 days" in page and "3 days" in page

    def test_invalid_fields_are_shown_and_nothing_written(
        self, world: BillingWorld, pages_as: Sign, session: Session, api: Api
    ) -> None:
        pages = pages_as("admin")
        response = pages.post(
            "/app/customers/new",
            {"external_id": "bad-1", "currency": "EURO", "timezone": "Mars/Base", "country": "XX"},
        )
        assert response.status_code == 422
        assert 'id="e-currency">value_is_invalid<' in response.text
        assert 'id="e-timezone">invalid_timezone<' in response.text
        assert 'id="e-country">not_a_valid_country_code<' in response.text
        assert 'value="EURO"' in response.text  # the form keeps what was typed
        assert customer_count(session, api) == 0

    def test_mandatory_external_id_and_numbers(self, pages_as: Sign, session: Session, api: Api) -> None:
        pages = pages_as("admin")
        missing = pages.post("/app/customers/new", {"name": "No id"})
        assert missing.status_code == 422
        assert 'id="e-external_id">value_is_mandatory<' in missing.text
        not_a_number = pages.post("/app/customers/new", {"external_id": "x", "net_payment_term": "ten"})
        assert not_a_number.status_code == 422
        assert 'id="e-net_payment_term">value_is_invalid<' in not_a_number.text
        assert customer_count(session, api) == 0

    def test_create_refuses_a_taken_external_id(self, world: BillingWorld, pages_as: Sign) -> None:
        world.customer("acme-1", name="Acme Corp")
        response = pages_as("admin").post("/app/customers/new", {"external_id": "acme-1", "name": "Other"})
        assert response.status_code == 422
        assert 'id="e-external_id">value_already_exist<' in response.text
        assert world.api.get("/customers/acme-1").json()["customer"]["name"] == "Acme Corp"

    def test_edit(self, world: BillingWorld, pages_as: Sign) -> None:
        customer = world.customer("acme-1", name="Acme Corp", email="old@acme.test")
        pages = pages_as("manager")
        form = pages.get(f"/app/customers/{customer['lago_id']}/edit").text
        assert 'value="Acme Corp"' in form and 'value="old@acme.test"' in form and "readonly" in form
        response = pages.post(
            f"/app/customers/{customer['lago_id']}/edit",
            {"external_id": "hijack", "name": "Acme SAS", "email": "new@acme.test", "currency": "EUR"},
        )
        assert response.status_code == 303
        body = world.api.get("/customers/acme-1").json()["customer"]
        assert (body["name"], body["email"], body["currency"]) == ("Acme SAS", "new@acme.test", "EUR")
        assert world.api.get("/customers/hijack").status_code == 404

    def test_edit_refused(self, world: BillingWorld, pages_as: Sign) -> None:
        customer = world.customer("acme-1", name="Acme Corp")
        response = pages_as("admin").post(
            f"/app/customers/{customer['lago_id']}/edit", {"name": "Changed", "net_payment_term": "-1"}
        )
        assert response.status_code == 422
        assert "value_is_out_of_range" in response.text
        assert world.api.get("/customers/acme-1").json()["customer"]["name"] == "Acme Corp"


class TestDelete:
    def test_delete(self, world: BillingWorld, pages_as: Sign) -> None:
        customer = world.customer("acme-1")
        response = pages_as("admin").post(f"/app/customers/{customer['lago_id']}/delete")
        assert response.status_code == 303
        assert response.headers["location"].startswith("/app/customers?flash=")
        assert world.api.get("/customers/acme-1").status_code == 404

    def test_a_customer_with_a_live_subscription_stays(self, world: BillingWorld, pages_as: Sign) -> None:
        made = world.standard()
        response = pages_as("admin").post(f"/app/customers/{made['customer']['lago_id']}/delete")
        assert response.status_code == 303
        assert "customer_has_active_subscriptions" in response.headers["location"]
        assert world.api.get("/customers/acme-1").status_code == 200


class TestDetail:
    def test_usage_figures_and_chart(self, world: BillingWorld, pages_as: Sign) -> None:
        made = world.standard()
        page = pages_as("viewer").get(f"/app/customers/{made['customer']['lago_id']}")
        assert page.status_code == 200
        html = page.text
        assert html.count("<h1>") == 1
        assert "Period 2024-03-01 to 2024-03-31" in html
        assert '<td class="num">1,250</td>' in html  # units
        assert '<td class="num">1,250.00 EUR</td>' in html  # the charge's amount
        assert "<strong>1,250.00 EUR</strong>" in html  # the total
        assert f'hx-get="/app/customers/{made["customer"]["lago_id"]}/usage" hx-trigger="every 10s"' in html
        assert desc(html, "tokens") == (
            "Mar 01: 0; Mar 02: 1,000; Mar 03: 0; Mar 04: 0; Mar 05: 250; Mar 06: 0; Mar 07: 0; Mar 08: 0; "
            "Mar 09: 0; Mar 10: 0"
        )
        assert 'role="img"' in html
        # The subscription, with its plan and dates.
        assert f'<a href="/app/subscriptions/{made["subscription"]["lago_id"]}">sub-1</a>' in html
        assert "<code>pro</code>" in html and "2024-03-01 to 2024-03-31" in html

    def test_the_usage_partial_follows_new_events(self, world: BillingWorld, pages_as: Sign) -> None:
        made = world.standard()
        pages = pages_as("viewer")
        url = f"/app/customers/{made['customer']['lago_id']}/usage"
        before = pages.get(url).text
        assert before.startswith('<section id="usage"') and "<h1>" not in before
        assert "<strong>1,250.00 EUR</strong>" in before
        world.event("t3", "2024-03-10T08:00:00Z", tokens=500)
        after = pages.get(url).text
        assert "<strong>1,750.00 EUR</strong>" in after
        assert '<td class="num">1,750</td>' in after
        assert desc(after, "tokens").endswith("Mar 09: 0; Mar 10: 500")

    def test_one_chart_per_metric(self, world: BillingWorld, pages_as: Sign) -> None:
        tokens = world.metric("tokens")
        calls = world.metric("calls", aggregation_type="count_agg", field_name=None)
        world.plan(metrics=[tokens, calls], price="0.5")
        customer = world.customer()
        world.subscribe()
        world.event("t1", "2024-03-03T10:00:00Z", tokens=10)
        world.event("c1", "2024-03-03T11:00:00Z", code="calls")
        world.event("c2", "2024-03-04T11:00:00Z", code="calls")
        html = pages_as("viewer").get(f"/app/customers/{customer['lago_id']}").text
        assert desc(html, "tokens").startswith("Mar 01: 0; Mar 02: 0; Mar 03: 10; Mar 04: 0")
        assert desc(html, "calls").startswith("Mar 01: 0; Mar 02: 0; Mar 03: 1; Mar 04: 1; Mar 05: 0")
        assert "<strong>6.00 EUR</strong>" in html  # (10 + 2) x 0.50

    def test_invoices_wallets_coupons_credit_notes(self, world: BillingWorld, pages_as: Sign) -> None:
        customer = world.customer()
        invoice = world.one_off_invoice(amount_cents=125000)
        note = world.credit_note(invoice, 5000)
        world.ok(
            world.api.post(
                "/wallets",
                json={
                    "wallet": {
                        "external_customer_id": "acme-1",
                        "currency": "EUR",
                        "rate_amount": "1",
                        "granted_credits": "20",
                        "name": "Prepaid",
                    }
                },
            )
        )
        html = pages_as("viewer").get(f"/app/customers/{customer['lago_id']}").text
        assert f'<a href="/app/invoices/{invoice["lago_id"]}">{invoice["number"]}</a>' in html
        assert "1,250.00 EUR" in html
        assert f'<a href="/app/credit_notes/{note["lago_id"]}">{note["number"]}</a>' in html
        assert "Prepaid" in html and "20.00 EUR" in html

    def test_apply_and_terminate_a_coupon(self, world: BillingWorld, pages_as: Sign) -> None:
        customer = world.customer()
        coupon = {
            "name": "Welcome",
            "code": "welcome",
            "coupon_type": "fixed_amount",
            "amount_cents": 1000,
            "amount_currency": "EUR",
            "frequency": "once",
            "expiration": "no_expiration",
        }
        world.ok(world.api.post("/coupons", json={"coupon": coupon}))
        pages = pages_as("finance")
        url = f"/app/customers/{customer['lago_id']}"
        unknown = pages.post(f"{url}/coupons", {"coupon_code": "nope"})
        assert unknown.status_code == 422
        assert "coupon_not_found" in unknown.text
        assert world.api.get("/applied_coupons").json()["applied_coupons"] == []
        assert pages.post(f"{url}/coupons", {"coupon_code": "welcome"}).status_code == 303
        [applied] = world.api.get("/applied_coupons").json()["applied_coupons"]
        html = pages.get(url).text
        assert "Welcome (<code>welcome</code>)" in html and "10.00 EUR" in html
        terminated = pages.post(f"{url}/coupons/{applied['lago_id']}/terminate")
        assert terminated.status_code == 303
        [after] = world.api.get("/applied_coupons").json()["applied_coupons"]
        assert after["status"] == "terminated"


class TestRoles:
    def test_a_viewer_changes_nothing(self, world: BillingWorld, pages_as: Sign) -> None:
        customer = world.customer()
        pages = pages_as("viewer")
        url = f"/app/customers/{customer['lago_id']}"
        for path, data in [
            ("/app/customers/new", {"external_id": "v-1"}),
            (f"{url}/edit", {"name": "Changed"}),
            (f"{url}/delete", {}),
            (f"{url}/coupons", {"coupon_code": "x"}),
            (f"{url}/coupons/00000000-0000-0000-0000-000000000000/terminate", {}),
        ]:
            assert pages.post(path, data).status_code == 403, path
        assert pages.get("/app/customers/new").status_code == 403
        assert pages.get(f"{url}/edit").status_code == 403
        html = pages.get(url).text
        assert "Delete customer" not in html and "Apply coupon" not in html
        assert world.api.get("/customers/acme-1").json()["customer"]["name"] == "Acme Corp"

    def test_finance_applies_coupons_but_does_not_edit(self, world: BillingWorld, pages_as: Sign) -> None:
        customer = world.customer()
        pages = pages_as("finance")
        assert pages.post(f"/app/customers/{customer['lago_id']}/edit", {"name": "X"}).status_code == 403
        assert "Apply coupon" in pages.get(f"/app/customers/{customer['lago_id']}").text


class TestTenancy:
    def test_another_organization_gets_404(self, world: BillingWorld, pages_as: Sign, other_api: Api) -> None:
        made = world.standard()
        lago_id = made["customer"]["lago_id"]
        pages = pages_as("admin", other_api.organization)
        for path in (
            f"/app/customers/{lago_id}",
            f"/app/customers/{lago_id}/usage",
            f"/app/customers/{lago_id}/edit",
        ):
            assert pages.get(path).status_code == 404, path
        assert pages.post(f"/app/customers/{lago_id}/edit", {"name": "Stolen"}).status_code == 404
        assert pages.post(f"/app/customers/{lago_id}/delete").status_code == 404
        assert "acme-1" not in pages.get("/app/customers").text
        assert world.api.get("/customers/acme-1").json()["customer"]["name"] == "Acme Corp"

    def test_not_a_uuid(self, pages_as: Sign) -> None:
        assert pages_as("admin").get("/app/customers/not-a-uuid").status_code == 404


def test_dates_are_in_the_form(world: BillingWorld, pages_as: Sign) -> None:
    """The form lists every field a support person sets (a label per input)."""
    html = pages_as("admin").get("/app/customers/new").text
    labels = set(re.findall(r'<label for="f-([a-z_0-9]+)"', html))
    inputs = set(re.findall(r'<input id="f-([a-z_0-9]+)"', html))
    assert inputs == labels
    assert {
        "external_id",
        "name",
        "email",
        "currency",
        "timezone",
        "country",
        "tax_identification_number",
        "tax_codes",
        "net_payment_term",
        "invoice_grace_period",
    } <= inputs


def test_a_nested_field_error_is_shown_next_to_its_input(pages_as: Sign, session: Session, api: Api) -> None:
    response = pages_as("admin").post(
        "/app/customers/new", {"external_id": "x", "invoice_grace_period": "soon"}
    )
    assert response.status_code == 422
    assert 'id="e-invoice_grace_period">value_is_invalid<' in response.text
    assert customer_count(session, api) == 0
