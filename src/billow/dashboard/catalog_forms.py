"""What the overview, catalog and webhooks pages share: the form as a dict, the organization of the
viewer, validation errors as ``{field: [code]}``; the organization, the 404 page and Post/Redirect/Get
are :mod:`billow.dashboard.pages`' (re-exported here).

A page builds the same Pydantic ``Input`` the API builds, from form fields, and calls the same service.
Errors come back as Lago's codes: a :class:`~billow.errors.ValidationFailed`'s ``error_details``; another
:class:`~billow.errors.BillowError` (``tax_not_found``, ``billable_metric_in_use``...) under ``base``; a
field Pydantic refuses (not a number, too long) as ``value_is_invalid`` under its name.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.datastructures import FormData

from billow.dashboard.pages import not_found, organization_of, redirect
from billow.errors import BillowError, ValidationFailed
from billow.kit.currency import is_currency
from billow.web.amounts import to_major_units, to_minor_units
from billow.web.templating import render


async def read_form(request: Request) -> FormData:
    return await request.form()


#: The request's form (read once, before a synchronous route runs in the thread pool).
Form = Annotated[FormData, Depends(read_form)]


def text(form: FormData, name: str) -> str | None:
    """The field's text, stripped; ``None`` when absent or blank (absent for the ``Input``)."""
    value = form.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


def checked(form: FormData, name: str) -> bool:
    return form.get(name) in ("on", "true", "1")


def number(value: str | None) -> Any:
    """A whole number as ``int`` (what the API's JSON carries); anything else as given, for the
    ``Input`` or the service to refuse with its code."""
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return value


def amount_field(
    values: dict[str, Any], name: str = "amount_cents", currency: str = "amount_currency"
) -> Any:
    """The form's amount ``values[name]``, typed in the currency's major unit ("49.50"), as the minor
    units the ``Input`` takes (``4950``; :func:`billow.web.amounts.to_minor_units`, refusing more decimals
    than the currency has with ``value_is_invalid``). Without a valid currency it is passed on as typed
    for the ``Input`` to refuse the currency."""
    raw = values.get(name)
    code = values.get(currency)
    if raw is None:
        return None
    if not is_currency(code):
        return number(raw)
    return to_minor_units(raw, str(code), field=name)


def amount_text(cents: int | None, currency: str | None) -> str | None:
    """A stored amount as the form shows it: ``4950`` EUR -> ``"49.50"``."""
    if cents is None:
        return None
    if not is_currency(currency):
        return str(cents)
    return to_major_units(cents, str(currency))


def errors_of(exc: Exception) -> dict[str, list[str]]:
    """``{field: [code, ...]}`` for the form (``base`` for what belongs to no field)."""
    if isinstance(exc, ValidationFailed):
        details = exc.error_details or {}
        return {str(field): _codes(codes) for field, codes in details.items()}
    if isinstance(exc, BillowError):
        return {"base": [exc.code or exc.error]}
    if isinstance(exc, ValidationError):
        found: dict[str, list[str]] = {}
        for error in exc.errors():
            location = [str(part) for part in error["loc"] if not isinstance(part, int)]
            field = location[-1] if location else "base"
            code = "value_is_too_long" if error["type"] == "string_too_long" else "value_is_invalid"
            found.setdefault(field, [])
            if code not in found[field]:
                found[field].append(code)
        return found
    raise exc


def _codes(codes: Any) -> list[str]:
    if isinstance(codes, list):
        return [str(code) for code in codes]
    if isinstance(codes, dict):  # nested (a charge of a plan): flatten
        return [f"{key}: {code}" for key, value in codes.items() for code in _codes(value)]
    return [str(codes)]


def invalid(
    session: Session, request: Request, template: str, context: dict[str, Any], exc: Exception
) -> HTMLResponse:
    """The form again, with the errors next to their fields, as a 422; nothing written."""
    session.rollback()
    return render(request, template, {**context, "errors": errors_of(exc)}, status_code=422)


__all__ = ["not_found", "organization_of", "redirect"]


def segment(value: str) -> str:
    """A code as one URL path segment."""
    return quote(value, safe="")


def decimal_text(value: Decimal) -> str:
    """A stored decimal as people type it: ``20.000000`` (a PostgreSQL scale) -> ``20``."""
    shown = f"{value:f}"
    if "." in shown:
        shown = shown.rstrip("0").rstrip(".")
    return shown
