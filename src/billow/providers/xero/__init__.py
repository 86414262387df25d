"""Xero, an accounting provider."""

from billow.providers.xero.provider import XeroProvider

__all__ = ["XeroProvider"]
