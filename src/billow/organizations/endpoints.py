from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.orm import Session

from billow.auth import CurrentOrganization
from billow.db import DbSession
from billow.kit.strict_json import StrictJSONRoute
from billow.models.organizations import Organization
from billow.organizations.schemas import OrganizationEnvelope, OrganizationOut, OrganizationUpdateRequest
from billow.organizations.service import bill_backdated_periods, organization_service

router = APIRouter(tags=["organizations"], route_class=StrictJSONRoute)


def organization_out(session: Session, organization: Organization) -> OrganizationOut:
    from billow.webhook_endpoints.repository import webhook_endpoint_repository
    from billow.webhooks.keys import signing_keys

    urls = webhook_endpoint_repository.urls(session, organization.id)
    return OrganizationOut.model_validate(
        {
            **{c: getattr(organization, c) for c in OrganizationOut.model_fields if hasattr(organization, c)},
            "lago_id": organization.id,
            "webhook_urls": urls,
            # Lago shows it in its UI only; receivers need it to verify ``hmac`` signatures.
            "hmac_key": signing_keys(session, organization).hmac_key,
            "billing_configuration": {
                "invoice_footer": organization.invoice_footer,
                "invoice_grace_period": organization.invoice_grace_period,
                "document_locale": organization.document_locale,
                "bill_backdated_periods": bill_backdated_periods(organization),
            },
        }
    )


@router.get("/organizations", response_model=OrganizationEnvelope)
def show(session: DbSession, organization: CurrentOrganization) -> OrganizationEnvelope:
    return OrganizationEnvelope(organization=organization_out(session, organization))


@router.put("/organizations", response_model=OrganizationEnvelope)
def update(
    body: OrganizationUpdateRequest, session: DbSession, organization: CurrentOrganization
) -> OrganizationEnvelope:
    organization_service.update(session, organization, body.organization)
    return OrganizationEnvelope(organization=organization_out(session, organization))
