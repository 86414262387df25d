"""The PayPal provider against the PayPal stand-in: orders, captures, refunds, tokens, errors."""

from __future__ import annotations

import base64
import time
from dataclasses import replace

import pytest

from billow.providers import registry
from billow.providers.interface import PaymentStatus, ProviderContext, ProviderError
from billow.providers.paypal import PayPalProvider
from billow.providers.paypal.client import PayPalClient
from tests.fixtures.standins.paypal import FakePayPal
from tests.providers.paypal.helpers import CUSTOMER, INVOICE, ORG, customer, make_ctx, payable

provider = PayPalProvider()


def test_the_registry_finds_paypal() -> None:
    registry.reload()
    assert isinstance(registry.get("paypal"), PayPalProvider)


def test_validate() -> None:
    good = {"webhook_id": "8PT597110X687430LKGECATA", "environment": "live"}
    assert provider.validate(good, {"client_id": "AY1", "client_secret": "EG1"}) == {}
    bad = {"webhook_id": "not an id", "environment": "prod", "return_url": "ftp://x"}
    assert provider.validate(bad, {"client_id": " ", "client_secret": "a b"}) == {
        "environment": ["value_is_invalid"],
        "webhook_id": ["value_is_invalid"],
        "return_url": ["value_is_invalid"],
        "client_id": ["value_is_invalid"],
        "client_secret": ["value_is_invalid"],
    }


class TestCreatePayment:
    def test_a_vaulted_method_is_charged(self, paypal: FakePayPal, ctx: ProviderContext) -> None:
        result = provider.create_payment(ctx, payable(), "idem-1")

        (token_call,) = paypal.calls("POST", "/v1/oauth2/token")
        basic = base64.b64encode(b"AYclient:EGsecret").decode()
        assert token_call.headers["authorization"] == f"Basic {basic}"
        (call,) = paypal.calls("POST", "/v2/checkout/orders")
        assert call.headers["paypal-request-id"] == "idem-1"
        assert call.headers["authorization"].startswith("Bearer A21AA")
        assert call.json() == {
            "intent": "CAPTURE",
            "purchase_units": [
                {
                    "reference_id": INVOICE,
                    "description": "INV-2026-0001",
                    "custom_id": f"invoice:{INVOICE}:{ORG}:{CUSTOMER}",
                    "invoice_id": INVOICE,
                    "amount": {"currency_code": "EUR", "value": "10.50"},  # 1050 cents
                }
            ],
            "payment_source": {"paypal": {"vault_id": "8kk8451t"}},
        }
        capture = paypal.captures[result.provider_payment_id]
        assert result.status is PaymentStatus.SUCCEEDED
        assert result.provider_status == "COMPLETED"
        assert (result.amount_cents, result.currency) == (1050, "EUR")
        assert capture["amount"] == {"currency_code": "EUR", "value": "10.50"}
        assert ctx.secret_updates["access_token"] in paypal.tokens

    def test_a_retried_call_charges_once(self, paypal: FakePayPal, ctx: ProviderContext) -> None:
        first = provider.create_payment(ctx, payable(), "idem-1")
        again = provider.create_payment(ctx, payable(), "idem-1")
        assert again.provider_payment_id == first.provider_payment_id
        assert len(paypal.orders) == 1 and len(paypal.captures) == 1

    def test_a_declined_capture_is_a_failed_payment(self, paypal: FakePayPal, ctx: ProviderContext) -> None:
        paypal.declined.add("8kk8451t")
        result = provider.create_payment(ctx, payable(), "idem-1")
        assert result.status is PaymentStatus.FAILED
        assert result.error_code == "DECLINED_BY_RISK_FRAUD_FILTERS"

    def test_paypal_asking_the_buyer_again(self, paypal: FakePayPal, ctx: ProviderContext) -> None:
        paypal.needs_payer.add("8kk8451t")
        result = provider.create_payment(ctx, payable(), "idem-1")
        (order_id,) = paypal.orders
        assert (result.provider_payment_id, result.status) == (order_id, PaymentStatus.REQUIRES_ACTION)
        assert result.provider_status == "PAYER_ACTION_REQUIRED"
        assert result.next_action_url == f"https://www.sandbox.paypal.com/checkoutnow?token={order_id}"
        assert paypal.captures == {}

    def test_without_a_saved_method_nothing_is_called(self, paypal: FakePayPal, ctx: ProviderContext) -> None:
        with pytest.raises(ProviderError) as caught:
            provider.create_payment(ctx, payable(methods=()), "idem-1")
        assert caught.value.code == "no_payment_method"
        assert not caught.value.retryable
        assert paypal.requests == []

    def test_without_a_method_the_vault_s_first_token_is_charged(
        self, paypal: FakePayPal, ctx: ProviderContext
    ) -> None:
        card = paypal.add_payment_token("VAULTCUST1", "card")
        paypal.add_payment_token("OTHERCUST", "paypal")  # another customer's: never used
        vaulted = replace(payable(methods=()), customer=customer(provider_customer_id="VAULTCUST1"))
        result = provider.create_payment(ctx, vaulted, "idem-1")
        assert result.status is PaymentStatus.SUCCEEDED
        (order,) = paypal.orders.values()
        assert order["payment_source"] == {"card": {"vault_id": card["id"]}}

    def test_an_empty_vault_is_no_payment_method(self, paypal: FakePayPal, ctx: ProviderContext) -> None:
        vaulted = replace(payable(methods=()), customer=customer(provider_customer_id="VAULTCUST1"))
        with pytest.raises(ProviderError) as caught:
            provider.create_payment(ctx, vaulted, "idem-1")
        assert (caught.value.code, caught.value.retryable) == ("no_payment_method", False)
        assert paypal.orders == {}

    def test_a_zero_decimal_currency(self, paypal: FakePayPal, ctx: ProviderContext) -> None:
        result = provider.create_payment(ctx, payable(amount_cents=1500, currency="JPY"), "idem-1")
        (call,) = paypal.calls("POST", "/v2/checkout/orders")
        assert call.json()["purchase_units"][0]["amount"] == {"currency_code": "JPY", "value": "1500"}
        assert (result.amount_cents, result.currency) == (1500, "JPY")


class TestPaymentUrl:
    def test_an_order_for_the_buyer_to_approve(self, paypal: FakePayPal, ctx: ProviderContext) -> None:
        url = provider.payment_url(ctx, payable(amount_cents=2599, methods=()))
        (order_id,) = paypal.orders
        assert url == f"https://www.sandbox.paypal.com/checkoutnow?token={order_id}"
        (call,) = paypal.calls("POST", "/v2/checkout/orders")
        body = call.json()
        assert body["intent"] == "CAPTURE"
        assert body["purchase_units"][0]["amount"] == {"currency_code": "EUR", "value": "25.99"}
        assert body["purchase_units"][0]["custom_id"] == f"invoice:{INVOICE}:{ORG}:{CUSTOMER}"
        context = body["payment_source"]["paypal"]["experience_context"]
        assert context["return_url"] == "https://billow.example.com"
        assert call.headers["paypal-request-id"] == f"billow-order:invoice:{INVOICE}:2599"

    def test_asking_twice_gives_the_same_order(self, paypal: FakePayPal, ctx: ProviderContext) -> None:
        first = provider.payment_url(ctx, payable(methods=()))
        assert provider.payment_url(ctx, payable(methods=())) == first
        assert len(paypal.orders) == 1


class TestRefund:
    def test_a_partial_refund(self, paypal: FakePayPal, ctx: ProviderContext) -> None:
        payment = provider.create_payment(ctx, payable(), "idem-1")
        metadata = {"billow_payable_type": "invoice", "billow_payable_id": INVOICE}
        refund = provider.refund(ctx, payment.provider_payment_id, 250, "EUR", "refund-1", metadata)
        (call,) = paypal.calls("POST", r"/v2/payments/captures/[A-Z0-9]+/refund")
        assert call.path == f"/v2/payments/captures/{payment.provider_payment_id}/refund"
        assert call.headers["paypal-request-id"] == "refund-1"
        assert call.json() == {
            "amount": {"value": "2.50", "currency_code": "EUR"},  # 250 cents
            "custom_id": f"invoice:{INVOICE}",
        }
        assert (refund.status, refund.amount_cents, refund.currency) == ("succeeded", 250, "EUR")
        assert paypal.captures[payment.provider_payment_id]["status"] == "PARTIALLY_REFUNDED"
        again = provider.refund(ctx, payment.provider_payment_id, 250, "EUR", "refund-1", metadata)
        assert again.provider_refund_id == refund.provider_refund_id
        assert len(paypal.refunds) == 1

    def test_refunding_more_than_captured_is_refused(self, paypal: FakePayPal, ctx: ProviderContext) -> None:
        payment = provider.create_payment(ctx, payable(), "idem-1")
        with pytest.raises(ProviderError) as caught:
            provider.refund(ctx, payment.provider_payment_id, 1051, "EUR", "refund-1", {})
        assert (caught.value.code, caught.value.http_status) == ("REFUND_AMOUNT_EXCEEDED", 422)
        assert not caught.value.retryable


class TestToken:
    def test_a_cached_token_is_used(self, paypal: FakePayPal) -> None:
        first = make_ctx(paypal)
        provider.create_payment(first, payable(), "idem-1")
        cached = make_ctx(paypal, secrets={**first.secrets, **first.secret_updates})
        provider.create_payment(cached, payable(), "idem-2")
        assert len(paypal.calls("POST", "/v1/oauth2/token")) == 1
        assert cached.secret_updates == {}

    def test_an_expiring_token_is_replaced(self, paypal: FakePayPal) -> None:
        secrets = {
            "client_id": paypal.client_id,
            "client_secret": paypal.client_secret,
            "access_token": "A21AAold",
            "access_token_expires_at": str(int(time.time()) + 30),  # within the 60 s margin
        }
        ctx = make_ctx(paypal, secrets=secrets)
        provider.create_payment(ctx, payable(), "idem-1")
        assert len(paypal.calls("POST", "/v1/oauth2/token")) == 1
        assert ctx.secret_updates["access_token"] != "A21AAold"
        assert int(ctx.secret_updates["access_token_expires_at"]) > time.time() + 32000  # expires_in 32400

    def test_a_refused_cached_token_is_replaced_once(self, paypal: FakePayPal) -> None:
        secrets = {
            "client_id": paypal.client_id,
            "client_secret": paypal.client_secret,
            "access_token": "A21AArevoked",
            "access_token_expires_at": str(int(time.time()) + 3600),
        }
        ctx = make_ctx(paypal, secrets=secrets)
        result = provider.create_payment(ctx, payable(), "idem-1")
        assert result.status is PaymentStatus.SUCCEEDED
        orders = paypal.calls("POST", "/v2/checkout/orders")
        assert [o.headers["authorization"] for o in orders] == [
            "Bearer A21AArevoked",  # 401
            f"Bearer {ctx.secret_updates['access_token']}",
        ]
        assert len(paypal.calls("POST", "/v1/oauth2/token")) == 1

    def test_bad_credentials(self, paypal: FakePayPal) -> None:
        ctx = make_ctx(paypal, secrets={"client_id": "AYclient", "client_secret": "wrong"})
        with pytest.raises(ProviderError) as caught:
            provider.create_payment(ctx, payable(), "idem-1")
        assert (caught.value.code, caught.value.http_status) == ("invalid_client", 401)
        assert not caught.value.retryable
        assert paypal.calls("POST", "/v2/checkout/orders") == []


class TestErrors:
    def test_a_server_error_is_retryable(self, paypal: FakePayPal, ctx: ProviderContext) -> None:
        provider.payment_url(ctx, payable(methods=()))  # the token is cached in ctx now
        paypal.fail_next(status=500)
        with pytest.raises(ProviderError) as caught:
            provider.create_payment(ctx, payable(), "idem-1")
        assert (caught.value.code, caught.value.http_status, caught.value.retryable) == (
            "http_500",
            500,
            True,
        )
        assert len(paypal.calls("POST", "/v2/checkout/orders")) == 2  # no retry by the SDK

    def test_rate_limited_is_retryable(self, paypal: FakePayPal, ctx: ProviderContext) -> None:
        paypal.fail_next(status=429)
        with pytest.raises(ProviderError) as caught:
            provider.create_payment(ctx, payable(), "idem-1")
        assert caught.value.retryable

    def test_a_slow_answer_is_a_retryable_timeout(self, paypal: FakePayPal) -> None:
        ctx = make_ctx(paypal, timeout=0.3)
        paypal.fail_next(status=None, delay=1.0)
        with pytest.raises(ProviderError) as caught:
            provider.create_payment(ctx, payable(), "idem-1")
        assert (caught.value.code, caught.value.retryable) == ("timeout", True)

    def test_an_unreachable_api_is_retryable(self, paypal: FakePayPal) -> None:
        ctx = make_ctx(paypal, api_base_url="http://127.0.0.1:9")
        with pytest.raises(ProviderError) as caught:
            provider.create_payment(ctx, payable(), "idem-1")
        assert (caught.value.code, caught.value.retryable) == ("connection_error", True)


class TestPaymentMethods:
    def test_the_vaulted_tokens(self, paypal: FakePayPal, ctx: ProviderContext) -> None:
        wallet = paypal.add_payment_token("VAULTCUST1")
        card = paypal.add_payment_token("VAULTCUST1", kind="card")
        paypal.add_payment_token("SOMEONEELSE")
        methods = provider.payment_methods(ctx, customer(provider_customer_id="VAULTCUST1"))
        assert [(m.provider_method_id, m.method_type, m.is_default) for m in methods] == [
            (wallet["id"], "paypal", True),
            (f"card:{card['id']}", "card", False),
        ]
        assert methods[1].details == {"brand": "VISA", "last4": "1111", "expiry": "2029-02"}
        (call,) = paypal.calls("GET", "/v3/vault/payment-tokens")
        assert call.query["customer_id"] == ["VAULTCUST1"]
        assert provider.payment_methods(ctx, customer()) == []

    def test_a_vaulted_card_is_charged_as_a_card(self, paypal: FakePayPal, ctx: ProviderContext) -> None:
        card = paypal.add_payment_token("VAULTCUST1", kind="card")
        provider.create_payment(ctx, payable(methods=(f"card:{card['id']}",)), "idem-1")
        (call,) = paypal.calls("POST", "/v2/checkout/orders")
        assert call.json()["payment_source"] == {"card": {"vault_id": card["id"]}}


def test_the_sdk_default_hosts_without_a_base_url(paypal: FakePayPal) -> None:
    live = PayPalClient(make_ctx(paypal, api_base_url=None, settings={"webhook_id": "W1"}))
    sandbox = PayPalClient(make_ctx(paypal, api_base_url=None))
    assert live.sdk.config.get_base_uri() == "https://api-m.paypal.com"
    assert sandbox.sdk.config.get_base_uri() == "https://api-m.sandbox.paypal.com"
    assert PayPalClient(make_ctx(paypal)).sdk.config.get_base_uri() == paypal.url
