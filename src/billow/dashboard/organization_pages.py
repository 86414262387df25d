"""The organization's API keys and settings (``/app/api_keys``, ``/app/settings``)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

import billow.db as db
from billow.dashboard.access_forms import done, invalid, not_found
from billow.db import DbSession
from billow.errors import BillowError, ValidationFailed
from billow.models.organizations import Organization
from billow.organizations.schemas import OrganizationBillingConfiguration, OrganizationUpdate
from billow.organizations.service import LastLiveKey, LookupFailed, organization_service
from billow.web.auth import Viewer, require
from billow.web.templating import render

router = APIRouter(prefix="/app")

ViewKeys = Annotated[Viewer, Depends(require("api_keys:view"))]
ManageKeys = Annotated[Viewer, Depends(require("api_keys:manage"))]
ViewOrganization = Annotated[Viewer, Depends(require("organization:view"))]
UpdateOrganization = Annotated[Viewer, Depends(require("organization:update"))]

#: The longest overlap a rotation offers (30 days).
MAX_ROTATION_HOURS = 720


def _organization(session: Session, viewer: Viewer) -> Organization:
    organization = session.get(Organization, viewer.organization_id)
    assert organization is not None  # the session's member belongs to it (foreign key)
    return organization


def _keys_context(session: Session, viewer: Viewer, **extra: Any) -> dict[str, Any]:
    return {
        "keys": organization_service.organization_keys(session, viewer.organization_id),
        "now": db.utcnow(),
        "new_key": None,
        "errors": {},
        **extra,
    }


@router.get("/api_keys")
def api_keys(request: Request, session: DbSession, viewer: ViewKeys) -> HTMLResponse:
    return render(request, "access/api_keys.html", _keys_context(session, viewer))


@router.post("/api_keys")
def create_api_key(
    request: Request, session: DbSession, viewer: ManageKeys, name: Annotated[str, Form(max_length=255)] = ""
) -> Response:
    if not name.strip():
        return invalid(
            request,
            session,
            "access/api_keys.html",
            _keys_context(session, viewer),
            ValidationFailed.one("name", "value_is_mandatory"),
        )
    key, raw = organization_service.create_key(session, _organization(session, viewer), name.strip())
    # The key is shown here, once (only its digest is stored): no redirect.
    return render(
        request, "access/api_keys.html", _keys_context(session, viewer, new_key=(key, raw)), status_code=201
    )


@router.post("/api_keys/{key_id}/rotate")
def rotate_api_key(
    request: Request,
    session: DbSession,
    viewer: ManageKeys,
    key_id: uuid.UUID,
    expires_in_hours: Annotated[int, Form()] = 24,
) -> Response:
    if not 0 <= expires_in_hours <= MAX_ROTATION_HOURS:
        error = ValidationFailed.one("expires_in_hours", "value_is_out_of_range")
        return invalid(request, session, "access/api_keys.html", _keys_context(session, viewer), error)
    try:
        key, raw = organization_service.rotate_key(
            session, _organization(session, viewer), key_id, expires_in_hours
        )
    except LookupFailed:
        return not_found(request, "API key")
    return render(
        request, "access/api_keys.html", _keys_context(session, viewer, new_key=(key, raw)), status_code=201
    )


@router.post("/api_keys/{key_id}/revoke")
def revoke_api_key(request: Request, session: DbSession, viewer: ManageKeys, key_id: uuid.UUID) -> Response:
    try:
        organization_service.revoke_organization_key(session, _organization(session, viewer), key_id)
    except LookupFailed:
        return not_found(request, "API key")
    except LastLiveKey:
        error = ValidationFailed.one("api_key", "last_live_key")
        return invalid(request, session, "access/api_keys.html", _keys_context(session, viewer), error)
    return done("/app/api_keys", "API key revoked: it answers 401 from now on.")


# -- settings ------------------------------------------------------------------------------------------

#: The fields of the settings form (and of ``OrganizationUpdate``), in the form's order.
SETTINGS_FIELDS = (
    "email",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "zipcode",
    "country",
    "timezone",
)


def _settings_form(organization: Organization) -> dict[str, Any]:
    form: dict[str, Any] = {field: getattr(organization, field) or "" for field in SETTINGS_FIELDS}
    form.update(
        name=organization.name,
        default_currency=organization.default_currency,
        net_payment_term=organization.net_payment_term,
        invoice_grace_period=organization.invoice_grace_period,
    )
    return form


@router.get("/settings")
def settings(request: Request, session: DbSession, viewer: ViewOrganization) -> HTMLResponse:
    form = _settings_form(_organization(session, viewer))
    return render(request, "access/settings.html", {"form": form, "errors": {}})


@router.post("/settings")
def update_settings(
    request: Request,
    session: DbSession,
    viewer: UpdateOrganization,
    name: Annotated[str, Form(max_length=255)] = "",
    email: Annotated[str, Form(max_length=255)] = "",
    address_line1: Annotated[str, Form(max_length=255)] = "",
    address_line2: Annotated[str, Form(max_length=255)] = "",
    city: Annotated[str, Form(max_length=255)] = "",
    state: Annotated[str, Form(max_length=255)] = "",
    zipcode: Annotated[str, Form(max_length=255)] = "",
    country: Annotated[str, Form(max_length=255)] = "",
    timezone: Annotated[str, Form(max_length=255)] = "UTC",
    default_currency: Annotated[str, Form(max_length=255)] = "",
    net_payment_term: Annotated[str, Form(max_length=32)] = "0",
    invoice_grace_period: Annotated[str, Form(max_length=32)] = "0",
) -> Response:
    organization = _organization(session, viewer)
    texts = {
        "email": email,
        "address_line1": address_line1,
        "address_line2": address_line2,
        "city": city,
        "state": state,
        "zipcode": zipcode,
        "country": country,
        "timezone": timezone,
    }
    form = {
        **texts,
        "name": name,
        "default_currency": default_currency,
        "net_payment_term": net_payment_term,
        "invoice_grace_period": invoice_grace_period,
    }
    try:
        # The API's input model and service: the same rules as PUT /api/v1/organizations.
        data = OrganizationUpdate(
            **{k: (v.strip() or None) for k, v in texts.items() if k != "country" or v.strip()},
            default_currency=default_currency.strip().upper() or None,
            net_payment_term=net_payment_term.strip() or None,
            billing_configuration=OrganizationBillingConfiguration(
                invoice_grace_period=invoice_grace_period.strip() or None
            ),
        )
        organization_service.rename(session, organization, name)
        organization_service.update(session, organization, data)
    except (BillowError, ValidationError) as error:
        return invalid(request, session, "access/settings.html", {"form": form}, error)
    return done("/app/settings", "Settings saved.")
