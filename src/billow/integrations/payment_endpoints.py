"""Lago's routes that ask a payment provider now, in the request (with the context's timeout), and the
providers' inbound webhooks (outside ``/api/v1``).

A provider's refusal is Lago's 422 ``third_party_error``."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.orm import Session

from billow.auth import CurrentOrganization
from billow.customers.service import customer_service
from billow.db import DbSession
from billow.errors import NotAllowed, ValidationFailed
from billow.integrations import inbound, snapshots
from billow.integrations.jobs import enqueue
from billow.integrations.triggers import payment_integration
from billow.invoices.service import invoice_service
from billow.kit.pagination import Pagination, paginate
from billow.kit.schemas import Output
from billow.kit.strict_json import StrictJSONRoute
from billow.models.customers import Customer
from billow.models.integrations import Integration
from billow.models.invoices import Invoice, InvoiceStatus, PaymentStatus
from billow.payment_methods.repository import payment_method_repository
from billow.payment_methods.schemas import PaymentMethodList
from billow.payment_methods.service import payment_method_service
from billow.payment_methods.views import render_methods
from billow.providers import registry
from billow.providers.interface import PaymentProvider, ProviderError
from billow.wallets.schemas import PaymentDetailsEnvelope, PaymentDetailsOut
from billow.wallets.transactions import transaction_service

router = APIRouter(tags=["integrations"], route_class=StrictJSONRoute)
public_router = APIRouter(tags=["integrations"])


class ThirdPartyError(ValidationFailed):
    """A provider refused or failed: Lago's ``third_party_error``."""

    def __init__(self, provider: str, error: ProviderError):
        super().__init__(
            {"third_party": provider, "thirdparty_error": error.message}, code="third_party_error"
        )


class InvoicePaymentDetails(Output):
    lago_customer_id: uuid.UUID
    lago_invoice_id: uuid.UUID
    external_customer_id: str
    payment_provider: str
    payment_url: str


class InvoicePaymentUrlEnvelope(Output):
    invoice_payment_details: InvoicePaymentDetails


class CheckoutUrlOut(Output):
    lago_customer_id: uuid.UUID
    external_customer_id: str
    payment_provider: str
    payment_provider_code: str
    checkout_url: str


class CheckoutUrlEnvelope(Output):
    customer: CheckoutUrlOut


def _provider(session: Session, customer: Customer) -> tuple[Integration, PaymentProvider]:
    integration = payment_integration(session, customer)
    provider = registry.get(integration.type) if integration is not None else None
    if integration is None or not isinstance(provider, PaymentProvider):
        raise ValidationFailed.one("base", "no_linked_payment_provider")
    return integration, provider


def _customer(session: Session, invoice: Invoice) -> Customer:
    customer = session.get(Customer, invoice.customer_id)
    assert customer is not None
    return customer


@router.post("/invoices/{lago_id}/payment_url", response_model=InvoicePaymentUrlEnvelope)
def invoice_payment_url(
    lago_id: str, session: DbSession, organization: CurrentOrganization
) -> InvoicePaymentUrlEnvelope:
    invoice = invoice_service.get(session, organization, lago_id)
    customer = _customer(session, invoice)
    if invoice.status != InvoiceStatus.FINALIZED:
        raise ValidationFailed.one("base", "invoice_not_finalized")
    if invoice.payment_status == PaymentStatus.SUCCEEDED:
        raise ValidationFailed.one("base", "invoice_payment_already_succeeded")
    integration, provider = _provider(session, customer)
    payable = snapshots.invoice_payable(session, integration, invoice, customer)
    try:
        url = provider.payment_url(inbound.provider_context(integration), payable)
    except ProviderError as error:
        raise ThirdPartyError(integration.type, error) from None
    return InvoicePaymentUrlEnvelope(
        invoice_payment_details=InvoicePaymentDetails(
            lago_customer_id=customer.id,
            lago_invoice_id=invoice.id,
            external_customer_id=customer.external_id,
            payment_provider=integration.type,
            payment_url=url,
        )
    )


@router.post("/wallet_transactions/{lago_id}/payment_url", response_model=PaymentDetailsEnvelope)
def wallet_transaction_payment_url(
    lago_id: str, session: DbSession, organization: CurrentOrganization
) -> PaymentDetailsEnvelope:
    """A page where the customer pays a pending top-up: its ``credit`` invoice is the payable (paid,
    through the provider's webhook, it settles the top-up as a manual payment does)."""
    transaction, invoice = transaction_service.payable_purchase(session, organization, lago_id)
    customer = _customer(session, invoice)
    integration, provider = _provider(session, customer)
    payable = snapshots.invoice_payable(session, integration, invoice, customer)
    try:
        url = provider.payment_url(inbound.provider_context(integration), payable)
    except ProviderError as error:
        raise ThirdPartyError(integration.type, error) from None
    return PaymentDetailsEnvelope(
        wallet_transaction_payment_details=PaymentDetailsOut(
            lago_customer_id=customer.id,
            lago_wallet_transaction_id=transaction.id,
            external_customer_id=customer.external_id,
            payment_provider=integration.type,
            payment_url=url,
        )
    )


@router.post("/customers/{external_id}/checkout_url", response_model=CheckoutUrlEnvelope)
def checkout_url(
    external_id: str, session: DbSession, organization: CurrentOrganization
) -> CheckoutUrlEnvelope:
    customer = customer_service.get(session, organization, external_id)
    integration, provider = _provider(session, customer)
    data = snapshots.customer_data(session, integration, customer)
    try:
        url = provider.checkout_url(inbound.provider_context(integration), data)
    except NotImplementedError:
        raise ValidationFailed.one("base", "checkout_url_not_supported") from None
    except ProviderError as error:
        raise ThirdPartyError(integration.type, error) from None
    return CheckoutUrlEnvelope(
        customer=CheckoutUrlOut(
            lago_customer_id=customer.id,
            external_customer_id=customer.external_id,
            payment_provider=integration.type,
            payment_provider_code=integration.code,
            checkout_url=url,
        )
    )


@router.get("/customers/{external_id}/payment_methods", response_model=PaymentMethodList)
def payment_methods(
    external_id: str, session: DbSession, organization: CurrentOrganization, pages: Pagination
) -> PaymentMethodList:
    """The customer's stored methods, refreshed first from what its payment provider lists now (when it
    has one that lists them and knows the customer)."""
    customer = customer_service.get(session, organization, external_id)
    integration = payment_integration(session, customer)
    provider = registry.get(integration.type) if integration is not None else None
    data = snapshots.customer_data(session, integration, customer) if integration is not None else None
    # Not at the provider yet (no provider id): nothing to ask it.
    if (
        integration is not None
        and isinstance(provider, PaymentProvider)
        and data
        and data.provider_customer_id
    ):
        try:
            found = provider.payment_methods(inbound.provider_context(integration), data)
        except NotImplementedError:
            found = None
        except ProviderError as error:
            raise ThirdPartyError(integration.type, error) from None
        if found is not None:
            payment_method_service.refresh(session, integration, customer, found)
    rows, meta = paginate(session, payment_method_repository.live_stmt(organization.id, customer.id), pages)
    return PaymentMethodList(payment_methods=render_methods(session, rows), meta=meta)


@router.post("/invoices/{lago_id}/retry_payment", status_code=200, response_class=Response)
def retry_payment(lago_id: str, session: DbSession, organization: CurrentOrganization) -> Response:
    """A new ``create_payment`` job for what is still due (a new idempotency key: a new attempt)."""
    invoice = invoice_service.get(session, organization, lago_id)
    customer = _customer(session, invoice)
    if invoice.status != InvoiceStatus.FINALIZED or invoice.payment_status == PaymentStatus.SUCCEEDED:
        raise NotAllowed(code="invalid_status")
    integration = payment_integration(session, customer)
    if integration is None:
        raise NotAllowed(code="no_linked_payment_provider")
    due = snapshots.invoice_due_cents(session, invoice)
    if due <= 0:
        raise NotAllowed(code="invalid_status")
    enqueue(
        session,
        integration,
        "create_payment",
        "invoice",
        invoice.id,
        snapshots.invoice_payable_json(invoice, due),
    )
    return Response(status_code=200)


# ------------------------------------------------------------------------------------------- inbound
async def raw_body(request: Request) -> bytes:
    return await request.body()


@public_router.post("/webhooks/{integration_type}/{organization_id}", include_in_schema=False)
def receive_webhook(
    integration_type: str,
    organization_id: str,
    request: Request,
    body: bytes = Depends(raw_body),
    code: str | None = Query(default=None),
) -> JSONResponse:
    applied = inbound.receive(
        request.app.state.sessionmaker, integration_type, organization_id, code, dict(request.headers), body
    )
    return JSONResponse({"applied": applied}, status_code=200)
