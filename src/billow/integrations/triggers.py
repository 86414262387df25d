"""When Billow's objects change, the jobs that tell the providers (in-transaction hooks, decision 0006):
customers saved, invoices finalized, credit notes created, payables created, subscriptions started or
terminated."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.credit_notes.service import CREATED_HOOK
from billow.customers.service import CUSTOMER_SAVED
from billow.integrations import snapshots
from billow.integrations.jobs import enqueue
from billow.integrations.repository import integration_repository as repository
from billow.integrations.results import payment_object_type
from billow.integrations.service import integration_service, provider_of
from billow.invoices.finalization import FINALIZED_HOOK
from billow.invoices.service import PAYMENT_STATUS_CHANGED
from billow.models.credit_notes import CreditNote
from billow.models.customers import Customer
from billow.models.integrations import Integration
from billow.models.invoices import Invoice
from billow.models.organizations import Organization
from billow.models.payments import Payment
from billow.models.subscriptions import Subscription
from billow.payments.recording import PAYMENT_RECORDED
from billow.providers.interface import PAYABLE_CREATED_HOOK, PayableData, Provider, ProviderKind
from billow.subscriptions.service.common import SUBSCRIPTION_ANNOUNCED
from billow.worker.dispatch import hook


def payment_integration(session: Session, customer: Customer) -> Integration | None:
    """The customer's payment provider (``billing_configuration.payment_provider_code``), if configured."""
    return _payment_integration(session, customer.organization_id, customer.payment_provider_code)


def _payment_integration(
    session: Session, organization_id: uuid.UUID, code: str | None
) -> Integration | None:
    if not code:
        return None
    integration = repository.by_code(session, organization_id, code)
    if integration is None or integration.kind != ProviderKind.PAYMENT:
        return None
    return integration


def _payment_of(session: Session, customer_id: uuid.UUID) -> tuple[uuid.UUID, Integration | None] | None:
    """The customer's organization and payment integration, read as columns: the billing run holds the
    customer with only some columns loaded (billow.billing.locks), so its hooks never read the others."""
    row = session.execute(
        select(Customer.organization_id, Customer.payment_provider_code).where(Customer.id == customer_id)
    ).first()
    if row is None:
        return None
    return row[0], _payment_integration(session, row[0], row[1])


def synced_integrations(
    session: Session, organization_id: uuid.UUID, customer_id: uuid.UUID, kinds: Sequence[str]
) -> list[Integration]:
    """The customer's accounting/CRM integrations that sync it (``integration_customers``)."""
    return [
        integration
        for link, integration in repository.customer_links(session, organization_id, customer_id)
        if link.sync_with_provider and integration.kind in kinds
    ]


@hook(CUSTOMER_SAVED)
def customer_saved(
    session: Session,
    *,
    organization: Organization,
    customer: Customer,
    created: bool,
    integration_customers: Sequence[Any] | None = None,
    **_: Any,
) -> None:
    for item in integration_customers or ():
        integration_service.link_customer(
            session,
            organization,
            customer.id,
            integration_code=item.integration_code,
            integration_type=item.integration_type,
            external_customer_id=item.external_customer_id,
            sync_with_provider=item.sync_with_provider,
            settings={"subsidiary_id": item.subsidiary_id} if item.subsidiary_id else None,
        )
    accounting_or_crm = (ProviderKind.ACCOUNTING, ProviderKind.CRM)
    for integration in synced_integrations(session, organization.id, customer.id, accounting_or_crm):
        enqueue(session, integration, "sync_customer", "customer", customer.id)
    payment = payment_integration(session, customer)
    if payment is not None and customer.sync_with_provider and syncs_customers(payment):
        enqueue(session, payment, "sync_customer", "customer", customer.id)


def syncs_customers(integration: Integration) -> bool:
    """Whether the provider has customers to create (PayPal has none: its vault customer appears with the
    first saved method). A provider without ``sync_customer`` gets no job, which could only fail and
    announce ``customer.payment_provider_error``; one not installed still gets it (and its error)."""
    provider = provider_of(integration)
    return provider is None or type(provider).sync_customer is not Provider.sync_customer


@hook(FINALIZED_HOOK)
def invoice_finalized(session: Session, *, invoice: Invoice, organization: Organization, **_: Any) -> None:
    found = _payment_of(session, invoice.customer_id)
    if found is None:
        return
    organization_id, payment = found
    accounting_or_crm = (ProviderKind.ACCOUNTING, ProviderKind.CRM)
    for integration in synced_integrations(session, organization_id, invoice.customer_id, accounting_or_crm):
        enqueue(session, integration, "sync_invoice", "invoice", invoice.id)
    if payment is not None and snapshots.due_cents(invoice) > 0:
        payable = snapshots.invoice_payable_json(invoice)
        enqueue(session, payment, "create_payment", "invoice", invoice.id, payable)


def provider_payment_id(session: Session, integration: Integration, invoice_id: uuid.UUID) -> str | None:
    """The provider's id of the payment that paid the invoice, when Billow created it (else ``None``:
    the refund is left to the company). Payments are another domain: this reads only what the jobs
    recorded."""
    resource = repository.resource(session, integration, payment_object_type("invoice"), invoice_id)
    return resource.external_id if resource is not None else None


@hook(CREATED_HOOK)
def credit_note_created(session: Session, *, credit_note: CreditNote, **_: Any) -> None:
    found = _payment_of(session, credit_note.customer_id)
    if found is None:
        return
    organization_id, payment = found
    for integration in synced_integrations(
        session, organization_id, credit_note.customer_id, (ProviderKind.ACCOUNTING,)
    ):
        enqueue(session, integration, "sync_credit_note", "credit_note", credit_note.id)
    if credit_note.offset_amount_cents:  # what the invoice owes changed: a CRM's invoice record follows
        for integration in synced_integrations(
            session, organization_id, credit_note.customer_id, (ProviderKind.CRM,)
        ):
            enqueue(session, integration, "sync_invoice", "invoice", credit_note.invoice_id)
    if payment is None or credit_note.refund_amount_cents <= 0:
        return
    paid_by = provider_payment_id(session, payment, credit_note.invoice_id)
    if paid_by is None:
        return
    enqueue(
        session,
        payment,
        "refund",
        "credit_note",
        credit_note.id,
        {
            "provider_payment_id": paid_by,
            "amount_cents": credit_note.refund_amount_cents,
            "currency": credit_note.currency,
            "metadata": {
                "billow_credit_note_id": str(credit_note.id),
                "billow_invoice_id": str(credit_note.invoice_id),
                "billow_organization_id": str(credit_note.organization_id),
            },
        },
    )


@hook(PAYABLE_CREATED_HOOK)
def payable_created(
    session: Session, *, organization_id: uuid.UUID, customer_id: uuid.UUID, payable: PayableData, **_: Any
) -> None:
    found = _payment_of(session, customer_id)
    if found is None or found[0] != organization_id or found[1] is None or payable.amount_cents <= 0:
        return
    payment = found[1]
    enqueue(
        session,
        payment,
        "create_payment",
        payable.type,
        uuid.UUID(payable.id),
        snapshots.payable_to_json(payable),
    )


@hook(PAYMENT_RECORDED)
def payment_recorded(
    session: Session,
    *,
    payment: Payment,
    invoice_ids: Sequence[uuid.UUID],
    invoice_amounts: Mapping[uuid.UUID, int] | None = None,
    **_: Any,
) -> None:
    """A succeeded payment is recorded in the customer's accounting tools, with what it applied to each
    invoice (``invoice_amounts``, a payment request's payment being spread over its invoices)."""
    integrations = synced_integrations(
        session, payment.organization_id, payment.customer_id, (ProviderKind.ACCOUNTING,)
    )
    if not integrations:
        return
    snapshot = {
        "id": str(payment.id),
        "amount_cents": payment.amount_cents,
        "currency": payment.amount_currency,
        "paid_at": (payment.paid_at or payment.created_at).isoformat(),
        "reference": payment.reference,
        "customer_id": str(payment.customer_id),
        "invoice_ids": [str(invoice_id) for invoice_id in invoice_ids],
        "invoice_amounts": {
            str(invoice_id): int(cents) for invoice_id, cents in (invoice_amounts or {}).items()
        },
    }
    for integration in integrations:
        enqueue(session, integration, "sync_payment", "payment", payment.id, snapshot)


@hook(PAYMENT_STATUS_CHANGED)
def invoice_payment_status_changed(session: Session, invoice: Invoice, **_: Any) -> None:
    """A CRM's invoice record follows the invoice's payment status."""
    if invoice.status != "finalized":
        return
    for integration in synced_integrations(
        session, invoice.organization_id, invoice.customer_id, (ProviderKind.CRM,)
    ):
        enqueue(session, integration, "sync_invoice", "invoice", invoice.id)


@hook(SUBSCRIPTION_ANNOUNCED)
def subscription_announced(
    session: Session, *, organization_id: uuid.UUID, subscription_id: uuid.UUID, webhook_type: str, **_: Any
) -> None:
    if webhook_type not in ("subscription.started", "subscription.terminated"):
        return
    customer_id = session.scalar(
        select(Subscription.customer_id).where(
            Subscription.organization_id == organization_id, Subscription.id == subscription_id
        )
    )
    if customer_id is None:
        return
    for integration in synced_integrations(session, organization_id, customer_id, (ProviderKind.CRM,)):
        enqueue(session, integration, "sync_subscription", "subscription", subscription_id)
