"""Exactly-once e-mails of invoices and credit notes (``email_deliveries``, :mod:`billow.models.mail`),
and of payment requests and receipts (recorded by :mod:`billow.payments` with :func:`record`).

1. **Recorded in the document's transaction**: the hooks ``invoices.finalized`` and
   ``credit_notes.created`` (announced by :mod:`billow.invoices.finalization` and
   :mod:`billow.credit_notes.service`) write a delivery when the organization's ``email_settings`` holds
   ``invoice.finalized`` / ``credit_note.created``: ``pending`` (and the task ``mail.send`` queued after
   the commit), or ``skipped`` at once without SMTP server (``BILLOW_SMTP_HOST``) or for an invoice whose
   ``fees_amount_cents`` is 0 (Lago's mailer sends none). A rollback takes the delivery with it.
2. **Claimed, then sent outside any transaction** (:func:`deliver`): a conditional UPDATE takes the
   delivery for one attempt (:meth:`MailRepository.claim`), its own transaction commits, the message is
   built (the ``mail.attachments`` hook adds files) and sent, and a last transaction records ``sent`` or
   ``failed`` (retried after a backoff, at most :data:`MAX_ATTEMPTS` attempts).
3. **Caught up by the scan** ``mail.deliveries``: what a crash after the commit, a dropped task or an SMTP
   failure left. A sender that died while holding its claim leaves the delivery to the scan once
   :data:`LEASE` has passed (at least once then: the message may have left before the crash).
"""

from __future__ import annotations

import logging
import smtplib
import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.orm import Session

from billow.config import Settings, current_settings
from billow.db import utcnow
from billow.mail import content as mail_content
from billow.mail.addresses import split_addresses
from billow.mail.repository import mail_repository as repository
from billow.mail.smtp import Attachment, Envelope, build_message, send, smtp_enabled
from billow.models.credit_notes import CreditNote
from billow.models.invoices import Invoice, InvoiceStatus
from billow.models.mail import DeliveryStatus, DocumentKind, EmailDelivery
from billow.models.organizations import Organization
from billow.worker.dispatch import after_commit, hook, ids_payload, run_hooks, split_ids_payload, task
from billow.worker.scans import SessionFactory, scan

log = logging.getLogger("billow.mail")

SEND_TASK = "mail.send"
#: The hook a documents package registers to attach files: ``function(session, kind=..., document=...,
#: attachments=list)`` appends ``(filename, bytes, mime_type)`` tuples to ``attachments``.
ATTACHMENTS_HOOK = "mail.attachments"
#: The ``email_settings`` value that enables each kind (Lago's names).
SETTING = {
    DocumentKind.INVOICE: "invoice.finalized",
    DocumentKind.CREDIT_NOTE: "credit_note.created",
    DocumentKind.PAYMENT_RECEIPT: "payment_receipt.created",
}

MAX_ATTEMPTS = 5
#: How long a claim holds a delivery (longer than an SMTP exchange with its timeouts).
LEASE = timedelta(minutes=10)
#: Deliveries one scan run hands out.
SCAN_LIMIT = 500

# Reasons recorded in ``last_error`` of a skipped delivery.
SMTP_NOT_CONFIGURED = "smtp_not_configured"
ZERO_AMOUNT = "zero_amount"
NO_RECIPIENT = "customer_without_email"
NO_ORGANIZATION_EMAIL = "organization_without_email"
DOCUMENT_GONE = "document_not_found"


def backoff(attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failed attempt: 1, 4, 16, 64 minutes (x4 each time), at most 6 hours."""
    return min(timedelta(minutes=4 ** (attempts - 1)), timedelta(hours=6))


# ------------------------------------------------------------------------------------------ recording


def record(
    session: Session,
    organization_id: uuid.UUID,
    kind: DocumentKind,
    document_id: uuid.UUID,
    *,
    recipients: dict[str, Any] | None = None,
    resend: bool = False,
    skip: str | None = None,
    settings: Settings | None = None,
) -> EmailDelivery:
    """Write a delivery in ``session``'s transaction and queue its sending after the commit (``skipped``
    with the reason ``skip``, or without SMTP server: nothing queued)."""
    settings = settings or current_settings()
    if skip is None and not smtp_enabled(settings):
        skip = SMTP_NOT_CONFIGURED
    delivery = EmailDelivery(
        id=uuid.uuid4(),
        organization_id=organization_id,
        document_kind=kind,
        document_id=document_id,
        recipients=recipients or {},
        resend=resend,
        status=DeliveryStatus.SKIPPED if skip else DeliveryStatus.PENDING,
        attempts=0,
        last_error=skip,
    )
    session.add(delivery)
    if skip is None:
        # Also from a task's session (an invoice a billing run finalizes): sending queues no more work.
        after_commit(
            session, SEND_TASK, ids_payload(str(organization_id), [str(delivery.id)]), from_tasks=True
        )
    return delivery


def enabled(organization: Organization, kind: DocumentKind) -> bool:
    """Whether the organization's ``email_settings`` ask for this kind (a payment request is always
    mailed: its request names the address)."""
    setting = SETTING.get(kind)
    return setting is None or setting in (organization.email_settings or [])


@hook("invoices.finalized")
def on_invoice_finalized(session: Session, *, invoice: Invoice, organization: Organization, **_: Any) -> None:
    if not enabled(organization, DocumentKind.INVOICE):
        return
    skip = ZERO_AMOUNT if invoice.fees_amount_cents == 0 else None
    record(session, organization.id, DocumentKind.INVOICE, invoice.id, skip=skip)


@hook("credit_notes.created")
def on_credit_note_created(session: Session, *, credit_note: CreditNote, **_: Any) -> None:
    organization = session.get(Organization, credit_note.organization_id)
    if organization is None or not enabled(organization, DocumentKind.CREDIT_NOTE):
        return
    record(session, organization.id, DocumentKind.CREDIT_NOTE, credit_note.id)


# ------------------------------------------------------------------------------------------ sending


class Skip(Exception):
    """Nothing to send for this delivery (the reason is the message)."""


def _prepare(
    session: Session, delivery: EmailDelivery, settings: Settings
) -> tuple[Envelope, Any, list[Attachment]]:
    """The envelope, message and attachments of ``delivery`` (read in ``session``, nothing written)."""
    organization_id = delivery.organization_id
    organization = repository.organization(session, organization_id)
    if organization is None:
        raise Skip(DOCUMENT_GONE)
    document, customer_id, shown, default_to = _document(session, delivery, organization)
    if not organization.email:
        raise Skip(NO_ORGANIZATION_EMAIL)
    customer = repository.customer(session, organization_id, customer_id)
    recipients = delivery.recipients or {}
    to = list(recipients.get("to") or default_to or (split_addresses(customer.email) if customer else []))
    if not to:
        raise Skip(NO_RECIPIENT)
    envelope = Envelope(
        to=to,
        cc=list(recipients.get("cc") or []),
        bcc=list(recipients.get("bcc") or []),
        reply_to=organization.email,
        sender_name=organization.name,
    )
    locale = mail_content.document_locale(
        customer.document_locale if customer else None, organization.document_locale
    )
    attachments: list[Attachment] = []
    run_hooks(
        session,
        ATTACHMENTS_HOOK,
        kind=str(delivery.document_kind),
        document=document,
        attachments=attachments,
    )
    message = build_message(settings, envelope, mail_content.render(shown, locale), attachments)
    return envelope, message, attachments


def _document(
    session: Session, delivery: EmailDelivery, organization: Organization
) -> tuple[Any, uuid.UUID, mail_content.Document, list[str]]:
    """The delivery's document, its customer's id, what the message shows of it, and its own recipients
    (a payment request's ``email``; else the customer's addresses are used). :class:`Skip` when gone."""
    organization_id = organization.id
    kind = delivery.document_kind
    if kind == DocumentKind.PAYMENT_REQUEST:
        found_request = repository.payment_request(session, organization_id, delivery.document_id)
        if found_request is None:
            raise Skip(DOCUMENT_GONE)
        request, numbers = found_request
        shown = mail_content.Document(
            kind=DocumentKind.PAYMENT_REQUEST,
            organization_name=organization.name,
            number="",
            currency=request.amount_currency,
            total_amount_cents=request.amount_cents,
            day=request.created_at.date(),
            invoice_number=", ".join(numbers),
        )
        return request, request.customer_id, shown, split_addresses(request.email)
    if kind == DocumentKind.PAYMENT_RECEIPT:
        found_receipt = repository.payment_receipt(session, organization_id, delivery.document_id)
        if found_receipt is None:
            raise Skip(DOCUMENT_GONE)
        receipt, payment = found_receipt
        shown = mail_content.Document(
            kind=DocumentKind.PAYMENT_RECEIPT,
            organization_name=organization.name,
            number=receipt.number,
            currency=payment.amount_currency,
            total_amount_cents=payment.amount_cents,
            day=(payment.paid_at or payment.created_at).date(),
            invoice_number=", ".join(repository.paid_invoice_numbers(session, payment)),
        )
        return receipt, payment.customer_id, shown, []
    document: Invoice | CreditNote | None
    if kind == DocumentKind.INVOICE:
        document = repository.invoice(session, organization_id, delivery.document_id)
        if document is not None and document.status != InvoiceStatus.FINALIZED:
            document = None
    else:
        document = repository.credit_note(session, organization_id, delivery.document_id)
    if document is None:
        raise Skip(DOCUMENT_GONE)
    if isinstance(document, Invoice) and document.fees_amount_cents == 0 and not delivery.resend:
        raise Skip(ZERO_AMOUNT)
    if isinstance(document, Invoice):
        shown = mail_content.Document(
            kind=DocumentKind.INVOICE,
            organization_name=organization.name,
            number=document.number,
            currency=document.currency,
            total_amount_cents=document.total_amount_cents,
            day=document.payment_due_date,
            # The PDF's address, once a documents package stores one on the invoice.
            file_url=getattr(document, "file_url", None),
        )
    else:
        shown = mail_content.Document(
            kind=DocumentKind.CREDIT_NOTE,
            organization_name=organization.name,
            number=document.number,
            currency=document.currency,
            total_amount_cents=document.total_amount_cents,
            day=document.issuing_date,
            invoice_number=repository.invoice_number(session, organization_id, document.invoice_id),
            file_url=getattr(document, "file_url", None),
        )
    return document, document.customer_id, shown, []


def deliver(
    session_factory: SessionFactory, organization_id: uuid.UUID, delivery_id: uuid.UUID, now: datetime
) -> str | None:
    """Send one delivery if it can be claimed now; the status it ends with (``None``: not claimed)."""
    settings = current_settings()
    with session_factory() as session, session.begin():
        claimed = repository.claim(
            session, organization_id, delivery_id, now=now, lease_until=now + LEASE, max_attempts=MAX_ATTEMPTS
        )
    if not claimed:
        return None
    message_id: str | None = None
    error: str | None = None
    status: DeliveryStatus
    recipients: dict[str, list[str]] | None = None
    with session_factory() as session:
        delivery = repository.get(session, organization_id, delivery_id)
        assert delivery is not None  # just claimed
        attempts = delivery.attempts
        try:
            if not smtp_enabled(settings):
                raise Skip(SMTP_NOT_CONFIGURED)
            envelope, message, _ = _prepare(session, delivery, settings)
        except Skip as skipped:
            status, error = DeliveryStatus.SKIPPED, str(skipped)
        except Exception as failure:  # an attachment hook, the database...: retried like an SMTP failure
            log.exception("e-mail %s could not be prepared", delivery_id)
            status, error = DeliveryStatus.FAILED, f"{type(failure).__name__}: {failure}"[:1000]
        else:
            status = DeliveryStatus.SENT
            recipients = {"to": envelope.to, "cc": envelope.cc, "bcc": envelope.bcc}
        session.rollback()  # read only; nothing held while talking to the SMTP server
    if status == DeliveryStatus.SENT:
        try:
            send(settings, message, envelope)
            message_id = str(message["Message-ID"])
        except (OSError, smtplib.SMTPException) as failure:
            status, error = DeliveryStatus.FAILED, f"{type(failure).__name__}: {failure}"[:1000]
            log.warning("e-mail %s (attempt %d) failed: %s", delivery_id, attempts, error)
    values: dict[str, Any] = {"status": status, "last_error": error, "updated_at": utcnow()}
    if status == DeliveryStatus.SENT:
        values |= {
            "message_id": message_id,
            "sent_at": utcnow(),
            "next_attempt_at": None,
            "recipients": recipients,
        }
    elif status == DeliveryStatus.FAILED:
        retry = attempts < MAX_ATTEMPTS
        values["next_attempt_at"] = now + backoff(attempts) if retry else None
    else:
        values["next_attempt_at"] = None
    with session_factory() as session, session.begin():
        repository.finish(session, organization_id, delivery_id, **values)
    return status


def _parse(payload: str) -> tuple[uuid.UUID, uuid.UUID]:
    head, ids = split_ids_payload(payload)
    return uuid.UUID(head), uuid.UUID(ids[0])


@task(SEND_TASK)
def send_task(session_factory: SessionFactory, payload: str, now: datetime) -> None:
    """Send the delivery ``organization_id|delivery_id`` (no-op when another sender holds it)."""
    organization_id, delivery_id = _parse(payload)
    deliver(session_factory, organization_id, delivery_id, now)


def send_item(session_factory: SessionFactory, item: str, now: datetime) -> None:
    """One delivery found by the scan. A failure is recorded on the delivery (its own retry schedule), not
    raised: a job retried at once would find it leased."""
    send_task(session_factory, item, now)


@scan("mail.deliveries", every=timedelta(minutes=1), each=send_item)
def pending_deliveries(session_factory: SessionFactory, now: datetime) -> list[str]:
    """The deliveries due for an attempt: pending ones (a crash after the commit, a dropped task) and
    failed ones whose backoff has passed."""
    with session_factory() as session:
        rows = repository.due(session, now, max_attempts=MAX_ATTEMPTS, limit=SCAN_LIMIT)
    return [ids_payload(str(organization_id), [str(delivery_id)]) for organization_id, delivery_id in rows]
