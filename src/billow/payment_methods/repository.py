"""All SQL of stored payment methods; every query filters on the organization."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from billow.models.integrations import Integration
from billow.models.payment_methods import PaymentMethod


class PaymentMethodRepository:
    def live_stmt(
        self, organization_id: uuid.UUID, customer_id: uuid.UUID, integration_id: uuid.UUID | None = None
    ) -> Select[Any]:
        """The customer's live methods, the default first, then the oldest."""
        stmt = select(PaymentMethod).where(
            PaymentMethod.organization_id == organization_id,
            PaymentMethod.customer_id == customer_id,
            PaymentMethod.deleted_at.is_(None),
        )
        if integration_id is not None:
            stmt = stmt.where(PaymentMethod.integration_id == integration_id)
        return stmt.order_by(PaymentMethod.is_default.desc(), PaymentMethod.created_at, PaymentMethod.id)

    def live(
        self, session: Session, organization_id: uuid.UUID, customer_id: uuid.UUID, integration_id: uuid.UUID
    ) -> list[PaymentMethod]:
        return list(session.scalars(self.live_stmt(organization_id, customer_id, integration_id)))

    def get(
        self, session: Session, organization_id: uuid.UUID, customer_id: uuid.UUID, method_id: uuid.UUID
    ) -> PaymentMethod | None:
        return session.scalars(
            self.live_stmt(organization_id, customer_id).where(PaymentMethod.id == method_id)
        ).first()

    def default(
        self, session: Session, organization_id: uuid.UUID, customer_id: uuid.UUID
    ) -> PaymentMethod | None:
        return session.scalars(
            self.live_stmt(organization_id, customer_id).where(PaymentMethod.is_default.is_(True))
        ).first()

    def find(
        self,
        session: Session,
        integration: Integration,
        customer_id: uuid.UUID,
        provider_method_id: str,
    ) -> PaymentMethod | None:
        return session.scalars(
            self.live_stmt(integration.organization_id, customer_id, integration.id).where(
                PaymentMethod.provider_method_id == provider_method_id
            )
        ).first()

    def deleted_ids(self, session: Session, integration: Integration, customer_id: uuid.UUID) -> set[str]:
        """The provider's ids of this customer's methods deleted at Billow (through the API or a refresh)."""
        return set(
            session.scalars(
                select(PaymentMethod.provider_method_id).where(
                    PaymentMethod.organization_id == integration.organization_id,
                    PaymentMethod.integration_id == integration.id,
                    PaymentMethod.customer_id == customer_id,
                    PaymentMethod.deleted_at.is_not(None),
                )
            )
        )

    def integrations(
        self, session: Session, organization_id: uuid.UUID, ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, Integration]:
        if not ids:
            return {}
        rows = session.scalars(
            select(Integration).where(
                Integration.organization_id == organization_id, Integration.id.in_(set(ids))
            )
        )
        return {row.id: row for row in rows}


payment_method_repository = PaymentMethodRepository()
