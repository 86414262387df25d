"""The wallet forms of a customer's page (``/app/customers/{id}``): create a wallet
(``wallets:create``, as ``POST /customers/{external_id}/wallets``) and top one up with paid and/or
granted credits (``wallets:top_up``, as ``POST /wallet_transactions``), through ``wallet_service``.

A refusal shows the customer's page again with the codes next to the form's fields (422, nothing
written); a success redirects to the page."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from billow.dashboard import queries
from billow.dashboard.catalog_forms import Form
from billow.dashboard.customers_pages import detail_context
from billow.dashboard.pages import (
    FormInvalid,
    PageNow,
    blank_to_none,
    error_codes,
    form_input,
    not_found,
    organization_of,
    redirect,
)
from billow.db import DbSession
from billow.errors import BillowError
from billow.models.customers import Customer
from billow.models.organizations import Organization
from billow.models.wallets import Wallet
from billow.wallets.schemas import WalletInput, WalletTransactionInput
from billow.wallets.service import wallet_service
from billow.web.auth import Viewer, require
from billow.web.templating import render

router = APIRouter(prefix="/app/customers")

CreateWallet = Annotated[Viewer, Depends(require("wallets:create"))]
TopUp = Annotated[Viewer, Depends(require("wallets:top_up"))]

WALLET_FIELDS = ("name", "currency", "rate_amount", "paid_credits", "granted_credits", "expiration_at")
TOP_UP_FIELDS = ("paid_credits", "granted_credits")


def _refused(
    request: Request,
    session: Session,
    viewer: Viewer,
    lago_id: str,
    now: datetime,
    error: BillowError | FormInvalid,
    extra: dict[str, Any],
) -> Response:
    errors = error.errors if isinstance(error, FormInvalid) else error_codes(error)
    session.rollback()
    organization = organization_of(session, viewer)
    customer = queries.customer_by_id(session, viewer.organization_id, lago_id)
    assert customer is not None
    context = detail_context(session, organization, customer, now)
    for key, value in extra.items():
        context[key] = {**value, "errors": errors}
    return render(request, "customers/show.html", context, status_code=422)


def _customer(session: Session, viewer: Viewer, lago_id: str) -> tuple[Organization, Customer | None]:
    return organization_of(session, viewer), queries.customer_by_id(session, viewer.organization_id, lago_id)


@router.post("/{lago_id}/wallets")
def create_wallet(
    lago_id: str, request: Request, session: DbSession, form: Form, viewer: CreateWallet, now: PageNow
) -> Response:
    organization, customer = _customer(session, viewer, lago_id)
    if customer is None:
        return not_found(request, "customer")
    values = blank_to_none(form, *WALLET_FIELDS)
    try:
        data = form_input(WalletInput, values)
        wallet_service.create(session, organization, data, customer=customer)
    except (BillowError, FormInvalid) as error:
        extra = {"wallet_form": {"values": values}}
        return _refused(request, session, viewer, lago_id, now, error, extra)
    return redirect(f"/app/customers/{customer.id}", "Wallet created.")


@router.post("/{lago_id}/wallets/{wallet_id}/top_up")
def top_up(
    lago_id: str,
    wallet_id: str,
    request: Request,
    session: DbSession,
    form: Form,
    viewer: TopUp,
    now: PageNow,
) -> Response:
    organization, customer = _customer(session, viewer, lago_id)
    if customer is None:
        return not_found(request, "customer")
    wallet = next((w for w in queries.wallets_of(session, customer) if str(w.id) == wallet_id), None)
    if wallet is None:
        return not_found(request, "wallet")
    values = blank_to_none(form, *TOP_UP_FIELDS)
    try:
        data = form_input(WalletTransactionInput, {"wallet_id": str(wallet.id), **values})
        wallet_service.top_up(session, organization, data)
    except (BillowError, FormInvalid) as error:
        extra = {"top_up_form": {"wallet_id": wallet_id, "values": values}}
        return _refused(request, session, viewer, lago_id, now, error, extra)
    return redirect(f"/app/customers/{customer.id}", f"Wallet {_name(wallet)} topped up.")


def _name(wallet: Wallet) -> str:
    return wallet.name or wallet.code or "wallet"
