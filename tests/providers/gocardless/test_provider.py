"""The GoCardless provider against the GoCardless stand-in."""

from __future__ import annotations

import pytest

from billow.providers import registry
from billow.providers.gocardless import GoCardlessProvider
from billow.providers.interface import PaymentStatus, ProviderContext, ProviderError
from tests.fixtures.standins.gocardless import FakeGoCardless
from tests.providers.gocardless.helpers import CUSTOMER, INVOICE, ORG, customer, make_ctx, payable

provider = GoCardlessProvider()


def test_the_registry_finds_gocardless() -> None:
    registry.reload()
    assert isinstance(registry.get("gocardless"), GoCardlessProvider)


def test_validate() -> None:
    assert provider.validate({"environment": "live"}, {"access_token": "live_x", "webhook_secret": "s"}) == {}
    assert provider.validate(
        {"environment": "test", "success_redirect_url": "nope"},
        {"access_token": "a b", "webhook_secret": " "},
    ) == {
        "environment": ["value_is_invalid"],
        "success_redirect_url": ["value_is_invalid"],
        "access_token": ["value_is_invalid"],
        "webhook_secret": ["value_is_invalid"],
    }


class TestCustomers:
    def test_create_then_update(self, gocardless: FakeGoCardless, ctx: ProviderContext) -> None:
        created = provider.sync_customer(ctx, customer())
        (call,) = gocardless.calls("POST", "/customers")
        assert call.headers["authorization"] == "Bearer sandbox_token_1"
        assert call.headers["gocardless-version"] == "2015-07-06"
        assert call.headers["idempotency-key"] == f"billow-customer-{CUSTOMER}"
        assert call.json() == {
            "customers": {
                "given_name": "Ada",
                "family_name": "Lovelace",
                "email": "ada@example.com",
                "address_line1": "1 Main Street",
                "city": "London",
                "postal_code": "N1 9GU",
                "country_code": "GB",
                "metadata": {"billow_customer_id": CUSTOMER, "billow_external_id": "cust-1"},
            }
        }
        assert created.external_id in gocardless.customers
        assert (
            created.external_url == f"https://manage-sandbox.gocardless.com/customers/{created.external_id}"
        )

        updated = provider.sync_customer(ctx, customer(created.external_id, city="Leeds"))
        assert updated.external_id == created.external_id
        assert len(gocardless.customers) == 1
        assert gocardless.customers[created.external_id]["city"] == "Leeds"
        (put,) = gocardless.calls("PUT", r"/customers/CU[A-Z0-9]+")
        assert put.json()["customers"]["city"] == "Leeds"

    def test_a_retried_creation_creates_once(self, gocardless: FakeGoCardless, ctx: ProviderContext) -> None:
        first = provider.sync_customer(ctx, customer())
        again = provider.sync_customer(ctx, customer())  # the 409 conflict answers the first customer
        assert again.external_id == first.external_id
        assert len(gocardless.customers) == 1
        assert len(gocardless.calls("GET", f"/customers/{first.external_id}")) == 1


class TestMandates:
    def test_checkout_url_is_a_billing_request_flow(
        self, gocardless: FakeGoCardless, ctx: ProviderContext
    ) -> None:
        cu = gocardless.add_customer(given_name="Ada", family_name="Lovelace")
        url = provider.checkout_url(ctx, customer(cu["id"]))
        (request,) = gocardless.billing_requests.values()
        (flow,) = gocardless.flows.values()
        assert url == flow["authorisation_url"]
        (call,) = gocardless.calls("POST", "/billing_requests")
        assert call.json() == {
            "billing_requests": {
                "mandate_request": {"currency": "GBP"},
                "metadata": {"billow_organization_id": ORG, "billow_customer_id": CUSTOMER},
                "links": {"customer": cu["id"]},
            }
        }
        (flow_call,) = gocardless.calls("POST", "/billing_request_flows")
        assert flow_call.json()["billing_request_flows"] == {
            "redirect_uri": "https://shop.example.com/done",
            "exit_uri": "https://shop.example.com/done",
            "links": {"billing_request": request["id"]},
        }

    def test_payment_methods_are_the_active_mandates(
        self, gocardless: FakeGoCardless, ctx: ProviderContext
    ) -> None:
        cu = gocardless.add_customer(company_name="Acme")
        active = gocardless.add_mandate(cu["id"], scheme="sepa_core")
        gocardless.add_mandate(cu["id"], status="cancelled")
        gocardless.add_mandate(gocardless.add_customer(company_name="Other")["id"])
        (method,) = provider.payment_methods(ctx, customer(cu["id"]))
        assert method.provider_method_id == active["id"]
        assert (method.method_type, method.is_default) == ("sepa_debit", True)
        assert method.details["scheme"] == "sepa_core"
        (call,) = gocardless.calls("GET", "/mandates")
        assert call.query["customer"] == [cu["id"]]
        assert provider.payment_methods(ctx, customer()) == []  # not at GoCardless yet


class TestPayments:
    def test_a_payment_on_the_first_active_mandate(
        self, gocardless: FakeGoCardless, ctx: ProviderContext
    ) -> None:
        cu = gocardless.add_customer(company_name="Acme")
        gocardless.add_mandate(cu["id"], status="cancelled")
        mandate = gocardless.add_mandate(cu["id"])
        result = provider.create_payment(ctx, payable(customer(cu["id"]), amount_cents=1050), "idem-1")

        (call,) = gocardless.calls("POST", "/payments")
        assert call.headers["idempotency-key"] == "idem-1"
        assert call.json() == {
            "payments": {
                "amount": 1050,  # £10.50 in pence
                "currency": "GBP",
                "description": "INV-2026-0001",
                "metadata": {
                    "billow_payable": f"invoice:{INVOICE}",
                    "billow_organization_id": ORG,
                    "billow_customer_id": CUSTOMER,
                },
                "links": {"mandate": mandate["id"]},
            }
        }
        assert result.provider_payment_id in gocardless.payments
        assert (result.status, result.provider_status) == (PaymentStatus.PENDING, "pending_submission")
        assert (result.amount_cents, result.currency) == (1050, "GBP")
        assert result.payment_method == {"type": "mandate", "mandate_id": mandate["id"]}

    def test_the_given_mandate_is_used_and_a_retry_pays_once(
        self, gocardless: FakeGoCardless, ctx: ProviderContext
    ) -> None:
        cu = gocardless.add_customer(company_name="Acme")
        gocardless.add_mandate(cu["id"])
        chosen = gocardless.add_mandate(cu["id"], scheme="sepa_core")
        data = payable(customer(cu["id"]), currency="eur", methods=(chosen["id"],))
        first = provider.create_payment(ctx, data, "idem-1")
        again = provider.create_payment(ctx, data, "idem-1")
        assert again.provider_payment_id == first.provider_payment_id
        assert len(gocardless.payments) == 1
        assert gocardless.calls("GET", "/mandates") == []
        assert gocardless.payments[first.provider_payment_id]["currency"] == "EUR"

    def test_no_mandate(self, gocardless: FakeGoCardless, ctx: ProviderContext) -> None:
        cu = gocardless.add_customer(company_name="Acme")
        with pytest.raises(ProviderError) as caught:
            provider.create_payment(ctx, payable(customer(cu["id"])), "idem-1")
        assert (caught.value.code, caught.value.retryable) == ("no_payment_method", False)
        with pytest.raises(ProviderError):
            provider.create_payment(ctx, payable(customer()), "idem-1")  # not even a customer
        assert gocardless.calls("POST", "/payments") == []

    def test_an_unsupported_currency_calls_nothing(
        self, gocardless: FakeGoCardless, ctx: ProviderContext
    ) -> None:
        with pytest.raises(ProviderError) as caught:
            provider.create_payment(ctx, payable(customer("CU1"), currency="JPY", methods=("MD1",)), "idem-1")
        assert (caught.value.code, caught.value.retryable) == ("unsupported_currency", False)
        assert gocardless.requests == []

    def test_an_inactive_mandate_is_refused(self, gocardless: FakeGoCardless, ctx: ProviderContext) -> None:
        cu = gocardless.add_customer(company_name="Acme")
        mandate = gocardless.add_mandate(cu["id"], status="cancelled")
        with pytest.raises(ProviderError) as caught:
            provider.create_payment(ctx, payable(customer(cu["id"]), methods=(mandate["id"],)), "idem-1")
        assert (caught.value.code, caught.value.http_status, caught.value.retryable) == (
            "mandate_is_inactive",
            422,
            False,
        )

    def test_payment_url_is_a_billing_request_with_a_payment(
        self, gocardless: FakeGoCardless, ctx: ProviderContext
    ) -> None:
        cu = gocardless.add_customer(company_name="Acme")
        url = provider.payment_url(ctx, payable(customer(cu["id"]), amount_cents=2599))
        (request,) = gocardless.billing_requests.values()
        assert request["payment_request"] == {
            "amount": 2599,
            "currency": "GBP",
            "description": "INV-2026-0001",
            "metadata": {
                "billow_payable": f"invoice:{INVOICE}",
                "billow_organization_id": ORG,
                "billow_customer_id": CUSTOMER,
            },
        }
        assert request["links"]["customer"] == cu["id"]
        assert url.startswith("https://pay-sandbox.gocardless.com/billing/static/flow?id=BRF")
        (call,) = gocardless.calls("POST", "/billing_requests")
        assert call.headers["idempotency-key"] == f"billow-payment-url-invoice-{INVOICE}-2599"
        provider.payment_url(ctx, payable(customer(cu["id"]), amount_cents=2599))
        assert len(gocardless.billing_requests) == 1  # the same request, a new flow

        fulfilled = gocardless.complete_billing_request(request["id"])
        payment = gocardless.payments[fulfilled["links"]["payment_request_payment"]]
        assert payment["amount"] == 2599


class TestRefunds:
    def test_refunds_confirm_the_refunded_total(
        self, gocardless: FakeGoCardless, ctx: ProviderContext
    ) -> None:
        cu = gocardless.add_customer(company_name="Acme")
        gocardless.add_mandate(cu["id"])
        payment = provider.create_payment(ctx, payable(customer(cu["id"]), amount_cents=1000), "idem-1")
        metadata = {"billow_refund_id": "r1"}
        first = provider.refund(ctx, payment.provider_payment_id, 300, "GBP", "refund-1", metadata)
        second = provider.refund(ctx, payment.provider_payment_id, 200, "GBP", "refund-2", metadata)
        calls = [c.json()["refunds"] for c in gocardless.calls("POST", "/refunds")]
        assert calls == [
            {
                "amount": 300,
                "total_amount_confirmation": 300,  # 0 refunded before + 300
                "links": {"payment": payment.provider_payment_id},
                "metadata": {"billow_refund_id": "r1"},
            },
            {
                "amount": 200,
                "total_amount_confirmation": 500,  # 300 refunded before + 200
                "links": {"payment": payment.provider_payment_id},
                "metadata": {"billow_refund_id": "r1"},
            },
        ]
        assert (first.status, first.amount_cents, first.currency) == ("pending", 300, "GBP")
        assert second.provider_refund_id != first.provider_refund_id
        again = provider.refund(ctx, payment.provider_payment_id, 200, "GBP", "refund-2", metadata)
        assert again.provider_refund_id == second.provider_refund_id
        assert len(gocardless.refunds) == 2

    def test_too_much(self, gocardless: FakeGoCardless, ctx: ProviderContext) -> None:
        cu = gocardless.add_customer(company_name="Acme")
        gocardless.add_mandate(cu["id"])
        payment = provider.create_payment(ctx, payable(customer(cu["id"]), amount_cents=1000), "idem-1")
        with pytest.raises(ProviderError) as caught:
            provider.refund(ctx, payment.provider_payment_id, 1001, "GBP", "refund-1", {})
        assert (caught.value.code, caught.value.retryable) == ("refund_payment_invalid_state", False)
        with pytest.raises(ProviderError) as mismatch:
            provider.refund(ctx, payment.provider_payment_id, 100, "EUR", "refund-2", {})
        assert mismatch.value.code == "currency_mismatch"


class TestErrors:
    def test_bad_token(self, gocardless: FakeGoCardless) -> None:
        ctx = make_ctx(gocardless, secrets={"access_token": "wrong", "webhook_secret": "x"})
        with pytest.raises(ProviderError) as caught:
            provider.sync_customer(ctx, customer())
        assert (caught.value.code, caught.value.http_status, caught.value.retryable) == (
            "authentication_failed",
            401,
            False,
        )

    def test_a_server_error_is_retryable_and_not_retried(
        self, gocardless: FakeGoCardless, ctx: ProviderContext
    ) -> None:
        gocardless.fail_next(status=500)
        with pytest.raises(ProviderError) as caught:
            provider.sync_customer(ctx, customer())
        assert (caught.value.http_status, caught.value.retryable) == (500, True)
        assert len(gocardless.calls("POST", "/customers")) == 1

    def test_rate_limited_is_retryable(self, gocardless: FakeGoCardless, ctx: ProviderContext) -> None:
        gocardless.fail_next(status=429)
        with pytest.raises(ProviderError) as caught:
            provider.sync_customer(ctx, customer())
        assert caught.value.retryable

    def test_a_slow_answer_is_a_retryable_timeout(self, gocardless: FakeGoCardless) -> None:
        ctx = make_ctx(gocardless, timeout=0.3)
        gocardless.fail_next(status=None, delay=1.0)
        with pytest.raises(ProviderError) as caught:
            provider.sync_customer(ctx, customer())
        assert (caught.value.code, caught.value.retryable) == ("timeout", True)
        assert len(gocardless.calls("POST", "/customers")) == 1  # no retry by the SDK

    def test_an_unreachable_api_is_retryable(self, gocardless: FakeGoCardless) -> None:
        ctx = make_ctx(gocardless, api_base_url="http://127.0.0.1:9")
        with pytest.raises(ProviderError) as caught:
            provider.sync_customer(ctx, customer())
        assert (caught.value.code, caught.value.retryable) == ("connection_error", True)
