"""QuickBooksProvider against the local stand-in (tests/fixtures/standins/quickbooks.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from billow.providers.interface import ProviderError
from billow.providers.quickbooks import QuickBooksProvider
from tests.fixtures.standins.quickbooks import FakeQuickBooks
from tests.providers import samples

REALM = "9130350000000001"


@pytest.fixture
def qbo() -> Iterator[FakeQuickBooks]:
    with FakeQuickBooks(realm_id=REALM) as standin:
        yield standin


def ctx(qbo: FakeQuickBooks, *, access_token: str | None = None, timeout: float = 5.0) -> Any:
    secrets = {"client_id": "qb_client", "client_secret": "qb_secret", "refresh_token": qbo.refresh_token}
    if access_token:
        secrets["access_token"] = access_token
    return samples.context(qbo.url, secrets, {"realm_id": REALM, "environment": "sandbox"}, timeout)


provider = QuickBooksProvider()


def synced_customer(qbo: FakeQuickBooks) -> str:
    return provider.sync_customer(
        ctx(qbo, access_token=qbo.issue_access_token()), samples.customer()
    ).external_id


class TestTokens:
    def test_a_missing_access_token_is_refreshed_and_the_rotated_pair_handed_back(
        self, qbo: FakeQuickBooks
    ) -> None:
        context = ctx(qbo)
        old_refresh = context.secrets["refresh_token"]
        provider.sync_customer(context, samples.customer())
        [token_call] = qbo.calls("POST", "/oauth2/v1/tokens/bearer")
        assert token_call.form_one() == {"grant_type": "refresh_token", "refresh_token": old_refresh}
        assert context.secret_updates["refresh_token"] == qbo.refresh_token != old_refresh
        assert context.secret_updates["access_token"] in qbo.access_tokens
        assert int(context.secret_updates["access_token_expires_at"]) > 0
        [create] = qbo.calls("POST", f"/v3/company/{REALM}/customer")
        assert create.headers["authorization"] == f"Bearer {context.secret_updates['access_token']}"

    def test_a_valid_access_token_is_used_without_refreshing(self, qbo: FakeQuickBooks) -> None:
        context = ctx(qbo, access_token=qbo.issue_access_token())
        provider.sync_customer(context, samples.customer())
        assert qbo.calls("POST", "/oauth2/v1/tokens/bearer") == []
        assert context.secret_updates == {}

    def test_an_expired_access_token_is_refreshed_before_the_call(self, qbo: FakeQuickBooks) -> None:
        context = ctx(qbo, access_token=qbo.issue_access_token())
        context.secrets = {**context.secrets, "access_token_expires_at": "1700000000"}  # 2023: expired
        provider.sync_customer(context, samples.customer())
        assert len(qbo.calls("POST", "/oauth2/v1/tokens/bearer")) == 1
        assert len(qbo.api_calls()) == 1  # no 401 first
        assert int(context.secret_updates["access_token_expires_at"]) > 1700000000

    def test_a_401_refreshes_once_and_tries_again(self, qbo: FakeQuickBooks) -> None:
        context = ctx(qbo, access_token="at_revoked")
        result = provider.sync_customer(context, samples.customer())
        assert result.external_id in qbo.objects["Customer"]
        assert len(qbo.calls("POST", "/oauth2/v1/tokens/bearer")) == 1
        assert len(qbo.calls("POST", f"/v3/company/{REALM}/customer")) == 2
        assert context.secret_updates["refresh_token"] == qbo.refresh_token

    def test_a_401_after_refreshing_is_invalid_credentials(self, qbo: FakeQuickBooks) -> None:
        context = ctx(qbo)
        qbo.issue_access_token = lambda: "at_never_valid"  # type: ignore[method-assign]
        with pytest.raises(ProviderError) as err:
            provider.sync_customer(context, samples.customer())
        assert (err.value.code, err.value.retryable, err.value.http_status) == (
            "invalid_credentials",
            False,
            401,
        )
        assert len(qbo.calls("POST", "/oauth2/v1/tokens/bearer")) == 1

    def test_a_refused_refresh_token_is_invalid_credentials(self, qbo: FakeQuickBooks) -> None:
        context = ctx(qbo)
        qbo.refresh_token = "rt_rotated_elsewhere"
        with pytest.raises(ProviderError) as err:
            provider.sync_customer(context, samples.customer())
        assert (err.value.code, err.value.retryable) == ("invalid_credentials", False)
        assert qbo.api_calls() == []


class TestCustomer:
    def test_create(self, qbo: FakeQuickBooks) -> None:
        result = provider.sync_customer(ctx(qbo, access_token=qbo.issue_access_token()), samples.customer())
        [call] = qbo.calls("POST", f"/v3/company/{REALM}/customer")
        assert call.query["minorversion"] == ["75"]
        assert call.json() == {
            "DisplayName": "Acme Corp (acme-1)",
            "CompanyName": "Acme Corporation",
            "PrimaryEmailAddr": {"Address": "billing@acme.test"},
            "PrimaryPhone": {"FreeFormNumber": "+33 1 02 03 04 05"},
            "BillAddr": {
                "Line1": "1 rue de la Paix",
                "City": "Paris",
                "PostalCode": "75002",
                "Country": "FR",
            },
            "Notes": "Billow customer acme-1",
        }
        assert qbo.objects["Customer"][result.external_id]["SyncToken"] == "0"

    def test_update_reads_the_sync_token_and_never_creates_a_second(self, qbo: FakeQuickBooks) -> None:
        customer_id = synced_customer(qbo)
        context = ctx(qbo, access_token=qbo.issue_access_token())
        result = provider.sync_customer(context, samples.customer(customer_id, name="Acme SAS"))
        assert result.external_id == customer_id
        assert len(qbo.objects["Customer"]) == 1
        assert qbo.objects["Customer"][customer_id]["DisplayName"] == "Acme SAS (acme-1)"
        assert qbo.objects["Customer"][customer_id]["SyncToken"] == "1"
        assert len(qbo.calls("GET", f"/v3/company/{REALM}/customer/{customer_id}")) == 1
        update = qbo.calls("POST", f"/v3/company/{REALM}/customer")[-1].json()
        assert (update["Id"], update["SyncToken"], update["sparse"]) == (customer_id, "0", True)

    def test_a_duplicate_display_name_links_the_existing_customer(self, qbo: FakeQuickBooks) -> None:
        existing = qbo.add_customer("Acme Corp (acme-1)")
        result = provider.sync_customer(ctx(qbo, access_token=qbo.issue_access_token()), samples.customer())
        assert result.external_id == existing["Id"]
        assert result.details == {"linked": True}
        assert len(qbo.objects["Customer"]) == 1
        [query] = qbo.calls("POST", f"/v3/company/{REALM}/query")
        assert query.body.decode() == "select * from Customer where DisplayName = 'Acme Corp (acme-1)'"

    def test_a_quote_in_the_name_is_escaped_in_the_query(self, qbo: FakeQuickBooks) -> None:
        existing = qbo.add_customer("O'Brien (acme-1)")
        result = provider.sync_customer(
            ctx(qbo, access_token=qbo.issue_access_token()), samples.customer(name="O'Brien")
        )
        assert result.external_id == existing["Id"]


class TestInvoice:
    def test_create_with_deductions_and_taxes_totals_billows_amount(self, qbo: FakeQuickBooks) -> None:
        customer_id = synced_customer(qbo)
        result = provider.sync_invoice(
            ctx(qbo, access_token=qbo.issue_access_token()), samples.invoice(customer_id)
        )
        [call] = qbo.calls("POST", f"/v3/company/{REALM}/invoice")
        body = call.json()
        assert {k: body[k] for k in ("DocNumber", "TxnDate", "DueDate", "CustomerRef")} == {
            "DocNumber": "ACM-2026-001",
            "TxnDate": "2026-12-01",
            "DueDate": "2026-12-31",
            "CustomerRef": {"value": customer_id},
        }
        lines = body["Line"]
        assert lines[0] == {
            "DetailType": "SalesItemLineDetail",
            "Amount": 10.5,
            "Description": "Startup plan seats",
            "SalesItemLineDetail": {"ItemRef": {"value": "7", "name": "Plan"}, "Qty": 3, "UnitPrice": 3.5},
        }
        # 1234 * 0.0125 = 15.425 → 15.43: the units are kept
        assert lines[1]["SalesItemLineDetail"] == {
            "ItemRef": {"value": "1", "name": "Services"},
            "Qty": 1234,
            "UnitPrice": 0.0125,
        }
        assert lines[1]["Amount"] == 15.43
        assert lines[2] == {
            "DetailType": "DiscountLineDetail",
            "Amount": 3.0,
            "Description": "Coupons",
            "DiscountLineDetail": {"PercentBased": False, "DiscountAccountRef": {"value": "4900"}},
        }
        assert [(line["SalesItemLineDetail"]["ItemRef"]["value"], line["Amount"]) for line in lines[3:]] == [
            ("3", -1.0),
            ("4", -0.52),
            ("5", 4.59),
        ]
        # 10.50 + 15.43 - 3.00 - 1.00 - 0.52 + 4.59 = 26.00 = total_amount_cents 2600
        assert qbo.objects["Invoice"][result.external_id]["TotalAmt"] == 26.0
        assert result.details["total_amount"] == "26.0"

    def test_update_never_creates_a_second_invoice(self, qbo: FakeQuickBooks) -> None:
        customer_id = synced_customer(qbo)
        first = provider.sync_invoice(
            ctx(qbo, access_token=qbo.issue_access_token()), samples.invoice(customer_id)
        )
        again = provider.sync_invoice(
            ctx(qbo, access_token=qbo.issue_access_token()), samples.invoice(customer_id, first.external_id)
        )
        assert again.external_id == first.external_id
        assert len(qbo.objects["Invoice"]) == 1
        assert qbo.objects["Invoice"][first.external_id]["SyncToken"] == "1"

    def test_a_lost_answer_replayed_by_request_id_creates_one_invoice(self, qbo: FakeQuickBooks) -> None:
        customer_id = synced_customer(qbo)
        first = provider.sync_invoice(
            ctx(qbo, access_token=qbo.issue_access_token()), samples.invoice(customer_id)
        )
        # the job is retried without the id (its first answer was lost): QuickBooks' requestid replays it
        again = provider.sync_invoice(
            ctx(qbo, access_token=qbo.issue_access_token()), samples.invoice(customer_id)
        )
        assert again.external_id == first.external_id and len(qbo.objects["Invoice"]) == 1
        calls = qbo.calls("POST", f"/v3/company/{REALM}/invoice")
        assert len({c.query["requestid"][0] for c in calls}) == 1
        assert len(calls[0].query["requestid"][0]) == 32

    def test_an_unsynced_customer_is_created_first(self, qbo: FakeQuickBooks) -> None:
        result = provider.sync_invoice(ctx(qbo, access_token=qbo.issue_access_token()), samples.invoice(None))
        [customer_id] = qbo.objects["Customer"]
        assert result.details["provider_customer_id"] == customer_id
        assert qbo.objects["Invoice"][result.external_id]["CustomerRef"] == {"value": customer_id}

    def test_a_line_without_mapping_is_refused_before_any_call(self, qbo: FakeQuickBooks) -> None:
        invoice = samples.invoice("101", mapped=False)
        invoice = type(invoice)(
            **{
                **invoice.__dict__,
                "mappings": {k: v for k, v in invoice.mappings.items() if k != "fallback_item"},
            }
        )
        with pytest.raises(ProviderError) as err:
            provider.sync_invoice(ctx(qbo, access_token=qbo.issue_access_token()), invoice)
        assert (err.value.code, err.value.retryable) == ("missing_mapping", False)
        assert "startup" in err.value.message and "fee-1" in err.value.message
        assert qbo.requests == []

    def test_an_unknown_item_is_a_non_retryable_validation_error(self, qbo: FakeQuickBooks) -> None:
        customer_id = synced_customer(qbo)
        qbo.items.discard("7")
        with pytest.raises(ProviderError) as err:
            provider.sync_invoice(
                ctx(qbo, access_token=qbo.issue_access_token()), samples.invoice(customer_id)
            )
        assert (err.value.code, err.value.retryable, err.value.http_status) == (
            "invalid_reference_id",
            False,
            400,
        )
        assert err.value.details["quickbooks_code"] == 2500

    def test_a_stale_sync_token_is_retryable(self, qbo: FakeQuickBooks) -> None:
        customer_id = synced_customer(qbo)
        qbo.concurrent_writer = True  # another writer saves the object between Billow's read and write
        with pytest.raises(ProviderError) as err:
            provider.sync_customer(
                ctx(qbo, access_token=qbo.issue_access_token()), samples.customer(customer_id)
            )
        assert (err.value.code, err.value.retryable) == ("stale_object", True)
        assert err.value.details["quickbooks_code"] == 5010


class TestCreditMemoAndPayment:
    def test_credit_memo_create_then_update(self, qbo: FakeQuickBooks) -> None:
        customer_id = synced_customer(qbo)
        cn = samples.credit_note(customer_id, "55")
        result = provider.sync_credit_note(ctx(qbo, access_token=qbo.issue_access_token()), cn)
        body = qbo.calls("POST", f"/v3/company/{REALM}/creditmemo")[0].json()
        # 5.00 + 5.00 + 2.00 taxes = 12.00 = total_amount_cents 1200
        assert [
            (line["SalesItemLineDetail"]["ItemRef"]["value"], line["Amount"]) for line in body["Line"]
        ] == [
            ("7", 5.0),
            ("1", 5.0),
            ("5", 2.0),
        ]
        assert body["DocNumber"] == "ACM-2026-001-CN001"[:21]
        assert qbo.objects["CreditMemo"][result.external_id]["TotalAmt"] == 12.0
        again = provider.sync_credit_note(
            ctx(qbo, access_token=qbo.issue_access_token()),
            samples.credit_note(customer_id, "55", result.external_id),
        )
        assert again.external_id == result.external_id and len(qbo.objects["CreditMemo"]) == 1

    def test_an_offset_is_applied_to_the_invoice_once_even_after_a_failure(self, qbo: FakeQuickBooks) -> None:
        """An offset credit memo of 12.00 on an invoice of 26.00: a payment of 0 links 12.00 of each, the
        invoice's balance is 26.00 - 12.00 = 14.00. The application's answer lost (a 503 after QuickBooks
        stored it), the retry creates neither a second memo nor a second application (same requestid)."""
        from dataclasses import replace

        customer_id = synced_customer(qbo)
        invoice_id = provider.sync_invoice(
            ctx(qbo, access_token=qbo.issue_access_token()), samples.invoice(customer_id)
        ).external_id
        note = replace(
            samples.credit_note(customer_id, invoice_id), credit_amount_cents=0, offset_amount_cents=1200
        )
        token = qbo.issue_access_token()
        original = qbo._dispatch
        answers: list[int] = []

        def fail_the_application(request: Any) -> Any:
            response = original(request)
            if request.path.endswith("/payment") and not answers:
                answers.append(response.status)
                return type(response).json(503, {"error": "injected"})
            return response

        qbo._dispatch = fail_the_application  # type: ignore[method-assign]
        with pytest.raises(ProviderError) as err:
            provider.sync_credit_note(ctx(qbo, access_token=token), note)
        assert err.value.retryable
        result = provider.sync_credit_note(ctx(qbo, access_token=token), note)
        assert len(qbo.objects["CreditMemo"]) == 1 and len(qbo.objects["Payment"]) == 1
        [application] = qbo.objects["Payment"].values()
        assert application["TotalAmt"] == 0.0
        assert [(line["Amount"], line["LinkedTxn"]) for line in application["Line"]] == [
            (12.0, [{"TxnId": invoice_id, "TxnType": "Invoice"}]),
            (12.0, [{"TxnId": result.external_id, "TxnType": "CreditMemo"}]),
        ]
        assert qbo.objects["Invoice"][invoice_id]["Balance"] == 14.0
        assert qbo.objects["CreditMemo"][result.external_id]["RemainingCredit"] == 0.0

    def test_payment_linked_to_its_invoice_then_updated(self, qbo: FakeQuickBooks) -> None:
        customer_id = synced_customer(qbo)
        invoice_id = provider.sync_invoice(
            ctx(qbo, access_token=qbo.issue_access_token()), samples.invoice(customer_id)
        ).external_id
        result = provider.sync_payment(
            ctx(qbo, access_token=qbo.issue_access_token()), samples.payment(customer_id, invoice_id)
        )
        body = qbo.calls("POST", f"/v3/company/{REALM}/payment")[0].json()
        assert body == {
            "TotalAmt": 26.0,
            "CustomerRef": {"value": customer_id},
            "TxnDate": "2026-12-10",
            "PrivateNote": "Billow payment pay-lago-1",
            "PaymentRefNum": "WIRE-77",
            "Line": [{"Amount": 26.0, "LinkedTxn": [{"TxnId": invoice_id, "TxnType": "Invoice"}]}],
        }
        again = provider.sync_payment(
            ctx(qbo, access_token=qbo.issue_access_token()),
            samples.payment(customer_id, invoice_id, result.external_id),
        )
        assert again.external_id == result.external_id and len(qbo.objects["Payment"]) == 1

    def test_a_payment_of_an_unsynced_invoice_waits(self, qbo: FakeQuickBooks) -> None:
        with pytest.raises(ProviderError) as err:
            provider.sync_payment(
                ctx(qbo, access_token=qbo.issue_access_token()), samples.payment("101", None)
            )
        assert (err.value.code, err.value.retryable) == ("invoice_not_synced", True)


class TestTransportErrors:
    @pytest.mark.parametrize(
        ("status", "code"), [(500, "http_500"), (503, "http_503"), (429, "rate_limited")]
    )
    def test_5xx_and_429_are_retryable(self, qbo: FakeQuickBooks, status: int, code: str) -> None:
        context = ctx(qbo, access_token=qbo.issue_access_token())
        qbo.fail_next(status=status)
        with pytest.raises(ProviderError) as err:
            provider.sync_customer(context, samples.customer())
        assert (err.value.code, err.value.retryable, err.value.http_status) == (code, True, status)
        assert len(qbo.requests) == 1  # no retry by the SDK

    def test_a_slow_answer_is_a_retryable_timeout(self, qbo: FakeQuickBooks) -> None:
        context = ctx(qbo, access_token=qbo.issue_access_token(), timeout=0.3)
        qbo.fail_next(status=None, delay=1.0)
        with pytest.raises(ProviderError) as err:
            provider.sync_customer(context, samples.customer())
        assert (err.value.code, err.value.retryable) == ("timeout", True)

    def test_a_token_endpoint_outage_is_retryable(self, qbo: FakeQuickBooks) -> None:
        context = ctx(qbo)
        qbo.fail_next(2, status=None)  # discovery passes
        qbo.fail_next(status=502)
        with pytest.raises(ProviderError) as err:
            provider.sync_customer(context, samples.customer())
        assert err.value.retryable is True


def test_validate() -> None:
    assert provider.validate({"realm_id": "9130350000000001", "environment": "sandbox"}, {}) == {}
    assert provider.validate({"realm_id": "abc", "environment": "dev"}, {}) == {
        "realm_id": ["value_is_invalid"],
        "environment": ["value_is_invalid"],
    }


def test_registered() -> None:
    from billow.providers import registry

    registry.reload()
    assert isinstance(registry.get("quickbooks"), QuickBooksProvider)


def test_a_payment_of_several_invoices_is_recorded_unapplied(qbo: FakeQuickBooks) -> None:
    from dataclasses import replace

    customer_id = synced_customer(qbo)
    payment = replace(samples.payment(customer_id, "1"), invoices={"inv-1": "1", "inv-2": "2"})
    result = provider.sync_payment(ctx(qbo, access_token=qbo.issue_access_token()), payment)
    assert result.details["unapplied"] is True
    assert "Line" not in qbo.calls("POST", f"/v3/company/{REALM}/payment")[0].json()
    assert qbo.objects["Payment"][result.external_id]["UnappliedAmt"] == 26.0


def test_an_unreachable_api_is_a_retryable_connection_error() -> None:
    with FakeQuickBooks(realm_id=REALM) as standin:
        context = ctx(standin, access_token=standin.issue_access_token())
    with pytest.raises(ProviderError) as err:  # the stand-in is stopped: nothing listens on its port
        provider.sync_customer(context, samples.customer())
    assert (err.value.code, err.value.retryable) == ("connection_error", True)
