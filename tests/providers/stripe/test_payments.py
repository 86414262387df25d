"""create_payment: an off-session PaymentIntent confirmed at once, its outcomes and its refusals."""

from __future__ import annotations

import pytest

from billow.providers.interface import CustomerData, PaymentStatus, ProviderContext, ProviderError
from billow.providers.stripe import StripeProvider
from tests.fixtures.standins.stripe import FakeStripe, decode_form
from tests.providers.stripe.conftest import ORGANIZATION_ID, payable


def test_a_saved_card_pays(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext, stripe_customer: CustomerData
) -> None:
    card = stripe_api.attach_card(stripe_customer.provider_customer_id or "", default=True)
    to_pay = payable(stripe_customer)

    result = provider.create_payment(ctx, to_pay, "billow-payment-1")

    (request,) = stripe_api.calls("POST", r"/v1/payment_intents")
    assert request.headers["idempotency-key"] == "billow-payment-1"
    assert decode_form(request.form()) == {
        "amount": "1050",  # 10.50 EUR in cents
        "currency": "eur",
        "customer": stripe_customer.provider_customer_id,
        "payment_method": card["id"],
        "payment_method_types": ["card"],
        "confirm": "true",
        "off_session": "true",
        "description": "Invoice BIL-2026-0007",
        "metadata": {
            "billow_payable_type": "invoice",
            "billow_payable_id": to_pay.id,
            "billow_organization_id": ORGANIZATION_ID,
            "billow_customer_id": stripe_customer.id,
        },
    }
    assert result.status is PaymentStatus.SUCCEEDED
    assert result.provider_status == "succeeded"
    assert (result.amount_cents, result.currency) == (1050, "EUR")
    assert result.provider_payment_id in stripe_api.payment_intents
    assert result.payment_method == {"id": card["id"]}


def test_a_retried_payment_charges_once(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext, stripe_customer: CustomerData
) -> None:
    stripe_api.attach_card(stripe_customer.provider_customer_id or "", default=True)
    first = provider.create_payment(ctx, payable(stripe_customer), "billow-payment-1")
    again = provider.create_payment(ctx, payable(stripe_customer), "billow-payment-1")

    assert first == again
    assert len(stripe_api.payment_intents) == 1


@pytest.mark.parametrize(
    ("cents", "currency", "sent"),
    [(500, "JPY", "500"), (500, "HUF", "50000"), (1230, "KWD", "1230")],
    # ¥500 whole yen; 500 Ft → Stripe's two decimals (500 * 100); 1.230 KWD in thousandths
)
def test_amounts_in_stripes_units(
    stripe_api: FakeStripe,
    provider: StripeProvider,
    ctx: ProviderContext,
    stripe_customer: CustomerData,
    cents: int,
    currency: str,
    sent: str,
) -> None:
    stripe_api.attach_card(stripe_customer.provider_customer_id or "", default=True)
    result = provider.create_payment(
        ctx, payable(stripe_customer, amount_cents=cents, currency=currency), "k"
    )
    form = stripe_api.calls("POST", r"/v1/payment_intents")[0].form_one()
    assert (form["amount"], form["currency"]) == (sent, currency.lower())
    assert (result.amount_cents, result.currency) == (cents, currency)


def test_an_amount_stripe_cannot_take_is_refused_before_calling(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext, stripe_customer: CustomerData
) -> None:
    stripe_api.attach_card(stripe_customer.provider_customer_id or "", default=True)
    with pytest.raises(ProviderError) as caught:
        provider.create_payment(ctx, payable(stripe_customer, amount_cents=1234, currency="KWD"), "k")
    assert (caught.value.code, caught.value.retryable) == ("invalid_amount", False)
    assert stripe_api.calls("POST", r"/v1/payment_intents") == []


def test_the_method_chosen(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext, stripe_customer: CustomerData
) -> None:
    customer_id = stripe_customer.provider_customer_id or ""
    older = stripe_api.attach_card(customer_id)
    newer = stripe_api.attach_card(customer_id, "mastercard")

    # no default: the first card Stripe lists (the newest)
    provider.create_payment(ctx, payable(stripe_customer), "k1")
    assert stripe_api.calls("POST", r"/v1/payment_intents")[-1].form_one()["payment_method"] == newer["id"]
    (listing,) = stripe_api.calls("GET", r"/v1/payment_methods")
    assert (listing.query["customer"], listing.query["type"]) == ([customer_id], ["card"])

    # the customer's default wins over the list
    stripe_api.customers[customer_id]["invoice_settings"]["default_payment_method"] = older["id"]
    provider.create_payment(ctx, payable(stripe_customer), "k2")
    assert stripe_api.calls("POST", r"/v1/payment_intents")[-1].form_one()["payment_method"] == older["id"]

    # the payable's own methods win over the default
    chosen = payable(stripe_customer, payment_method_ids=(newer["id"], older["id"]))
    provider.create_payment(ctx, chosen, "k3")
    assert stripe_api.calls("POST", r"/v1/payment_intents")[-1].form_one()["payment_method"] == newer["id"]
    assert len(stripe_api.calls("GET", r"/v1/customers/.*")) == 2  # not looked up for k3


def test_no_method_at_all(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext, stripe_customer: CustomerData
) -> None:
    with pytest.raises(ProviderError) as caught:
        provider.create_payment(ctx, payable(stripe_customer), "k")
    assert (caught.value.code, caught.value.retryable) == ("no_payment_method", False)
    assert stripe_api.calls("POST", r"/v1/payment_intents") == []


def test_a_customer_never_synced(provider: StripeProvider, ctx: ProviderContext) -> None:
    from tests.providers.stripe.conftest import customer_data

    with pytest.raises(ProviderError) as caught:
        provider.create_payment(ctx, payable(customer_data()), "k")
    assert (caught.value.code, caught.value.retryable) == ("customer_not_synced", False)


def test_a_declined_card_is_a_failed_payment(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext, stripe_customer: CustomerData
) -> None:
    stripe_api.attach_card(stripe_customer.provider_customer_id or "", "declined", default=True)

    result = provider.create_payment(ctx, payable(stripe_customer), "k")

    assert result.status is PaymentStatus.FAILED
    assert result.provider_status == "requires_payment_method"
    assert result.provider_payment_id in stripe_api.payment_intents
    assert (result.error_code, result.error_message) == ("card_declined", "Your card has insufficient funds.")
    assert result.payment_method is not None and result.payment_method["last4"] == "0002"
    assert result.amount_cents == 1050


def test_a_card_error_without_a_payment_intent(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext, stripe_customer: CustomerData
) -> None:
    stripe_api.attach_card(stripe_customer.provider_customer_id or "", default=True)
    stripe_api.card_error_next = {
        "code": "expired_card",
        "decline_code": "expired_card",
        "param": "exp_month",
        "message": "Your card has expired.",
    }
    with pytest.raises(ProviderError) as caught:
        provider.create_payment(ctx, payable(stripe_customer), "k")
    error = caught.value
    assert (error.code, error.retryable, error.http_status) == ("expired_card", False, 402)
    assert error.details["decline_code"] == "expired_card"
    assert error.details["type"] == "card_error"
    assert error.message == "Your card has expired."


def test_three_d_secure_requires_action(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext, stripe_customer: CustomerData
) -> None:
    stripe_api.attach_card(stripe_customer.provider_customer_id or "", "3ds", default=True)

    result = provider.create_payment(ctx, payable(stripe_customer), "k")

    assert result.status is PaymentStatus.REQUIRES_ACTION
    assert result.next_action_url == f"{stripe_api.url}/3ds/{result.provider_payment_id}"
    assert result.error_code is None


def test_an_invalid_request_is_not_retried(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext, stripe_customer: CustomerData
) -> None:
    with pytest.raises(ProviderError) as caught:
        provider.create_payment(ctx, payable(stripe_customer, payment_method_ids=("pm_unknown",)), "k")
    assert (caught.value.code, caught.value.retryable, caught.value.http_status) == (
        "resource_missing",
        False,
        404,
    )


def test_a_key_reused_with_other_parameters(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext, stripe_customer: CustomerData
) -> None:
    stripe_api.attach_card(stripe_customer.provider_customer_id or "", default=True)
    provider.create_payment(ctx, payable(stripe_customer), "k")
    with pytest.raises(ProviderError) as caught:
        provider.create_payment(ctx, payable(stripe_customer, amount_cents=2000), "k")
    assert (caught.value.code, caught.value.retryable) == ("idempotency_error", False)


@pytest.mark.parametrize("status", [500, 502])
def test_a_server_error_on_payment_is_retryable_and_the_retry_charges_once(
    stripe_api: FakeStripe,
    provider: StripeProvider,
    ctx: ProviderContext,
    stripe_customer: CustomerData,
    status: int,
) -> None:
    card = stripe_api.attach_card(stripe_customer.provider_customer_id or "")
    to_pay = payable(stripe_customer, payment_method_ids=(card["id"],))
    stripe_api.fail_next(status=status)
    with pytest.raises(ProviderError) as caught:
        provider.create_payment(ctx, to_pay, "k")
    assert (caught.value.code, caught.value.retryable, caught.value.http_status) == (
        f"http_{status}",
        True,
        status,
    )
    assert len(stripe_api.calls("POST", r"/v1/payment_intents")) == 1  # no retry by the SDK
    assert provider.create_payment(ctx, to_pay, "k").status is PaymentStatus.SUCCEEDED
    assert provider.create_payment(ctx, to_pay, "k").status is PaymentStatus.SUCCEEDED
    assert len(stripe_api.payment_intents) == 1


def test_a_timeout_on_payment_is_retryable(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext, stripe_customer: CustomerData
) -> None:
    card = stripe_api.attach_card(stripe_customer.provider_customer_id or "")
    ctx.timeout = 0.3
    stripe_api.fail_next(status=500, delay=1.0)
    with pytest.raises(ProviderError) as caught:
        provider.create_payment(ctx, payable(stripe_customer, payment_method_ids=(card["id"],)), "k")
    assert (caught.value.code, caught.value.retryable) == ("timeout", True)
