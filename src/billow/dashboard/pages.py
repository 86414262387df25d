"""What the dashboard's pages share: the viewer's organization, the request time, form errors, paging.

A page calls the same service the API calls and builds the same ``Input`` model from the form's fields
(:func:`form_input`). A refused change (:class:`billow.errors.BillowError`) is rolled back and its error
codes are shown next to the fields (:func:`error_codes`, status 422); another organization's object is a
404 page (:func:`not_found`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from billow.db import DbSession
from billow.errors import BillowError, NotFound
from billow.kit.pagination import PageMeta, PageParams
from billow.models.organizations import Organization
from billow.subscriptions.dependencies import request_time
from billow.subscriptions.follow_up import bill_after_commit
from billow.subscriptions.service import subscription_service
from billow.web.auth import CurrentViewer, Viewer
from billow.web.templating import render

PER_PAGE = 25
M = TypeVar("M", bound=BaseModel)


def organization_of(session: Session, viewer: Viewer) -> Organization:
    organization = session.get(Organization, viewer.organization_id)
    if organization is None:  # the member's organization was deleted under the session
        raise NotFound("organization")
    return organization


def page_now(
    session: DbSession, viewer: CurrentViewer, now: Annotated[datetime, Depends(request_time)]
) -> datetime:
    """The request time, once the organization's due subscription starts and ends are applied (as the
    API's reads do, :data:`billow.subscriptions.dependencies.Now`)."""
    transitions = subscription_service.apply_due_transitions(session, now, viewer.organization_id)
    bill_after_commit(session, [*transitions.terminated, *transitions.activated], now)
    return now


PageNow = Annotated[datetime, Depends(page_now)]


def page_params(request: Request) -> PageParams:
    raw = request.query_params.get("page", "1")
    page = int(raw) if raw.isdigit() and 0 < int(raw) < 1_000_000 else 1
    return PageParams(page=page, per_page=PER_PAGE)


def page_links(request: Request, meta: PageMeta, path: str | None = None) -> dict[str, str | None]:
    """The previous and next pages' URLs (relative, on ``path`` or the request's), keeping the other
    query parameters."""
    from urllib.parse import urlencode

    def url(page: int | None) -> str | None:
        if page is None:
            return None
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "page"]
        return f"{path or request.url.path}?{urlencode([*params, ('page', str(page))])}"

    return {"prev": url(meta.prev_page), "next": url(meta.next_page)}


def error_codes(exc: BillowError) -> dict[str, list[str]]:
    """``{field: [code, ...]}`` of a refusal: a validation's details flattened (``billing_configuration.
    invoice_grace_period``), else the error's code under ``base``."""
    found: dict[str, list[str]] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, Mapping):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else str(key), inner)
        elif isinstance(value, list | tuple):
            for item in value:
                if isinstance(item, Mapping):
                    walk(prefix, item)
                else:
                    found.setdefault(prefix or "base", []).append(str(item))
        elif value is not None:
            found.setdefault(prefix or "base", []).append(str(value))

    details = exc.error_details
    if details:
        walk("", details)
    if not found:
        found["base"] = [exc.code or "invalid"]
    return found


class FormInvalid(Exception):
    """A form field that cannot even be parsed (not a number, not a date): shown as a refusal."""

    def __init__(self, errors: dict[str, list[str]]):
        super().__init__(errors)
        self.errors = errors


def form_input(model: type[M], data: dict[str, Any]) -> M:
    """``model`` from form values; a field Pydantic refuses is ``value_is_invalid`` (or its bound's
    ``value_is_out_of_range``) under its name."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        errors: dict[str, list[str]] = {}
        for item in error.errors():
            # The form's field is the innermost name (``billing_configuration.invoice_grace_period``
            # is the form's ``invoice_grace_period``).
            names = [str(part) for part in item["loc"] if not isinstance(part, int)]
            field = names[-1] if names else "base"
            code = "value_is_out_of_range" if "than" in item["type"] else "value_is_invalid"
            if "too_long" in item["type"]:
                code = "value_is_too_long"
            errors.setdefault(field, []).append(code)
        raise FormInvalid(errors) from error


def blank_to_none(form: Mapping[str, Any], *names: str) -> dict[str, Any]:
    """The form's values of ``names`` (stripped), without the blank ones (absent, as a JSON ``null``)."""
    values: dict[str, Any] = {}
    for name in names:
        value = form.get(name)
        if isinstance(value, str):
            value = value.strip()
        if value not in (None, ""):
            values[name] = value
    return values


def refused(
    request: Request, session: Session, template: str, context: dict[str, Any], errors: dict[str, list[str]]
) -> HTMLResponse:
    """The form again, with its error codes, status 422; nothing written."""
    session.rollback()
    return render(request, template, {**context, "errors": errors}, status_code=422)


def redirect(url: str, flash: str | None = None) -> RedirectResponse:
    if flash:
        from urllib.parse import urlencode

        url = f"{url}{'&' if '?' in url else '?'}{urlencode({'flash': flash})}"
    return RedirectResponse(url, status_code=303)


def not_found(request: Request, what: str = "page") -> HTMLResponse:
    return render(request, "dashboard/missing.html", {"what": what}, status_code=404)
