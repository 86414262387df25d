"""Request and response bodies of dunning campaigns (Lago's campaign fields, under the root key
``dunning_campaign``)."""

from __future__ import annotations

import uuid

from pydantic import Field

from billow.kit.limits import AmountCents, Days
from billow.kit.pagination import PageMeta
from billow.kit.schemas import Input, Output, Timestamp
from billow.kit.strings import DESCRIPTION_MAX_LENGTH


class ThresholdInput(Input):
    currency: str | None = None
    amount_cents: AmountCents | None = None


class DunningCampaignInput(Input):
    name: str | None = None
    code: str | None = None
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX_LENGTH)
    bcc_emails: list[str] | None = None
    days_between_attempts: Days | None = None
    max_attempts: Days | None = None
    applied_to_organization: bool | None = None
    thresholds: list[ThresholdInput] | None = None


class DunningCampaignRequest(Input):
    dunning_campaign: DunningCampaignInput


class ThresholdOut(Output):
    currency: str
    amount_cents: int


class DunningCampaignOut(Output):
    lago_id: uuid.UUID
    code: str
    name: str
    description: str | None
    bcc_emails: list[str]
    days_between_attempts: int
    max_attempts: int
    applied_to_organization: bool
    thresholds: list[ThresholdOut]
    created_at: Timestamp
    updated_at: Timestamp


class DunningCampaignEnvelope(Output):
    dunning_campaign: DunningCampaignOut


class DunningCampaignList(Output):
    dunning_campaigns: list[DunningCampaignOut]
    meta: PageMeta


class OverdueBalanceOut(Output):
    amount_cents: int
    currency: str


class DunningCampaignFinishedOut(Output):
    """``dunning_campaign.finished``'s object (Lago's ``DunningCampaignFinishedObject``)."""

    external_customer_id: str
    dunning_campaign_code: str
    overdue_balance_cents: int
    overdue_balance_currency: str
    overdue_balances: list[OverdueBalanceOut]
