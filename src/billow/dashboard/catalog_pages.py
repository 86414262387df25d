"""Dashboard pages of the simple catalog: taxes (``/app/taxes``), add-ons (``/app/add_ons``) and
coupons (``/app/coupons``). Each form builds the API's ``Input`` and calls the same service."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from billow.add_ons.repository import add_on_repository
from billow.add_ons.schemas import AddOnInput
from billow.add_ons.service import add_on_service
from billow.coupons.repository import coupon_repository
from billow.coupons.schemas import CouponInput
from billow.coupons.service import coupon_service
from billow.dashboard.catalog_area import Area, Field, mount
from billow.dashboard.catalog_forms import amount_field, amount_text, checked, decimal_text, number, text
from billow.models.add_ons import AddOn
from billow.models.billable_metrics import BillableMetric
from billow.models.coupons import COUPON_TYPES, EXPIRATIONS, FREQUENCIES, Coupon
from billow.models.organizations import Organization
from billow.models.plans import Plan
from billow.models.taxes import Tax
from billow.taxes.repository import tax_repository
from billow.taxes.schemas import TaxInput
from billow.taxes.service import tax_service
from billow.web.templating import money

router = APIRouter()


def tax_options(session: Session, organization_id: Any) -> list[tuple[str, str]]:
    taxes = session.scalars(tax_repository.list_stmt(organization_id))
    return [(tax.code, f"{tax.name} ({tax.code}, {decimal_text(tax.rate)} %)") for tax in taxes]


def F(name: str, label: str, kind: str = "input", **options: Any) -> Field:
    """A form field: ``kind`` input, textarea, select, checkbox or multiselect; ``options`` as the
    template takes them (``hint``, ``required``, ``options``...)."""
    return {"name": name, "label": label, "kind": kind, **options}


def _fields(form: FormData, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: text(form, name) for name in names}


# ------------------------------------------------------------------------------------------- taxes


def _tax_fields(session: Session, organization: Organization) -> list[Field]:
    return [
        {"name": "name", "label": "Name", "required": True},
        {"name": "code", "label": "Code", "required": True},
        {"name": "rate", "label": "Rate (%)", "type": "text", "required": True, "hint": "e.g. 20 or 5.5"},
        {"name": "description", "label": "Description", "kind": "textarea"},
        {
            "name": "applied_to_organization",
            "label": "Apply to every customer by default",
            "kind": "checkbox",
        },
    ]


def _tax_typed(form: FormData) -> dict[str, Any]:
    values = _fields(form, ("name", "code", "rate", "description"))
    values["applied_to_organization"] = checked(form, "applied_to_organization")
    return values


def _tax_values(session: Session, tax: Tax) -> dict[str, Any]:
    return {
        "name": tax.name,
        "code": tax.code,
        "rate": decimal_text(tax.rate),
        "description": tax.description,
        "applied_to_organization": tax.applied_to_organization,
    }


mount(
    router,
    Area(
        path="/app/taxes",
        permission="taxes",
        title="Taxes",
        singular="tax",
        columns=[
            {"label": "Code"},
            {"label": "Name"},
            {"label": "Rate (%)", "num": True},
            {"label": "Default"},
        ],
        objects=lambda session, org: list(session.scalars(tax_repository.list_stmt(org.id))),
        cells=lambda session, tax: [
            tax.code,
            tax.name,
            decimal_text(tax.rate),
            "yes" if tax.applied_to_organization else "no",
        ],
        key=lambda tax: tax.code,
        fields=_tax_fields,
        values=_tax_values,
        typed=_tax_typed,
        build=lambda values: TaxInput.model_validate(values),
        get=tax_service.get,
        create=tax_service.create,
        update=tax_service.update,
        delete=tax_service.delete,
    ),
)


# ----------------------------------------------------------------------------------------- add-ons


def _add_on_fields(session: Session, organization: Organization) -> list[Field]:
    return [
        {"name": "name", "label": "Name", "required": True},
        {"name": "code", "label": "Code", "required": True},
        {"name": "invoice_display_name", "label": "Name on invoices"},
        {
            "name": "amount_cents",
            "label": "Amount",
            "required": True,
            "hint": "in the currency's unit, e.g. 10.50 (EUR), 1000 (JPY)",
        },
        {"name": "amount_currency", "label": "Currency", "required": True, "hint": "ISO 4217, e.g. EUR"},
        {"name": "description", "label": "Description", "kind": "textarea"},
        {
            "name": "tax_codes",
            "label": "Taxes",
            "kind": "multiselect",
            "options": tax_options(session, organization.id),
        },
    ]


def _add_on_typed(form: FormData) -> dict[str, Any]:
    values = _fields(
        form, ("name", "code", "invoice_display_name", "amount_cents", "amount_currency", "description")
    )
    values["tax_codes"] = [code for code in form.getlist("tax_codes") if isinstance(code, str)]
    return values


def _add_on_build(values: dict[str, Any]) -> AddOnInput:
    return AddOnInput.model_validate({**values, "amount_cents": amount_field(values)})


def _add_on_values(session: Session, add_on: AddOn) -> dict[str, Any]:
    taxes = add_on_repository.taxes_by_add_on(session, [add_on.id])[add_on.id]
    return {
        "name": add_on.name,
        "code": add_on.code,
        "invoice_display_name": add_on.invoice_display_name,
        "amount_cents": amount_text(add_on.amount_cents, add_on.amount_currency),
        "amount_currency": add_on.amount_currency,
        "description": add_on.description,
        "tax_codes": [tax.code for tax in taxes],
    }


mount(
    router,
    Area(
        path="/app/add_ons",
        permission="add_ons",
        title="Add-ons",
        singular="add-on",
        columns=[{"label": "Code"}, {"label": "Name"}, {"label": "Amount", "num": True}],
        objects=lambda session, org: list(session.scalars(add_on_repository.list_stmt(org.id))),
        cells=lambda session, add_on: [
            add_on.code,
            add_on.name,
            money(add_on.amount_cents, add_on.amount_currency),
        ],
        key=lambda add_on: add_on.code,
        fields=_add_on_fields,
        values=_add_on_values,
        typed=_add_on_typed,
        build=_add_on_build,
        get=add_on_service.get,
        create=add_on_service.create,
        update=add_on_service.update,
        delete=add_on_service.delete,
    ),
)


# ----------------------------------------------------------------------------------------- coupons


def _coupon_fields(session: Session, organization: Organization) -> list[Field]:
    plans = session.scalars(
        select(Plan.code)
        .where(Plan.organization_id == organization.id, Plan.deleted_at.is_(None), Plan.parent_id.is_(None))
        .order_by(Plan.code)
    )
    metrics = session.scalars(
        select(BillableMetric.code)
        .where(BillableMetric.organization_id == organization.id, BillableMetric.deleted_at.is_(None))
        .order_by(BillableMetric.code)
    )
    return [
        {"name": "name", "label": "Name", "required": True},
        {"name": "code", "label": "Code", "required": True},
        {"name": "description", "label": "Description", "kind": "textarea"},
        {"name": "coupon_type", "label": "Type", "kind": "select", "options": [(t, t) for t in COUPON_TYPES]},
        {
            "name": "amount_cents",
            "label": "Amount (fixed amount)",
            "hint": "in the currency's unit, e.g. 10.50 (EUR), 1000 (JPY)",
        },
        {"name": "amount_currency", "label": "Currency (fixed amount)"},
        {"name": "percentage_rate", "label": "Rate in % (percentage)"},
        {
            "name": "frequency",
            "label": "Frequency",
            "kind": "select",
            "options": [(f, f) for f in FREQUENCIES],
        },
        {"name": "frequency_duration", "label": "Periods (recurring)"},
        {
            "name": "expiration",
            "label": "Expiration",
            "kind": "select",
            "options": [(e, e) for e in EXPIRATIONS],
        },
        {
            "name": "expiration_at",
            "label": "Expires at (time limit)",
            "hint": "ISO 8601, e.g. 2030-12-31T23:59:59Z",
        },
        {"name": "reusable", "label": "A customer may have it more than once", "kind": "checkbox"},
        {
            "name": "plan_codes",
            "label": "Only for plans",
            "kind": "multiselect",
            "options": [(c, c) for c in plans],
        },
        {
            "name": "billable_metric_codes",
            "label": "Only for billable metrics",
            "kind": "multiselect",
            "options": [(c, c) for c in metrics],
        },
    ]


_COUPON_TEXT = (
    "name",
    "code",
    "description",
    "coupon_type",
    "amount_cents",
    "amount_currency",
    "percentage_rate",
    "frequency",
    "frequency_duration",
    "expiration",
    "expiration_at",
)


def _coupon_typed(form: FormData) -> dict[str, Any]:
    values = _fields(form, _COUPON_TEXT)
    values["reusable"] = checked(form, "reusable")
    for name in ("plan_codes", "billable_metric_codes"):
        values[name] = [code for code in form.getlist(name) if isinstance(code, str)]
    return values


def _coupon_build(values: dict[str, Any]) -> CouponInput:
    payload = {key: values[key] for key in _COUPON_TEXT}
    payload["amount_cents"] = amount_field(values)
    payload["frequency_duration"] = number(values["frequency_duration"])
    payload["reusable"] = values["reusable"]
    # The kinds of targets chosen (Lago allows one; both is the service's 405); none clears them.
    targets = {name: values[name] for name in ("plan_codes", "billable_metric_codes") if values[name]}
    payload["applies_to"] = targets or {"plan_codes": []}
    return CouponInput.model_validate(payload)


def _coupon_values(session: Session, coupon: Coupon) -> dict[str, Any]:
    plan_codes, metric_codes = coupon_repository.target_codes(session, [coupon.id])[coupon.id]
    return {
        "name": coupon.name,
        "code": coupon.code,
        "description": coupon.description,
        "coupon_type": coupon.coupon_type,
        "amount_cents": amount_text(coupon.amount_cents, coupon.amount_currency),
        "amount_currency": coupon.amount_currency,
        "percentage_rate": None if coupon.percentage_rate is None else decimal_text(coupon.percentage_rate),
        "frequency": coupon.frequency,
        "frequency_duration": None if coupon.frequency_duration is None else str(coupon.frequency_duration),
        "expiration": coupon.expiration,
        "expiration_at": None if coupon.expiration_at is None else coupon.expiration_at.isoformat(),
        "reusable": coupon.reusable,
        "plan_codes": plan_codes,
        "billable_metric_codes": metric_codes,
    }


def _coupon_amount(coupon: Coupon) -> str:
    if coupon.coupon_type == "percentage" and coupon.percentage_rate is not None:
        return f"{decimal_text(coupon.percentage_rate)} %"
    return money(coupon.amount_cents, coupon.amount_currency)


mount(
    router,
    Area(
        path="/app/coupons",
        permission="coupons",
        title="Coupons",
        singular="coupon",
        columns=[
            {"label": "Code"},
            {"label": "Name"},
            {"label": "Value", "num": True},
            {"label": "Frequency"},
        ],
        objects=lambda session, org: list(session.scalars(coupon_repository.list_stmt(org.id))),
        cells=lambda session, coupon: [coupon.code, coupon.name, _coupon_amount(coupon), coupon.frequency],
        key=lambda coupon: coupon.code,
        fields=_coupon_fields,
        values=_coupon_values,
        typed=_coupon_typed,
        build=_coupon_build,
        get=coupon_service.get,
        create=coupon_service.create,
        update=coupon_service.update,
        delete=coupon_service.delete,
    ),
)
