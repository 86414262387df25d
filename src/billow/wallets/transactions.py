"""Wallet transactions (Lago's ``WalletTransactions::CreateFromParamsService``, ``SettleService``,
``VoidService`` and the prepaid-credit consumption of an invoice, reference §6).

* ``granted_credits`` → an inbound ``settled`` transaction (``granted``); the balance grows at once.
* ``paid_credits`` → an inbound ``pending`` transaction (``purchased``) and its ``credit`` invoice
  (:mod:`billow.wallets.credit_invoice`); settled when that invoice is paid (:meth:`settle_purchases`), or
  marked ``failed`` when its payment fails.
* ``voided_credits`` → an outbound ``settled`` transaction (``voided``); the balance shrinks at once, never
  below 0 (422 ``insufficient_credits``).
* consumption by an invoice (:meth:`consume`) → outbound ``settled`` transactions (``invoiced``).

Every transaction written announces ``wallet_transaction.created``; a purchase settled or failed later,
``wallet_transaction.updated`` (webhooks, :mod:`billow.webhooks.outbox`).

One request answers one transaction per kind sent, in that order (paid, granted, voided). Validation
comes first (nothing is written on error), in Lago's order.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from billow.db import utcnow
from billow.errors import Errors, NotFound, ValidationFailed
from billow.kit.ids import parse_lago_id, parse_uuid
from billow.kit.limits import MAX_AMOUNT_CENTS, MAX_PRICE, parse_decimal_text
from billow.kit.locking import lock_row
from billow.models.customers import Customer
from billow.models.invoices import Invoice, PaymentStatus
from billow.models.organizations import Organization
from billow.models.wallets import (
    LOWEST_PRIORITY,
    SettlementStatus,
    TransactionSource,
    TransactionStatus,
    TransactionType,
    Wallet,
    WalletStatus,
    WalletTransaction,
)
from billow.wallets import ledger
from billow.wallets.amounts import CreditValue, credit_value, floor_credits, rounds_to_zero, value_of_cents
from billow.wallets.credit_invoice import write_credit_invoice
from billow.wallets.repository import wallet_repository as repository
from billow.wallets.schemas import KeyValueInput, WalletTransactionInput
from billow.webhooks.outbox import emit

#: The most credits one transaction may carry (the amount bound of :mod:`billow.kit.limits` for a rate
#: of 1 in a 2-decimal currency).
MAX_CREDITS = MAX_PRICE
TRANSACTION_METADATA_MAX_KEYS = 15
METADATA_MAX_KEY_LENGTH = 20
METADATA_MAX_VALUE_LENGTH = 100


def parse_credits(text: str | None) -> Decimal | None:
    """A number of credits as sent (a decimal string, ``>= 0``, at most :data:`MAX_CREDITS`), or None."""
    if text is None:
        return None
    number = parse_decimal_text(text)
    if number is None or number < 0 or number > MAX_CREDITS:
        return None
    return number


def validate_transaction_metadata(
    items: list[KeyValueInput] | None, errors: Errors, *, max_keys: int = TRANSACTION_METADATA_MAX_KEYS
) -> None:
    """Lago's ``MetadataValidator``: at most ``max_keys`` ``{key, value}`` pairs, both present, the key at
    most 20 characters, the value at most 100; one error code on ``metadata``."""
    if not items:
        return
    if len(items) > max_keys:
        errors.add("metadata", "too_many_keys")
    for item in items:
        if not item.key or not item.value:
            errors.add("metadata", "invalid_key_value_pair")
        elif len(item.key) > METADATA_MAX_KEY_LENGTH:
            errors.add("metadata", "key_too_long")
        elif len(item.value) > METADATA_MAX_VALUE_LENGTH:
            errors.add("metadata", "value_too_long")


def metadata_pairs(items: list[KeyValueInput] | None) -> list[dict[str, str]]:
    return [{"key": i.key or "", "value": i.value or ""} for i in items or []]


def check_paid_limits(
    wallet: Wallet, value: CreditValue, errors: Errors, *, ignore: bool, field: str = "paid_credits"
) -> None:
    """Lago's ``WalletTransactionAmountLimitsValidator``: a paid top-up's amount within the wallet's
    ``paid_top_up_min/max_amount_cents`` unless ``ignore``."""
    if ignore:
        return
    low, high = wallet.paid_top_up_min_amount_cents, wallet.paid_top_up_max_amount_cents
    if low is not None and value.amount_cents < low:
        errors.add(field, "amount_below_minimum")
    elif high is not None and value.amount_cents > high:
        errors.add(field, "amount_above_maximum")


@dataclass(frozen=True)
class TopUp:
    """What one top-up request asks, validated."""

    paid: Decimal | None = None
    granted: Decimal | None = None
    voided: Decimal | None = None
    name: str | None = None
    metadata: tuple[tuple[str, str], ...] = ()
    priority: int = LOWEST_PRIORITY
    invoice_requires_successful_payment: bool | None = None
    ignore_paid_top_up_limits: bool = False
    purchase_order_number: str | None = None
    source: str = TransactionSource.MANUAL


class TransactionService:
    # -------------------------------------------------------------------------------- validation

    def validate_credits(
        self, wallet: Wallet | None, fields: Mapping[str, str | None], errors: Errors
    ) -> dict[str, Decimal]:
        """The credits sent, parsed; Lago's codes on each invalid one (``invalid_<field>``,
        ``invalid_amount``; ``amount_rounds_to_zero`` when a positive amount is worth no minor unit)."""
        parsed: dict[str, Decimal] = {}
        for field, text in fields.items():
            if text is None:
                continue
            number = parse_credits(text)
            if number is None:
                errors.add(field, f"invalid_{field}")
                errors.add(field, "invalid_amount")
                continue
            if wallet is not None and field != "voided_credits":
                if rounds_to_zero(number, wallet.rate_amount, wallet.currency):
                    errors.add(field, "amount_rounds_to_zero")
                    continue
                if credit_value(number, wallet.rate_amount, wallet.currency).amount_cents > MAX_AMOUNT_CENTS:
                    errors.add(field, "value_is_out_of_range")
                    continue
            parsed[field] = number
        return parsed

    def request(
        self, session: Session, organization: Organization, data: WalletTransactionInput
    ) -> tuple[Wallet, TopUp]:
        """``POST /wallet_transactions``: the wallet and the validated top-up (422 on any error, with
        ``wallet_id`` ``wallet_not_found`` / ``wallet_is_terminated`` as Lago)."""
        errors = Errors()
        wallet: Wallet | None = None
        wallet_id = parse_uuid(data.wallet_id)
        if wallet_id is not None:
            wallet = repository.get(session, organization.id, wallet_id)
        if wallet is None:
            errors.add("wallet_id", "wallet_not_found")
        elif wallet.status == WalletStatus.TERMINATED:
            errors.add("wallet_id", "wallet_is_terminated")
        live = wallet if wallet is not None and wallet.status == WalletStatus.ACTIVE else None
        credits = self.validate_credits(
            live,
            {
                "paid_credits": data.paid_credits,
                "granted_credits": data.granted_credits,
                "voided_credits": data.voided_credits,
            },
            errors,
        )
        voided = credits.get("voided_credits")
        if live is not None and voided is not None:
            value = credit_value(voided, live.rate_amount, live.currency, invoiceable=False)
            if value.credits > live.credits_balance or value.amount_cents > live.balance_cents:
                errors.add("voided_credits", "insufficient_credits")
        if data.voided_transaction_id is not None and live is not None:
            errors.add("voided_transaction_id", "wallet_not_traceable")
        validate_transaction_metadata(data.metadata, errors)
        paid = credits.get("paid_credits")
        if live is not None and paid is not None and floor_credits(paid) > 0 and not errors:
            check_paid_limits(
                live,
                credit_value(paid, live.rate_amount, live.currency),
                errors,
                ignore=bool(data.ignore_paid_top_up_limits),
            )
        errors.raise_if_any()
        assert wallet is not None
        return wallet, TopUp(
            paid=paid,
            granted=credits.get("granted_credits"),
            voided=voided,
            name=data.name or None,
            metadata=tuple((p["key"], p["value"]) for p in metadata_pairs(data.metadata)),
            priority=data.priority if data.priority is not None and 1 <= data.priority <= 50 else 50,
            invoice_requires_successful_payment=data.invoice_requires_successful_payment,
            ignore_paid_top_up_limits=bool(data.ignore_paid_top_up_limits),
            purchase_order_number=data.purchase_order_number,
        )

    # -------------------------------------------------------------------------------- writing

    def apply(
        self,
        session: Session,
        organization: Organization,
        customer: Customer,
        wallet: Wallet,
        top_up: TopUp,
        *,
        now: datetime | None = None,
    ) -> list[WalletTransaction]:
        """Write the transactions of a validated top-up: paid, granted, voided (zero amounts skipped)."""
        now = now or utcnow()
        requires = top_up.invoice_requires_successful_payment
        if requires is None:
            requires = wallet.invoice_requires_successful_payment
        written: list[WalletTransaction] = []
        if top_up.paid is not None and floor_credits(top_up.paid) > 0:
            transaction = self._new(wallet, top_up, TransactionType.INBOUND, TransactionStatus.PURCHASED, now)
            transaction.status = SettlementStatus.PENDING
            transaction.invoice_requires_successful_payment = requires
            self._value(transaction, credit_value(top_up.paid, wallet.rate_amount, wallet.currency))
            self._add(session, transaction)
            invoice = write_credit_invoice(
                session,
                organization=organization,
                customer=customer,
                wallet=wallet,
                transaction=transaction,
                now=now,
            )
            transaction.invoice_id = invoice.id
            if invoice.payment_status == PaymentStatus.SUCCEEDED:  # nothing to pay (cannot happen: > 0)
                ledger.settle(session, wallet.id, transaction, now)
            written.append(transaction)
        if top_up.granted is not None and floor_credits(top_up.granted) > 0:
            transaction = self._new(wallet, top_up, TransactionType.INBOUND, TransactionStatus.GRANTED, now)
            self._value(transaction, credit_value(top_up.granted, wallet.rate_amount, wallet.currency))
            self._add(session, transaction)
            ledger.settle(session, wallet.id, transaction, now)
            written.append(transaction)
        if top_up.voided is not None and floor_credits(top_up.voided) > 0:
            transaction = self._new(wallet, top_up, TransactionType.OUTBOUND, TransactionStatus.VOIDED, now)
            value = credit_value(top_up.voided, wallet.rate_amount, wallet.currency, invoiceable=False)
            self._value(transaction, value)
            self._add(session, transaction)
            try:
                ledger.settle(session, wallet.id, transaction, now)
            except ledger.InsufficientBalance:
                raise ValidationFailed.one("voided_credits", "insufficient_credits") from None
            written.append(transaction)
        session.flush()
        return written

    def void_remaining(self, session: Session, wallet: Wallet, now: datetime) -> WalletTransaction | None:
        """Void what is left on ``wallet`` (its expiration); None when the balance is empty."""
        wallet = ledger.locked(session, wallet.id)
        if wallet.balance_cents <= 0 and wallet.credits_balance <= 0:
            return None
        transaction = self._new(wallet, TopUp(), TransactionType.OUTBOUND, TransactionStatus.VOIDED, now)
        transaction.amount_cents = wallet.balance_cents
        transaction.amount = value_of_cents(wallet.balance_cents, wallet.rate_amount, wallet.currency).amount
        transaction.credit_amount = wallet.credits_balance
        self._add(session, transaction)
        ledger.settle(session, wallet.id, transaction, now)
        return transaction

    def consume(
        self,
        session: Session,
        invoice: Invoice,
        allocation: Mapping[uuid.UUID, int],
        *,
        now: datetime | None = None,
    ) -> list[WalletTransaction]:
        """Write the invoice's consumption of prepaid credits (``allocation``: cents per wallet id, from
        :func:`billow.wallets.consumption.allocate`): one outbound ``invoiced`` settled transaction per
        wallet, each under the wallet's lock; a wallet whose balance no longer covers its share is a
        :class:`billow.wallets.ledger.InsufficientBalance` (the caller's transaction rolls back)."""
        now = now or utcnow()
        written: list[WalletTransaction] = []
        for wallet_id, cents in sorted(allocation.items(), key=lambda item: str(item[0])):
            if cents <= 0:
                continue
            wallet = ledger.locked(session, wallet_id)
            if wallet.organization_id != invoice.organization_id or wallet.customer_id != invoice.customer_id:
                raise ValueError("a wallet of another customer")
            value = value_of_cents(cents, wallet.rate_amount, wallet.currency)
            credits = (
                wallet.credits_balance
                if cents == wallet.balance_cents
                else min(value.credits, wallet.credits_balance)
            )
            transaction = self._new(
                wallet, TopUp(), TransactionType.OUTBOUND, TransactionStatus.INVOICED, now
            )
            transaction.invoice_id = invoice.id
            transaction.amount = value.amount
            transaction.amount_cents = cents
            transaction.credit_amount = credits
            self._add(session, transaction)
            ledger.settle(session, wallet.id, transaction, now)
            written.append(transaction)
        return written

    def settle_purchases(self, session: Session, invoice: Invoice, *, now: datetime | None = None) -> int:
        """React to a payment status set on ``invoice``: its pending purchases settle (``succeeded``) or
        fail (``failed``). Returns how many transactions changed."""
        if invoice.payment_status not in (PaymentStatus.SUCCEEDED, PaymentStatus.FAILED):
            return 0
        now = now or utcnow()
        pending = repository.pending_purchases_of_invoice(session, invoice.organization_id, invoice.id)
        changed = 0
        for found in pending:
            ledger.locked(session, found.wallet_id)  # purchases of a wallet settle one at a time
            transaction = lock_row(session, WalletTransaction, found.id)
            if transaction.status != SettlementStatus.PENDING:  # settled meanwhile by another request
                continue
            if invoice.payment_status == PaymentStatus.SUCCEEDED:
                ledger.settle(session, transaction.wallet_id, transaction, now)
            else:
                transaction.status = SettlementStatus.FAILED
                transaction.failed_at = now
            emit(
                session,
                transaction.organization_id,
                "wallet_transaction.updated",
                "wallet_transaction",
                transaction.id,
            )
            changed += 1
        session.flush()
        return changed

    def payable_purchase(
        self, session: Session, organization: Organization, lago_id: str
    ) -> tuple[WalletTransaction, Invoice]:
        """A purchase still to pay and its ``credit`` invoice (``POST .../{id}/payment_url``), else
        Lago's 422: not a purchase, already settled, not pending, without an invoice."""
        found = repository.transaction(session, organization.id, parse_lago_id(lago_id, "wallet_transaction"))
        if found is None:
            raise NotFound("wallet_transaction")
        if found.transaction_status != TransactionStatus.PURCHASED:
            raise ValidationFailed.one("base", "wallet_transaction_not_purchased")
        if found.status == SettlementStatus.SETTLED:
            raise ValidationFailed.one("base", "wallet_transaction_already_settled")
        if found.status != SettlementStatus.PENDING:
            raise ValidationFailed.one("base", "invalid_status")
        invoice = session.get(Invoice, found.invoice_id) if found.invoice_id is not None else None
        if invoice is None or invoice.organization_id != organization.id:
            raise ValidationFailed.one("base", "wallet_transaction_has_no_attached_invoice")
        return found, invoice

    @staticmethod
    def _add(session: Session, transaction: WalletTransaction) -> None:
        """Write a new transaction and announce it (``wallet_transaction.created``)."""
        session.add(transaction)
        session.flush()
        emit(
            session,
            transaction.organization_id,
            "wallet_transaction.created",
            "wallet_transaction",
            transaction.id,
        )

    @staticmethod
    def _new(
        wallet: Wallet, top_up: TopUp, kind: TransactionType, status: TransactionStatus, now: datetime
    ) -> WalletTransaction:
        return WalletTransaction(
            id=uuid.uuid4(),
            created_at=now,
            updated_at=now,
            organization_id=wallet.organization_id,
            wallet_id=wallet.id,
            transaction_type=kind,
            transaction_status=status,
            status=SettlementStatus.PENDING,
            source=top_up.source,
            priority=top_up.priority,
            invoice_requires_successful_payment=False,  # a purchase's is set by its caller
            name=top_up.name,
            purchase_order_number=top_up.purchase_order_number or wallet.purchase_order_number,
            metadata_=[{"key": k, "value": v} for k, v in top_up.metadata],
        )

    @staticmethod
    def _value(transaction: WalletTransaction, value: CreditValue) -> None:
        transaction.amount = value.amount
        transaction.amount_cents = value.amount_cents
        transaction.credit_amount = value.credits


transaction_service = TransactionService()
