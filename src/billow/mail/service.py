"""``resend_email``: an invoice or credit-note e-mail asked again, to the customer or to given addresses.

The checks follow Lago's ``Emails::ResendService``, in its order: the document (404), finalized (405
``invoice_not_finalized`` / ``credit_note_not_finalized``), the organization's ``email_settings`` (405
``email_settings_disabled``), then the addresses (422: the organization's e-mail, at least one recipient,
each address's format). Billow adds 405 ``email_not_configured`` when no SMTP server is set (Lago always
has one). The e-mail is sent after the commit by the task ``mail.send``, never inside the request.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from billow.config import current_settings
from billow.errors import Errors, NotAllowed, NotFound
from billow.kit.ids import parse_lago_id
from billow.mail.addresses import is_email, split_addresses
from billow.mail.deliveries import enabled, record
from billow.mail.repository import mail_repository as repository
from billow.mail.schemas import ResendEmailInput
from billow.mail.smtp import smtp_enabled
from billow.models.credit_notes import CreditNote
from billow.models.invoices import Invoice, InvoiceStatus
from billow.models.mail import DocumentKind, EmailDelivery
from billow.models.organizations import Organization

NOT_CONFIGURED = "email_not_configured"


class MailService:
    def resend(
        self,
        session: Session,
        organization: Organization,
        kind: DocumentKind,
        lago_id: str,
        data: ResendEmailInput | None,
    ) -> EmailDelivery:
        document: Invoice | CreditNote | None
        if kind == DocumentKind.INVOICE:
            document = repository.invoice(session, organization.id, parse_lago_id(lago_id, kind))
            finalized = document is not None and document.status == InvoiceStatus.FINALIZED
        else:
            document = repository.credit_note(session, organization.id, parse_lago_id(lago_id, kind))
            finalized = document is not None and document.status == "finalized"
        if document is None:
            raise NotFound(kind)
        if not finalized:
            raise NotAllowed(code=f"{kind}_not_finalized")
        if not enabled(organization, kind):
            raise NotAllowed(code="email_settings_disabled")
        settings = current_settings()
        if not smtp_enabled(settings):
            raise NotAllowed(code=NOT_CONFIGURED)
        data = data or ResendEmailInput()
        to = list(data.to or [])
        if not to:
            customer = repository.customer(session, organization.id, document.customer_id)
            to = split_addresses(customer.email if customer else None)
        cc, bcc = list(data.cc or []), list(data.bcc or [])
        errors = Errors()
        if not organization.email:
            errors.add("billing_entity", "must have email configured")
        if not to:
            errors.add("to", "must have at least one recipient")
        for field, addresses in (("to", to), ("cc", cc), ("bcc", bcc)):
            invalid = [address for address in addresses if not is_email(address)]
            if invalid:
                errors.add(field, f"invalid email format: {', '.join(invalid)}")
        errors.raise_if_any()
        recipients = {"to": to, "cc": cc, "bcc": bcc}
        return record(
            session, organization.id, kind, document.id, recipients=recipients, resend=True, settings=settings
        )


mail_service = MailService()
