"""Hosted pages (Checkout in payment and setup mode), the customer's methods, refunds; the registry and
the configuration's validation."""

from __future__ import annotations

import pytest

from billow.providers.interface import CustomerData, PaymentMethodData, ProviderContext, ProviderError
from billow.providers.registry import providers, reload
from billow.providers.stripe import StripeProvider
from tests.fixtures.standins.stripe import FakeStripe, decode_form
from tests.providers.stripe.conftest import ORGANIZATION_ID, customer_data, payable


def test_payment_url_is_a_checkout_session_in_payment_mode(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext, stripe_customer: CustomerData
) -> None:
    ctx.settings = {
        "success_redirect_url": "https://shop.example.com/thanks",
        "payment_method_types": ["card", "sepa_debit"],
    }
    to_pay = payable(stripe_customer, amount_cents=500, currency="JPY")

    url = provider.payment_url(ctx, to_pay)

    (request,) = stripe_api.calls("POST", r"/v1/checkout/sessions")
    metadata = {
        "billow_payable_type": "invoice",
        "billow_payable_id": to_pay.id,
        "billow_organization_id": ORGANIZATION_ID,
        "billow_customer_id": stripe_customer.id,
    }
    assert decode_form(request.form()) == {
        "mode": "payment",
        "success_url": "https://shop.example.com/thanks",
        "payment_method_types": ["card", "sepa_debit"],
        "line_items": [
            {
                "quantity": "1",
                "price_data": {
                    "currency": "jpy",
                    "unit_amount": "500",  # ¥500: zero-decimal
                    "product_data": {"name": "Invoice BIL-2026-0007"},
                },
            }
        ],
        "payment_intent_data": {
            "description": "Invoice BIL-2026-0007",
            "metadata": metadata,
            "setup_future_usage": "off_session",
        },
        "metadata": metadata,
        "customer": stripe_customer.provider_customer_id,
    }
    (session,) = stripe_api.sessions.values()
    assert url == session["url"]
    assert session["amount_total"] == 500


def test_payment_url_defaults_to_billows_public_url(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext, stripe_customer: CustomerData
) -> None:
    provider.payment_url(ctx, payable(stripe_customer))
    form = decode_form(stripe_api.calls("POST", r"/v1/checkout/sessions")[0].form())
    assert form["success_url"] == "https://billing.example.com"
    assert form["payment_method_types"] == ["card"]


def test_checkout_url_is_a_setup_session(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext, stripe_customer: CustomerData
) -> None:
    url = provider.checkout_url(ctx, stripe_customer)

    (request,) = stripe_api.calls("POST", r"/v1/checkout/sessions")
    metadata = {"billow_customer_id": stripe_customer.id, "billow_organization_id": ORGANIZATION_ID}
    assert decode_form(request.form()) == {
        "mode": "setup",
        "customer": stripe_customer.provider_customer_id,
        "success_url": "https://billing.example.com",
        "payment_method_types": ["card"],
        "setup_intent_data": {"metadata": metadata},
        "metadata": metadata,
    }
    assert url.startswith("https://checkout.stripe.com/c/pay/cs_test_")


def test_checkout_url_needs_a_synced_customer(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext
) -> None:
    with pytest.raises(ProviderError) as caught:
        provider.checkout_url(ctx, customer_data())
    assert caught.value.code == "customer_not_synced"
    assert stripe_api.requests == []


def test_payment_methods_flag_the_default(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext, stripe_customer: CustomerData
) -> None:
    customer_id = stripe_customer.provider_customer_id or ""
    visa = stripe_api.attach_card(customer_id, default=True)
    master = stripe_api.attach_card(customer_id, "mastercard")
    stripe_api.attach_card(provider.sync_customer(ctx, customer_data(id="other")).external_id)  # not hers

    found = provider.payment_methods(ctx, stripe_customer)

    assert found == [
        PaymentMethodData(
            master["id"],
            "card",
            False,
            {
                "brand": "mastercard",
                "last4": "4444",
                "exp_month": 12,
                "exp_year": 2034,
                "funding": "credit",
                "country": "US",
            },
        ),
        PaymentMethodData(
            visa["id"],
            "card",
            True,
            {
                "brand": "visa",
                "last4": "4242",
                "exp_month": 12,
                "exp_year": 2034,
                "funding": "credit",
                "country": "US",
            },
        ),
    ]


def test_payment_methods_follow_pages(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext, stripe_customer: CustomerData
) -> None:
    for _ in range(101):  # one more than a page of 100
        stripe_api.attach_card(stripe_customer.provider_customer_id or "")
    found = provider.payment_methods(ctx, stripe_customer)
    assert len({method.provider_method_id for method in found}) == 101
    pages = stripe_api.calls("GET", r"/v1/payment_methods")
    assert [page.query.get("starting_after") for page in pages] == [None, [found[99].provider_method_id]]


def test_a_refund(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext, stripe_customer: CustomerData
) -> None:
    stripe_api.attach_card(stripe_customer.provider_customer_id or "", default=True)
    paid = provider.create_payment(ctx, payable(stripe_customer, amount_cents=500, currency="HUF"), "pay")
    metadata = {"billow_credit_note_id": "cn-1", "billow_organization_id": ORGANIZATION_ID}

    refund = provider.refund(ctx, paid.provider_payment_id, 200, "HUF", "refund-1", metadata)

    (request,) = stripe_api.calls("POST", r"/v1/refunds")
    assert request.headers["idempotency-key"] == "refund-1"
    assert decode_form(request.form()) == {
        "payment_intent": paid.provider_payment_id,
        "amount": "20000",  # 200 Ft → Stripe's two decimals
        "metadata": metadata,
    }
    assert (refund.status, refund.amount_cents, refund.currency) == ("succeeded", 200, "HUF")
    assert refund.provider_refund_id in stripe_api.refunds

    again = provider.refund(ctx, paid.provider_payment_id, 200, "HUF", "refund-1", metadata)
    assert again == refund and len(stripe_api.refunds) == 1  # a retried refund refunds once


def test_a_refund_larger_than_the_payment(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext, stripe_customer: CustomerData
) -> None:
    stripe_api.attach_card(stripe_customer.provider_customer_id or "", default=True)
    paid = provider.create_payment(ctx, payable(stripe_customer), "pay")
    with pytest.raises(ProviderError) as caught:
        provider.refund(ctx, paid.provider_payment_id, 1051, "EUR", "refund-1", {})
    assert (caught.value.code, caught.value.retryable, caught.value.http_status) == (
        "amount_too_large",
        False,
        400,
    )
    assert stripe_api.refunds == {}


def test_the_registry_finds_stripe() -> None:
    reload()
    assert isinstance(providers()["stripe"], StripeProvider)


@pytest.mark.parametrize(
    ("settings", "secrets", "errors"),
    [
        ({}, {"secret_key": "sk_test_51Abc", "webhook_secret": "whsec_abc"}, {}),
        ({}, {"secret_key": "sk_live_51Abc", "webhook_secret": "whsec_abc"}, {}),
        ({}, {"secret_key": "rk_live_51Abc", "webhook_secret": "whsec_abc"}, {}),
        (
            {},
            {"secret_key": "pk_test_51Abc", "webhook_secret": "abc"},
            {"secret_key": ["value_is_invalid"], "webhook_secret": ["value_is_invalid"]},
        ),
        (
            {},
            {"secret_key": "sk_test_", "webhook_secret": "whsec_ x"},
            {"secret_key": ["value_is_invalid"], "webhook_secret": ["value_is_invalid"]},
        ),
        (
            {
                "success_redirect_url": "https://shop.example.com/ok",
                "payment_method_types": ["card", "sepa_debit"],
            },
            {},
            {},
        ),
        (
            {"success_redirect_url": "javascript:alert(1)", "payment_method_types": []},
            {},
            {"success_redirect_url": ["url_is_invalid"], "payment_method_types": ["value_is_invalid"]},
        ),
        ({"payment_method_types": "card"}, {}, {"payment_method_types": ["value_is_invalid"]}),
        ({"payment_method_types": ["Card!"]}, {}, {"payment_method_types": ["value_is_invalid"]}),
    ],
)
def test_validate(settings: dict[str, object], secrets: dict[str, str], errors: dict[str, list[str]]) -> None:
    assert StripeProvider().validate(settings, secrets) == errors


def test_declared_fields() -> None:
    assert StripeProvider.secret_fields == {"secret_key": True, "webhook_secret": True}
    assert StripeProvider.settings_fields == {"success_redirect_url": False, "payment_method_types": False}
