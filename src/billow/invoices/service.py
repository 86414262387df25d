"""Invoices and fees: reading them, and the transitions the API offers (Lago's ``invoices_controller``,
``fees_controller``). Invoices are written by the billing run (:mod:`billow.billing.run`); drafts are
refreshed and finalized by :mod:`billow.billing.drafts` (``PUT /invoices/{id}/refresh`` and ``/finalize``,
served by :mod:`billow.billing.endpoints`, and the scans of :mod:`billow.billing.tasks`).

Rules (Lago's services, reference §5.1):

* only visible invoices (draft, finalized, voided) are found; closed and deleted ones are a 404;
* ``PUT /invoices/{id}/finalize``: a draft only — any other invoice is a 404 ``invoice_not_found``
  (Lago looks the invoice up among drafts);
* ``PUT /invoices/{id}/refresh``: a draft is rebuilt; any other invoice is returned unchanged;
* ``POST /invoices/{id}/void``: finalized → voided (``voided_at``, no longer overdue); else 405
  ``not_voidable``. With ``generate_credit_note: true`` the void announces
  :data:`INVOICE_VOIDED_WITH_CREDIT_NOTE` (``credit_amount``, ``refund_amount``) in its transaction;
  :mod:`billow.credit_notes.manual` (a higher layer) issues the credit note (its errors undo the void);
* ``DELETE /invoices/{id}``: a draft becomes ``deleted`` (invisible); its period stays billed (the
  ``invoice_subscriptions`` row is kept) so the billing run does not bill it again; else 405
  ``not_deletable``;
* ``PUT /invoices/{id}``: ``payment_status`` (not on a draft: 405
  ``payment_status_update_on_draft_invoice``) and ``metadata`` (not on a draft: 405
  ``metadata_on_draft_invoice``; at most 5); a voided invoice: 405 ``update_on_voided_invoice``;
* ``failed`` invoices (:mod:`billow.billing.failures`) are visible, with their ``error_details``; they
  cannot be updated (405 ``invalid_status``), only retried: ``POST /invoices/{id}/retry`` (any other
  status: 405 ``invalid_status``, as Lago) bills the period again at once (:mod:`billow.billing.endpoints`);
* ``PUT /fees/{id}`` (``payment_status``) and ``DELETE /fees/{id}``: only fees not attached to an
  invoice, else 405 ``invoiced_fee``.
"""

from __future__ import annotations

from datetime import UTC, datetime, time

from sqlalchemy.orm import Session

from billow.customers.repository import customer_repository
from billow.db import utcnow
from billow.errors import Errors, NotAllowed, NotFound, ValidationFailed
from billow.invoices.repository import FeeFilters, InvoiceFilters, invoice_repository
from billow.invoices.schemas import FeeUpdateInput, InvoiceMetadataInput, InvoiceUpdateInput, InvoiceVoidInput
from billow.kit.ids import parse_lago_id, parse_uuid
from billow.kit.limits import clamp_bigint
from billow.kit.time import parse_date_or_none, parse_instant
from billow.models.customers import Customer
from billow.models.invoices import Fee, Invoice, InvoiceMetadata, InvoiceStatus, PaymentStatus
from billow.models.organizations import Organization
from billow.webhooks.outbox import emit
from billow.worker.dispatch import run_hooks

#: Lago's ``Invoice::VISIBLE_STATUS``: the statuses a list may filter on.
FILTERABLE_STATUSES = ("draft", "finalized", "voided", "failed", "pending")
INVOICE_PAYMENT_STATUSES = tuple(status.value for status in PaymentStatus)
FEE_PAYMENT_STATUSES = ("pending", "succeeded", "failed", "refunded")
FEE_TYPES = ("charge", "add_on", "subscription", "credit", "commitment", "fixed_charge", "product")
METADATA_MAX_COUNT = 5
#: In-transaction hook announced when an invoice's payment status changes (``PUT /invoices/{id}``, a
#: payment: :meth:`InvoiceService.set_payment_status`).
PAYMENT_STATUS_CHANGED = "invoices.payment_status_changed"
METADATA_KEY_MAX_LENGTH = 20
METADATA_VALUE_MAX_LENGTH = 140


def parse_bool(value: str | None, field: str, errors: Errors) -> bool | None:
    if value is None or value == "":
        return None
    lowered = value.strip().lower()
    if lowered in ("true", "1", "t", "yes"):
        return True
    if lowered in ("false", "0", "f", "no"):
        return False
    errors.add(field, "value_is_invalid")
    return None


def parse_datetime(value: str | None) -> datetime | None:
    """A fee filter's instant (:func:`billow.kit.time.parse_instant`); Lago ignores one it cannot read.
    This filter's own leniency: any ``Z`` is an offset (``20240101Z``), and what only a date parser reads
    (``2024010101``) is that day's midnight."""
    if not value:
        return None
    try:
        return parse_instant(value.replace("Z", "+00:00"))
    except ValueError:
        day = parse_date_or_none(value)
        return None if day is None else datetime.combine(day, time.min, UTC)


def parse_int(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    try:
        return clamp_bigint(int(value))
    except ValueError:
        return None


#: Announced (:func:`billow.worker.dispatch.run_hooks`) when an invoice is voided with a credit note.
INVOICE_VOIDED_WITH_CREDIT_NOTE = "invoice.voided_with_credit_note"


class InvoiceService:
    # ------------------------------------------------------------------------------------ reading

    def failed(self, session: Session, organization: Organization, lago_id: str) -> Invoice:
        """A failed invoice of the organization (``POST /invoices/{id}/retry``): 404 if unknown, 405
        ``invalid_status`` if not failed."""
        invoice = self.get(session, organization, lago_id)
        if invoice.status != InvoiceStatus.FAILED:
            raise NotAllowed(code="invalid_status")
        return invoice

    def get(self, session: Session, organization: Organization, lago_id: str) -> Invoice:
        invoice = invoice_repository.get(session, organization.id, parse_lago_id(lago_id, "invoice"))
        if invoice is None:
            raise NotFound("invoice")
        return invoice

    def customer(self, session: Session, organization: Organization, external_id: str) -> Customer:
        customer = customer_repository.by_external_id(session, organization.id, external_id)
        if customer is None:
            raise NotFound("customer")
        return customer

    def invoice_filters(
        self,
        *,
        statuses: list[str],
        payment_statuses: list[str],
        booleans: dict[str, str | None],
        metadata: list[tuple[str, str]],
        **values: str | None,
    ) -> InvoiceFilters:
        """Lago's list filters, validated: unknown statuses and non-boolean flags are a 422."""
        errors = Errors()
        for status in statuses:
            if status not in FILTERABLE_STATUSES:
                errors.add("status", "value_is_invalid")
        for status in payment_statuses:
            if status not in INVOICE_PAYMENT_STATUSES:
                errors.add("payment_status", "value_is_invalid")
        flags = {name: parse_bool(value, name, errors) for name, value in booleans.items()}
        errors.raise_if_any()
        return InvoiceFilters(
            external_customer_id=values.get("external_customer_id") or None,
            statuses=tuple(statuses),
            payment_statuses=tuple(payment_statuses),
            invoice_type=values.get("invoice_type") or None,
            issuing_date_from=parse_date_or_none(values.get("issuing_date_from")),
            issuing_date_to=parse_date_or_none(values.get("issuing_date_to")),
            currency=values.get("currency") or None,
            amount_from=parse_int(values.get("amount_from")),
            amount_to=parse_int(values.get("amount_to")),
            search_term=values.get("search_term") or None,
            payment_overdue=flags.get("payment_overdue"),
            payment_dispute_lost=flags.get("payment_dispute_lost"),
            partially_paid=flags.get("partially_paid"),
            self_billed=flags.get("self_billed"),
            metadata=tuple(metadata),
        )

    # ------------------------------------------------------------------------------------ transitions

    def _locked(self, session: Session, organization: Organization, lago_id: str) -> Invoice:
        return invoice_repository.lock(session, self.get(session, organization, lago_id))

    def void(
        self, session: Session, organization: Organization, lago_id: str, data: InvoiceVoidInput
    ) -> Invoice:
        invoice = self.get(session, organization, lago_id)
        invoice = invoice_repository.lock(session, invoice)
        if invoice.status != InvoiceStatus.FINALIZED:
            raise NotAllowed(code="not_voidable")
        invoice.status = InvoiceStatus.VOIDED
        invoice.voided_at = utcnow()
        invoice.payment_overdue = False
        session.flush()
        emit(session, organization.id, "invoice.voided", "invoice", invoice.id)
        if data.generate_credit_note:
            run_hooks(
                session,
                INVOICE_VOIDED_WITH_CREDIT_NOTE,
                invoice=invoice,
                credit_amount=data.credit_amount or 0,
                refund_amount=data.refund_amount or 0,
            )
        return invoice

    def lose_dispute(self, session: Session, organization: Organization, lago_id: str) -> Invoice:
        invoice = self._locked(session, organization, lago_id)
        self.mark_dispute_lost(session, invoice)
        return invoice

    def mark_dispute_lost(self, session: Session, invoice: Invoice, *, at: datetime | None = None) -> bool:
        """The invoice's payment dispute is lost (``POST /invoices/{id}/lose_dispute``, a provider's
        webhook), the invoice locked by the caller: ``payment_dispute_lost_at`` set and
        ``invoice.payment_dispute_lost`` sent, once (a second loss changes nothing). Only a finalized
        invoice (Lago's 405 ``not_disputable``). Returns whether it changed."""
        if invoice.status != InvoiceStatus.FINALIZED:
            raise NotAllowed(code="not_disputable")
        if invoice.payment_dispute_lost_at is not None:
            return False
        invoice.payment_dispute_lost_at = at or utcnow()
        invoice.updated_at = utcnow()
        session.flush()
        emit(
            session,
            invoice.organization_id,
            "invoice.payment_dispute_lost",
            "payment_dispute_lost",
            invoice.id,
        )
        return True

    def delete(self, session: Session, organization: Organization, lago_id: str) -> Invoice:
        invoice = self._locked(session, organization, lago_id)
        if invoice.status != InvoiceStatus.DRAFT:
            raise NotAllowed(code="not_deletable")
        invoice.status = InvoiceStatus.DELETED
        invoice.expected_finalization_date = None
        session.flush()
        return invoice

    def update(
        self, session: Session, organization: Organization, lago_id: str, data: InvoiceUpdateInput
    ) -> Invoice:
        invoice = self._locked(session, organization, lago_id)  # payments change it under this lock too
        if invoice.status == InvoiceStatus.VOIDED:
            raise NotAllowed(code="update_on_voided_invoice")
        if invoice.status == InvoiceStatus.FAILED:  # Lago: a failed invoice can only be retried
            raise NotAllowed(code="invalid_status")
        if invoice.status == InvoiceStatus.DRAFT and data.metadata is not None:
            raise NotAllowed(code="metadata_on_draft_invoice")
        errors = Errors()
        if data.payment_status is not None and data.payment_status not in INVOICE_PAYMENT_STATUSES:
            errors.add("payment_status", "value_is_invalid")
        if data.metadata is not None:
            self._validate_metadata(data.metadata, errors)
        errors.raise_if_any()
        if (
            invoice.status == InvoiceStatus.DRAFT
            and data.payment_status is not None
            and data.payment_status != invoice.payment_status
        ):
            raise NotAllowed(code="payment_status_update_on_draft_invoice")

        if data.payment_status is not None:
            self.set_payment_status(session, invoice, data.payment_status)
        if data.metadata is not None:
            self._replace_metadata(session, invoice, data.metadata)
        invoice.updated_at = utcnow()
        session.flush()
        return invoice

    def set_payment_status(self, session: Session, invoice: Invoice, payment_status: str) -> bool:
        """The one path of an invoice's payment status change (``PUT /invoices/{id}`` and the payments of
        :mod:`billow.payments`), the invoice locked by the caller: its fees follow, a paid invoice is no
        longer overdue, and a change is announced (hook :data:`PAYMENT_STATUS_CHANGED`, e.g. a paid credit
        invoice settles its wallet top-up in :mod:`billow.wallets.settlement`; webhook
        ``invoice.payment_status_updated``). Returns whether the status changed."""
        changed = payment_status != invoice.payment_status
        invoice.payment_status = payment_status
        if invoice.payment_overdue and invoice.payment_status == PaymentStatus.SUCCEEDED:
            invoice.payment_overdue = False
        session.flush()
        invoice_repository.set_fees_payment_status(session, invoice)
        if changed:
            run_hooks(session, PAYMENT_STATUS_CHANGED, invoice=invoice)
            emit(session, invoice.organization_id, "invoice.payment_status_updated", "invoice", invoice.id)
        return changed

    def _validate_metadata(self, items: list[InvoiceMetadataInput], errors: Errors) -> None:
        if len(items) > METADATA_MAX_COUNT:
            errors.add("metadata", "invalid_count")
        seen: set[str] = set()
        for item in items:
            if not (item.key or "").strip():
                errors.add("key", "value_is_mandatory")
            elif len(item.key or "") > METADATA_KEY_MAX_LENGTH:
                errors.add("key", "value_is_too_long")
            elif item.key in seen:
                errors.add("key", "value_already_exist")
            else:
                seen.add(item.key or "")
            if not (item.value or "").strip():
                errors.add("value", "value_is_mandatory")
            elif len(item.value or "") > METADATA_VALUE_MAX_LENGTH:
                errors.add("value", "value_is_too_long")

    def _replace_metadata(
        self, session: Session, invoice: Invoice, items: list[InvoiceMetadataInput]
    ) -> None:
        """The sent list becomes the invoice's metadata: entries whose ``id`` is known are updated, the
        others created, entries left out deleted (Lago's ``Invoices::Metadata::UpdateService``)."""
        existing = {row.id: row for row in invoice_repository.metadata_of(session, invoice)}
        kept: list[tuple[InvoiceMetadata, InvoiceMetadataInput]] = []
        created: list[InvoiceMetadataInput] = []
        for item in items:
            known = parse_uuid(item.id)
            row = existing.pop(known, None) if known is not None else None
            if row is None:
                created.append(item)
            else:
                kept.append((row, item))
        for row in existing.values():
            session.delete(row)
        session.flush()
        # Keys may move between kept entries: park them first so the one-key-per-invoice index holds.
        moving = [row for row, item in kept if row.key != item.key]
        for row in moving:
            row.key = f"~moving~{row.id.hex}"
        if moving:
            session.flush()
        for row, item in kept:
            row.key = item.key or ""
            row.value = item.value or ""
        session.flush()
        session.add_all(
            InvoiceMetadata(
                organization_id=invoice.organization_id,
                invoice_id=invoice.id,
                key=item.key or "",
                value=item.value or "",
            )
            for item in created
        )
        session.flush()

    # ------------------------------------------------------------------------------------ fees

    def get_fee(self, session: Session, organization: Organization, lago_id: str) -> Fee:
        fee = invoice_repository.get_fee(session, organization.id, parse_lago_id(lago_id, "fee"))
        if fee is None:
            raise NotFound("fee")
        return fee

    def fee_filters(self, **values: str | None) -> FeeFilters:
        errors = Errors()
        fee_type = values.get("fee_type") or None
        if fee_type is not None and fee_type not in FEE_TYPES:
            errors.add("fee_type", "value_is_invalid")
        payment_status = values.get("payment_status") or None
        if payment_status is not None and payment_status not in FEE_PAYMENT_STATUSES:
            errors.add("payment_status", "value_is_invalid")
        errors.raise_if_any()

        def moment(name: str) -> datetime | None:
            return parse_datetime(values.get(name))

        return FeeFilters(
            fee_type=fee_type,
            payment_status=payment_status,
            external_subscription_id=values.get("external_subscription_id") or None,
            external_customer_id=values.get("external_customer_id") or None,
            billable_metric_code=values.get("billable_metric_code") or None,
            currency=values.get("currency") or None,
            event_transaction_id=values.get("event_transaction_id") or None,
            created_at_from=moment("created_at_from"),
            created_at_to=moment("created_at_to"),
            succeeded_at_from=moment("succeeded_at_from"),
            succeeded_at_to=moment("succeeded_at_to"),
            failed_at_from=moment("failed_at_from"),
            failed_at_to=moment("failed_at_to"),
            refunded_at_from=moment("refunded_at_from"),
            refunded_at_to=moment("refunded_at_to"),
        )

    def update_fee(
        self, session: Session, organization: Organization, lago_id: str, data: FeeUpdateInput
    ) -> Fee:
        fee = self.get_fee(session, organization, lago_id)
        if data.payment_status is None:
            return fee
        if fee.invoice_id is not None:
            raise NotAllowed(code="invoiced_fee")
        if data.payment_status not in FEE_PAYMENT_STATUSES:
            raise ValidationFailed.one("payment_status", "value_is_invalid")
        now = utcnow()
        fee.payment_status = data.payment_status
        # Only the timestamp of the current status is set (a fee may go pending → failed → succeeded).
        fee.succeeded_at = now if data.payment_status == "succeeded" else None
        fee.failed_at = now if data.payment_status == "failed" else None
        fee.refunded_at = now if data.payment_status == "refunded" else None
        session.flush()
        return fee

    def delete_fee(self, session: Session, organization: Organization, lago_id: str) -> Fee:
        fee = self.get_fee(session, organization, lago_id)
        if fee.invoice_id is not None:
            raise NotAllowed(code="invoiced_fee")
        fee.deleted_at = utcnow()
        session.flush()
        return fee


invoice_service = InvoiceService()
