"""Credit notes: issued for the unused days of a terminated or upgraded pay-in-advance subscription
(:meth:`CreditNoteService.credit_unused_days`, called by the billing run:
:mod:`billow.billing.termination_credits`), consumed by the customer's next invoices
(:meth:`CreditNoteService.available_cents`, :meth:`CreditNoteService.consume`, called by
:mod:`billow.billing.assembly` when an invoice is finalized), and read (``GET /credit_notes``).

Not here: manual credit notes (``POST /credit_notes``, estimate, void, update), credit notes on void.
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import Select
from sqlalchemy.orm import Session

from billow.credit_notes import amounts as cn
from billow.credit_notes.repository import credit_note_repository as repository
from billow.credit_notes.schemas import CreditNoteFilters
from billow.customers.repository import customer_repository
from billow.errors import NotFound
from billow.kit.ids import parse_lago_id
from billow.kit.time import local_date
from billow.models.credit_notes import (
    CreditNote,
    CreditNoteAppliedTax,
    CreditNoteItem,
    CreditNoteReason,
    CreditStatus,
    InvoiceCreditNote,
    RefundStatus,
)
from billow.models.customers import Customer
from billow.models.invoices import Fee, Invoice
from billow.models.organizations import Organization
from billow.models.plans import Plan, plan_taxes
from billow.models.subscriptions import Subscription
from billow.models.taxes import Tax
from billow.plans.repository import plan_repository
from billow.subscriptions.calendar import period_containing, trial_end
from billow.taxes.repository import tax_repository
from billow.taxes.rules import applicable_charge_taxes
from billow.webhooks.outbox import emit
from billow.worker.dispatch import run_hooks


class CreditNoteService:
    # --------------------------------------------------------------------------------- termination

    def credit_unused_days(
        self, session: Session, subscription: Subscription, *, upgrade: bool, now: datetime
    ) -> CreditNote | None:
        """The credit note for the unused days of ``subscription`` (terminated at ``terminated_at``; the
        note is issued on ``now``'s day) when its plan fee for the period it ended in was paid in advance;
        ``None`` when nothing is owed or when ``on_termination_credit_note`` is ``skip``. Safe to call
        twice: what earlier credit notes took from the fee is deducted (and the notes of a subscription
        are unique per reason)."""
        choice = subscription.on_termination_credit_note or cn.CREDIT
        terminated_at = subscription.terminated_at
        if choice == cn.SKIP or terminated_at is None or subscription.started_at is None:
            return None
        plan = session.get(Plan, subscription.plan_id)
        if plan is None or not plan.pay_in_advance:
            return None
        row = repository.last_plan_fee(session, subscription)
        if row is None:
            return None
        fee, invoice = row
        # Only the fee paying for the period the subscription ended in has unused days.
        if (
            fee.amount_cents <= 0
            or fee.from_datetime is None
            or fee.to_datetime is None
            or not (fee.from_datetime <= terminated_at < fee.to_datetime)
        ):
            return None
        customer = session.get(Customer, subscription.customer_id)
        organization = session.get(Organization, subscription.organization_id)
        assert customer is not None and organization is not None
        timezone = customer.applicable_timezone(organization)
        period = period_containing(
            fee.from_datetime,
            interval=plan.interval,
            billing_time=subscription.billing_time,
            anchor=local_date(subscription.started_at, timezone),
            timezone=timezone,
        )
        last_day = period.end_date - timedelta(days=1)
        trial = trial_end(subscription.started_at, plan.trial_period)
        trial_day = local_date(trial, timezone) if trial is not None else None
        terminated_day = local_date(terminated_at, timezone)
        days = cn.unused_days(
            last_day=last_day, terminated_day=terminated_day, upgrade=upgrade, trial_end_day=trial_day
        )
        item = min(cn.day_share(plan.amount_cents, days, period.days), Decimal(fee.amount_cents))
        item -= repository.credited_on_fee(session, fee.id)
        if item <= 0:
            return None
        taxes = self._fee_taxes(session, fee, invoice, subscription, plan, customer)
        money = cn.credit_note_amounts(item, taxes)
        if money.total_amount_cents <= 0:
            return None

        refundable = offsettable = 0
        if choice == cn.REFUND:
            used = cn.used_days(
                first_day=period.start_date,
                last_day=last_day,
                terminated_day=terminated_day,
                trial_end_day=trial_day,
            )
            refundable = cn.refundable_cents(
                fee_total_precise=Decimal(fee.amount_cents) + fee.taxes_precise_amount_cents,
                invoice_sub_total_including_taxes_cents=invoice.sub_total_including_taxes_amount_cents,
                invoice_total_paid_cents=invoice.total_paid_amount_cents,
                used_amount_with_taxes_cents=cn.with_taxes(
                    cn.day_share(plan.amount_cents, used, period.days), taxes
                ),
            )
        elif choice == cn.OFFSET:
            offsettable = repository.due_on_invoice(session, invoice)
        split = cn.split_total(
            money.total_amount_cents, choice, refundable_cents=refundable, offsettable_cents=offsettable
        )
        reason = CreditNoteReason.ORDER_CHANGE if upgrade else CreditNoteReason.ORDER_CANCELLATION
        return self._write(
            session,
            invoice=invoice,
            fee=fee,
            subscription=subscription,
            money=money,
            split=split,
            taxes=taxes,
            reason=reason,
            issuing_date=local_date(now, timezone),
        )

    def _fee_taxes(
        self,
        session: Session,
        fee: Fee,
        invoice: Invoice,
        subscription: Subscription,
        plan: Plan,
        customer: Customer,
    ) -> list[Tax]:
        """The taxes the plan fee was billed with: the plan's, else the customer's, else the
        organization's defaults, as at billing (checked against the fee's stored rate; if they changed
        since, the invoice's applied taxes of that rate)."""
        if not fee.taxes_rate:
            return []
        taxes = list(
            applicable_charge_taxes(
                charge_taxes=(),
                plan_taxes=plan_repository.taxes_of(session, plan_taxes, [plan.id])[plan.id],
                customer_taxes=customer_repository.taxes_by_customer(session, [customer.id])[customer.id],
                organization_taxes=tax_repository.organization_default_taxes(
                    session, subscription.organization_id
                ),
            )
        )
        if sum((Decimal(t.rate) for t in taxes), Decimal(0)) == fee.taxes_rate:
            return taxes
        stored_taxes = repository.invoice_taxes(session, invoice.id)
        if sum((Decimal(t.rate) for t in stored_taxes), Decimal(0)) == fee.taxes_rate:
            return stored_taxes
        return taxes

    def _write(
        self,
        session: Session,
        *,
        invoice: Invoice,
        fee: Fee,
        subscription: Subscription,
        money: cn.CreditNoteAmounts,
        split: cn.Split,
        taxes: list[Tax],
        reason: str,
        issuing_date: date,
    ) -> CreditNote:
        sequential_id = repository.count_of_invoice(session, invoice.id) + 1
        note = CreditNote(
            organization_id=invoice.organization_id,
            customer_id=invoice.customer_id,
            invoice_id=invoice.id,
            subscription_id=subscription.id,
            sequential_id=sequential_id,
            number=f"{invoice.number}-CN{sequential_id:03d}",
            issuing_date=issuing_date,
            status="finalized",
            credit_status=CreditStatus.AVAILABLE if split.credit_amount_cents > 0 else None,
            refund_status=RefundStatus.PENDING if split.refund_amount_cents > 0 else None,
            reason=reason,
            currency=invoice.currency,
            total_amount_cents=money.total_amount_cents,
            precise_total_amount_cents=money.precise_total_amount_cents,
            taxes_amount_cents=money.taxes_amount_cents,
            precise_taxes_amount_cents=money.precise_taxes_amount_cents,
            taxes_rate=money.taxes_rate,
            sub_total_excluding_taxes_amount_cents=money.sub_total_excluding_taxes_amount_cents,
            coupons_adjustment_amount_cents=0,
            credit_amount_cents=split.credit_amount_cents,
            balance_amount_cents=split.credit_amount_cents,
            refund_amount_cents=split.refund_amount_cents,
            offset_amount_cents=split.offset_amount_cents,
        )
        session.add(note)
        session.flush()
        session.add(
            CreditNoteItem(
                organization_id=invoice.organization_id,
                credit_note_id=note.id,
                fee_id=fee.id,
                amount_cents=money.item_amount_cents,
                precise_amount_cents=money.item_precise_amount_cents,
                amount_currency=invoice.currency,
            )
        )
        by_id: dict[Hashable, Tax] = {t.id: t for t in taxes}  # keyed as TaxPart.tax_id
        for part in money.taxes:
            tax = by_id[part.tax_id]
            session.add(
                CreditNoteAppliedTax(
                    organization_id=invoice.organization_id,
                    credit_note_id=note.id,
                    tax_id=tax.id,
                    tax_code=tax.code,
                    tax_name=tax.name,
                    tax_description=tax.description,
                    tax_rate=tax.rate,
                    amount_cents=part.amount_cents,
                    amount_currency=invoice.currency,
                    base_amount_cents=part.base_amount_cents,
                )
            )
        session.flush()
        announce_created(session, note)
        return note

    # --------------------------------------------------------------------------------- consumption

    def available_cents(self, session: Session, customer_id: uuid.UUID, currency: str) -> int:
        """The customer's credit-note balance in ``currency``; locks those credit notes (PostgreSQL) until
        the invoice's transaction ends, so two invoices cannot spend the same credit."""
        notes = repository.available(session, customer_id, currency, lock=True)
        return sum(note.balance_amount_cents for note in notes)

    def consume(self, session: Session, invoice: Invoice, amount_cents: int) -> list[InvoiceCreditNote]:
        """Take ``amount_cents`` (the invoice's ``credit_notes_amount_cents``) from the customer's
        available credit notes, oldest first, recording what the invoice took from each."""
        remaining = amount_cents
        taken: list[InvoiceCreditNote] = []
        if remaining <= 0:
            return taken
        for note in repository.available(session, invoice.customer_id, invoice.currency):
            if remaining <= 0:
                break
            take = min(note.balance_amount_cents, remaining)
            note.balance_amount_cents -= take
            if note.balance_amount_cents == 0:
                note.credit_status = CreditStatus.CONSUMED
            remaining -= take
            record = InvoiceCreditNote(
                organization_id=invoice.organization_id,
                invoice_id=invoice.id,
                credit_note_id=note.id,
                amount_cents=take,
                amount_currency=invoice.currency,
            )
            session.add(record)
            taken.append(record)
        if remaining > 0:
            raise RuntimeError("credit-note balance changed while the invoice was being written")
        session.flush()
        return taken

    # ---------------------------------------------------------------------------------------- read

    def get(self, session: Session, organization: Organization, lago_id: str) -> CreditNote:
        wanted = parse_lago_id(lago_id, "credit_note")
        note = repository.finalized_by_id(session, organization.id, wanted)
        if note is None:
            raise NotFound("credit_note")
        return note

    def list_stmt(self, organization: Organization, filters: CreditNoteFilters) -> Select[CreditNote]:
        """Newest first (Lago orders by ``created_at`` descending)."""
        return repository.list_stmt(organization.id, filters)

    def customer(self, session: Session, organization: Organization, external_id: str) -> Customer:
        customer = customer_repository.by_external_id(session, organization.id, external_id)
        if customer is None:
            raise NotFound("customer")
        return customer


credit_note_service = CreditNoteService()


#: The hook announced when a credit note is created, in its transaction (``credit_note``, flushed):
#: :mod:`billow.mail` records its e-mail there.
CREATED_HOOK = "credit_notes.created"


def announce_created(session: Session, note: CreditNote) -> None:
    """Announce a credit note just written (every path that creates one calls this): the
    ``credit_note.created`` webhook and the :data:`CREATED_HOOK` (its e-mail)."""
    emit(session, note.organization_id, "credit_note.created", "credit_note", note.id)
    run_hooks(session, CREATED_HOOK, credit_note=note)
