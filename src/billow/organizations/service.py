from __future__ import annotations

import hashlib
import secrets

from sqlalchemy.orm import Session

from billow.config import bill_backdated_default
from billow.errors import Errors
from billow.kit.currency import is_currency
from billow.kit.time import is_timezone
from billow.organizations.models import ApiKey, Organization
from billow.organizations.repository import organization_repository as repository
from billow.organizations.schemas import OrganizationUpdate

KEY_PREFIX = "blw_"


def digest_key(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def generate_key() -> str:
    """A new API key: 256 bits from the OS's CSPRNG."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def default_document_prefix(organization: Organization) -> str:
    letters = "".join(ch for ch in organization.name if ch.isalnum())[:3].upper() or "ORG"
    return f"{letters}-{organization.id.hex[-4:].upper()}"


def bill_backdated_periods(organization: Organization) -> bool:
    """Whether the billing runs bill a backdated subscription's periods due before its creation: the
    organization's choice, else the server's ``BILLOW_BILL_BACKDATED_PERIODS`` (off: Lago's behaviour)."""
    if organization.bill_backdated_periods is not None:
        return organization.bill_backdated_periods
    return bill_backdated_default()


class OrganizationService:
    def create(self, session: Session, *, name: str, raw_key: str | None = None) -> tuple[Organization, str]:
        """Create an organization and an API key for it; the raw key is returned once, never stored."""
        organization = Organization(name=name)
        repository.add(session, organization)
        organization.document_number_prefix = default_document_prefix(organization)
        raw_key = raw_key or generate_key()
        self.add_key(session, organization, raw_key)
        return organization, raw_key

    def add_key(self, session: Session, organization: Organization, raw_key: str) -> ApiKey:
        return repository.add_key(
            session,
            ApiKey(organization_id=organization.id, value_digest=digest_key(raw_key), prefix=raw_key[:8]),
        )

    def ensure_for_key(self, session: Session, *, raw_key: str, name: str) -> tuple[Organization, bool]:
        """The organization owning ``raw_key``, created if no organization owns it. Returns (org, created)."""
        existing = self.authenticate(session, raw_key)
        if existing is not None:
            return existing, False
        organization, _ = self.create(session, name=name, raw_key=raw_key)
        return organization, True

    def authenticate(self, session: Session, raw_key: str) -> Organization | None:
        return repository.by_key_digest(session, digest_key(raw_key))

    def update(self, session: Session, organization: Organization, data: OrganizationUpdate) -> Organization:
        errors = Errors()
        values = data.provided()
        if "default_currency" in values and not is_currency(values["default_currency"]):
            errors.add("default_currency", "value_is_invalid")
        if "timezone" in values and not is_timezone(values["timezone"]):
            errors.add("timezone", "invalid_timezone")
        if "country" in values and not (len(values["country"]) == 2 and values["country"].isalpha()):
            errors.add("country", "not_a_valid_country_code")
        from billow.customers.service import DOCUMENT_LOCALES

        billing_values = data.billing_configuration.provided() if data.billing_configuration else {}
        if billing_values.get("document_locale", "en") not in DOCUMENT_LOCALES:
            errors.add("document_locale", "not_a_valid_language_code")
        errors.raise_if_any()

        if values.get("webhook_url"):
            # Lago's organization-level webhook URL is one of the organization's webhook endpoints.
            from billow.webhook_endpoints.service import webhook_endpoint_service

            webhook_endpoint_service.ensure_url(session, organization, values["webhook_url"])
        billing = values.pop("billing_configuration", None)
        old_grace = organization.invoice_grace_period or 0
        if "country" in values:
            values["country"] = values["country"].upper()
        for key, value in values.items():
            setattr(organization, key, value)
        if billing is not None:
            for key, value in billing.provided().items():
                setattr(organization, key, value)
        session.flush()
        if (organization.invoice_grace_period or 0) != old_grace:
            # The drafts of customers without a grace period of their own move with it; those now due
            # are finalized right after the commit.
            from billow.invoices.grace import organization_grace_changed

            organization_grace_changed(session, organization, old_grace)
        return organization


organization_service = OrganizationService()
