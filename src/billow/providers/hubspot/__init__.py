"""HubSpot CRM provider (``hubspot-api-client``)."""

from billow.providers.hubspot.provider import HubSpotProvider

__all__ = ["HubSpotProvider"]
