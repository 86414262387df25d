"""Dunning campaigns: create, read, list, update, soft delete (``/api/v1/dunning_campaigns``).

Validation (Lago's codes): ``name``, ``code``, ``days_between_attempts``, ``max_attempts`` and
``thresholds`` (not empty) are mandatory on create (``value_is_mandatory``); ``days_between_attempts`` and
``max_attempts`` are >= 1, a threshold's ``amount_cents`` >= 0 (``value_is_out_of_range``); a threshold's
``currency`` is an ISO code (``value_is_invalid``), once per campaign (``value_already_exist``); every
``bcc_emails`` address reads (``invalid_email_format``); ``code`` is unique among the organization's
campaigns (``value_already_exist``).

``applied_to_organization`` makes the campaign the organization's default, unsetting the previous one; the
customers following the default then start over (as Lago). Deleting a campaign detaches its customers
(they start over, with the default if any); deleting the default leaves the organization without one.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from billow.db import utcnow
from billow.dunning.repository import dunning_repository as repository
from billow.dunning.schemas import DunningCampaignInput
from billow.errors import Errors, NotFound
from billow.kit.currency import is_currency
from billow.mail.addresses import is_email
from billow.models.dunning import DunningCampaign
from billow.models.organizations import Organization


class DunningCampaignService:
    def get(self, session: Session, organization: Organization, code: str) -> DunningCampaign:
        campaign = repository.by_code(session, organization.id, code)
        if campaign is None:
            raise NotFound("dunning_campaign")
        return campaign

    def create(
        self, session: Session, organization: Organization, data: DunningCampaignInput
    ) -> DunningCampaign:
        thresholds = self._validate(session, organization, data, existing=None)
        assert data.name and data.code and data.days_between_attempts and data.max_attempts
        if data.applied_to_organization:
            self._take_default(session, organization)
        campaign = DunningCampaign(
            organization_id=organization.id,
            code=data.code,
            name=data.name,
            description=data.description,
            bcc_emails=list(data.bcc_emails or []),
            days_between_attempts=data.days_between_attempts,
            max_attempts=data.max_attempts,
            applied_to_organization=bool(data.applied_to_organization),
        )
        session.add(campaign)
        session.flush()
        repository.replace_thresholds(session, campaign, thresholds or [])
        return campaign

    def update(
        self, session: Session, organization: Organization, code: str, data: DunningCampaignInput
    ) -> DunningCampaign:
        campaign = self.get(session, organization, code)
        thresholds = self._validate(session, organization, data, existing=campaign)
        provided = data.provided()
        becomes_default = data.applied_to_organization is True and not campaign.applied_to_organization
        stops_default = data.applied_to_organization is False and campaign.applied_to_organization
        if becomes_default:
            self._take_default(session, organization)
        elif stops_default:
            campaign.applied_to_organization = False
            repository.reset_default_customers(session, organization.id)
        for name in ("name", "code", "description", "days_between_attempts", "max_attempts"):
            if name in provided:
                setattr(campaign, name, provided[name])
        if "bcc_emails" in provided:
            campaign.bcc_emails = list(data.bcc_emails or [])
        if becomes_default:
            campaign.applied_to_organization = True
        campaign.updated_at = utcnow()
        session.flush()
        if thresholds is not None:
            repository.replace_thresholds(session, campaign, thresholds)
        return campaign

    def delete(self, session: Session, organization: Organization, code: str) -> DunningCampaign:
        campaign = self.get(session, organization, code)
        repository.detach_customers(session, organization.id, campaign.id)
        if campaign.applied_to_organization:
            campaign.applied_to_organization = False
            repository.reset_default_customers(session, organization.id)
        campaign.deleted_at = utcnow()
        session.flush()
        return campaign

    def _take_default(self, session: Session, organization: Organization) -> None:
        """Unset the organization's default campaign; its customers start over with the new one."""
        repository.unset_default(session, organization.id)
        session.flush()
        repository.reset_default_customers(session, organization.id)

    def _validate(
        self,
        session: Session,
        organization: Organization,
        data: DunningCampaignInput,
        existing: DunningCampaign | None,
    ) -> list[tuple[str, int]] | None:
        """Check the input; return the thresholds to store (None: keep the campaign's)."""
        errors = Errors()
        provided = data.provided()
        creating = existing is None
        errors.require(provided, ("name", "code"), creating=creating)
        for name in ("days_between_attempts", "max_attempts"):
            value = provided.get(name)
            if value is None:
                if creating:
                    errors.add(name, "value_is_mandatory")
            elif value < 1:
                errors.add(name, "value_is_out_of_range")
        for address in data.bcc_emails or []:
            if not is_email(address.strip()):
                errors.add("bcc_emails", "invalid_email_format")
                break
        thresholds: list[tuple[str, int]] | None = None
        if creating or "thresholds" in provided:
            thresholds = []
            if not data.thresholds:
                errors.add("thresholds", "value_is_mandatory")
            seen: set[str] = set()
            for item in data.thresholds or []:
                if not item.currency:
                    errors.add("currency", "value_is_mandatory")
                elif not is_currency(item.currency):
                    errors.add("currency", "value_is_invalid")
                elif item.currency in seen:
                    errors.add("currency", "value_already_exist")
                if item.amount_cents is None:
                    errors.add("amount_cents", "value_is_mandatory")
                elif item.amount_cents < 0:
                    errors.add("amount_cents", "value_is_out_of_range")
                if item.currency and item.amount_cents is not None:
                    seen.add(item.currency)
                    thresholds.append((item.currency, item.amount_cents))
        new_code = data.code if existing is None or data.code != existing.code else None
        if new_code and repository.by_code(session, organization.id, new_code) is not None:
            errors.add("code", "value_already_exist")
        errors.raise_if_any()
        return thresholds


dunning_campaign_service = DunningCampaignService()
