"""Dashboard pages of plans (``/app/plans``): list, create/edit a plan with its charges, delete, and the
live price calculator of a charge (``POST /app/plans/calculator``).

The plan form builds the API's ``PlanInput`` (charges included: on an edit they replace the plan's
charges, as ``PUT /plans/{code}`` does; a charge keeps its filters and taxes) and calls ``plan_service``.
Tier rows and charges are added or removed with htmx (``POST /app/plans/charge_fragment`` answers the
charge's fieldset again); without JavaScript the same buttons submit the form, which is shown again
with the change and nothing saved.
"""

from __future__ import annotations

import secrets
import uuid
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from billow.dashboard import plan_charges
from billow.dashboard.catalog_forms import (
    Form,
    amount_field,
    amount_text,
    checked,
    decimal_text,
    invalid,
    not_found,
    number,
    organization_of,
    redirect,
    segment,
    text,
)
from billow.dashboard.catalog_pages import F, tax_options
from billow.dashboard.plan_charges import ChargeForm
from billow.db import DbSession
from billow.errors import BillowError, NotFound
from billow.kit.currency import is_currency
from billow.kit.ids import parse_uuid
from billow.kit.money import to_minor_units
from billow.models.billable_metrics import BillableMetric
from billow.models.organizations import Organization
from billow.models.plans import Interval, Plan
from billow.plans.repository import plan_repository
from billow.plans.schemas import PlanInput
from billow.plans.service import plan_service
from billow.web.auth import Viewer, require
from billow.web.templating import money, render, units_text

router = APIRouter()

PATH = "/app/plans"
#: Charges added in place get an index from here up (those of the page count from 0).
NEW_INDEX_BASE = 1_000_000
_TEXT = ("name", "code", "description", "interval", "amount_cents", "amount_currency", "trial_period")


def _metrics(session: Session, organization_id: uuid.UUID) -> dict[str, BillableMetric]:
    metrics = session.scalars(
        select(BillableMetric)
        .where(BillableMetric.organization_id == organization_id, BillableMetric.deleted_at.is_(None))
        .order_by(BillableMetric.code)
    )
    return {str(metric.id): metric for metric in metrics}


def _plan_fields(session: Session, organization: Organization) -> list[dict[str, Any]]:
    return [
        F("name", "Name", required=True),
        F("code", "Code", required=True),
        F("description", "Description", "textarea"),
        F("interval", "Interval", "select", options=[(i.value, i.value) for i in Interval]),
        F(
            "amount_cents",
            "Subscription fee",
            required=True,
            hint="in the currency's unit, e.g. 49.00 (EUR), 1000 (JPY)",
        ),
        F("amount_currency", "Currency", required=True, hint="ISO 4217, e.g. EUR"),
        F("pay_in_advance", "Subscription fee paid in advance", "checkbox"),
        F("trial_period", "Trial (days)"),
        F("tax_codes", "Taxes", "multiselect", options=tax_options(session, organization.id)),
    ]


def _typed(form: FormData) -> dict[str, Any]:
    values: dict[str, Any] = {name: text(form, name) for name in _TEXT}
    values["pay_in_advance"] = checked(form, "pay_in_advance")
    values["tax_codes"] = [code for code in form.getlist("tax_codes") if isinstance(code, str)]
    values["charges"] = [plan_charges.read_charge(form, index) for index in plan_charges.indexes(form)]
    return values


def _build(values: dict[str, Any]) -> PlanInput:
    payload = {name: values[name] for name in _TEXT}
    payload["amount_cents"] = amount_field(values)
    payload["pay_in_advance"] = values["pay_in_advance"]
    payload["tax_codes"] = values["tax_codes"]
    payload["charges"] = [charge.as_input() for charge in values["charges"] if not charge.remove]
    return PlanInput.model_validate(payload)


def _stored(session: Session, plan: Plan) -> dict[str, Any]:
    graph = plan_repository.load_plans(session, [plan])[0]
    return {
        "name": plan.name,
        "code": plan.code,
        "description": plan.description,
        "interval": plan.interval,
        "amount_cents": amount_text(plan.amount_cents, plan.amount_currency),
        "amount_currency": plan.amount_currency,
        "pay_in_advance": plan.pay_in_advance,
        "trial_period": None if plan.trial_period is None else decimal_text(plan.trial_period),
        "tax_codes": [tax.code for tax in graph.taxes],
        "charges": [
            plan_charges.from_properties(
                index,
                str(item.charge.id),
                str(item.metric.id),
                item.charge.charge_model,
                item.charge.pay_in_advance,
                item.charge.properties or {},
            )
            for index, item in enumerate(graph.charges)
        ],
    }


def _page(
    session: Session, organization: Organization, viewer: Viewer, values: dict[str, Any], code: str | None
) -> dict[str, Any]:
    creating = code is None
    return {
        "heading": "New plan" if creating else f"Plan {code}",
        "action": PATH if creating else f"{PATH}/{segment(code or '')}",
        "delete_action": None if creating else f"{PATH}/{segment(code or '')}/delete",
        "can_save": viewer.can("plans:create" if creating else "plans:update"),
        "can_delete": viewer.can("plans:delete"),
        "fields": _plan_fields(session, organization),
        "values": values,
        "errors": {},
        "metrics": _metrics(session, organization.id),
        "models": plan_charges.MODELS,
        "next_index": _next_index(values["charges"]),
    }


def _next_index(charges: list[ChargeForm]) -> int:
    return max((charge.index for charge in charges), default=-1) + 1


def _check_charges(session: Session, organization: Organization, charges: list[ChargeForm]) -> None:
    """Each charge's property errors, shown in its fieldset (the rule the service applies)."""
    metrics = _metrics(session, organization.id)
    for charge in charges:
        metric = metrics.get(charge.billable_metric_id)
        if metric is not None and charge.charge_model in plan_charges.MODELS and not charge.remove:
            plan_charges.check(charge, metric.aggregation_type)


def _apply_op(op: str, charges: list[ChargeForm]) -> None:
    """``add_charge``, ``add_tier:<i>``, ``remove_tier:<i>:<j>`` (the buttons, without JavaScript)."""
    kind, _, rest = op.partition(":")
    if kind == "add_charge":
        charges.append(plan_charges.new_charge(_next_index(charges)))
        return
    by_index = {charge.index: charge for charge in charges}
    parts = rest.split(":")
    charge = by_index.get(int(parts[0])) if parts[0].isdigit() else None
    if charge is None:
        return
    if kind == "add_tier":
        plan_charges.add_tier(charge)
    elif kind == "remove_tier" and len(parts) == 2 and parts[1].isdigit():
        plan_charges.remove_tier(charge, int(parts[1]))


@router.get(PATH, name="plans_index")
def index(request: Request, session: DbSession, viewer: Viewer = Depends(require("plans:view"))) -> Response:
    organization = organization_of(session, viewer)
    plans = list(session.scalars(plan_repository.list_stmt(organization.id)))
    graphs = plan_repository.load_plans(session, plans)
    rows = [
        {
            "code": graph.plan.code,
            "name": graph.plan.name,
            "interval": graph.plan.interval,
            "amount": money(graph.plan.amount_cents, graph.plan.amount_currency),
            "charges": len(graph.charges),
        }
        for graph in graphs
    ]
    return render(request, "plans/list.html", {"rows": rows, "can_create": viewer.can("plans:create")})


@router.get(f"{PATH}/new", name="plans_new")
def new(request: Request, session: DbSession, viewer: Viewer = Depends(require("plans:create"))) -> Response:
    organization = organization_of(session, viewer)
    values: dict[str, Any] = {
        "interval": "monthly",
        "amount_currency": organization.default_currency,
        "amount_cents": "0",
        "charges": [],
        "tax_codes": [],
    }
    return render(request, "plans/form.html", _page(session, organization, viewer, values, None))


@router.post(f"{PATH}/charge_fragment", name="plans_charge_fragment")
def charge_fragment(
    request: Request, session: DbSession, form: Form, viewer: Viewer = Depends(require("plans:view"))
) -> Response:
    """One charge's fieldset again after ``op``: ``new``, ``model``, ``add_tier``, ``remove_tier:<j>``."""
    organization = organization_of(session, viewer)
    op = text(form, "op") or ""
    index = number(text(form, "index") or "0")
    index = index if isinstance(index, int) else 0
    if op == "new":  # a number no charge of the form has (the page does not say which it uses)
        charge = plan_charges.new_charge(NEW_INDEX_BASE + secrets.randbelow(NEW_INDEX_BASE))
    else:
        charge = plan_charges.read_charge(form, index)
        if op == "model":
            plan_charges.switch_model(charge, charge.charge_model)
        elif op == "add_tier":
            plan_charges.add_tier(charge)
        elif op.startswith("remove_tier:") and op.split(":")[1].isdigit():
            plan_charges.remove_tier(charge, int(op.split(":")[1]))
    context = {"charge": charge, "metrics": _metrics(session, organization.id), "models": plan_charges.MODELS}
    return render(request, "plans/charge.html", context)


@router.post(f"{PATH}/calculator", name="plans_calculator")
def calculator(
    request: Request, session: DbSession, form: Form, viewer: Viewer = Depends(require("plans:view"))
) -> Response:
    """``N units cost X under this charge``: the charge's current form values (``index``), ``units``
    (its ``charges-<i>-calc_units``) and the plan's ``amount_currency``."""
    organization = organization_of(session, viewer)
    index = number(text(form, "index") or "0")
    charge = plan_charges.read_charge(form, index if isinstance(index, int) else 0)
    currency = (text(form, "amount_currency") or organization.default_currency).upper()
    metric = _metrics(session, organization.id).get(charge.billable_metric_id)
    quote = None
    if not is_currency(currency):
        charge.errors = ["currency_is_invalid"]
    elif charge.charge_model not in plan_charges.MODELS:
        charge.errors = ["charge_model_is_invalid"]
    else:
        aggregation = metric.aggregation_type if metric is not None else "sum_agg"
        units = text(form, f"{charge.prefix}calc_units") or ""
        quote = plan_charges.calculate(charge, aggregation, units, currency)
    context = {
        "charge": charge,
        "quote": quote,
        "currency": currency,
        # the tiers' figures are Lago's decimal strings ("100.0", "10.0"): units and prices shown plain,
        # amounts as money
        "plain": units_text,
        "amount": lambda value: money(to_minor_units(Decimal(str(value)), currency), currency),
    }
    return render(request, "plans/calculator.html", context, status_code=200 if quote else 422)


@router.post(PATH, name="plans_create")
def create(
    request: Request, session: DbSession, form: Form, viewer: Viewer = Depends(require("plans:create"))
) -> Response:
    organization = organization_of(session, viewer)
    values = _typed(form)
    op = text(form, "op")
    if op:
        _apply_op(op, values["charges"])
        return render(request, "plans/form.html", _page(session, organization, viewer, values, None))
    try:
        plan = plan_service.create(session, organization, _build(values))
    except (BillowError, ValidationError) as exc:
        _check_charges(session, organization, values["charges"])
        context = _page(session, organization, viewer, values, None)
        return invalid(session, request, "plans/form.html", context, exc)
    return redirect(f"{PATH}/{segment(plan.code)}", "Plan created.")


@router.get(f"{PATH}/{{code}}", name="plans_show")
def show(
    code: str, request: Request, session: DbSession, viewer: Viewer = Depends(require("plans:view"))
) -> Response:
    organization = organization_of(session, viewer)
    try:
        plan = plan_service.get(session, organization, code)
    except NotFound:
        # A link by lago_id (the API's id) leads to the plan's page by code.
        plan_id = parse_uuid(code)
        found = plan_repository.by_id(session, organization.id, plan_id) if plan_id else None
        if found is None or found.deleted_at is not None or found.parent_id is not None:
            return not_found(request, "plan")
        return redirect(f"{PATH}/{segment(found.code)}")
    context = _page(session, organization, viewer, _stored(session, plan), plan.code)
    return render(request, "plans/form.html", context)


@router.post(f"{PATH}/{{code}}", name="plans_update")
def update(
    code: str,
    request: Request,
    session: DbSession,
    form: Form,
    viewer: Viewer = Depends(require("plans:update")),
) -> Response:
    organization = organization_of(session, viewer)
    try:
        plan_service.get(session, organization, code)
    except NotFound:
        return not_found(request, "plan")
    values = _typed(form)
    op = text(form, "op")
    if op:
        _apply_op(op, values["charges"])
        return render(request, "plans/form.html", _page(session, organization, viewer, values, code))
    try:
        plan = plan_service.update(session, organization, code, _build(values))
    except (BillowError, ValidationError) as exc:
        _check_charges(session, organization, values["charges"])
        context = _page(session, organization, viewer, values, code)
        return invalid(session, request, "plans/form.html", context, exc)
    return redirect(f"{PATH}/{segment(plan.code)}", "Plan saved.")


@router.post(f"{PATH}/{{code}}/delete", name="plans_delete")
def delete(
    code: str, request: Request, session: DbSession, viewer: Viewer = Depends(require("plans:delete"))
) -> Response:
    organization = organization_of(session, viewer)
    try:
        plan_service.delete(session, organization, code)
    except NotFound:
        return not_found(request, "plan")
    except BillowError as exc:  # 405 plan_has_active_subscriptions: terminate them first
        plan = plan_service.get(session, organization, code)
        context = _page(session, organization, viewer, _stored(session, plan), plan.code)
        return invalid(session, request, "plans/form.html", context, exc)
    return redirect(PATH, "Plan deleted.")
