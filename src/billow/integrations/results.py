"""What a provider's answer changes at Billow, in the transaction that records the job's end."""

from __future__ import annotations

import dataclasses
import uuid
from enum import Enum
from typing import Any

from sqlalchemy.orm import Session

from billow.credit_notes.refunds import refund_settled
from billow.db import utcnow
from billow.integrations.repository import integration_repository as repository
from billow.models.customers import Customer
from billow.models.integrations import Integration, IntegrationCustomer, IntegrationJob, IntegrationResource
from billow.providers.interface import (
    PAYMENT_FAILED_HOOK,
    PAYMENT_RESULT_HOOK,
    PayableData,
    PaymentResult,
    ProviderError,
    ProviderKind,
    RefundResult,
    SyncResult,
)
from billow.webhooks.outbox import emit
from billow.worker.dispatch import run_hooks

#: The error webhook of a customer sync, per provider kind: (webhook type, object type).
CUSTOMER_ERROR_WEBHOOKS = {
    ProviderKind.PAYMENT: ("customer.payment_provider_error", "payment_provider_customer_error"),
    ProviderKind.ACCOUNTING: ("customer.accounting_provider_error", "accounting_provider_customer_error"),
    ProviderKind.CRM: ("customer.crm_provider_error", "crm_provider_customer_error"),
}
CUSTOMER_CREATED_WEBHOOKS = {
    ProviderKind.PAYMENT: "customer.payment_provider_created",
    ProviderKind.ACCOUNTING: "customer.accounting_provider_created",
    ProviderKind.CRM: "customer.crm_provider_created",
}


def to_json(value: Any) -> Any:
    """A result dataclass as JSON (enums as values, datetimes as ISO strings)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {str(k): to_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def remember(
    session: Session,
    integration: Integration,
    object_type: str,
    object_id: uuid.UUID,
    external_id: str,
    external_url: str | None = None,
) -> IntegrationResource:
    """Record (or move) what exists at the provider for a Billow object."""
    resource = repository.resource(session, integration, object_type, object_id)
    if resource is None:
        resource = IntegrationResource(
            organization_id=integration.organization_id,
            integration_id=integration.id,
            object_type=object_type,
            object_id=object_id,
            external_id=external_id,
            synced_at=utcnow(),
        )
        session.add(resource)
    resource.external_id = external_id
    resource.external_url = external_url
    resource.synced_at = utcnow()
    return resource


def payment_object_type(payable_type: str) -> str:
    """The resource type of a payable's payment at the provider (``invoice_payment``...)."""
    return f"{payable_type}_payment"


def apply(
    session: Session, integration: Integration, job: IntegrationJob, data: Any, result: Any
) -> dict[str, Any] | None:
    """Store the result of a succeeded job; its JSON form (kept on the job)."""
    if isinstance(result, SyncResult):
        remember(
            session, integration, job.object_type, job.object_id, result.external_id, result.external_url
        )
        if job.operation == "sync_customer":
            _customer_synced(session, integration, job.object_id, result.external_id)
    elif isinstance(result, PaymentResult) and isinstance(data, PayableData):
        remember(
            session,
            integration,
            payment_object_type(data.type),
            uuid.UUID(data.id),
            result.provider_payment_id,
        )
        run_hooks(
            session,
            PAYMENT_RESULT_HOOK,
            organization_id=integration.organization_id,
            integration_code=integration.code,
            provider=integration.type,
            payable=data,
            result=result,
        )
    elif isinstance(result, RefundResult):
        remember(session, integration, "refund", job.object_id, result.provider_refund_id)
        if job.object_type == "credit_note":
            refund_settled(
                session,
                integration.organization_id,
                job.object_id,
                result.status,
                provider=integration.type,
                provider_code=integration.code,
                error={
                    "message": "the provider refused the refund",
                    "provider_refund_id": result.provider_refund_id,
                },
            )
    return to_json(result)


def _customer_synced(
    session: Session, integration: Integration, customer_id: uuid.UUID, external_id: str
) -> None:
    customer = session.get(Customer, customer_id)
    if customer is None or customer.organization_id != integration.organization_id:
        return
    link = repository.customer_link(session, integration, customer_id)
    created = link is None or link.external_customer_id != external_id
    if link is None:
        link = IntegrationCustomer(
            organization_id=integration.organization_id,
            integration_id=integration.id,
            customer_id=customer_id,
            sync_with_provider=True,
            settings={},
        )
        session.add(link)
    link.external_customer_id = external_id
    is_payment = integration.kind == ProviderKind.PAYMENT
    if is_payment and customer.payment_provider_code in (None, integration.code):
        created = created or customer.provider_customer_id != external_id
        customer.payment_provider = integration.type
        customer.payment_provider_code = integration.code
        customer.provider_customer_id = external_id
    if created:
        kind = ProviderKind(integration.kind)
        emit(session, integration.organization_id, CUSTOMER_CREATED_WEBHOOKS[kind], "customer", customer.id)


def failed(
    session: Session, integration: Integration, job: IntegrationJob, data: Any, error: ProviderError
) -> None:
    """A job failed for good: the payment's domain hears of it, the company through a webhook."""
    if job.operation == "create_payment" and isinstance(data, PayableData):
        run_hooks(
            session,
            PAYMENT_FAILED_HOOK,
            organization_id=integration.organization_id,
            integration_code=integration.code,
            provider=integration.type,
            payable=data,
            error=error,
        )
    if job.operation == "refund" and job.object_type == "credit_note":
        # The provider refused the refund for good: the note's refund failed (credit_note.refund_failure).
        refund_settled(
            session,
            integration.organization_id,
            job.object_id,
            "failed",
            provider=integration.type,
            provider_code=integration.code,
            error={"message": error.message, "error_code": error.code, "http_status": error.http_status},
        )
    if job.operation == "sync_customer":
        webhook_type, object_type = CUSTOMER_ERROR_WEBHOOKS[ProviderKind(integration.kind)]
    else:
        webhook_type, object_type = "integration.provider_error", "provider_error"
    emit(session, integration.organization_id, webhook_type, object_type, job.id)
