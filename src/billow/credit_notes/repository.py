"""All SQL of credit notes."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Select, false, func, select
from sqlalchemy.orm import Session

from billow.credit_notes.schemas import CreditNoteFilters
from billow.models.credit_notes import CreditNote, CreditNoteAppliedTax, CreditNoteItem, CreditStatus
from billow.models.customers import Customer
from billow.models.integrations import Integration, IntegrationResource
from billow.models.invoices import AppliedTax, Fee, FeeType, Invoice, InvoiceStatus
from billow.models.subscriptions import Subscription
from billow.models.taxes import Tax


@dataclass
class CreditNoteGraph:
    invoices: dict[uuid.UUID, Invoice]
    customers: dict[uuid.UUID, Customer]
    items: dict[uuid.UUID, list[CreditNoteItem]]
    fees: dict[uuid.UUID, Fee]
    applied_taxes: dict[uuid.UUID, list[CreditNoteAppliedTax]]


class CreditNoteRepository:
    # -------------------------------------------------------------------------------- issuing

    def last_plan_fee(self, session: Session, subscription: Subscription) -> tuple[Fee, Invoice] | None:
        """The subscription's latest plan fee on a finalized invoice, with that invoice."""
        row = session.execute(
            select(Fee, Invoice)
            .join(Invoice, Invoice.id == Fee.invoice_id)
            .where(
                Fee.organization_id == subscription.organization_id,
                Fee.subscription_id == subscription.id,
                Fee.fee_type == FeeType.SUBSCRIPTION,
                Fee.deleted_at.is_(None),
                Invoice.status == InvoiceStatus.FINALIZED,
            )
            .order_by(Fee.to_datetime.desc(), Fee.created_at.desc())
            .limit(1)
        ).first()
        return None if row is None else (row[0], row[1])

    def credited_on_fee(self, session: Session, fee_id: uuid.UUID) -> Decimal:
        """What credit notes not voided already took from a fee (before taxes, exact)."""
        total = session.scalar(
            select(func.coalesce(func.sum(CreditNoteItem.precise_amount_cents), 0))
            .join(CreditNote, CreditNote.id == CreditNoteItem.credit_note_id)
            .where(CreditNoteItem.fee_id == fee_id, CreditNote.voided_at.is_(None))
        )
        return Decimal(str(total or 0))

    def invoice_taxes(self, session: Session, invoice_id: uuid.UUID) -> list[Tax]:
        """The taxes applied on an invoice (those still existing)."""
        return list(
            session.scalars(
                select(Tax)
                .join(AppliedTax, AppliedTax.tax_id == Tax.id)
                .where(AppliedTax.invoice_id == invoice_id)
                .order_by(Tax.code)
            )
        )

    def due_on_invoice(self, session: Session, invoice: Invoice) -> int:
        """What is still due on an invoice: its total, less what was paid and what credit notes offset."""
        offset = session.scalar(
            select(func.coalesce(func.sum(CreditNote.offset_amount_cents), 0)).where(
                CreditNote.invoice_id == invoice.id, CreditNote.voided_at.is_(None)
            )
        )
        return max(0, invoice.total_amount_cents - invoice.total_paid_amount_cents - int(offset or 0))

    def count_of_invoice(self, session: Session, invoice_id: uuid.UUID) -> int:
        return (
            session.scalar(
                select(func.count()).select_from(CreditNote).where(CreditNote.invoice_id == invoice_id)
            )
            or 0
        )

    # ------------------------------------------------------------------------------ manual notes

    def invoice_of(
        self, session: Session, organization_id: uuid.UUID, invoice_id: uuid.UUID
    ) -> Invoice | None:
        return session.scalars(
            select(Invoice).where(Invoice.organization_id == organization_id, Invoice.id == invoice_id)
        ).first()

    def fees_of_invoice(self, session: Session, invoice_id: uuid.UUID) -> list[Fee]:
        return list(
            session.scalars(
                select(Fee)
                .where(Fee.invoice_id == invoice_id, Fee.deleted_at.is_(None))
                .order_by(Fee.created_at, Fee.id)
            )
        )

    def applied_taxes(self, session: Session, invoice_id: uuid.UUID) -> list[AppliedTax]:
        """The invoice's tax rows (its snapshot of each tax), by code."""
        return list(
            session.scalars(
                select(AppliedTax).where(AppliedTax.invoice_id == invoice_id).order_by(AppliedTax.tax_code)
            )
        )

    def credited_by_fee(self, session: Session, fee_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, int]:
        """What the items of finalized credit notes (voided ones included, as Lago) took from each fee."""
        if not fee_ids:
            return {}
        rows = session.execute(
            select(CreditNoteItem.fee_id, func.coalesce(func.sum(CreditNoteItem.amount_cents), 0))
            .join(CreditNote, CreditNote.id == CreditNoteItem.credit_note_id)
            .where(CreditNoteItem.fee_id.in_(list(fee_ids)), CreditNote.status == "finalized")
            .group_by(CreditNoteItem.fee_id)
        )
        return {fee_id: int(total) for fee_id, total in rows}

    def notes_of_invoice(self, session: Session, invoice_id: uuid.UUID) -> list[CreditNote]:
        """The invoice's finalized credit notes (voided ones included)."""
        return list(
            session.scalars(
                select(CreditNote)
                .where(CreditNote.invoice_id == invoice_id, CreditNote.status == "finalized")
                .order_by(CreditNote.sequential_id)
            )
        )

    def by_id(self, session: Session, organization_id: uuid.UUID, lago_id: uuid.UUID) -> CreditNote | None:
        return self.finalized_by_id(session, organization_id, lago_id)

    def note_of_refund(
        self,
        session: Session,
        organization_id: uuid.UUID,
        integration_code: str | None,
        provider_refund_id: str,
    ) -> uuid.UUID | None:
        """The credit note whose refund the integration ``integration_code`` recorded under the provider's
        refund id (its ``refund`` resource, written when the refund job succeeded)."""
        return session.scalars(
            select(IntegrationResource.object_id)
            .join(Integration, Integration.id == IntegrationResource.integration_id)
            .where(
                IntegrationResource.organization_id == organization_id,
                Integration.organization_id == organization_id,
                Integration.code == integration_code,
                Integration.deleted_at.is_(None),
                IntegrationResource.object_type == "refund",
                IntegrationResource.external_id == provider_refund_id,
            )
        ).first()

    # ---------------------------------------------------------------------------- consumption

    def available(
        self, session: Session, customer_id: uuid.UUID, currency: str, *, lock: bool = False
    ) -> list[CreditNote]:
        """The customer's credit notes with credit left in ``currency``, oldest first; ``lock`` takes their
        rows (``FOR UPDATE`` on PostgreSQL) until the transaction ends."""
        stmt = (
            select(CreditNote)
            .where(
                CreditNote.customer_id == customer_id,
                CreditNote.currency == currency,
                CreditNote.status == "finalized",
                CreditNote.credit_status == CreditStatus.AVAILABLE,
                CreditNote.balance_amount_cents > 0,
            )
            .order_by(CreditNote.created_at, CreditNote.issuing_date, CreditNote.number, CreditNote.id)
        )
        if lock:
            stmt = stmt.with_for_update()
        return list(session.scalars(stmt))

    # ----------------------------------------------------------------------------------- reads

    def finalized_by_id(
        self, session: Session, organization_id: uuid.UUID, lago_id: uuid.UUID
    ) -> CreditNote | None:
        return session.scalars(
            select(CreditNote).where(
                CreditNote.organization_id == organization_id,
                CreditNote.id == lago_id,
                CreditNote.status == "finalized",
            )
        ).first()

    def list_stmt(self, organization_id: uuid.UUID, filters: CreditNoteFilters) -> Select[CreditNote]:
        """Finalized credit notes matching ``filters``, newest first."""
        stmt = select(CreditNote).where(
            CreditNote.organization_id == organization_id, CreditNote.status == "finalized"
        )
        if filters.customer_id is not None:
            stmt = stmt.where(CreditNote.customer_id == filters.customer_id)
        if filters.external_customer_id:
            stmt = stmt.where(
                CreditNote.customer_id.in_(
                    select(Customer.id).where(
                        Customer.organization_id == organization_id,
                        Customer.external_id == filters.external_customer_id,
                    )
                )
            )
        if filters.credit_status:
            stmt = stmt.where(CreditNote.credit_status == filters.credit_status)
        if filters.refund_status:
            stmt = stmt.where(CreditNote.refund_status == filters.refund_status)
        if filters.reason:
            stmt = stmt.where(CreditNote.reason == filters.reason)
        if filters.currency:
            stmt = stmt.where(CreditNote.currency == filters.currency.upper())
        if filters.issuing_date_from is not None:
            stmt = stmt.where(CreditNote.issuing_date >= filters.issuing_date_from)
        if filters.issuing_date_to is not None:
            stmt = stmt.where(CreditNote.issuing_date <= filters.issuing_date_to)
        if filters.amount_from is not None:
            stmt = stmt.where(CreditNote.total_amount_cents >= filters.amount_from)
        if filters.amount_to is not None:
            stmt = stmt.where(CreditNote.total_amount_cents <= filters.amount_to)
        if filters.invoice_number:
            stmt = stmt.where(
                CreditNote.invoice_id.in_(
                    select(Invoice.id).where(
                        Invoice.organization_id == organization_id, Invoice.number == filters.invoice_number
                    )
                )
            )
        if filters.self_billed:
            # Billow has no self-billed invoices.
            stmt = stmt.where(false())
        if filters.search_term:
            term = f"%{filters.search_term.lower()}%"
            stmt = stmt.where(
                func.lower(CreditNote.number).like(term)
                | CreditNote.customer_id.in_(
                    select(Customer.id).where(
                        Customer.organization_id == organization_id,
                        func.lower(Customer.external_id).like(term)
                        | func.lower(func.coalesce(Customer.name, "")).like(term)
                        | func.lower(func.coalesce(Customer.email, "")).like(term),
                    )
                )
            )
        return stmt.order_by(CreditNote.created_at.desc(), CreditNote.id)

    def load(self, session: Session, notes: Sequence[CreditNote]) -> CreditNoteGraph:
        ids = [note.id for note in notes]
        invoice_ids = list({note.invoice_id for note in notes})
        customer_ids = list({note.customer_id for note in notes})
        invoices = (
            {i.id: i for i in session.scalars(select(Invoice).where(Invoice.id.in_(invoice_ids)))}
            if invoice_ids
            else {}
        )
        customers = (
            {c.id: c for c in session.scalars(select(Customer).where(Customer.id.in_(customer_ids)))}
            if customer_ids
            else {}
        )
        items: dict[uuid.UUID, list[CreditNoteItem]] = defaultdict(list)
        taxes: dict[uuid.UUID, list[CreditNoteAppliedTax]] = defaultdict(list)
        fees: dict[uuid.UUID, Fee] = {}
        if ids:
            for item in session.scalars(
                select(CreditNoteItem)
                .where(CreditNoteItem.credit_note_id.in_(ids))
                .order_by(CreditNoteItem.created_at, CreditNoteItem.id)
            ):
                items[item.credit_note_id].append(item)
            fee_ids = list({item.fee_id for group in items.values() for item in group})
            if fee_ids:
                fees = {f.id: f for f in session.scalars(select(Fee).where(Fee.id.in_(fee_ids)))}
            for tax in session.scalars(
                select(CreditNoteAppliedTax)
                .where(CreditNoteAppliedTax.credit_note_id.in_(ids))
                .order_by(CreditNoteAppliedTax.tax_code, CreditNoteAppliedTax.id)
            ):
                taxes[tax.credit_note_id].append(tax)
        return CreditNoteGraph(invoices, customers, items, fees, taxes)


credit_note_repository = CreditNoteRepository()
