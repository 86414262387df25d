from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from billow.models.taxes import Tax


class TaxRepository:
    def by_code(self, session: Session, organization_id: uuid.UUID, code: str) -> Tax | None:
        return session.scalars(
            select(Tax).where(Tax.organization_id == organization_id, Tax.code == code)
        ).first()

    def by_codes(self, session: Session, organization_id: uuid.UUID, codes: Sequence[str]) -> list[Tax]:
        if not codes:
            return []
        return list(
            session.scalars(select(Tax).where(Tax.organization_id == organization_id, Tax.code.in_(codes)))
        )

    def organization_default_taxes(self, session: Session, organization_id: uuid.UUID) -> list[Tax]:
        """The taxes applied to the whole organization (``applied_to_organization``), by code."""
        return list(
            session.scalars(
                select(Tax)
                .where(Tax.organization_id == organization_id, Tax.applied_to_organization.is_(True))
                .order_by(Tax.code)
            )
        )

    def list_stmt(self, organization_id: uuid.UUID) -> Select[Tax]:
        return (
            select(Tax).where(Tax.organization_id == organization_id).order_by(Tax.created_at.desc(), Tax.id)
        )


tax_repository = TaxRepository()
