"""Salesforce CRM provider (``simple-salesforce``)."""

from billow.providers.salesforce.provider import SalesforceProvider

__all__ = ["SalesforceProvider"]
