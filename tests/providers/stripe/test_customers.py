"""sync_customer against the stand-in, and the error mapping every call shares."""

from __future__ import annotations

import pytest
import stripe

from billow.providers.interface import ProviderContext, ProviderError
from billow.providers.stripe import StripeProvider
from billow.providers.stripe.provider import provider_error
from tests.fixtures.standins.stripe import FakeStripe, decode_form
from tests.providers.stripe.conftest import ORGANIZATION_ID, customer_data


def test_create_sends_stripes_form_and_an_idempotency_key(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext
) -> None:
    result = provider.sync_customer(ctx, customer_data())

    (request,) = stripe_api.calls("POST", r"/v1/customers")
    assert request.headers["authorization"] == "Bearer sk_test_billow_standin"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.headers["idempotency-key"].startswith(f"billow-customer-{ORGANIZATION_ID}-stripe_eu-")
    assert decode_form(request.form()) == {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "phone": "+33 1 23 45 67 89",
        "address": {"line1": "1 rue de la Paix", "city": "Paris", "postal_code": "75002", "country": "FR"},
        "metadata": {
            "billow_customer_id": customer_data().id,
            "billow_organization_id": ORGANIZATION_ID,
            "external_id": "cust-ext-42",
        },
    }
    stored = stripe_api.customers[result.external_id]
    assert stored["email"] == "ada@example.com"
    assert result.external_url == f"https://dashboard.stripe.com/test/customers/{result.external_id}"


def test_a_retried_creation_creates_one_customer(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext
) -> None:
    first = provider.sync_customer(ctx, customer_data())
    again = provider.sync_customer(ctx, customer_data())  # the answer was lost: the job retries

    assert first.external_id == again.external_id
    assert len(stripe_api.customers) == 1
    keys = {r.headers["idempotency-key"] for r in stripe_api.calls("POST", r"/v1/customers")}
    assert len(keys) == 1


def test_a_known_customer_is_updated_never_created(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext
) -> None:
    created = provider.sync_customer(ctx, customer_data())
    changed = customer_data(provider_customer_id=created.external_id, name="Ada King", phone=None)

    updated = provider.sync_customer(ctx, changed)

    assert updated.external_id == created.external_id
    assert len(stripe_api.calls("POST", r"/v1/customers")) == 1
    (request,) = stripe_api.calls("POST", rf"/v1/customers/{created.external_id}")
    assert decode_form(request.form())["phone"] == ""  # Stripe's way to clear a field
    assert stripe_api.customers[created.external_id]["name"] == "Ada King"
    assert stripe_api.customers[created.external_id]["phone"] is None
    assert len(stripe_api.customers) == 1


def test_an_unknown_customer_is_stripes_404(provider: StripeProvider, ctx: ProviderContext) -> None:
    with pytest.raises(ProviderError) as caught:
        provider.sync_customer(ctx, customer_data(provider_customer_id="cus_gone"))
    assert (caught.value.code, caught.value.retryable, caught.value.http_status) == (
        "resource_missing",
        False,
        404,
    )


def test_a_wrong_key_is_not_retried(provider: StripeProvider, ctx: ProviderContext) -> None:
    ctx.secrets = {**ctx.secrets, "secret_key": "sk_test_wrong_key_1234"}
    with pytest.raises(ProviderError) as caught:
        provider.sync_customer(ctx, customer_data())
    assert (caught.value.code, caught.value.retryable, caught.value.http_status) == ("http_401", False, 401)
    assert "sk_test_wrong_key_1234" not in caught.value.message


@pytest.mark.parametrize(("status", "code"), [(500, "http_500"), (503, "http_503"), (429, "rate_limit")])
def test_server_errors_and_rate_limits_are_retryable(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext, status: int, code: str
) -> None:
    stripe_api.fail_next(status=status)
    with pytest.raises(ProviderError) as caught:
        provider.sync_customer(ctx, customer_data())
    assert (caught.value.code, caught.value.retryable, caught.value.http_status) == (code, True, status)
    assert len(stripe_api.requests) == 1  # the SDK did not retry on its own
    assert provider.sync_customer(ctx, customer_data()).external_id  # the framework's retry succeeds


def test_a_slow_stripe_is_a_retryable_timeout(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext
) -> None:
    ctx.timeout = 0.3
    stripe_api.fail_next(status=500, delay=1.0)  # answers after the client gave up; changes nothing
    with pytest.raises(ProviderError) as caught:
        provider.sync_customer(ctx, customer_data())
    assert (caught.value.code, caught.value.retryable) == ("timeout", True)
    assert len(stripe_api.requests) == 1


def test_an_unreachable_stripe_is_retryable(provider: StripeProvider, ctx: ProviderContext) -> None:
    ctx.api_base_url = "http://127.0.0.1:9"  # discard port: nothing listens
    with pytest.raises(ProviderError) as caught:
        provider.sync_customer(ctx, customer_data())
    assert caught.value.retryable is True
    assert caught.value.code in ("connection_error", "timeout")


def test_a_missing_key_never_calls_stripe(
    stripe_api: FakeStripe, provider: StripeProvider, ctx: ProviderContext
) -> None:
    ctx.secrets = {"webhook_secret": "whsec_x"}
    with pytest.raises(ProviderError) as caught:
        provider.sync_customer(ctx, customer_data())
    assert caught.value.code == "missing_secret_key"
    assert stripe_api.requests == []


@pytest.mark.parametrize(
    ("error", "code", "retryable"),
    [
        # a concurrent request on the same object: Stripe's lock_timeout, retried
        (
            stripe.APIError("busy", http_status=409, json_body={"error": {"code": "lock_timeout"}}),
            "lock_timeout",
            True,
        ),
        # Stripe says whether to retry, and its word wins over the status
        (
            stripe.APIError("later", http_status=400, headers={"stripe-should-retry": "true"}),
            "http_400",
            True,
        ),
        (
            stripe.APIError("never", http_status=503, headers={"stripe-should-retry": "false"}),
            "http_503",
            False,
        ),
        (stripe.PermissionError("no", http_status=403), "http_403", False),
        (stripe.APIConnectionError("reset"), "connection_error", True),
    ],
)
def test_error_mapping(error: stripe.StripeError, code: str, retryable: bool) -> None:
    mapped = provider_error(error)
    assert (mapped.code, mapped.retryable) == (code, retryable)
