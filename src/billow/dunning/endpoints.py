from __future__ import annotations

from fastapi import APIRouter

from billow.auth import CurrentOrganization
from billow.db import DbSession
from billow.dunning.repository import dunning_repository
from billow.dunning.schemas import DunningCampaignEnvelope, DunningCampaignList, DunningCampaignRequest
from billow.dunning.service import dunning_campaign_service
from billow.dunning.views import render_campaigns
from billow.kit.pagination import Pagination, paginate
from billow.kit.strict_json import StrictJSONRoute

router = APIRouter(tags=["dunning_campaigns"], route_class=StrictJSONRoute)


@router.post("/dunning_campaigns", response_model=DunningCampaignEnvelope)
def create(
    body: DunningCampaignRequest, session: DbSession, organization: CurrentOrganization
) -> DunningCampaignEnvelope:
    campaign = dunning_campaign_service.create(session, organization, body.dunning_campaign)
    [out] = render_campaigns(session, organization, [campaign])
    return DunningCampaignEnvelope(dunning_campaign=out)


@router.get("/dunning_campaigns", response_model=DunningCampaignList)
def index(session: DbSession, organization: CurrentOrganization, pages: Pagination) -> DunningCampaignList:
    campaigns, meta = paginate(session, dunning_repository.list_stmt(organization.id), pages)
    return DunningCampaignList(
        dunning_campaigns=render_campaigns(session, organization, campaigns), meta=meta
    )


@router.get("/dunning_campaigns/{code}", response_model=DunningCampaignEnvelope)
def show(code: str, session: DbSession, organization: CurrentOrganization) -> DunningCampaignEnvelope:
    campaign = dunning_campaign_service.get(session, organization, code)
    [out] = render_campaigns(session, organization, [campaign])
    return DunningCampaignEnvelope(dunning_campaign=out)


@router.put("/dunning_campaigns/{code}", response_model=DunningCampaignEnvelope)
def update(
    code: str, body: DunningCampaignRequest, session: DbSession, organization: CurrentOrganization
) -> DunningCampaignEnvelope:
    campaign = dunning_campaign_service.update(session, organization, code, body.dunning_campaign)
    [out] = render_campaigns(session, organization, [campaign])
    return DunningCampaignEnvelope(dunning_campaign=out)


@router.delete("/dunning_campaigns/{code}", response_model=DunningCampaignEnvelope)
def destroy(code: str, session: DbSession, organization: CurrentOrganization) -> DunningCampaignEnvelope:
    campaign = dunning_campaign_service.delete(session, organization, code)
    [out] = render_campaigns(session, organization, [campaign])
    return DunningCampaignEnvelope(dunning_campaign=out)
