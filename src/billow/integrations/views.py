"""The objects of the integrations' error webhooks (Lago's ``payment_provider_customer_error``,
``accounting_provider_customer_error``, ``crm_provider_customer_error`` and ``provider_error``), rendered
from the failed job (:mod:`billow.webhooks.payloads`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.models.customers import Customer
from billow.models.integrations import Integration, IntegrationJob
from billow.models.organizations import Organization
from billow.webhooks.payloads import renderer


def _failed_jobs(
    session: Session, organization: Organization, ids: Sequence[uuid.UUID]
) -> list[tuple[IntegrationJob, Integration]]:
    rows = session.execute(
        select(IntegrationJob, Integration)
        .join(Integration, Integration.id == IntegrationJob.integration_id)
        .where(IntegrationJob.organization_id == organization.id, IntegrationJob.id.in_(set(ids)))
    ).all()
    return [(job, integration) for job, integration in rows]


def _error(job: IntegrationJob) -> dict[str, Any]:
    return {
        "message": job.last_error_message,
        "error_code": job.last_error_code,
        "http_status": job.last_error_http_status,
    }


def _customer_errors(
    session: Session, organization: Organization, ids: Sequence[uuid.UUID], prefix: str
) -> dict[uuid.UUID, dict[str, Any]]:
    rendered: dict[uuid.UUID, dict[str, Any]] = {}
    for job, integration in _failed_jobs(session, organization, ids):
        customer = session.get(Customer, job.object_id)
        rendered[job.id] = {
            "lago_customer_id": str(job.object_id),
            "external_customer_id": customer.external_id if customer is not None else None,
            prefix: integration.type,
            f"{prefix}_code": integration.code,
            "provider_error": _error(job),
        }
    return rendered


@renderer("payment_provider_customer_error")
def payment_customer_errors(
    session: Session, organization: Organization, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    return _customer_errors(session, organization, ids, "payment_provider")


@renderer("accounting_provider_customer_error")
def accounting_customer_errors(
    session: Session, organization: Organization, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    return _customer_errors(session, organization, ids, "accounting_provider")


@renderer("crm_provider_customer_error")
def crm_customer_errors(
    session: Session, organization: Organization, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    return _customer_errors(session, organization, ids, "crm_provider")


@renderer("provider_error")
def provider_errors(
    session: Session, organization: Organization, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    return {
        job.id: {
            "lago_integration_id": str(integration.id),
            "provider": integration.type,
            "provider_code": integration.code,
            "provider_error": {
                **_error(job),
                "operation": job.operation,
                "object_type": job.object_type,
                "object_id": str(job.object_id),
            },
        }
        for job, integration in _failed_jobs(session, organization, ids)
    }
