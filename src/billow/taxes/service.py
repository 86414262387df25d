from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.orm import Session

from billow.errors import Errors, NotFound
from billow.kit.limits import MAX_PRICE_DECIMALS, MAX_TAX_RATE, bounded_decimal
from billow.models.organizations import Organization
from billow.models.taxes import Tax
from billow.taxes.repository import tax_repository as repository
from billow.taxes.schemas import TaxInput


class TaxService:
    def get(self, session: Session, organization: Organization, code: str) -> Tax:
        tax = repository.by_code(session, organization.id, code)
        if tax is None:
            raise NotFound("tax")
        return tax

    def resolve_codes(self, session: Session, organization_id: uuid.UUID, codes: Sequence[str]) -> list[Tax]:
        """The taxes named by ``tax_codes``, in the given order; 404 ``tax_not_found`` if one is unknown."""
        unique = list(dict.fromkeys(codes))
        found = {tax.code: tax for tax in repository.by_codes(session, organization_id, unique)}
        if len(found) != len(unique):
            raise NotFound("tax")
        return [found[code] for code in unique]

    def create(self, session: Session, organization: Organization, data: TaxInput) -> Tax:
        self._validate(session, organization, data, existing=None)
        tax = Tax(
            organization_id=organization.id,
            name=data.name,
            code=data.code,
            rate=data.rate,
            description=data.description,
            applied_to_organization=bool(data.applied_to_organization),
        )
        session.add(tax)
        session.flush()
        return tax

    def update(self, session: Session, organization: Organization, code: str, data: TaxInput) -> Tax:
        tax = self.get(session, organization, code)
        self._validate(session, organization, data, existing=tax)
        for key, value in data.provided().items():
            setattr(tax, key, value)
        session.flush()
        return tax

    def delete(self, session: Session, organization: Organization, code: str) -> Tax:
        """Delete the tax. Plans, charges, customers and add-ons that applied it stop applying it."""
        tax = self.get(session, organization, code)
        session.delete(tax)
        session.flush()
        return tax

    def _validate(
        self, session: Session, organization: Organization, data: TaxInput, existing: Tax | None
    ) -> None:
        errors = Errors()
        provided = data.provided()
        creating = existing is None
        errors.require(provided, ("name", "code"), creating=creating)
        if creating and "rate" not in provided:
            errors.add("rate", "value_is_mandatory")
        if data.rate is not None and not bounded_decimal(
            data.rate, high=MAX_TAX_RATE, decimals=MAX_PRICE_DECIMALS
        ):
            errors.add("rate", "value_is_out_of_range")
        new_code = data.code if existing is None or data.code != existing.code else None
        if new_code and repository.by_code(session, organization.id, new_code) is not None:
            errors.add("code", "value_already_exist")
        errors.raise_if_any()


tax_service = TaxService()
