"""PayPal (Orders v2, Payments v2, webhooks verified by PayPal's API) through ``paypal-server-sdk``."""

from billow.providers.paypal.provider import PayPalProvider

__all__ = ["PayPalProvider"]
