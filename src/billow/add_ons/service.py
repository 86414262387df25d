from __future__ import annotations

from sqlalchemy.orm import Session

from billow.add_ons.repository import add_on_repository as repository
from billow.add_ons.schemas import AddOnInput
from billow.db import utcnow
from billow.errors import Errors, NotFound
from billow.kit.currency import is_currency
from billow.kit.limits import MAX_AMOUNT_CENTS
from billow.models.add_ons import AddOn
from billow.models.organizations import Organization
from billow.models.taxes import Tax
from billow.plans.fixed_charge_repository import fixed_charge_repository
from billow.taxes.service import tax_service

#: ``amount_cents`` is a BIGINT.


class AddOnService:
    def get(self, session: Session, organization: Organization, code: str) -> AddOn:
        add_on = repository.by_code(session, organization.id, code)
        if add_on is None:
            raise NotFound("add_on")
        return add_on

    def create(self, session: Session, organization: Organization, data: AddOnInput) -> AddOn:
        self._validate(session, organization, data, existing=None)
        taxes = self._taxes(session, organization, data)
        add_on = AddOn(
            organization_id=organization.id,
            name=data.name,
            invoice_display_name=data.invoice_display_name,
            code=data.code,
            amount_cents=data.amount_cents,
            amount_currency=data.amount_currency,
            description=data.description,
        )
        session.add(add_on)
        session.flush()
        if taxes is not None:
            repository.replace_taxes(session, add_on, taxes)
            session.flush()
        return add_on

    def update(self, session: Session, organization: Organization, code: str, data: AddOnInput) -> AddOn:
        """Apply the fields that were sent; ``tax_codes`` replaces the taxes (``[]`` removes them)."""
        add_on = self.get(session, organization, code)
        self._validate(session, organization, data, existing=add_on)
        taxes = self._taxes(session, organization, data)
        for key, value in data.provided().items():
            if key != "tax_codes":
                setattr(add_on, key, value)
        if taxes is not None:
            repository.replace_taxes(session, add_on, taxes)
        session.flush()
        return add_on

    def delete(self, session: Session, organization: Organization, code: str) -> AddOn:
        """Soft delete: invoices that billed the add-on keep naming it, and its code becomes free. The
        plans' fixed charges of the add-on are deleted with it (Lago's ``AddOns::DestroyService``)."""
        add_on = self.get(session, organization, code)
        add_on.deleted_at = utcnow()
        fixed_charge_repository.delete(fixed_charge_repository.of_add_on(session, add_on), add_on.deleted_at)
        session.flush()
        return add_on

    def _taxes(self, session: Session, organization: Organization, data: AddOnInput) -> list[Tax] | None:
        if data.tax_codes is None:
            return None
        return tax_service.resolve_codes(session, organization.id, data.tax_codes)

    def _validate(
        self, session: Session, organization: Organization, data: AddOnInput, existing: AddOn | None
    ) -> None:
        errors = Errors()
        provided = data.provided()
        creating = existing is None
        errors.require(provided, ("name", "code"), creating=creating)
        if creating and "amount_cents" not in provided:
            errors.add("amount_cents", "value_is_mandatory")
        if data.amount_cents is not None and not 0 < data.amount_cents <= MAX_AMOUNT_CENTS:
            errors.add("amount_cents", "value_is_out_of_range")
        if creating and "amount_currency" not in provided:
            errors.add("amount_currency", "value_is_mandatory")
        elif "amount_currency" in provided and not is_currency(data.amount_currency):
            errors.add("amount_currency", "value_is_invalid")
        new_code = data.code if existing is None or data.code != existing.code else None
        if new_code and repository.by_code(session, organization.id, new_code) is not None:
            errors.add("code", "value_already_exist")
        errors.raise_if_any()


add_on_service = AddOnService()
