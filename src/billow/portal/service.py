"""What the portal shows a customer, from the services the API answers with: current usage
(:mod:`billow.usage`, as ``GET /customers/{id}/current_usage``), invoices with their documents' links
(:mod:`billow.documents`), wallets, and the payment link of an unpaid invoice (the code of
``POST /invoices/{id}/payment_url``, :mod:`billow.integrations.payment_endpoints`).

Every read is scoped by the organization and the customer the link was signed for.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from markupsafe import Markup
from sqlalchemy.orm import Session

from billow.config import Settings
from billow.customers.schemas import CustomerInput
from billow.customers.service import customer_service
from billow.documents.repository import document_repository
from billow.documents.service import document_service
from billow.errors import BillowError
from billow.integrations.payment_endpoints import invoice_payment_url
from billow.integrations.triggers import payment_integration
from billow.invoices.repository import invoice_repository
from billow.kit.schemas import decimal_str
from billow.kit.time import is_timezone
from billow.models.customers import Customer
from billow.models.invoices import Invoice, InvoiceStatus, PaymentStatus
from billow.models.organizations import Organization
from billow.payments.amounts import due_cents
from billow.plans.repository import plan_repository
from billow.portal.repository import portal_repository
from billow.providers import registry
from billow.providers.interface import PaymentProvider
from billow.subscriptions.follow_up import bill_after_commit
from billow.subscriptions.service import subscription_service
from billow.usage.schemas import ChargeUsageOut, customer_usage_out
from billow.usage.service import customer_usage_service
from billow.wallets.repository import wallet_repository
from billow.web.charts import Bar, bar_chart
from billow.web.templating import units_text

log = logging.getLogger(__name__)

#: The billing fields a customer may edit in the portal (the rest is the company's).
EDITABLE_FIELDS = ("name", "email", "address_line1", "address_line2", "city", "zipcode", "state", "country")


@dataclass(frozen=True)
class SubscriptionUsage:
    external_id: str
    name: str
    #: The charges period, as dates in the organization's time zone.
    from_date: date | None = None
    to_date: date | None = None
    currency: str = ""
    amount_cents: int = 0
    taxes_amount_cents: int = 0
    total_amount_cents: int = 0
    charges: list[ChargeUsageOut] = field(default_factory=list)
    chart: Markup = field(default_factory=Markup)
    #: Why the usage could not be computed (the rest of the page still shows).
    unavailable: bool = False


@dataclass(frozen=True)
class InvoiceLine:
    id: uuid.UUID
    number: str
    issuing_date: date
    payment_due_date: date
    currency: str
    total_amount_cents: int
    due_amount_cents: int
    status: str
    payment_status: str
    overdue: bool
    pdf_url: str | None
    payable: bool


@dataclass(frozen=True)
class WalletLine:
    name: str
    currency: str
    credits_balance: str
    balance_cents: int
    credits_ongoing_balance: str
    ongoing_balance_cents: int
    expires_on: date | None


@dataclass(frozen=True)
class Portal:
    organization: Organization
    customer: Customer
    usage: list[SubscriptionUsage]
    invoices: list[InvoiceLine]
    wallets: list[WalletLine]


def _local_date(instant: datetime, zone: ZoneInfo) -> date:
    return instant.astimezone(zone).date()


def _zone(organization: Organization) -> ZoneInfo:
    name = organization.timezone or "UTC"
    return ZoneInfo(name if is_timezone(name) else "UTC")


def _units(text: str) -> Decimal:
    try:
        return Decimal(text)
    except InvalidOperation:
        return Decimal(0)


class PortalService:
    def customer(
        self, session: Session, organization_id: uuid.UUID, customer_id: uuid.UUID
    ) -> tuple[Organization, Customer] | None:
        """The organization and customer of a link; ``None`` when the customer is not the organization's.
        A deleted customer is returned (the page says the link is no longer valid)."""
        customer = portal_repository.customer(session, organization_id, customer_id)
        organization = session.get(Organization, organization_id)
        if customer is None or organization is None:
            return None
        return organization, customer

    # ------------------------------------------------------------------------------------------- usage

    def usage(
        self, session: Session, organization: Organization, customer: Customer, now: datetime
    ) -> list[SubscriptionUsage]:
        """The current usage of each active subscription, as ``GET /customers/{id}/current_usage`` answers
        it (due starts and ends applied first, as that endpoint does)."""
        transitions = subscription_service.apply_due_transitions(session, now, organization.id)
        bill_after_commit(session, [*transitions.terminated, *transitions.activated], now)
        zone = _zone(organization)
        out = []
        subscriptions = portal_repository.active_subscriptions(session, organization.id, customer.id)
        for index, subscription in enumerate(subscriptions):
            plan = plan_repository.by_id(session, organization.id, subscription.plan_id)
            name = subscription.name or (plan.name if plan is not None else subscription.external_id)
            try:
                usage = customer_usage_service.current_usage(
                    session,
                    organization,
                    external_customer_id=customer.external_id,
                    external_subscription_id=subscription.external_id,
                    now=now,
                )
            except (ArithmeticError, BillowError) as error:
                log.warning("portal usage of %s: %r", subscription.id, error)
                out.append(SubscriptionUsage(subscription.external_id, name, unavailable=True))
                continue
            shown = customer_usage_out(usage).customer_usage
            bars = [
                Bar(
                    label=charge.billable_metric.name,
                    value=_units(charge.units),
                    shown=f"{units_text(_units(charge.units))} units",
                )
                for charge in shown.charges_usage
            ]
            out.append(
                SubscriptionUsage(
                    external_id=subscription.external_id,
                    name=name,
                    from_date=_local_date(usage.from_datetime, zone),
                    to_date=_local_date(usage.to_datetime, zone),
                    currency=shown.currency,
                    amount_cents=shown.amount_cents,
                    taxes_amount_cents=shown.taxes_amount_cents,
                    total_amount_cents=shown.total_amount_cents,
                    charges=shown.charges_usage,
                    chart=bar_chart(
                        bars, title=f"Units per metric: {name}", key=f"usage-{index}", empty="No charges."
                    ),
                )
            )
        return out

    # ---------------------------------------------------------------------------------------- invoices

    def can_pay(self, session: Session, customer: Customer) -> bool:
        """Whether the customer has a payment provider that gives payment links."""
        integration = payment_integration(session, customer)
        return integration is not None and isinstance(registry.get(integration.type), PaymentProvider)

    def invoices(
        self, session: Session, organization: Organization, customer: Customer, settings: Settings
    ) -> list[InvoiceLine]:
        invoices = portal_repository.invoices(session, organization.id, customer.id)
        ids = [invoice.id for invoice in invoices]
        offsets = invoice_repository.credit_note_offsets(session, ids) if ids else {}
        documents = document_repository.of_objects(session, organization.id, ids) if ids else []
        links = (
            document_service.links(documents, settings=settings, now=int(time.time())) if documents else {}
        )
        can_pay = self.can_pay(session, customer)
        lines = []
        for invoice in invoices:
            due = due_cents(
                invoice.total_amount_cents, invoice.total_paid_amount_cents, offsets.get(invoice.id, 0)
            )
            lines.append(
                InvoiceLine(
                    id=invoice.id,
                    number=invoice.number,
                    issuing_date=invoice.issuing_date,
                    payment_due_date=invoice.payment_due_date,
                    currency=invoice.currency,
                    total_amount_cents=invoice.total_amount_cents,
                    # As the API's ``total_due_amount_cents``, except that an invoice marked paid or
                    # voided owes nothing as far as the customer is concerned.
                    due_amount_cents=due if self._unpaid(invoice, due) else 0,
                    status=invoice.status,
                    payment_status=invoice.payment_status,
                    overdue=invoice.payment_overdue,
                    pdf_url=links.get(invoice.id, {}).get("pdf"),
                    payable=can_pay and self._unpaid(invoice, due),
                )
            )
        return lines

    @staticmethod
    def _unpaid(invoice: Invoice, due: int) -> bool:
        return (
            invoice.status == InvoiceStatus.FINALIZED
            and invoice.payment_status != PaymentStatus.SUCCEEDED
            and due > 0
        )

    def payment_url(
        self, session: Session, organization: Organization, customer: Customer, invoice_id: uuid.UUID
    ) -> str | None:
        """The provider's payment page of the customer's invoice (``None``: not the customer's, or not
        shown in the portal). Raises what ``POST /invoices/{id}/payment_url`` raises (no provider, already
        paid, the provider's refusal)."""
        invoice = portal_repository.invoice(session, organization.id, customer.id, invoice_id)
        if invoice is None:
            return None
        details = invoice_payment_url(str(invoice.id), session, organization)
        return details.invoice_payment_details.payment_url

    # ----------------------------------------------------------------------------------------- wallets

    def wallets(self, session: Session, organization: Organization, customer: Customer) -> list[WalletLine]:
        """The active wallets (balance and ongoing balance, as ``GET /wallets`` shows them), in the order
        invoices consume them."""
        zone = _zone(organization)
        return [
            WalletLine(
                name=wallet.name or wallet.code,
                currency=wallet.currency,
                credits_balance=decimal_str(wallet.credits_balance),
                balance_cents=wallet.balance_cents,
                credits_ongoing_balance=decimal_str(wallet.credits_ongoing_balance),
                ongoing_balance_cents=wallet.ongoing_balance_cents,
                expires_on=_local_date(wallet.expiration_at, zone) if wallet.expiration_at else None,
            )
            for wallet in wallet_repository.active_of_customer(session, organization.id, customer.id)
        ]

    # ------------------------------------------------------------------------------------------- page

    def portal(
        self,
        session: Session,
        organization: Organization,
        customer: Customer,
        now: datetime,
        settings: Settings,
    ) -> Portal:
        return Portal(
            organization=organization,
            customer=customer,
            usage=self.usage(session, organization, customer, now),
            invoices=self.invoices(session, organization, customer, settings),
            wallets=self.wallets(session, organization, customer),
        )

    # ---------------------------------------------------------------------------------- billing details

    def update_billing(
        self, session: Session, organization: Organization, customer: Customer, form: dict[str, str]
    ) -> Customer:
        """The customer's name, e-mail and address as edited in the portal, through the same rules as
        ``POST /customers`` (:meth:`billow.customers.service.CustomerService.upsert`: an emptied address
        field is cleared, an e-mail must be valid). Raises its validation errors."""
        values = {name: form.get(name, "").strip() for name in EDITABLE_FIELDS}
        data = CustomerInput(external_id=customer.external_id, **values)
        return customer_service.upsert(session, organization, data)


def editable_values(customer: Customer) -> dict[str, str]:
    return {name: getattr(customer, name) or "" for name in EDITABLE_FIELDS}


def error_codes(error: BillowError) -> dict[str, list[str]]:
    details = error.error_details if isinstance(error.error_details, dict) else {}
    return {
        str(key): [str(code) for code in value] for key, value in details.items() if isinstance(value, list)
    }


portal_service = PortalService()
