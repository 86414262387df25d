"""``PUT /customers/{external_id}/payment_methods/{lago_id}/set_as_default`` and ``DELETE
/customers/{external_id}/payment_methods/{lago_id}`` (Lago's ``customers/payment_methods_controller``).
The list, refreshed from the payment provider, is :mod:`billow.integrations.payment_endpoints`'."""

from __future__ import annotations

from fastapi import APIRouter

from billow.auth import CurrentOrganization
from billow.db import DbSession
from billow.kit.strict_json import StrictJSONRoute
from billow.payment_methods.schemas import PaymentMethodEnvelope
from billow.payment_methods.service import payment_method_service
from billow.payment_methods.views import render_method

router = APIRouter(tags=["payment_methods"], route_class=StrictJSONRoute)


@router.put(
    "/customers/{external_id}/payment_methods/{lago_id}/set_as_default", response_model=PaymentMethodEnvelope
)
def set_as_default(
    external_id: str, lago_id: str, session: DbSession, organization: CurrentOrganization
) -> PaymentMethodEnvelope:
    method = payment_method_service.set_default(session, organization, external_id, lago_id)
    return PaymentMethodEnvelope(payment_method=render_method(session, method))


@router.delete("/customers/{external_id}/payment_methods/{lago_id}", response_model=PaymentMethodEnvelope)
def destroy(
    external_id: str, lago_id: str, session: DbSession, organization: CurrentOrganization
) -> PaymentMethodEnvelope:
    method = payment_method_service.delete(session, organization, external_id, lago_id)
    return PaymentMethodEnvelope(payment_method=render_method(session, method))
