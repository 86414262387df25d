from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select, delete, select
from sqlalchemy.orm import Session

from billow.models.add_ons import AddOn, AddOnTax
from billow.models.taxes import Tax


class AddOnRepository:
    def by_code(self, session: Session, organization_id: uuid.UUID, code: str) -> AddOn | None:
        """The live (not deleted) add-on with this code."""
        return session.scalars(
            select(AddOn).where(
                AddOn.organization_id == organization_id, AddOn.code == code, AddOn.deleted_at.is_(None)
            )
        ).first()

    def list_stmt(self, organization_id: uuid.UUID) -> Select[AddOn]:
        return (
            select(AddOn)
            .where(AddOn.organization_id == organization_id, AddOn.deleted_at.is_(None))
            .order_by(AddOn.created_at.desc(), AddOn.id)
        )

    def taxes_by_add_on(
        self, session: Session, add_on_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[Tax]]:
        """The taxes of each add-on, ordered by code (one query for a whole page)."""
        result: dict[uuid.UUID, list[Tax]] = {add_on_id: [] for add_on_id in add_on_ids}
        if not add_on_ids:
            return result
        rows = session.execute(
            select(AddOnTax.add_on_id, Tax)
            .join(Tax, Tax.id == AddOnTax.tax_id)
            .where(AddOnTax.add_on_id.in_(add_on_ids))
            .order_by(Tax.code, Tax.id)
        )
        for add_on_id, tax in rows:
            result[add_on_id].append(tax)
        return result

    def replace_taxes(self, session: Session, add_on: AddOn, taxes: Sequence[Tax]) -> None:
        session.execute(delete(AddOnTax).where(AddOnTax.add_on_id == add_on.id))
        session.add_all(
            AddOnTax(add_on_id=add_on.id, tax_id=tax.id, organization_id=add_on.organization_id)
            for tax in taxes
        )


add_on_repository = AddOnRepository()
