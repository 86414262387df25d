"""A wallet's balances, changed only here: under the wallet's row lock, in the transaction that settles a
wallet transaction (Lago's ``Wallets::Balance::IncreaseService`` / ``DecreaseService``).

Invariant: ``balance_cents`` (and ``credits_balance``) is the sum of the wallet's settled inbound
transactions minus its settled outbound ones, and never negative: a decrease beyond the balance raises
:class:`InsufficientBalance` and changes nothing.

``ongoing_*`` = balance minus the customer's current usage (``ongoing_usage_balance_cents``, refreshed by
:mod:`billow.billing.ongoing_balances` when usage changes and every 5 minutes); a balance change keeps the
last usage known.

Both changes announce :data:`WALLET_BALANCES_CHANGED` in the same transaction (the wallet's alerts). A
settled transaction announces the webhook ``wallet.updated`` (Lago's balance services); an ongoing balance
reaching 0 or below from above announces ``wallet.depleted_ongoing_balance`` once
(:func:`follow_depletion`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session, object_session

from billow.kit.locking import lock_row
from billow.models.wallets import SettlementStatus, TransactionType, Wallet, WalletTransaction
from billow.wallets.amounts import value_of_cents
from billow.webhooks.outbox import emit
from billow.worker.dispatch import run_hooks

#: Announced (:func:`billow.worker.dispatch.run_hooks`) with the locked ``wallet`` and ``now`` after its
#: balances or ongoing balances changed: :mod:`billow.alerts.evaluation` evaluates its alerts.
WALLET_BALANCES_CHANGED = "wallets.balances_changed"


class InsufficientBalance(Exception):
    """A decrease larger than the wallet's balance."""


def locked(session: Session, wallet_id: uuid.UUID) -> Wallet:
    return lock_row(session, Wallet, wallet_id)


def sync_ongoing(wallet: Wallet) -> None:
    """The ongoing balances after a balance change: the balance minus the last usage known."""
    wallet.ongoing_usage_balance_cents = wallet.ongoing_usage_balance_cents or 0
    wallet.credits_ongoing_usage_balance = wallet.credits_ongoing_usage_balance or Decimal(0)
    wallet.ongoing_balance_cents = wallet.balance_cents - wallet.ongoing_usage_balance_cents
    wallet.credits_ongoing_balance = wallet.credits_balance - wallet.credits_ongoing_usage_balance


def follow_depletion(session: Session, wallet: Wallet) -> None:
    """Lago's ``depleted_ongoing_balance`` after the ongoing balance changed: reaching 0 or below from
    above marks the wallet depleted and announces ``wallet.depleted_ongoing_balance`` (once: it stays
    depleted until the ongoing balance is above 0 again)."""
    if wallet.ongoing_balance_cents > 0:
        wallet.depleted_ongoing_balance = False
    elif not wallet.depleted_ongoing_balance:
        wallet.depleted_ongoing_balance = True
        emit(session, wallet.organization_id, "wallet.depleted_ongoing_balance", "wallet", wallet.id)


def set_ongoing_usage(wallet: Wallet, usage_cents: int, now: datetime) -> None:
    """The customer's current usage this wallet will pay (the wallet must be locked): its ongoing
    balances follow (:func:`sync_ongoing`). The usage in credits is ``usage / rate`` in currency units."""
    wallet.ongoing_usage_balance_cents = usage_cents
    wallet.credits_ongoing_usage_balance = value_of_cents(
        usage_cents, wallet.rate_amount, wallet.currency
    ).credits
    wallet.last_balance_sync_at = now
    sync_ongoing(wallet)
    session = object_session(wallet)
    if session is not None:
        follow_depletion(session, wallet)
        run_hooks(session, WALLET_BALANCES_CHANGED, wallet=wallet, now=now)


def settle(session: Session, wallet_id: uuid.UUID, transaction: WalletTransaction, now: datetime) -> Wallet:
    """Settle ``transaction`` (inbound: the balance grows; outbound: it shrinks) under the wallet's lock."""
    wallet = locked(session, wallet_id)
    if transaction.transaction_type == TransactionType.INBOUND:
        wallet.balance_cents += transaction.amount_cents
        wallet.credits_balance += transaction.credit_amount
    else:
        if (
            transaction.amount_cents > wallet.balance_cents
            or transaction.credit_amount > wallet.credits_balance
        ):
            raise InsufficientBalance
        wallet.balance_cents -= transaction.amount_cents
        wallet.credits_balance -= transaction.credit_amount
        if transaction.transaction_status == "invoiced":
            wallet.consumed_amount_cents += transaction.amount_cents
            wallet.consumed_credits += transaction.credit_amount
            wallet.last_consumed_credit_at = now
    wallet.last_balance_sync_at = now
    sync_ongoing(wallet)
    transaction.status = SettlementStatus.SETTLED
    transaction.settled_at = now
    emit(session, wallet.organization_id, "wallet.updated", "wallet", wallet.id)
    if transaction.transaction_status != "invoiced":
        # An invoice's consumption keeps the usage it just invoiced until the next refresh of the
        # ongoing balances (billow.billing.ongoing_balances), which decides on depletion.
        follow_depletion(session, wallet)
    session.flush()
    run_hooks(session, WALLET_BALANCES_CHANGED, wallet=wallet, now=now)
    return wallet
