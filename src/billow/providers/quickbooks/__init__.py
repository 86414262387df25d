"""QuickBooks Online, an accounting provider."""

from billow.providers.quickbooks.provider import QuickBooksProvider

__all__ = ["QuickBooksProvider"]
