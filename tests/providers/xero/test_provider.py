"""XeroProvider against the local stand-in (tests/fixtures/standins/xero.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from billow.providers.interface import CreditNoteData, ProviderError
from billow.providers.xero import XeroProvider
from tests.fixtures.standin import Response
from tests.fixtures.standins.xero import API, FakeXero
from tests.providers import samples

TENANT = "6b4d3a86-1d3f-4f0c-9a4a-4c1c2c1b9f10"
provider = XeroProvider()
X = samples.XERO_MAPPINGS


@pytest.fixture
def xero() -> Iterator[FakeXero]:
    with FakeXero(tenant_id=TENANT) as standin:
        yield standin


def ctx(
    xero: FakeXero, *, access_token: str | None = None, timeout: float = 5.0, tenant: str = TENANT
) -> Any:
    secrets = {
        "client_id": "xero_client",
        "client_secret": "xero_secret",
        "refresh_token": xero.refresh_token,
    }
    if access_token:
        secrets["access_token"] = access_token
    return samples.context(xero.url, secrets, {"tenant_id": tenant}, timeout)


def authed(xero: FakeXero, **kwargs: Any) -> Any:
    return ctx(xero, access_token=xero.issue_access_token(), **kwargs)


def contact_id(xero: FakeXero) -> str:
    return provider.sync_customer(authed(xero), samples.customer()).external_id


def invoice_id(xero: FakeXero, contact: str) -> str:
    return provider.sync_invoice(authed(xero), samples.invoice(contact, mappings=X)).external_id


class TestTokens:
    def test_a_missing_access_token_is_refreshed_and_the_rotated_pair_handed_back(
        self, xero: FakeXero
    ) -> None:
        context = ctx(xero)
        provider.sync_customer(context, samples.customer())
        [token_call] = xero.calls("POST", "/connect/token")
        form = token_call.form_one()
        assert (form["grant_type"], form["refresh_token"], form["client_id"]) == (
            "refresh_token",
            "xrt_0",
            "xero_client",
        )
        assert context.secret_updates["refresh_token"] == xero.refresh_token != "xrt_0"
        [call] = xero.calls("POST", API + "/Contacts")
        assert call.headers["authorization"] == f"Bearer {context.secret_updates['access_token']}"
        assert call.headers["xero-tenant-id"] == TENANT

    def test_an_expired_access_token_is_refreshed_before_the_call(self, xero: FakeXero) -> None:
        context = authed(xero)
        context.secrets = {**context.secrets, "access_token_expires_at": "1700000000"}  # 2023: expired
        provider.sync_customer(context, samples.customer())
        assert len(xero.calls("POST", "/connect/token")) == 1
        assert len(xero.api_calls()) == 1  # no 401 first
        assert context.secret_updates["access_token"] in xero.access_tokens

    def test_a_401_refreshes_once_then_invalid_credentials(self, xero: FakeXero) -> None:
        context = ctx(xero, access_token="xat_revoked")
        assert provider.sync_customer(context, samples.customer()).external_id in xero.contacts
        assert len(xero.calls("POST", "/connect/token")) == 1
        xero.issue_access_token = lambda: "xat_never_valid"  # type: ignore[method-assign]
        with pytest.raises(ProviderError) as err:
            provider.sync_customer(ctx(xero, access_token="xat_revoked"), samples.customer())
        assert (err.value.code, err.value.retryable, err.value.http_status) == (
            "invalid_credentials",
            False,
            401,
        )

    def test_a_refused_refresh_token_is_invalid_credentials(self, xero: FakeXero) -> None:
        context = ctx(xero)
        xero.refresh_token = "xrt_elsewhere"
        with pytest.raises(ProviderError) as err:
            provider.sync_customer(context, samples.customer())
        assert (err.value.code, err.value.retryable) == ("invalid_credentials", False)
        assert xero.api_calls() == []

    def test_another_tenant_is_forbidden(self, xero: FakeXero) -> None:
        with pytest.raises(ProviderError) as err:
            provider.sync_customer(
                authed(xero, tenant="00000000-0000-0000-0000-000000000000"), samples.customer()
            )
        assert (err.value.code, err.value.retryable, err.value.http_status) == ("forbidden", False, 403)


class TestContact:
    def test_create_then_update_never_twice(self, xero: FakeXero) -> None:
        created = contact_id(xero)
        call = xero.calls("POST", API + "/Contacts")[0]
        assert call.query["summarizeErrors"] == ["False"]
        assert call.headers["idempotency-key"].startswith("billow-contact-")
        assert call.json()["Contacts"][0] == {
            "Name": "Acme Corp (acme-1)",
            "ContactNumber": "acme-1",
            "EmailAddress": "billing@acme.test",
            "Phones": [{"PhoneType": "DEFAULT", "PhoneNumber": "+33 1 02 03 04 05"}],
            "Addresses": [
                {
                    "AddressType": "POBOX",
                    "AddressLine1": "1 rue de la Paix",
                    "City": "Paris",
                    "PostalCode": "75002",
                    "Country": "FR",
                }
            ],
            "HasValidationErrors": False,
            "HasAttachments": False,  # the SDK's model defaults
        }
        again = provider.sync_customer(authed(xero), samples.customer(created, name="Acme SAS"))
        assert again.external_id == created and len(xero.contacts) == 1
        assert xero.contacts[created]["Name"] == "Acme SAS (acme-1)"

    def test_a_duplicate_name_links_the_existing_contact(self, xero: FakeXero) -> None:
        existing = xero.add_contact("Acme Corp (acme-1)")
        result = provider.sync_customer(authed(xero), samples.customer())
        assert (result.external_id, result.details) == (existing["ContactID"], {"linked": True})
        assert len(xero.contacts) == 1
        assert xero.calls("GET", API + "/Contacts")[0].query["where"] == ['Name=="Acme Corp (acme-1)"']


class TestInvoice:
    def test_create_lines_taxes_and_deductions_total_billows_amount(self, xero: FakeXero) -> None:
        contact = contact_id(xero)
        result = provider.sync_invoice(authed(xero), samples.invoice(contact, mappings=X))
        call = xero.calls("POST", API + "/Invoices")[0]
        assert (call.query["summarizeErrors"], call.query["unitdp"]) == (["False"], ["4"])
        assert call.headers["idempotency-key"].startswith("billow-invoice-")
        body = call.json()["Invoices"][0]
        assert {
            k: body[k]
            for k in ("Type", "InvoiceNumber", "Reference", "LineAmountTypes", "Status", "CurrencyCode")
        } == {
            "Type": "ACCREC",
            "InvoiceNumber": "ACM-2026-001",
            "Reference": "Billow inv-lago-1",
            "LineAmountTypes": "Exclusive",
            "Status": "AUTHORISED",
            "CurrencyCode": "EUR",
        }
        assert body["Date"] == "/Date(1796083200000)/"  # 2026-12-01T00:00:00Z
        assert body["Contact"]["ContactID"] == contact
        lines = [
            (
                li["ItemCode"],
                li.get("AccountCode"),
                li["Quantity"],
                li["UnitAmount"],
                li["LineAmount"],
                li["TaxType"],
                li["TaxAmount"],
            )
            for li in body["LineItems"]
        ]
        assert lines == [
            ("7", "701", 3.0, 3.5, 10.5, "OUTPUT2", 1.5),
            ("1", "200", 1234.0, 0.0125, 15.43, "OUTPUT2", 3.09),
            ("2", "4900", 1.0, -3.0, -3.0, "OUTPUT2", 0.0),
            ("3", "4910", 1.0, -1.0, -1.0, "OUTPUT2", 0.0),
            ("4", "4920", 1.0, -0.52, -0.52, "OUTPUT2", 0.0),
        ]
        # lines 10.50 + 15.43 - 3.00 - 1.00 - 0.52 = 21.41; taxes 1.50 + 3.09 = 4.59; 21.41 + 4.59 = 26.00
        assert xero.invoices[result.external_id]["Total"] == 26.0
        assert result.details["total_amount"] == "26.0"

    def test_update_carries_the_invoice_id_and_never_creates_twice(self, xero: FakeXero) -> None:
        contact = contact_id(xero)
        first = invoice_id(xero, contact)
        again = provider.sync_invoice(authed(xero), samples.invoice(contact, first, mappings=X))
        assert again.external_id == first and len(xero.invoices) == 1
        assert xero.calls("POST", API + "/Invoices")[-1].json()["Invoices"][0]["InvoiceID"] == first

    def test_a_replayed_create_is_answered_by_its_idempotency_key(self, xero: FakeXero) -> None:
        contact = contact_id(xero)
        first = invoice_id(xero, contact)
        assert invoice_id(xero, contact) == first  # the job retried after a lost answer
        assert len(xero.invoices) == 1
        keys = {c.headers["idempotency-key"] for c in xero.calls("POST", API + "/Invoices")}
        assert len(keys) == 1

    def test_a_line_without_mapping_is_refused_before_any_call(self, xero: FakeXero) -> None:
        invoice = samples.invoice("c-1", mappings=X)
        invoice = type(invoice)(
            **{
                **invoice.__dict__,
                "mappings": {k: v for k, v in invoice.mappings.items() if k != "fallback_item"},
            }
        )
        with pytest.raises(ProviderError) as err:
            provider.sync_invoice(authed(xero), invoice)
        assert (err.value.code, err.value.retryable) == ("missing_mapping", False)
        assert "api_calls" in err.value.message and "fee-2" in err.value.message
        assert xero.api_calls() == []

    def test_validation_errors_are_not_retryable(self, xero: FakeXero) -> None:
        contact = contact_id(xero)
        xero.tax_types.discard("OUTPUT2")
        with pytest.raises(ProviderError) as err:
            provider.sync_invoice(authed(xero), samples.invoice(contact, mappings=X))
        assert (err.value.code, err.value.retryable) == ("validation_error", False)
        assert "OUTPUT2" in err.value.message


class TestCreditNoteAndPayment:
    def test_an_offset_credit_note_allocated_to_its_invoice_once(self, xero: FakeXero) -> None:
        contact = contact_id(xero)
        invoice = invoice_id(xero, contact)
        result = provider.sync_credit_note(
            authed(xero), offset(samples.credit_note(contact, invoice, mappings=X))
        )
        body = xero.calls("POST", API + "/CreditNotes")[0].json()["CreditNotes"][0]
        assert body["Type"] == "ACCRECCREDIT"
        # 200 of taxes over (500, 500): 100 + 100; 5.00 + 5.00 + 1.00 + 1.00 = 12.00
        assert [(li["ItemCode"], li["LineAmount"], li["TaxAmount"]) for li in body["LineItems"]] == [
            ("7", 5.0, 1.0),
            ("1", 5.0, 1.0),
        ]
        [allocation] = xero.calls("PUT", API + f"/CreditNotes/{result.external_id}/Allocations")
        assert allocation.json()["Allocations"][0]["Amount"] == 12.0
        assert allocation.json()["Allocations"][0]["Invoice"]["InvoiceID"] == invoice
        assert xero.invoices[invoice]["AmountDue"] == 14.0  # 26.00 - 12.00
        again = provider.sync_credit_note(
            authed(xero), offset(samples.credit_note(contact, invoice, result.external_id, X))
        )
        assert again.external_id == result.external_id and len(xero.credit_notes) == 1
        assert len(xero.calls("PUT", API + r"/CreditNotes/.*/Allocations")) == 1

    def test_payment_then_the_known_payment_is_not_created_again(self, xero: FakeXero) -> None:
        contact = contact_id(xero)
        invoice = invoice_id(xero, contact)
        result = provider.sync_payment(authed(xero), samples.payment(contact, invoice))
        [call] = xero.calls("POST", API + "/Payments")
        assert call.headers["idempotency-key"].startswith("billow-payment-")
        sent = call.json()
        assert (sent["Invoice"]["InvoiceID"], sent["Account"]["Code"]) == (invoice, "090")
        assert {k: sent[k] for k in ("Amount", "Date", "Reference")} == {
            "Amount": 26.0,
            "Date": "/Date(1796860800000)/",
            "Reference": "WIRE-77",  # 2026-12-10
        }
        assert xero.invoices[invoice]["Status"] == "PAID"
        again = provider.sync_payment(authed(xero), samples.payment(contact, invoice, result.external_id))
        assert again.external_id == result.external_id and len(xero.payments) == 1

    def test_an_overpayment_is_a_validation_error(self, xero: FakeXero) -> None:
        contact = contact_id(xero)
        invoice = invoice_id(xero, contact)
        with pytest.raises(ProviderError) as err:
            provider.sync_payment(authed(xero), samples.payment(contact, invoice, amount_cents=2601))
        assert (err.value.code, err.value.retryable, err.value.http_status) == (
            "validation_error",
            False,
            400,
        )
        assert "exceeds the amount outstanding" in err.value.message

    def test_a_payment_of_an_unsynced_invoice_waits(self, xero: FakeXero) -> None:
        with pytest.raises(ProviderError) as err:
            provider.sync_payment(authed(xero), samples.payment("c-1", None))
        assert (err.value.code, err.value.retryable) == ("invoice_not_synced", True)


class TestTransportErrors:
    def test_429_with_retry_after_is_retryable(self, xero: FakeXero) -> None:
        context = authed(xero)
        xero.route(
            "POST",
            API + "/Contacts",
            lambda r: Response(429, b"", {"Retry-After": "37", "X-Rate-Limit-Problem": "minute"}),
        )
        xero._routes.insert(0, xero._routes.pop())  # the throttled route answers first
        with pytest.raises(ProviderError) as err:
            provider.sync_customer(context, samples.customer())
        assert (err.value.code, err.value.retryable, err.value.http_status) == ("rate_limited", True, 429)
        assert (err.value.details["retry_after"], err.value.details["rate_limit_problem"]) == ("37", "minute")

    def test_500_is_retryable_and_not_retried_by_the_sdk(self, xero: FakeXero) -> None:
        context = authed(xero)
        xero.fail_next(status=500)
        with pytest.raises(ProviderError) as err:
            provider.sync_customer(context, samples.customer())
        assert (err.value.code, err.value.retryable) == ("http_500", True)
        assert len(xero.requests) == 1

    def test_a_slow_answer_is_a_retryable_timeout(self, xero: FakeXero) -> None:
        context = authed(xero, timeout=0.3)
        xero.fail_next(status=None, delay=1.0)
        with pytest.raises(ProviderError) as err:
            provider.sync_customer(context, samples.customer())
        assert (err.value.code, err.value.retryable) == ("timeout", True)
        assert len(xero.requests) == 1


def test_validate() -> None:
    assert provider.validate({"tenant_id": TENANT}, {}) == {}
    assert provider.validate({"tenant_id": "nope"}, {"access_token_expires_at": "soon"}) == {
        "tenant_id": ["value_is_invalid"],
        "access_token_expires_at": ["value_is_invalid"],
    }


def test_registered() -> None:
    from billow.providers import registry

    registry.reload()
    assert isinstance(registry.get("xero"), XeroProvider)


def offset(note: CreditNoteData) -> CreditNoteData:
    """The sample credit note deducted from what its invoice owes (not the customer's credit)."""
    from dataclasses import replace

    return replace(note, credit_amount_cents=0, offset_amount_cents=note.credit_amount_cents)


def test_a_credit_or_refund_only_note_or_an_unsynced_invoice_is_not_allocated(xero: FakeXero) -> None:
    """The credited part is the customer's credit (Billow consumes it on later invoices): it stays the
    contact's credit at Xero; a refund is paid back; neither is allocated to the credited invoice."""
    from dataclasses import replace

    contact = contact_id(xero)
    invoice = invoice_id(xero, contact)
    credit = replace(samples.credit_note(contact, invoice, mappings=X), id="cn-lago-3", number="CN003")
    provider.sync_credit_note(authed(xero), credit)
    refund = replace(
        samples.credit_note(contact, invoice, mappings=X), credit_amount_cents=0, refund_amount_cents=1200
    )
    provider.sync_credit_note(authed(xero), refund)
    unsynced = replace(
        samples.credit_note(contact, None, mappings=X), id="cn-lago-2", number="ACM-2026-001-CN002"
    )
    provider.sync_credit_note(authed(xero), unsynced)
    assert len(xero.credit_notes) == 3
    assert xero.calls("PUT", API + r"/CreditNotes/.*/Allocations") == []


def test_a_payment_of_several_invoices_is_refused(xero: FakeXero) -> None:
    from dataclasses import replace

    payment = replace(samples.payment("c-1", "x-1"), invoices={"inv-1": "x-1", "inv-2": "x-2"})
    with pytest.raises(ProviderError) as err:
        provider.sync_payment(authed(xero), payment)
    assert (err.value.code, err.value.retryable) == ("payment_split_unknown", False)
    assert xero.api_calls() == []


def test_an_unreachable_api_is_a_retryable_connection_error() -> None:
    with FakeXero(tenant_id=TENANT) as standin:
        context = authed(standin)
    with pytest.raises(ProviderError) as err:  # the stand-in is stopped: nothing listens on its port
        provider.sync_customer(context, samples.customer())
    assert (err.value.code, err.value.retryable) == ("connection_error", True)
