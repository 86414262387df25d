"""``GET /customers/{external_customer_id}/portal_url``: a signed link to the customer's portal page
(:mod:`billow.portal.links`), valid ``BILLOW_PORTAL_LINK_TTL_HOURS`` (24 by default). 404
``customer_not_found`` for an unknown (or another organization's, or deleted) customer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends

from billow.auth import CurrentOrganization
from billow.config import current_settings
from billow.customers.service import customer_service
from billow.db import DbSession
from billow.kit.schemas import Output
from billow.kit.strict_json import StrictJSONRoute
from billow.portal.links import portal_url
from billow.subscriptions.dependencies import request_time

router = APIRouter(tags=["customers"], route_class=StrictJSONRoute)


class PortalUrlOut(Output):
    portal_url: str


class PortalUrlEnvelope(Output):
    customer: PortalUrlOut


@router.get("/customers/{external_customer_id}/portal_url", response_model=PortalUrlEnvelope)
def customer_portal_url(
    external_customer_id: str,
    session: DbSession,
    organization: CurrentOrganization,
    now: Annotated[datetime, Depends(request_time)],
) -> PortalUrlEnvelope:
    customer = customer_service.get(session, organization, external_customer_id)
    url = portal_url(current_settings(), organization.id, customer.id, now=int(now.timestamp()))
    return PortalUrlEnvelope(customer=PortalUrlOut(portal_url=url))
