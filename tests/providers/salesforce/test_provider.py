"""SalesforceProvider against the local Salesforce stand-in (no database)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest

from billow.providers import registry
from billow.providers.interface import (
    CustomerData,
    InvoiceData,
    ProviderContext,
    ProviderError,
    SubscriptionData,
)
from billow.providers.salesforce import SalesforceProvider
from tests.fixtures.standins.salesforce import FakeSalesforce

provider = SalesforceProvider()
OAUTH = {"client_id": "3MVG9-client-id", "client_secret": "client-secret"}
REFRESH = {**OAUTH, "refresh_token": "5Aep861-refresh-token"}
PASSWORD = {**OAUTH, "username": "admin@acme.example", "password": "hunter2", "security_token": "SECTOKEN"}
ACCOUNTS = r"/services/data/v59\.0/sobjects/Account/Billow_Customer_Id__c/.+"


@pytest.fixture
def api() -> Iterator[FakeSalesforce]:
    with FakeSalesforce() as standin:
        yield standin


def context(
    api: FakeSalesforce,
    secrets: dict[str, str] | None = None,
    *,
    timeout: float = 5.0,
    **settings: str,
) -> ProviderContext:
    return ProviderContext(
        organization_id="org-1",
        integration_code="salesforce-main",
        settings=settings,
        secrets=dict(REFRESH if secrets is None else secrets),
        public_url="https://billow.example",
        webhook_url="https://billow.example/webhooks/salesforce-main",
        api_base_url=api.url,
        timeout=timeout,
    )


CUSTOMER = CustomerData(
    id="7c0e5a1e-0000-4000-8000-000000000001",
    external_id="acme-1",
    name="Acme Inc",
    phone="+33 1 23 45 67 89",
    address_line1="1 rue de la Paix",
    address_line2="Bât. B",
    city="Paris",
    zipcode="75002",
    country="FR",
)


def with_customer_id(customer: CustomerData, provider_customer_id: str) -> CustomerData:
    return CustomerData(**{**customer.__dict__, "provider_customer_id": provider_customer_id})


def subscription(**changes: Any) -> SubscriptionData:
    values: dict[str, Any] = {
        "id": "5b0e5a1e-0000-4000-8000-000000000002",
        "external_id": "sub-acme-1",
        "name": None,
        "plan_code": "premium",
        "plan_name": "Premium",
        "plan_amount_cents": 4999,
        "currency": "EUR",
        "interval": "monthly",
        "status": "active",
        "started_at": datetime(2026, 11, 1, 9, 30, tzinfo=UTC),
        "ending_at": None,
        "terminated_at": None,
        "customer": CUSTOMER,
    }
    return SubscriptionData(**(values | changes))


def invoice(**changes: Any) -> InvoiceData:
    values: dict[str, Any] = {
        "id": "1a0e5a1e-0000-4000-8000-000000000003",
        "number": "ACM-202612-001",
        "invoice_type": "subscription",
        "status": "finalized",
        "payment_status": "pending",
        "currency": "JPY",
        "issuing_date": date(2026, 12, 1),
        "payment_due_date": date(2026, 12, 31),
        "customer": CUSTOMER,
        "lines": (),
        "fees_amount_cents": 10_000,
        "coupons_amount_cents": 0,
        "credit_notes_amount_cents": 0,
        "prepaid_credit_amount_cents": 0,
        "sub_total_excluding_taxes_amount_cents": 10_000,
        "taxes_amount_cents": 1_000,
        "total_amount_cents": 11_000,
        "total_due_amount_cents": 11_000,
    }
    return InvoiceData(**(values | changes))


def test_registered_as_an_entry_point() -> None:
    registry.reload()
    assert isinstance(registry.get("salesforce"), SalesforceProvider)


class TestCustomer:
    def test_logs_in_with_the_refresh_token_then_upserts_the_account(self, api: FakeSalesforce) -> None:
        ctx = context(api)

        result = provider.sync_customer(ctx, CUSTOMER)

        token, upsert = api.requests
        assert (token.method, token.path) == ("POST", "/services/oauth2/token")
        assert token.form_one() == {**REFRESH, "grant_type": "refresh_token"}
        assert (upsert.method, upsert.path) == (
            "PATCH",
            f"/services/data/v59.0/sobjects/Account/Billow_Customer_Id__c/{CUSTOMER.id}",
        )
        assert upsert.headers["authorization"] == f"Bearer {ctx.secret_updates['access_token']}"
        assert upsert.json() == {  # the external id is in the URL, never in the body
            "Name": "Acme Inc",
            "Billow_Customer_External_Id__c": "acme-1",
            "Phone": "+33 1 23 45 67 89",
            "BillingStreet": "1 rue de la Paix\nBât. B",
            "BillingCity": "Paris",
            "BillingPostalCode": "75002",
            "BillingCountry": "FR",
        }
        (account,) = api.records["Account"].values()
        assert account["Billow_Customer_Id__c"] == CUSTOMER.id
        assert result.external_id == account["Id"]
        assert result.external_url == f"{api.url}/{account['Id']}"
        assert ctx.secret_updates == {
            "access_token": ctx.secret_updates["access_token"],
            "token_instance_url": api.url,
        }

    def test_a_retry_updates_the_same_account(self, api: FakeSalesforce) -> None:
        first = provider.sync_customer(context(api), CUSTOMER)
        second = provider.sync_customer(context(api), CUSTOMER)

        assert second.external_id == first.external_id
        assert len(api.records["Account"]) == 1

    def test_a_stored_token_is_used_without_logging_in(self, api: FakeSalesforce) -> None:
        token = api.issue_token()
        ctx = context(api, {**REFRESH, "access_token": token, "token_instance_url": api.url})

        provider.sync_customer(ctx, CUSTOMER)

        assert not api.calls("POST", r"/services/oauth2/token")
        assert ctx.secret_updates == {}

    def test_username_password_flow_appends_the_security_token(self, api: FakeSalesforce) -> None:
        ctx = context(api, PASSWORD)

        provider.sync_customer(ctx, CUSTOMER)

        assert api.calls("POST", r"/services/oauth2/token")[0].form_one() == {
            **OAUTH,
            "grant_type": "password",
            "username": "admin@acme.example",
            "password": "hunter2SECTOKEN",
        }

    def test_sync_salesforce_id_links_the_given_account(self, api: FakeSalesforce) -> None:
        account_id = api.add_record("Account", {"Name": "ACME (from sales)"})

        result = provider.sync_customer(context(api), with_customer_id(CUSTOMER, account_id))

        assert result.external_id == account_id
        update = api.calls("PATCH", rf"/services/data/v59\.0/sobjects/Account/{account_id}")[0]
        assert update.json()["Billow_Customer_Id__c"] == CUSTOMER.id
        assert not api.calls("PATCH", ACCOUNTS)
        assert len(api.records["Account"]) == 1
        # later syncs of subscriptions find the Account by Billow's id as well
        assert api.find("Account", "Billow_Customer_Id__c", CUSTOMER.id)[0]["Id"] == account_id

    def test_a_deleted_account_id_falls_back_to_the_upsert(self, api: FakeSalesforce) -> None:
        result = provider.sync_customer(context(api), with_customer_id(CUSTOMER, "001000000000000AAA"))

        assert api.calls("PATCH", ACCOUNTS)
        assert result.external_id in api.records["Account"]

    def test_api_before_46_answers_204_and_the_id_is_read_back(self, api: FakeSalesforce) -> None:
        first = provider.sync_customer(context(api, api_version="45.0"), CUSTOMER)
        second = provider.sync_customer(context(api, api_version="45.0"), CUSTOMER)

        assert second.external_id == first.external_id
        read = api.calls("GET", r"/services/data/v45\.0/sobjects/Account/Billow_Customer_Id__c/.+")
        assert len(read) == 1 and read[0].query == {"fields": ["Id"]}


class TestSubscriptionAndInvoice:
    def test_subscription_upserted_by_external_id_and_linked_to_the_account(
        self, api: FakeSalesforce
    ) -> None:
        result = provider.sync_subscription(context(api), subscription())

        (account_id,) = api.records["Account"]
        upsert = api.calls(
            "PATCH",
            r"/services/data/v59\.0/sobjects/Billow_Subscription__c/Billow_Subscription_Id__c/5b0e5a1e-.+",
        )[0]
        assert upsert.json() == {
            "Name": "Premium",
            "Billow_External_Id__c": "sub-acme-1",
            "Account__c": account_id,
            "Plan_Code__c": "premium",
            "Plan_Name__c": "Premium",
            "Plan_Amount__c": 49.99,  # 4999 EUR cents / 100
            "Currency__c": "EUR",
            "Interval__c": "monthly",
            "Status__c": "active",
            "Started_At__c": "2026-11-01T09:30:00Z",
            "Ending_At__c": None,
            "Terminated_At__c": None,
        }
        assert result.details == {"account_id": account_id}
        assert result.external_id in api.records["Billow_Subscription__c"]

    def test_known_ids_update_by_id_without_touching_the_account(self, api: FakeSalesforce) -> None:
        account_id = api.add_record("Account", {"Name": "Acme"})
        customer = with_customer_id(CUSTOMER, account_id)
        first = provider.sync_subscription(context(api), subscription(customer=customer))
        terminated = subscription(
            customer=customer,
            provider_subscription_id=first.external_id,
            status="terminated",
            terminated_at=datetime(2026, 12, 7, tzinfo=UTC),
        )

        second = provider.sync_subscription(context(api), terminated)

        assert second.external_id == first.external_id
        assert not api.calls("PATCH", ACCOUNTS)
        assert api.calls(
            "PATCH", rf"/services/data/v59\.0/sobjects/Billow_Subscription__c/{first.external_id}"
        )
        record = api.records["Billow_Subscription__c"][first.external_id]
        assert (record["Status__c"], record["Terminated_At__c"]) == ("terminated", "2026-12-07T00:00:00Z")
        assert len(api.records["Billow_Subscription__c"]) == 1

    def test_invoice_amounts_in_currency_units(self, api: FakeSalesforce) -> None:
        ctx = context(api)
        first = provider.sync_invoice(ctx, invoice())

        upsert = api.calls(
            "PATCH", r"/services/data/v59\.0/sobjects/Billow_Invoice__c/Billow_Invoice_Id__c/.+"
        )[0]
        body = upsert.json()
        assert body["Name"] == "ACM-202612-001"
        # JPY has no minor unit: 10000 "cents" are 10000 yen
        assert (body["Fees_Amount__c"], body["Taxes_Amount__c"], body["Total_Amount__c"]) == (
            10000,
            1000,
            11000,
        )
        assert (body["Issuing_Date__c"], body["Payment_Due_Date__c"]) == ("2026-12-01", "2026-12-31")
        assert body["File_Url__c"] is None

        paid = invoice(payment_status="succeeded", total_paid_amount_cents=11_000, total_due_amount_cents=0)
        second = provider.sync_invoice(ctx, paid)  # same context: the refreshed token is reused

        assert second.external_id == first.external_id
        assert len(api.records["Billow_Invoice__c"]) == 1
        assert api.records["Billow_Invoice__c"][first.external_id]["Payment_Status__c"] == "succeeded"
        assert len(api.calls("POST", r"/services/oauth2/token")) == 1

    def test_sync_salesforce_id_links_an_invoice_record_then_upserts_find_it(
        self, api: FakeSalesforce
    ) -> None:
        account_id = api.add_record("Account", {"Name": "Acme"})
        record_id = api.add_record(
            "Billow_Invoice__c", {"Name": "made in Salesforce", "Account__c": account_id}
        )
        customer = with_customer_id(CUSTOMER, account_id)

        linked = provider.sync_invoice(
            context(api), invoice(customer=customer, provider_invoice_id=record_id)
        )

        assert linked.external_id == record_id
        update = api.calls("PATCH", rf"/services/data/v59\.0/sobjects/Billow_Invoice__c/{record_id}")[0]
        assert update.json()["Billow_Invoice_Id__c"] == "1a0e5a1e-0000-4000-8000-000000000003"
        # a later sync without the Id (a replayed job) upserts by Billow's id onto the same record
        again = provider.sync_invoice(context(api), invoice(customer=customer, status="voided"))
        assert again.external_id == record_id
        assert len(api.records["Billow_Invoice__c"]) == 1
        assert api.records["Billow_Invoice__c"][record_id]["Status__c"] == "voided"


class TestAuthAndErrors:
    def test_an_expired_session_is_refreshed_once(self, api: FakeSalesforce) -> None:
        stale = "00D-expired"
        ctx = context(api, {**REFRESH, "access_token": stale, "token_instance_url": api.url})

        result = provider.sync_customer(ctx, CUSTOMER)

        assert [
            (r.method, r.path.split("/")[-1] if r.method == "POST" else "upsert") for r in api.requests
        ] == [
            ("PATCH", "upsert"),
            ("POST", "token"),
            ("PATCH", "upsert"),
        ]
        assert api.requests[0].headers["authorization"] == f"Bearer {stale}"
        assert api.requests[2].headers["authorization"] == f"Bearer {ctx.secret_updates['access_token']}"
        assert result.external_id in api.records["Account"]

    def test_a_new_token_refused_again_is_invalid_credentials(self, api: FakeSalesforce) -> None:
        ctx = context(api, {**REFRESH, "access_token": "00D-expired", "token_instance_url": api.url})
        original = api.issue_token

        def useless_token() -> str:
            token = original()
            api.valid_tokens.discard(token)
            return token

        api.issue_token = useless_token  # type: ignore[method-assign]

        with pytest.raises(ProviderError) as raised:
            provider.sync_customer(ctx, CUSTOMER)

        assert (raised.value.code, raised.value.retryable, raised.value.http_status) == (
            "invalid_credentials",
            False,
            401,
        )
        assert raised.value.details["errors"][0]["errorCode"] == "INVALID_SESSION_ID"
        assert len(api.calls("POST", r"/services/oauth2/token")) == 1  # one refresh, not a loop
        assert "access_token" in ctx.secret_updates

    def test_a_refused_grant_is_invalid_credentials(self, api: FakeSalesforce) -> None:
        with pytest.raises(ProviderError) as raised:
            provider.sync_customer(context(api, {**REFRESH, "refresh_token": "revoked"}), CUSTOMER)

        assert (raised.value.code, raised.value.retryable, raised.value.details) == (
            "invalid_credentials",
            False,
            {"error": "invalid_grant"},
        )
        assert len(api.requests) == 1

    def test_request_limit_exceeded_is_retryable(self, api: FakeSalesforce) -> None:
        api.fail_next_with(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        ctx = context(api, {**REFRESH, "access_token": api.issue_token(), "token_instance_url": api.url})

        with pytest.raises(ProviderError) as raised:
            provider.sync_customer(ctx, CUSTOMER)

        assert (raised.value.code, raised.value.retryable, raised.value.http_status) == (
            "REQUEST_LIMIT_EXCEEDED",
            True,
            403,
        )

    def test_a_refused_record_is_not_retryable_with_salesforces_code(self, api: FakeSalesforce) -> None:
        customer = with_customer_id(CUSTOMER, api.add_record("Account", {"Name": "A"}))
        other = api.add_record("Account", {"Name": "B", "Billow_Customer_Id__c": CUSTOMER.id})

        with pytest.raises(ProviderError) as raised:
            provider.sync_customer(context(api), customer)  # another Account already holds Billow's id

        assert (raised.value.code, raised.value.retryable, raised.value.http_status) == (
            "DUPLICATE_VALUE",
            False,
            400,
        )
        assert other in raised.value.message
        assert raised.value.details["errors"][0]["fields"] == ["Billow_Customer_Id__c"]

    @pytest.mark.parametrize("status", [500, 503])
    def test_server_errors_are_retryable(self, api: FakeSalesforce, status: int) -> None:
        ctx = context(api, {**REFRESH, "access_token": api.issue_token(), "token_instance_url": api.url})
        api.fail_next(status=status)

        with pytest.raises(ProviderError) as raised:
            provider.sync_customer(ctx, CUSTOMER)

        assert (raised.value.code, raised.value.retryable) == (f"http_{status}", True)
        assert len(api.requests) == 1  # no retry by the SDK

    def test_a_token_endpoint_outage_is_retryable(self, api: FakeSalesforce) -> None:
        api.fail_next(status=503)
        ctx = context(api)

        with pytest.raises(ProviderError) as raised:
            provider.sync_customer(ctx, CUSTOMER)

        assert (raised.value.retryable, raised.value.http_status) == (True, 503)
        assert ctx.secret_updates == {}

    def test_a_slow_answer_is_a_retryable_timeout(self, api: FakeSalesforce) -> None:
        secrets = {**REFRESH, "access_token": api.issue_token(), "token_instance_url": api.url}
        api.fail_next(status=None, delay=1.0)

        with pytest.raises(ProviderError) as raised:
            provider.sync_customer(context(api, secrets, timeout=0.2), CUSTOMER)

        assert (raised.value.code, raised.value.retryable) == ("timeout", True)

    def test_connection_refused_is_retryable(self, api: FakeSalesforce) -> None:
        ctx = context(api)
        api.stop()

        with pytest.raises(ProviderError) as raised:
            provider.sync_customer(ctx, CUSTOMER)

        assert (raised.value.code, raised.value.retryable) == ("connection_error", True)


class TestValidate:
    def test_refresh_token_or_username_password(self) -> None:
        assert provider.validate({}, REFRESH) == {}
        assert provider.validate({}, PASSWORD) == {}
        assert provider.validate({}, OAUTH) == {"refresh_token": ["value_is_mandatory"]}
        assert provider.validate({}, {**OAUTH, "username": "u"}) == {"password": ["value_is_mandatory"]}

    def test_urls_and_version(self) -> None:
        good = {
            "instance_url": "https://acme.my.salesforce.com",
            "login_url": "https://test.salesforce.com",
            "api_version": "62.0",
        }
        assert provider.validate(good, REFRESH) == {}
        bad = {"instance_url": "http://acme.my.salesforce.com", "login_url": "login", "api_version": "v62"}
        assert provider.validate(bad, REFRESH) == {
            "instance_url": ["value_is_invalid"],
            "login_url": ["value_is_invalid"],
            "api_version": ["value_is_invalid"],
        }
