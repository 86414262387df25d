"""Fixed charges on the wire (Lago's ``FixedChargeInput``, ``FixedChargeOverridableInput`` and
``FixedChargeObject``): a plan's add-on billed every period for ``units``."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field, StrictFloat, StrictInt, StrictStr

from billow.kit.pagination import PageMeta
from billow.kit.schemas import DecimalString, Input, Output, Timestamp
from billow.plans.fixed_charge_repository import FixedChargeGraph
from billow.taxes.schemas import TaxOut, tax_out

#: ``units``: a decimal string (Lago's spec) or a JSON number (the client sends a float).
Units = StrictStr | StrictInt | StrictFloat


class FixedChargeInput(Input):
    id: str | None = None  # a fixed charge of the plan to update (plan updates only)
    add_on_id: str | None = None  # the add-on's lago_id
    add_on_code: str | None = None
    code: str | None = None
    invoice_display_name: str | None = None
    charge_model: str | None = None
    pay_in_advance: bool | None = None
    prorated: bool | None = None
    units: Units | None = Field(default=None, union_mode="left_to_right")
    properties: dict[str, Any] | None = None
    tax_codes: list[str] | None = None
    # Accepted and ignored: units always apply from the next billed period; plans do not cascade.
    apply_units_immediately: bool | None = None
    cascade_updates: bool | None = None


class FixedChargeRequest(Input):
    fixed_charge: FixedChargeInput


class FixedChargeOverrideInput(Input):
    """What a subscription may change of a fixed charge (``plan_overrides.fixed_charges[]`` with the ``id``
    of a fixed charge of the plan, or ``PUT /subscriptions/{external_id}/fixed_charges/{code}``)."""

    id: str | None = None
    invoice_display_name: str | None = None
    units: Units | None = Field(default=None, union_mode="left_to_right")
    properties: dict[str, Any] | None = None
    tax_codes: list[str] | None = None
    apply_units_immediately: bool | None = None  # accepted and ignored


class FixedChargeOverrideRequest(Input):
    fixed_charge: FixedChargeOverrideInput


class FixedChargeOut(Output):
    lago_id: uuid.UUID
    lago_add_on_id: uuid.UUID
    code: str
    # A string, never null: Lago's spec types it so and the official client refuses a null (Lago renders
    # null when unset; Billow renders "").
    invoice_display_name: str
    add_on_code: str
    created_at: Timestamp
    charge_model: str
    pay_in_advance: bool
    prorated: bool
    properties: dict[str, Any]
    units: DecimalString
    lago_parent_id: uuid.UUID | None
    taxes: list[TaxOut]


class FixedChargeEnvelope(Output):
    fixed_charge: FixedChargeOut


class FixedChargeList(Output):
    fixed_charges: list[FixedChargeOut]
    meta: PageMeta


def fixed_charge_out(graph: FixedChargeGraph) -> FixedChargeOut:
    fixed_charge = graph.fixed_charge
    return FixedChargeOut(
        lago_id=fixed_charge.id,
        lago_add_on_id=fixed_charge.add_on_id,
        code=fixed_charge.code,
        invoice_display_name=fixed_charge.invoice_display_name or "",
        add_on_code=graph.add_on.code,
        created_at=fixed_charge.created_at,
        charge_model=fixed_charge.charge_model,
        pay_in_advance=fixed_charge.pay_in_advance,
        prorated=fixed_charge.prorated,
        properties=fixed_charge.properties,
        units=fixed_charge.units,
        lago_parent_id=fixed_charge.parent_id,
        taxes=[tax_out(tax) for tax in graph.taxes],
    )
