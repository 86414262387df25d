"""The customer portal's pages: ``/portal/<token>`` (:mod:`billow.portal.links`).

The token stays in the path of every sub-page (the usage refreshed by htmx, the Pay and billing forms):
no cookie, so the portal also works embedded in the company's site (an iframe, where browsers refuse
third-party cookies), and every response is self-contained. A tampered token answers 403, an expired one
or a deleted customer's 410, with a page that shows nothing of the customer. Every response carries
``Referrer-Policy: no-referrer`` (the token never leaves in a ``Referer``), ``Cache-Control: no-store``
and ``X-Robots-Tag: noindex``. Forms also post :func:`billow.portal.links.form_token` (derived from the
token: 403 without it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from billow.config import Settings, current_settings
from billow.db import DbSession
from billow.errors import BillowError
from billow.models.customers import Customer
from billow.models.organizations import Organization
from billow.portal.links import PATH, TokenRefused, form_token, form_token_ok, read_token
from billow.portal.service import EDITABLE_FIELDS, editable_values, error_codes, portal_service
from billow.subscriptions.dependencies import request_time
from billow.web.templating import render

router = APIRouter(prefix=PATH)

Now = Annotated[datetime, Depends(request_time)]

HEADERS = {"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Robots-Tag": "noindex"}

_REFUSALS = {
    "invalid": (403, "This link is not valid."),
    "expired": (410, "This link has expired."),
    "gone": (410, "This link is no longer valid."),
}

_PAYMENT_ERRORS = {
    "invoice_payment_already_succeeded": "This invoice is already paid.",
    "invoice_not_finalized": "This invoice cannot be paid online.",
    "no_linked_payment_provider": "Online payment is not available for this invoice.",
    "third_party_error": "The payment provider could not be reached. Please try again later.",
}


#: What an error code of the customer rules means, for the customer (the code is shown after it).
_FIELD_MESSAGES = {
    "invalid_email_format": "Enter a valid e-mail address (several: separated by commas).",
    "not_a_valid_country_code": "Enter a two-letter country code, such as GB or FR.",
    "value_is_too_long": "This is too long.",
    "value_is_invalid": "This value is not valid.",
}


@dataclass(frozen=True)
class Access:
    token: str
    organization: Organization
    customer: Customer
    settings: Settings
    now: datetime

    @property
    def base(self) -> str:
        return f"{PATH}/{self.token}"

    @property
    def form_token(self) -> str:
        return form_token(self.settings, self.token)


def _secured(response: Response) -> Response:
    response.headers.update(HEADERS)
    return response


def _refused(request: Request, reason: str) -> Response:
    status, message = _REFUSALS[reason]
    return _secured(render(request, "portal/refused.html", {"message": message}, status_code=status))


def _open(request: Request, session: DbSession, token: str, now: datetime) -> Access | Response:
    """The organization and customer the token was signed for, or the refusal page."""
    settings = current_settings()
    try:
        claims = read_token(settings, token, now=int(now.timestamp()))
    except TokenRefused as refused:
        return _refused(request, refused.reason)
    found = portal_service.customer(session, claims.organization_id, claims.customer_id)
    if found is None:
        return _refused(request, "invalid")
    organization, customer = found
    if customer.deleted_at is not None:
        return _refused(request, "gone")
    return Access(token, organization, customer, settings, now)


def display_name(customer: Customer) -> str:
    full = " ".join(part for part in (customer.firstname, customer.lastname) if part)
    return customer.name or full or customer.external_id


def _context(access: Access, session: DbSession, **extra: Any) -> dict[str, Any]:
    return {
        "organization": access.organization,
        "customer_name": display_name(access.customer),
        "portal": portal_service.portal(
            session, access.organization, access.customer, access.now, access.settings
        ),
        "base": access.base,
        "csrf_token": access.form_token,
        "billing": editable_values(access.customer),
        "errors": {},
        "flash": None,
        **extra,
    }


def _message(request: Request, access: Access, message: str, status: int) -> Response:
    context = {
        "message": message,
        "base": access.base,
        "organization": access.organization,
        "customer_name": display_name(access.customer),
    }
    return _secured(render(request, "portal/message.html", context, status_code=status))


@router.get("/{token}")
def portal_page(token: str, request: Request, session: DbSession, now: Now) -> Response:
    access = _open(request, session, token, now)
    if isinstance(access, Response):
        return access
    flash = "Billing information saved." if request.query_params.get("saved") == "billing" else None
    return _secured(render(request, "portal/page.html", _context(access, session, flash=flash)))


@router.get("/{token}/usage")
def usage_section(token: str, request: Request, session: DbSession, now: Now) -> Response:
    """The current-usage section alone (htmx refreshes it every 30 s)."""
    access = _open(request, session, token, now)
    if isinstance(access, Response):
        return access
    usage = portal_service.usage(session, access.organization, access.customer, now)
    context = {"usage": usage, "base": access.base}
    return _secured(render(request, "portal/_usage.html", context))


async def _form(request: Request) -> dict[str, str]:
    """The fields of an ``application/x-www-form-urlencoded`` body (what the portal's forms send; the
    first value of a repeated field). Any other body has no fields (and so no form token: 403)."""
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/x-www-form-urlencoded":
        return {}
    text = (await request.body()).decode("utf-8", errors="replace")
    fields: dict[str, str] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        fields.setdefault(key, value)
    return fields


Form = Annotated[dict[str, str], Depends(_form)]


def _form_refused(access: Access, form: dict[str, str]) -> bool:
    return not form_token_ok(access.settings, access.token, form.get("csrf_token", ""))


@router.post("/{token}/invoices/{invoice_id}/pay")
def pay(token: str, invoice_id: str, request: Request, session: DbSession, now: Now, form: Form) -> Response:
    """The provider's payment page of an unpaid invoice (as ``POST /invoices/{id}/payment_url``): 303."""
    access = _open(request, session, token, now)
    if isinstance(access, Response):
        return access
    if _form_refused(access, form):
        return _message(request, access, "This form has expired. Please reload the page.", 403)
    try:
        wanted = uuid.UUID(invoice_id)
    except ValueError:
        return _message(request, access, "This invoice was not found.", 404)
    try:
        url = portal_service.payment_url(session, access.organization, access.customer, wanted)
    except BillowError as error:
        session.rollback()
        text = _PAYMENT_ERRORS.get(error.code or "", "This invoice cannot be paid online.")
        for codes in error_codes(error).values():
            text = next((_PAYMENT_ERRORS[c] for c in codes if c in _PAYMENT_ERRORS), text)
        return _message(request, access, text, 422)
    if url is None:
        return _message(request, access, "This invoice was not found.", 404)
    return _secured(RedirectResponse(url, status_code=303))


@router.post("/{token}/billing")
def update_billing(token: str, request: Request, session: DbSession, now: Now, form: Form) -> Response:
    """The customer's name, e-mail and address (the API's rules); 422 with the errors next to the fields."""
    access = _open(request, session, token, now)
    if isinstance(access, Response):
        return access
    if _form_refused(access, form):
        return _message(request, access, "This form has expired. Please reload the page.", 403)
    try:
        portal_service.update_billing(session, access.organization, access.customer, form)
    except ValidationError as invalid:
        errors = _input_errors(invalid)
    except BillowError as error:
        errors = error_codes(error) or {"base": [error.code or "value_is_invalid"]}
    else:
        return _secured(RedirectResponse(f"{access.base}?saved=billing#billing", status_code=303))
    session.rollback()
    values = {name: form.get(name, "") for name in EDITABLE_FIELDS}
    shown = {
        field: [f"{_FIELD_MESSAGES.get(code, 'This value is not valid.')} ({code})" for code in codes]
        for field, codes in errors.items()
    }
    context = _context(access, session, billing=values, errors=shown)
    return _secured(render(request, "portal/page.html", context, status_code=422))


def _input_errors(invalid: ValidationError) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for error in invalid.errors():
        field = str(error["loc"][0]) if error.get("loc") else "base"
        code = "value_is_too_long" if error.get("type") == "string_too_long" else "value_is_invalid"
        errors.setdefault(field, []).append(code)
    return errors
