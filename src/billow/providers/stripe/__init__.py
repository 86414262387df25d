"""Stripe (payments): customers, off-session PaymentIntents, Checkout, refunds and signed webhooks."""

from billow.providers.stripe.provider import StripeProvider

__all__ = ["StripeProvider"]
