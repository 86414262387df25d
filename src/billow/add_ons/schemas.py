from __future__ import annotations

import uuid
from collections.abc import Sequence

from pydantic import Field

from billow.kit.limits import AmountCents
from billow.kit.pagination import PageMeta
from billow.kit.schemas import Input, Output, Timestamp
from billow.kit.strings import DESCRIPTION_MAX_LENGTH
from billow.models.add_ons import AddOn
from billow.models.taxes import Tax
from billow.taxes.schemas import TaxOut, tax_out


class AddOnInput(Input):
    name: str | None = Field(default=None, max_length=255)
    invoice_display_name: str | None = Field(default=None, max_length=255)
    code: str | None = Field(default=None, max_length=255)
    amount_cents: AmountCents | None = None
    amount_currency: str | None = None
    description: str | None = Field(default=None, max_length=DESCRIPTION_MAX_LENGTH)
    tax_codes: list[str] | None = None


class AddOnRequest(Input):
    add_on: AddOnInput


class AddOnOut(Output):
    lago_id: uuid.UUID
    name: str
    invoice_display_name: str | None
    code: str
    amount_cents: int
    amount_currency: str
    created_at: Timestamp
    description: str | None
    taxes: list[TaxOut]


class AddOnEnvelope(Output):
    add_on: AddOnOut


class AddOnList(Output):
    add_ons: list[AddOnOut]
    meta: PageMeta


def add_on_out(add_on: AddOn, taxes: Sequence[Tax]) -> AddOnOut:
    return AddOnOut(
        lago_id=add_on.id,
        name=add_on.name,
        invoice_display_name=add_on.invoice_display_name,
        code=add_on.code,
        amount_cents=add_on.amount_cents,
        amount_currency=add_on.amount_currency,
        created_at=add_on.created_at,
        description=add_on.description,
        taxes=[tax_out(tax) for tax in taxes],
    )
