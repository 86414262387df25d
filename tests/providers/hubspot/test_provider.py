"""HubSpotProvider against the local HubSpot stand-in (no database)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime

import pytest

from billow.providers import registry
from billow.providers.hubspot import HubSpotProvider
from billow.providers.interface import (
    CustomerData,
    InvoiceData,
    ProviderContext,
    ProviderError,
    SubscriptionData,
)
from tests.fixtures.standins.hubspot import FakeHubSpot

TOKEN = "pat-na1-test-token"
provider = HubSpotProvider()


@pytest.fixture
def api() -> Iterator[FakeHubSpot]:
    with FakeHubSpot(access_token=TOKEN) as standin:
        yield standin


def context(
    api: FakeHubSpot, *, token: str = TOKEN, timeout: float = 5.0, **settings: str
) -> ProviderContext:
    return ProviderContext(
        organization_id="org-1",
        integration_code="hubspot-main",
        settings=settings,
        secrets={"access_token": token},
        public_url="https://billow.example",
        webhook_url="https://billow.example/webhooks/hubspot-main",
        api_base_url=api.url,
        timeout=timeout,
    )


CUSTOMER = CustomerData(
    id="7c0e5a1e-0000-4000-8000-000000000001",
    external_id="acme-1",
    name="Acme Inc",
    email="billing@acme.example, cfo@acme.example",
    firstname="Ada",
    lastname="Lovelace",
    city="Paris",
    country="FR",
    metadata={"website": "https://www.acme.example/about"},
)


def subscription(**changes: object) -> SubscriptionData:
    values: dict[str, object] = {
        "id": "5b0e5a1e-0000-4000-8000-000000000002",
        "external_id": "sub-acme-1",
        "name": "Acme premium",
        "plan_code": "premium",
        "plan_name": "Premium",
        "plan_amount_cents": 4999,
        "currency": "EUR",
        "interval": "monthly",
        "status": "active",
        "started_at": datetime(2026, 11, 1, 9, 30, tzinfo=UTC),
        "ending_at": datetime(2027, 11, 1, tzinfo=UTC),
        "terminated_at": None,
        "customer": CUSTOMER,
    }
    values.update(changes)
    return SubscriptionData(**values)  # type: ignore[arg-type]


def invoice(**changes: object) -> InvoiceData:
    values: dict[str, object] = {
        "id": "1a0e5a1e-0000-4000-8000-000000000003",
        "number": "ACM-202612-001",
        "invoice_type": "subscription",
        "status": "finalized",
        "payment_status": "pending",
        "currency": "EUR",
        "issuing_date": date(2026, 12, 1),
        "payment_due_date": date(2026, 12, 31),
        "customer": CUSTOMER,
        "lines": (),
        "fees_amount_cents": 10_000,
        "coupons_amount_cents": 1_000,
        "credit_notes_amount_cents": 0,
        "prepaid_credit_amount_cents": 500,
        "sub_total_excluding_taxes_amount_cents": 9_000,
        "taxes_amount_cents": 1_800,
        "total_amount_cents": 10_300,
        "total_paid_amount_cents": 0,
        "total_due_amount_cents": 10_300,
        "file_url": "https://billow.example/documents/inv.pdf",
    }
    values.update(changes)
    return InvoiceData(**values)  # type: ignore[arg-type]


def test_registered_as_an_entry_point() -> None:
    registry.reload()
    assert isinstance(registry.get("hubspot"), HubSpotProvider)


class TestCustomer:
    def test_creates_a_company_after_searching_by_billows_id(self, api: FakeHubSpot) -> None:
        result = provider.sync_customer(context(api), CUSTOMER)

        search, create = api.requests
        assert (search.method, search.path) == ("POST", "/crm/v3/objects/companies/search")
        assert search.headers["authorization"] == f"Bearer {TOKEN}"
        assert search.json()["filterGroups"] == [
            {"filters": [{"propertyName": "billow_customer_id", "operator": "EQ", "value": CUSTOMER.id}]}
        ]
        assert (create.method, create.path) == ("POST", "/crm/v3/objects/companies")
        assert create.json()["properties"] == {
            "name": "Acme Inc",
            "domain": "www.acme.example",
            "city": "Paris",
            "country": "FR",
            "billow_customer_id": CUSTOMER.id,
            "billow_customer_external_id": "acme-1",
        }
        assert result.external_id == next(iter(api.objects["companies"]))
        assert result.details == {"object_type": "companies"}

    def test_a_retry_finds_the_company_instead_of_creating_another(self, api: FakeHubSpot) -> None:
        first = provider.sync_customer(context(api), CUSTOMER)
        second = provider.sync_customer(context(api), CUSTOMER)  # a retry: Billow never saw the first answer

        assert second.external_id == first.external_id
        assert len(api.objects["companies"]) == 1
        assert [r.method for r in api.calls("PATCH", r"/crm/v3/objects/companies/\d+")] == ["PATCH"]

    def test_known_id_updates_that_record_without_searching(self, api: FakeHubSpot) -> None:
        company_id = api.add_object("companies", {"name": "Old name", "billow_customer_id": CUSTOMER.id})
        known = CustomerData(**{**CUSTOMER.__dict__, "provider_customer_id": company_id})

        result = provider.sync_customer(context(api), known)

        assert result.external_id == company_id
        assert [(r.method, r.path) for r in api.requests] == [
            ("PATCH", f"/crm/v3/objects/companies/{company_id}")
        ]
        assert api.objects["companies"][company_id]["properties"]["name"] == "Acme Inc"

    def test_known_id_deleted_at_hubspot_is_found_again_or_recreated(self, api: FakeHubSpot) -> None:
        gone = CustomerData(**{**CUSTOMER.__dict__, "provider_customer_id": "99999"})

        result = provider.sync_customer(context(api), gone)

        assert [(r.method, r.path) for r in api.requests] == [
            ("PATCH", "/crm/v3/objects/companies/99999"),
            ("POST", "/crm/v3/objects/companies/search"),
            ("POST", "/crm/v3/objects/companies"),
        ]
        assert result.external_id in api.objects["companies"]

    def test_a_conflict_on_create_searches_and_updates(self, api: FakeHubSpot) -> None:
        # A concurrent attempt created the company between our search and our create: HubSpot answers
        # 409 CONFLICT on the unique property, the provider searches again and updates that one.
        api.race_next_create("companies", {"name": "Racer", "billow_customer_id": CUSTOMER.id})

        result = provider.sync_customer(context(api), CUSTOMER)

        assert [r.method for r in api.requests] == ["POST", "POST", "POST", "PATCH"]
        assert len(api.objects["companies"]) == 1
        assert api.objects["companies"][result.external_id]["properties"]["name"] == "Acme Inc"

    def test_a_conflict_the_search_does_not_see_yet_is_retryable(self, api: FakeHubSpot) -> None:
        api.race_next_create("companies", {"name": "Racer", "billow_customer_id": CUSTOMER.id}, indexed=False)

        with pytest.raises(ProviderError) as raised:
            provider.sync_customer(context(api), CUSTOMER)

        assert (raised.value.code, raised.value.retryable, raised.value.http_status) == (
            "CONFLICT",
            True,
            409,
        )
        assert len(api.objects["companies"]) == 1  # never a duplicate
        api.unindexed.clear()  # the index caught up: the framework's retry updates it
        result = provider.sync_customer(context(api), CUSTOMER)
        assert list(api.objects["companies"]) == [result.external_id]

    def test_a_contact_whose_email_is_taken_is_linked(self, api: FakeHubSpot) -> None:
        existing = api.add_object("contacts", {"email": "billing@acme.example", "firstname": "Ada"})

        result = provider.sync_customer(context(api, default_target_type="contacts"), CUSTOMER)

        assert result.external_id == existing
        assert [(r.method, r.path) for r in api.requests][-2:] == [
            ("POST", "/crm/v3/objects/contacts/search"),
            ("PATCH", f"/crm/v3/objects/contacts/{existing}"),
        ]
        assert api.objects["contacts"][existing]["properties"]["billow_customer_id"] == CUSTOMER.id
        assert len(api.objects["contacts"]) == 1

    def test_contacts_target_and_record_url(self, api: FakeHubSpot) -> None:
        ctx = context(api, default_target_type="contacts", portal_id="4455667")

        result = provider.sync_customer(ctx, CUSTOMER)

        create = api.calls("POST", r"/crm/v3/objects/contacts")[0]
        assert create.json()["properties"] == {
            "firstname": "Ada",
            "lastname": "Lovelace",
            "email": "billing@acme.example",
            "city": "Paris",
            "country": "FR",
            "billow_customer_id": CUSTOMER.id,
            "billow_customer_external_id": "acme-1",
        }
        assert api.calls("POST", r"/crm/v3/objects/contacts/search")
        assert (
            result.external_url == f"https://app.hubspot.com/contacts/4455667/record/0-1/{result.external_id}"
        )


class TestSubscription:
    def test_creates_the_custom_object_and_associates_it_with_the_company(self, api: FakeHubSpot) -> None:
        company_id = api.add_object("companies", {"name": "Acme", "billow_customer_id": CUSTOMER.id})
        ctx = context(api, subscriptions_object_type="2-1234567")

        result = provider.sync_subscription(ctx, subscription())

        create = api.calls("POST", r"/crm/v3/objects/2-1234567")[0]
        assert create.json()["properties"] == {
            "billow_subscription_id": "5b0e5a1e-0000-4000-8000-000000000002",
            "billow_subscription_external_id": "sub-acme-1",
            "billow_customer_id": CUSTOMER.id,
            "subscription_name": "Acme premium",
            "plan_code": "premium",
            "plan_name": "Premium",
            "plan_amount": "49.99",  # 4999 EUR cents / 100
            "currency": "EUR",
            "interval": "monthly",
            "subscription_status": "active",
            "started_at": "2026-11-01T09:30:00Z",
            "ending_at": "2027-11-01T00:00:00Z",
            "terminated_at": "",
        }
        assert api.associations == {("2-1234567", result.external_id, "companies", company_id)}
        assert result.details["associated_with"] == {"companies": company_id}

    def test_update_by_known_id_clears_a_removed_end_and_never_duplicates(self, api: FakeHubSpot) -> None:
        first = provider.sync_subscription(context(api), subscription())
        known = subscription(provider_subscription_id=first.external_id, ending_at=None, status="terminated")

        second = provider.sync_subscription(context(api), known)

        assert second.external_id == first.external_id
        stored = api.objects["p_billow_subscriptions"]
        assert len(stored) == 1
        assert "ending_at" not in stored[first.external_id]["properties"]
        assert stored[first.external_id]["properties"]["subscription_status"] == "terminated"
        assert len(api.objects["companies"]) == 1  # the customer was synced once, on the first call

    def test_syncs_the_customer_first_when_hubspot_does_not_know_it(self, api: FakeHubSpot) -> None:
        result = provider.sync_subscription(context(api), subscription())

        (company_id,) = api.objects["companies"]
        assert api.associations == {("p_billow_subscriptions", result.external_id, "companies", company_id)}

    def test_known_customer_id_is_associated_without_search(self, api: FakeHubSpot) -> None:
        company_id = api.add_object("companies", {"name": "Acme"})
        customer = CustomerData(**{**CUSTOMER.__dict__, "provider_customer_id": company_id})

        provider.sync_subscription(context(api), subscription(customer=customer))

        assert not api.calls("POST", r"/crm/v3/objects/companies/search")
        assert api.calls(
            "PUT", rf"/crm/v4/objects/p_billow_subscriptions/\d+/associations/default/companies/{company_id}"
        )


class TestInvoice:
    def test_creates_then_updates_the_invoice_object(self, api: FakeHubSpot) -> None:
        ctx = context(api, invoices_object_type="p4455667_billow_invoices")
        first = provider.sync_invoice(ctx, invoice())

        create = api.calls("POST", r"/crm/v3/objects/p4455667_billow_invoices")[0]
        assert create.json()["properties"] == {
            "billow_invoice_id": "1a0e5a1e-0000-4000-8000-000000000003",
            "billow_customer_id": CUSTOMER.id,
            "invoice_number": "ACM-202612-001",
            "invoice_type": "subscription",
            "invoice_status": "finalized",
            "payment_status": "pending",
            "currency": "EUR",
            "issuing_date": "2026-12-01",
            "payment_due_date": "2026-12-31",
            "fees_amount": "100.00",  # 10000 cents
            "coupons_amount": "10.00",
            "credit_notes_amount": "0.00",
            "prepaid_credit_amount": "5.00",
            "sub_total_excluding_taxes_amount": "90.00",
            "taxes_amount": "18.00",
            "total_amount": "103.00",  # 90.00 + 18.00 - 5.00
            "total_paid_amount": "0.00",
            "total_due_amount": "103.00",
            "file_url": "https://billow.example/documents/inv.pdf",
        }

        paid = invoice(payment_status="succeeded", total_paid_amount_cents=10_300, total_due_amount_cents=0)
        second = provider.sync_invoice(ctx, paid)  # a retry without the known id: found by search

        assert second.external_id == first.external_id
        stored = api.objects["p4455667_billow_invoices"][first.external_id]["properties"]
        assert (stored["payment_status"], stored["total_paid_amount"], stored["total_due_amount"]) == (
            "succeeded",
            "103.00",
            "0.00",
        )
        assert len(api.objects["p4455667_billow_invoices"]) == 1
        assert len(api.associations) == 1  # the default association is idempotent at HubSpot


class TestErrors:
    def test_bad_token_is_invalid_credentials(self, api: FakeHubSpot) -> None:
        with pytest.raises(ProviderError) as raised:
            provider.sync_customer(context(api, token="pat-na1-revoked"), CUSTOMER)

        assert (raised.value.code, raised.value.retryable, raised.value.http_status) == (
            "invalid_credentials",
            False,
            401,
        )
        assert raised.value.details["category"] == "INVALID_AUTHENTICATION"

    def test_validation_error_is_not_retryable_with_hubspots_category(self, api: FakeHubSpot) -> None:
        api.fail_next_with(400, "VALIDATION_ERROR", 'Property values were not valid: "domain"')

        with pytest.raises(ProviderError) as raised:
            provider.sync_customer(context(api), CUSTOMER)

        assert (raised.value.code, raised.value.retryable, raised.value.http_status) == (
            "VALIDATION_ERROR",
            False,
            400,
        )
        assert "domain" in raised.value.message

    @pytest.mark.parametrize("status", [500, 503])
    def test_server_errors_are_retryable(self, api: FakeHubSpot, status: int) -> None:
        api.fail_next(status=status)

        with pytest.raises(ProviderError) as raised:
            provider.sync_customer(context(api), CUSTOMER)

        assert (raised.value.code, raised.value.retryable, raised.value.http_status) == (
            f"http_{status}",
            True,
            status,
        )
        assert len(api.requests) == 1  # the SDK did not retry on its own

    def test_rate_limit_is_retryable_with_its_category(self, api: FakeHubSpot) -> None:
        api.fail_next_with(429, "RATE_LIMITS", "You have reached your secondly limit.")

        with pytest.raises(ProviderError) as raised:
            provider.sync_customer(context(api), CUSTOMER)

        assert (raised.value.code, raised.value.retryable, raised.value.http_status) == (
            "RATE_LIMITS",
            True,
            429,
        )
        assert len(api.requests) == 1

    def test_a_slow_answer_is_a_retryable_timeout(self, api: FakeHubSpot) -> None:
        api.fail_next(status=None, delay=1.0)

        with pytest.raises(ProviderError) as raised:
            provider.sync_customer(context(api, timeout=0.2), CUSTOMER)

        assert (raised.value.code, raised.value.retryable) == ("timeout", True)
        assert len(api.requests) == 1

    def test_connection_refused_is_retryable(self, api: FakeHubSpot) -> None:
        ctx = context(api)
        api.stop()

        with pytest.raises(ProviderError) as raised:
            provider.sync_customer(ctx, CUSTOMER)

        assert (raised.value.code, raised.value.retryable) == ("connection_error", True)

    def test_missing_token_never_calls(self, api: FakeHubSpot) -> None:
        with pytest.raises(ProviderError) as raised:
            provider.sync_customer(context(api, token=""), CUSTOMER)

        assert raised.value.code == "invalid_credentials"
        assert api.requests == []


class TestValidate:
    def test_accepts_a_full_configuration(self) -> None:
        settings = {
            "default_target_type": "contacts",
            "subscriptions_object_type": "2-1234567",
            "invoices_object_type": "p4455667_billow_invoices",
            "portal_id": "4455667",
        }
        assert provider.validate(settings, {"access_token": TOKEN}) == {}

    def test_refuses_bad_values(self) -> None:
        settings = {
            "default_target_type": "deals",
            "subscriptions_object_type": "2-12/../x",
            "invoices_object_type": "",
            "portal_id": "hub-1",
        }
        assert provider.validate(settings, {"access_token": "two words"}) == {
            "access_token": ["value_is_invalid"],
            "default_target_type": ["value_is_invalid"],
            "subscriptions_object_type": ["value_is_invalid"],
            "invoices_object_type": ["value_is_invalid"],
            "portal_id": ["value_is_invalid"],
        }


def test_the_request_body_never_carries_the_token(api: FakeHubSpot) -> None:
    provider.sync_customer(context(api), CUSTOMER)
    assert api.requests and all(TOKEN.encode() not in r.body for r in api.requests)
