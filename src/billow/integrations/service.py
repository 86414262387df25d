"""Integrations: configure providers per organization (``/api/v1/integrations``), their mappings, and the
link of customers to them. Secrets are sealed (:mod:`billow.kit.secrets`) and never returned."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session

from billow.config import current_settings
from billow.db import utcnow
from billow.errors import Errors, NotFound, ValidationFailed
from billow.integrations.repository import integration_repository as repository
from billow.integrations.schemas import IntegrationInput, MappingInput
from billow.kit.ids import parse_uuid
from billow.kit.secrets import open_sealed, seal
from billow.models.integrations import (
    MAPPABLE_TYPES,
    MAPPING_TYPES,
    Integration,
    IntegrationCustomer,
    IntegrationMapping,
)
from billow.models.organizations import Organization
from billow.providers import registry
from billow.providers.interface import Provider, ProviderContext

#: The most characters of a secret or a setting value kept.
VALUE_MAX_LENGTH = 8192


def open_secrets(integration: Integration) -> dict[str, str]:
    if not integration.secrets_sealed:
        return {}
    opened = json.loads(open_sealed(integration.secrets_sealed, current_settings()))
    return {str(k): str(v) for k, v in opened.items()}


def store_secrets(integration: Integration, secrets: Mapping[str, str]) -> None:
    """Seal ``secrets`` (the whole set) into the integration; an empty value removes a secret."""
    kept = {k: v for k, v in secrets.items() if v}
    integration.secrets_sealed = (
        seal(json.dumps(kept, sort_keys=True).encode(), current_settings()) if kept else None
    )
    integration.secret_keys = sorted(kept)


def webhook_url(integration: Integration) -> str:
    """Where the provider sends this integration's events (Lago: ``/webhooks/stripe/{org}?code=...``)."""
    base = current_settings().public_url.rstrip("/")
    return f"{base}/webhooks/{integration.type}/{integration.organization_id}?code={quote(integration.code)}"


def provider_of(integration: Integration) -> Provider | None:
    return registry.get(integration.type)


def context_of(integration: Integration, secrets: Mapping[str, str] | None = None) -> ProviderContext:
    settings = current_settings()
    return ProviderContext(
        organization_id=str(integration.organization_id),
        integration_code=integration.code,
        settings=dict(integration.settings or {}),
        secrets=dict(secrets if secrets is not None else open_secrets(integration)),
        public_url=settings.public_url,
        webhook_url=webhook_url(integration),
        api_base_url=integration.api_base_url,
        timeout=settings.integration_timeout,
    )


class IntegrationService:
    def get(self, session: Session, organization: Organization, code: str) -> Integration:
        integration = repository.by_code(session, organization.id, code)
        if integration is None:
            raise NotFound("integration")
        return integration

    def create(self, session: Session, organization: Organization, data: IntegrationInput) -> Integration:
        errors = Errors()
        provider = registry.get(data.type) if data.type else None
        if not data.type:
            errors.add("type", "value_is_mandatory")
        elif provider is None:
            errors.add("type", "value_is_invalid")
        if not data.code or not data.code.strip():
            errors.add("code", "value_is_mandatory")
        if not data.name or not data.name.strip():
            errors.add("name", "value_is_mandatory")
        settings = dict(data.settings or {})
        secrets = {k: v for k, v in (data.secrets or {}).items() if v is not None}
        if provider is not None:
            self._check(provider, settings, secrets, errors)
        if data.code and repository.by_code(session, organization.id, data.code) is not None:
            errors.add("code", "value_already_exist")
        errors.raise_if_any()
        assert provider is not None and data.code and data.name
        integration = Integration(
            organization_id=organization.id,
            code=data.code,
            name=data.name,
            type=provider.name,
            kind=str(provider.kind),
            settings=settings,
            api_base_url=data.api_base_url or None,
        )
        store_secrets(integration, secrets)
        session.add(integration)
        session.flush()
        return integration

    def update(
        self, session: Session, organization: Organization, code: str, data: IntegrationInput
    ) -> Integration:
        integration = self.get(session, organization, code)
        provided = data.provided()
        errors = Errors()
        if "type" in provided and provided["type"] != integration.type:
            errors.add("type", "value_is_invalid")
        for name in ("code", "name"):
            if name in provided and not str(provided[name] or "").strip():
                errors.add(name, "value_is_mandatory")
        if (
            data.code
            and data.code != integration.code
            and repository.by_code(session, organization.id, data.code)
        ):
            errors.add("code", "value_already_exist")
        settings = {**(integration.settings or {}), **(data.settings or {})}
        settings = {k: v for k, v in settings.items() if v is not None}
        secrets = open_secrets(integration)
        secrets.update({k: v for k, v in (data.secrets or {}).items() if v is not None})
        provider = provider_of(integration)
        if provider is not None:
            self._check(provider, settings, secrets, errors)
        errors.raise_if_any()
        if data.code:
            integration.code = data.code
        if data.name:
            integration.name = data.name
        integration.settings = settings
        if "api_base_url" in provided:
            integration.api_base_url = data.api_base_url or None
        if data.secrets:
            store_secrets(integration, secrets)
        session.flush()
        return integration

    def delete(self, session: Session, organization: Organization, code: str) -> Integration:
        integration = self.get(session, organization, code)
        integration.deleted_at = utcnow()
        session.flush()
        return integration

    def _check(
        self, provider: Provider, settings: dict[str, Any], secrets: dict[str, str], errors: Errors
    ) -> None:
        for name, required in provider.settings_fields.items():
            if required and settings.get(name) in (None, ""):
                errors.add(name, "value_is_mandatory")
        for name, required in provider.secret_fields.items():
            if required and not secrets.get(name):
                errors.add(name, "value_is_mandatory")
        for name in settings:
            if name not in provider.settings_fields:
                errors.add(name, "value_is_invalid")
        for name, value in secrets.items():
            if name not in provider.secret_fields or len(value) > VALUE_MAX_LENGTH:
                errors.add(name, "value_is_invalid")
        if errors:
            return
        for field, codes in provider.validate(settings, secrets).items():
            for code in codes:
                errors.add(field, code)

    # ------------------------------------------------------------------------------------- mappings
    def create_mapping(
        self, session: Session, organization: Organization, code: str, data: MappingInput
    ) -> IntegrationMapping:
        integration = self.get(session, organization, code)
        errors = Errors()
        mappable_id = parse_uuid(data.mappable_id) if data.mappable_id else None
        if data.mapping_type is not None:
            if data.mapping_type not in MAPPING_TYPES:
                errors.add("mapping_type", "value_is_invalid")
            if data.mappable_type is not None or data.mappable_id is not None:
                errors.add("mappable_type", "value_is_invalid")
        elif data.mappable_type is None:
            errors.add("mappable_type", "value_is_mandatory")
        else:
            if data.mappable_type not in MAPPABLE_TYPES:
                errors.add("mappable_type", "value_is_invalid")
            if mappable_id is None:
                errors.add("mappable_id", "value_is_invalid" if data.mappable_id else "value_is_mandatory")
        if not data.external_id:
            errors.add("external_id", "value_is_mandatory")
        errors.raise_if_any()
        assert data.external_id is not None
        for existing in repository.mappings(session, integration):
            same_type = data.mapping_type is not None and existing.mapping_type == data.mapping_type
            same_object = mappable_id is not None and (existing.mappable_type, existing.mappable_id) == (
                data.mappable_type,
                mappable_id,
            )
            if same_type or same_object:
                raise ValidationFailed.one(
                    "mapping_type" if same_type else "mappable_id", "value_already_exist"
                )
        mapping = IntegrationMapping(
            organization_id=organization.id,
            integration_id=integration.id,
            mappable_type=data.mappable_type,
            mappable_id=mappable_id,
            mapping_type=data.mapping_type,
            external_id=data.external_id,
            external_account_code=data.external_account_code,
            external_name=data.external_name,
        )
        session.add(mapping)
        session.flush()
        return mapping

    def delete_mapping(
        self, session: Session, organization: Organization, code: str, mapping_id: str
    ) -> IntegrationMapping:
        integration = self.get(session, organization, code)
        wanted = parse_uuid(mapping_id)
        for mapping in repository.mappings(session, integration):
            if mapping.id == wanted:
                session.delete(mapping)
                session.flush()
                return mapping
        raise NotFound("integration_mapping")

    # ------------------------------------------------------------------------------------ customers
    def link_customer(
        self,
        session: Session,
        organization: Organization,
        customer_id: uuid.UUID,
        *,
        integration_code: str | None,
        integration_type: str | None,
        external_customer_id: str | None,
        sync_with_provider: bool | None,
        settings: dict[str, Any] | None = None,
    ) -> IntegrationCustomer | None:
        """Create or update the customer's link to an integration (Lago's ``integration_customers``);
        ``None`` when no live integration has that code and type (skipped, as the customer is saved)."""
        integration = repository.by_code(session, organization.id, integration_code or "")
        if integration is None or (integration_type and integration_type != integration.type):
            return None
        link = repository.customer_link(session, integration, customer_id)
        if link is None:
            link = IntegrationCustomer(
                organization_id=organization.id,
                integration_id=integration.id,
                customer_id=customer_id,
                sync_with_provider=bool(sync_with_provider),
                settings=dict(settings or {}),
            )
            session.add(link)
        elif sync_with_provider is not None:
            link.sync_with_provider = sync_with_provider
        if external_customer_id:
            link.external_customer_id = external_customer_id
        session.flush()
        return link


integration_service = IntegrationService()
