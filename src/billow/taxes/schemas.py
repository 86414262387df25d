from __future__ import annotations

import uuid
from decimal import Decimal

from pydantic import Field

from billow.kit.pagination import PageMeta
from billow.kit.schemas import Input, JsonNumber, Output, Timestamp
from billow.kit.strings import DESCRIPTION_MAX_LENGTH
from billow.models.taxes import Tax


class TaxInput(Input):
    name: str | None = None
    code: str | None = None
    rate: Decimal | None = None
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX_LENGTH)
    applied_to_organization: bool | None = None


class TaxRequest(Input):
    tax: TaxInput


class TaxOut(Output):
    lago_id: uuid.UUID
    name: str
    code: str
    rate: JsonNumber
    description: str | None
    applied_to_organization: bool
    applied_to_billing_entities_codes: list[str]
    created_at: Timestamp


class TaxEnvelope(Output):
    tax: TaxOut


class TaxList(Output):
    taxes: list[TaxOut]
    meta: PageMeta


def tax_out(tax: Tax) -> TaxOut:
    return TaxOut(
        lago_id=tax.id,
        name=tax.name,
        code=tax.code,
        rate=tax.rate,
        description=tax.description,
        applied_to_organization=tax.applied_to_organization,
        applied_to_billing_entities_codes=[],
        created_at=tax.created_at,
    )
