"""Stored payment methods: written from what the payment provider answers (a refresh of the list, an
inbound ``payment_method.updated`` event), one default per customer (under the customer's row lock),
soft-deleted through the API.

The default: the customer's choice (``PUT .../set_as_default``) stays until that method is deleted; when
the customer has no live default, the provider's default becomes it, else the oldest live method."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from billow.customers.service import customer_service
from billow.db import utcnow
from billow.errors import NotFound
from billow.kit.ids import parse_lago_id
from billow.kit.locking import lock_row
from billow.models.customers import Customer
from billow.models.integrations import Integration
from billow.models.organizations import Organization
from billow.models.payment_methods import PaymentMethod
from billow.payment_methods.repository import payment_method_repository as repository
from billow.providers.interface import PaymentMethodData


class PaymentMethodService:
    def store(
        self, session: Session, integration: Integration, customer: Customer, data: PaymentMethodData
    ) -> PaymentMethod:
        """One method as the provider reports it (an inbound event): created, or its details updated."""
        lock_row(session, Customer, customer.id)
        row = self._upsert(session, integration, customer, data)
        self._ensure_default(session, customer, row if data.is_default else None)
        return row

    def refresh(
        self,
        session: Session,
        integration: Integration,
        customer: Customer,
        found: Sequence[PaymentMethodData],
    ) -> None:
        """The provider's whole list for this customer: each stored, and this integration's methods the
        provider no longer lists soft-deleted. A method deleted at Billow is not brought back by a listing
        (only by the provider's event that it was attached or changed again)."""
        lock_row(session, Customer, customer.id)
        preferred: PaymentMethod | None = None
        kept: set[uuid.UUID] = set()
        deleted = repository.deleted_ids(session, integration, customer.id)
        live = {
            row.provider_method_id
            for row in repository.live(session, customer.organization_id, customer.id, integration.id)
        }
        for data in found:
            if data.provider_method_id in deleted and data.provider_method_id not in live:
                continue
            row = self._upsert(session, integration, customer, data)
            kept.add(row.id)
            if data.is_default and preferred is None:
                preferred = row
        now = utcnow()
        for row in repository.live(session, customer.organization_id, customer.id, integration.id):
            if row.id not in kept:
                row.deleted_at = now
        session.flush()
        self._ensure_default(session, customer, preferred)

    def provider_method_ids(
        self, session: Session, integration: Integration, customer_id: uuid.UUID
    ) -> tuple[str, ...]:
        """This integration's live methods of the customer, as the provider knows them: the default
        first, then the others, oldest first."""
        rows = repository.live(session, integration.organization_id, customer_id, integration.id)
        return tuple(row.provider_method_id for row in rows)

    def get(
        self, session: Session, organization: Organization, external_id: str, lago_id: str
    ) -> PaymentMethod:
        customer = customer_service.get(session, organization, external_id)
        found = repository.get(
            session, organization.id, customer.id, parse_lago_id(lago_id, "payment_method")
        )
        if found is None:
            raise NotFound("payment_method")
        return found

    def set_default(
        self, session: Session, organization: Organization, external_id: str, lago_id: str
    ) -> PaymentMethod:
        method = self.get(session, organization, external_id, lago_id)
        lock_row(session, Customer, method.customer_id)
        current = repository.default(session, organization.id, method.customer_id)
        if current is not None and current.id != method.id:
            current.is_default = False
            session.flush()
        method.is_default = True
        session.flush()
        return method

    def delete(
        self, session: Session, organization: Organization, external_id: str, lago_id: str
    ) -> PaymentMethod:
        method = self.get(session, organization, external_id, lago_id)
        method.deleted_at = utcnow()
        session.flush()
        return method

    # ---------------------------------------------------------------------------------------- internals
    def _upsert(
        self, session: Session, integration: Integration, customer: Customer, data: PaymentMethodData
    ) -> PaymentMethod:
        row = repository.find(session, integration, customer.id, data.provider_method_id)
        if row is None:
            row = PaymentMethod(
                organization_id=customer.organization_id,
                customer_id=customer.id,
                integration_id=integration.id,
                provider_method_id=data.provider_method_id,
                is_default=False,
            )
            session.add(row)
        row.provider_customer_id = customer.provider_customer_id
        row.provider_method_type = data.method_type
        row.details = dict(data.details)
        session.flush()
        return row

    @staticmethod
    def _ensure_default(session: Session, customer: Customer, preferred: PaymentMethod | None) -> None:
        if repository.default(session, customer.organization_id, customer.id) is not None:
            return
        candidate = preferred
        if candidate is None:
            candidate = session.scalars(repository.live_stmt(customer.organization_id, customer.id)).first()
        if candidate is not None:
            candidate.is_default = True
            session.flush()


payment_method_service = PaymentMethodService()
