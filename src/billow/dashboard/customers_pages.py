"""``/app/customers``: the customer list (search, pages), the create/edit form (through
:meth:`billow.customers.service.CustomerService.upsert`, as ``POST /customers``), deletion, and the
customer's page: fields, subscriptions, live current usage with a chart per metric (refreshed every 10 s,
:mod:`billow.dashboard.customer_usage`), invoices, wallets, applied coupons (apply, terminate) and credit
notes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from billow.applied_coupons.repository import applied_coupon_repository
from billow.applied_coupons.schemas import AppliedCouponInput, applied_coupon_list_item
from billow.applied_coupons.service import applied_coupon_service
from billow.credit_notes.schemas import CreditNoteFilters
from billow.credit_notes.service import credit_note_service
from billow.credit_notes.views import render_listed_credit_notes
from billow.customers.repository import customer_repository
from billow.customers.schemas import CustomerFilters, CustomerInput
from billow.customers.service import customer_service
from billow.customers.views import render_customers
from billow.dashboard import queries
from billow.dashboard.customer_usage import SubscriptionUsage, subscription_usage
from billow.dashboard.pages import (
    FormInvalid,
    PageNow,
    blank_to_none,
    error_codes,
    form_input,
    not_found,
    organization_of,
    page_links,
    page_params,
    redirect,
    refused,
)
from billow.db import DbSession
from billow.errors import BillowError
from billow.invoices.repository import InvoiceFilters, invoice_repository
from billow.invoices.views import render_invoices
from billow.kit.pagination import PageParams, paginate
from billow.models.customers import Customer
from billow.models.organizations import Organization
from billow.models.subscriptions import SubscriptionStatus
from billow.subscriptions.views import render_subscriptions
from billow.wallets.views import render_wallets
from billow.web.auth import Viewer, require
from billow.web.templating import render, units_text

router = APIRouter(prefix="/app/customers")

View = Annotated[Viewer, Depends(require("customers:view"))]
Create = Annotated[Viewer, Depends(require("customers:create"))]
Update = Annotated[Viewer, Depends(require("customers:update"))]
Delete = Annotated[Viewer, Depends(require("customers:delete"))]
Attach = Annotated[Viewer, Depends(require("coupons:attach"))]
Detach = Annotated[Viewer, Depends(require("coupons:detach"))]

#: The form's fields (Lago's names); ``tax_codes`` is a comma-separated list, ``invoice_grace_period``
#: goes into ``billing_configuration``.
TEXT_FIELDS = (
    "name",
    "email",
    "address_line1",
    "address_line2",
    "city",
    "zipcode",
    "state",
    "tax_identification_number",
)
CODE_FIELDS = ("currency", "timezone", "country", "net_payment_term")


def customer_input(external_id: str, form: Any) -> CustomerInput:
    data: dict[str, Any] = {"external_id": external_id.strip()}
    for name in TEXT_FIELDS:
        value = form.get(name)
        if isinstance(value, str):
            data[name] = value.strip()
    data.update(blank_to_none(form, *CODE_FIELDS))
    grace = blank_to_none(form, "invoice_grace_period")
    if grace:
        data["billing_configuration"] = grace
    tax_codes = form.get("tax_codes")
    if isinstance(tax_codes, str):
        data["tax_codes"] = [code.strip() for code in tax_codes.split(",") if code.strip()]
    return form_input(CustomerInput, data)


def form_values(customer: Customer | None, session: Session, organization: Organization) -> dict[str, Any]:
    if customer is None:
        return {}
    [out] = render_customers(session, organization, [customer], detail=True)
    values: dict[str, Any] = {name: getattr(out, name) or "" for name in (*TEXT_FIELDS, "external_id")}
    for name in CODE_FIELDS:
        value = getattr(out, name)
        values[name] = "" if value is None else str(value)
    grace = out.billing_configuration.invoice_grace_period
    values["invoice_grace_period"] = "" if grace is None else str(grace)
    values["tax_codes"] = ", ".join(tax.code for tax in out.taxes)
    return values


@router.get("")
def index(request: Request, session: DbSession, viewer: View) -> Response:
    organization = organization_of(session, viewer)
    q = request.query_params.get("q", "").strip()[:255]
    params: PageParams = page_params(request)
    stmt = customer_service.list_stmt(organization, CustomerFilters(search_term=q or None))
    customers, meta = paginate(session, stmt, params)
    return render(
        request,
        "customers/index.html",
        {"customers": customers, "q": q, "meta": meta, "links": page_links(request, meta)},
    )


@router.get("/new")
def new(request: Request, viewer: Create) -> Response:
    return render(request, "customers/form.html", {"customer": None, "values": {}, "errors": {}})


@router.post("/new")
async def create(request: Request, session: DbSession, viewer: Create) -> Response:
    form = await request.form()
    organization = organization_of(session, viewer)
    context = {"customer": None, "values": dict(form)}
    try:
        external_id = str(form.get("external_id") or "")
        if customer_repository.by_external_id(session, organization.id, external_id.strip()) is not None:
            taken = {"external_id": ["value_already_exist"]}
            return refused(request, session, "customers/form.html", context, taken)
        customer = customer_service.upsert(session, organization, customer_input(external_id, form))
    except FormInvalid as invalid:
        return refused(request, session, "customers/form.html", context, invalid.errors)
    except BillowError as error:
        return refused(request, session, "customers/form.html", context, error_codes(error))
    return redirect(f"/app/customers/{customer.id}", "Customer created.")


@router.get("/{lago_id}/edit")
def edit(lago_id: str, request: Request, session: DbSession, viewer: Update) -> Response:
    organization = organization_of(session, viewer)
    customer = queries.customer_by_id(session, viewer.organization_id, lago_id)
    if customer is None:
        return not_found(request, "customer")
    values = form_values(customer, session, organization)
    return render(request, "customers/form.html", {"customer": customer, "values": values, "errors": {}})


@router.post("/{lago_id}/edit")
async def update(lago_id: str, request: Request, session: DbSession, viewer: Update) -> Response:
    organization = organization_of(session, viewer)
    customer = queries.customer_by_id(session, viewer.organization_id, lago_id)
    if customer is None:
        return not_found(request, "customer")
    form = await request.form()
    context = {"customer": customer, "values": {**dict(form), "external_id": customer.external_id}}
    try:
        customer_service.upsert(session, organization, customer_input(customer.external_id, form))
    except FormInvalid as invalid:
        return refused(request, session, "customers/form.html", context, invalid.errors)
    except BillowError as error:
        return refused(request, session, "customers/form.html", context, error_codes(error))
    return redirect(f"/app/customers/{customer.id}", "Customer saved.")


@router.post("/{lago_id}/delete")
def delete(lago_id: str, request: Request, session: DbSession, viewer: Delete) -> Response:
    organization = organization_of(session, viewer)
    customer = queries.customer_by_id(session, viewer.organization_id, lago_id)
    if customer is None:
        return not_found(request, "customer")
    try:
        customer_service.delete(session, organization, customer.external_id)
    except BillowError as error:
        session.rollback()
        return redirect(f"/app/customers/{lago_id}", f"Not deleted: {error.code}.")
    return redirect("/app/customers", "Customer deleted.")


def usages(
    session: Session, organization: Organization, customer: Customer, now: datetime
) -> list[SubscriptionUsage]:
    live = [s for s in queries.subscriptions_of(session, customer) if s.status == SubscriptionStatus.ACTIVE]
    return [subscription_usage(session, organization, customer, subscription, now) for subscription in live]


def detail_context(
    session: Session, organization: Organization, customer: Customer, now: datetime
) -> dict[str, Any]:
    [out] = render_customers(session, organization, [customer], detail=True)
    subscriptions = queries.subscriptions_of(session, customer)
    invoices, _ = paginate(
        session,
        invoice_repository.list_stmt(
            organization.id, InvoiceFilters(external_customer_id=customer.external_id)
        ),
        PageParams(page=1, per_page=20),
    )
    applied = list(
        session.scalars(
            applied_coupon_repository.list_stmt(
                organization.id, external_customer_id=customer.external_id, status=None
            )
        )
    )
    coupons, customers = applied_coupon_repository.coupons_and_customers(session, applied)
    credits = applied_coupon_repository.credits_of(session, [a.id for a in applied])
    notes, _ = paginate(
        session,
        credit_note_service.list_stmt(organization, CreditNoteFilters(customer_id=customer.id)),
        PageParams(page=1, per_page=20),
    )
    return {
        "customer": out,
        "customer_id": customer.id,
        "units": units_text,
        "subscriptions": render_subscriptions(session, organization, subscriptions, now),
        "usages": usages(session, organization, customer, now),
        "invoices": render_invoices(session, organization, invoices),
        "wallets": render_wallets(session, queries.wallets_of(session, customer)),
        "applied_coupons": [
            applied_coupon_list_item(a, coupons[a.coupon_id], customers[a.customer_id], credits[a.id])
            for a in applied
        ],
        "credit_notes": render_listed_credit_notes(session, organization, notes),
        "coupon_errors": {},
        # The wallet forms (billow.dashboard.customer_wallets): values and errors of a refused one.
        "wallet_form": {
            "values": {"currency": customer.currency or organization.default_currency, "rate_amount": "1"},
            "errors": {},
        },
        "top_up_form": {"wallet_id": None, "values": {}, "errors": {}},
    }


@router.get("/{lago_id}")
def show(lago_id: str, request: Request, session: DbSession, viewer: View, now: PageNow) -> Response:
    organization = organization_of(session, viewer)
    customer = queries.customer_by_id(session, viewer.organization_id, lago_id)
    if customer is None:
        return not_found(request, "customer")
    return render(request, "customers/show.html", detail_context(session, organization, customer, now))


@router.get("/{lago_id}/usage")
def usage(lago_id: str, request: Request, session: DbSession, viewer: View, now: PageNow) -> Response:
    """The usage section alone (htmx polls it every 10 s)."""
    organization = organization_of(session, viewer)
    customer = queries.customer_by_id(session, viewer.organization_id, lago_id)
    if customer is None:
        return not_found(request, "customer")
    return render(
        request,
        "customers/_usage.html",
        {
            "customer_id": customer.id,
            "usages": usages(session, organization, customer, now),
            "units": units_text,
        },
    )


@router.post("/{lago_id}/coupons")
async def apply_coupon(
    lago_id: str, request: Request, session: DbSession, viewer: Attach, now: PageNow
) -> Response:
    organization = organization_of(session, viewer)
    customer = queries.customer_by_id(session, viewer.organization_id, lago_id)
    if customer is None:
        return not_found(request, "customer")
    form = await request.form()
    data = {"external_customer_id": customer.external_id, **blank_to_none(form, "coupon_code")}
    try:
        applied_coupon_service.apply(session, organization, form_input(AppliedCouponInput, data))
    except (BillowError, FormInvalid) as error:
        errors = error.errors if isinstance(error, FormInvalid) else error_codes(error)
        session.rollback()
        customer = queries.customer_by_id(session, viewer.organization_id, lago_id)
        assert customer is not None
        context = {**detail_context(session, organization, customer, now), "coupon_errors": errors}
        return render(request, "customers/show.html", context, status_code=422)
    return redirect(f"/app/customers/{customer.id}", "Coupon applied.")


@router.post("/{lago_id}/coupons/{applied_id}/terminate")
def terminate_coupon(
    lago_id: str, applied_id: str, request: Request, session: DbSession, viewer: Detach
) -> Response:
    organization = organization_of(session, viewer)
    customer = queries.customer_by_id(session, viewer.organization_id, lago_id)
    if customer is None:
        return not_found(request, "customer")
    try:
        applied_coupon_service.terminate(session, organization, customer.external_id, applied_id)
    except BillowError:
        session.rollback()
        return not_found(request, "applied coupon")
    return redirect(f"/app/customers/{customer.id}", "Coupon terminated.")
