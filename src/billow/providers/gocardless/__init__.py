"""GoCardless (direct debit mandates, payments, refunds, billing requests) through ``gocardless-pro``."""

from billow.providers.gocardless.provider import GoCardlessProvider

__all__ = ["GoCardlessProvider"]
