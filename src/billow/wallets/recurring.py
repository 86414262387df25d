"""Executing recurring transaction rules (Lago's ``ThresholdTopUpService``,
``CreateIntervalWalletTransactionsService`` and ``RecurringTransactionRule#compute_*``).

* ``threshold`` rules: after the wallet's balance went down (a void, an invoice's consumption), when its
  ongoing credits, pending purchases included, are at most ``threshold_credits``, a top-up of source
  ``threshold`` is written in the same transaction.
* ``interval`` rules: the scan ``wallets.interval_top_ups`` tops up, once a day at most, on the rule's
  anniversary (``started_at``, else the wallet's creation, in the customer's time zone): same weekday
  (weekly), same day of the month (monthly; the month's last day when it is shorter), every 3, 6 or 12
  months (quarterly, semiannual, yearly); never on the wallet's first day.

Amounts (pure, :func:`paid_credits_of` and :func:`granted_credits_of`):

* ``fixed``: the rule's ``paid_credits`` and ``granted_credits``. A threshold rule whose balance fell far
  below the threshold buys as many ``paid_credits`` as needed to pass it: with
  ``gap = threshold - ongoing - granted - pending``, ``paid x (floor(gap / paid) + 1)`` when
  ``gap >= paid``, capped at the wallet's paid top-up maximum unless the rule ignores the limits.
* ``target``: the gap to ``target_ongoing_balance`` (0 when reached), paid (raised to the wallet's paid
  top-up minimum unless the rule ignores the limits) or granted (``grants_target_top_up``).

Not done (Lago has them): the back-off after a declined payment and the burst warning.
"""

from __future__ import annotations

import calendar
import logging
import uuid
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.errors import Errors
from billow.kit.time import local_date
from billow.models.customers import Customer
from billow.models.organizations import Organization
from billow.models.wallets import (
    RecurringTransactionRule,
    SettlementStatus,
    TransactionSource,
    Wallet,
    WalletStatus,
    WalletTransaction,
)
from billow.wallets import ledger
from billow.wallets.amounts import credit_value, value_of_cents
from billow.wallets.transactions import TopUp, check_paid_limits, transaction_service

log = logging.getLogger(__name__)

ZERO = Decimal(0)
_MONTHS = {"monthly": 1, "quarterly": 3, "semiannual": 6, "yearly": 12}


# ------------------------------------------------------------------------------------------ pure rules


def _limit_credits(cents: int | None, wallet: Wallet) -> Decimal | None:
    return None if cents is None else value_of_cents(cents, wallet.rate_amount, wallet.currency).credits


def paid_credits_of(
    rule: RecurringTransactionRule, wallet: Wallet, *, ongoing: Decimal, pending: Decimal
) -> Decimal:
    if rule.method == "target":
        if rule.grants_target_top_up:
            return ZERO
        gap = _target_gap(rule, ongoing)
        low = (
            None
            if rule.ignore_paid_top_up_limits
            else _limit_credits(wallet.paid_top_up_min_amount_cents, wallet)
        )
        return max(gap, low) if low is not None and gap > 0 else gap
    paid = rule.paid_credits
    if rule.trigger != "threshold" or paid == 0:
        return paid
    gap = rule.threshold_credits - ongoing - rule.granted_credits - pending
    if gap < paid:
        return paid
    wanted = paid * ((gap / paid).to_integral_value(rounding=ROUND_FLOOR) + 1)
    high = (
        None
        if rule.ignore_paid_top_up_limits
        else _limit_credits(wallet.paid_top_up_max_amount_cents, wallet)
    )
    return min(wanted, high) if high is not None else wanted


def granted_credits_of(rule: RecurringTransactionRule, *, ongoing: Decimal) -> Decimal:
    if rule.method == "target":
        return _target_gap(rule, ongoing) if rule.grants_target_top_up else ZERO
    return rule.granted_credits


def _target_gap(rule: RecurringTransactionRule, ongoing: Decimal) -> Decimal:
    target = rule.target_ongoing_balance or ZERO
    return target - ongoing if ongoing < target else ZERO


def anniversary(interval: str, anchor: date, today: date) -> bool:
    """Whether ``today`` is an anniversary of ``anchor`` for ``interval`` (never ``anchor`` itself)."""
    if today <= anchor:
        return False
    if interval == "weekly":
        return today.isoweekday() == anchor.isoweekday()
    months = _MONTHS.get(interval)
    if months is None:
        return False
    elapsed = (today.year - anchor.year) * 12 + today.month - anchor.month
    if elapsed % months != 0:
        return False
    last_day = calendar.monthrange(today.year, today.month)[1]
    return today.day == min(anchor.day, last_day)


def currently_active(rule: RecurringTransactionRule, now: datetime) -> bool:
    return rule.status == WalletStatus.ACTIVE and (rule.expiration_at is None or rule.expiration_at > now)


# ------------------------------------------------------------------------------------------ top-ups


def _active_rule(
    session: Session, wallet: Wallet, trigger: str, now: datetime
) -> RecurringTransactionRule | None:
    rules = session.scalars(
        select(RecurringTransactionRule)
        .where(
            RecurringTransactionRule.wallet_id == wallet.id,
            RecurringTransactionRule.trigger == trigger,
            RecurringTransactionRule.status == WalletStatus.ACTIVE,
        )
        .order_by(RecurringTransactionRule.created_at)
    ).all()
    return next((r for r in rules if currently_active(r, now)), None)


def _pending_credits(session: Session, wallet: Wallet) -> Decimal:
    pending = session.scalars(
        select(WalletTransaction.credit_amount).where(
            WalletTransaction.wallet_id == wallet.id, WalletTransaction.status == SettlementStatus.PENDING
        )
    ).all()
    return sum(pending, ZERO)


def _top_up(
    session: Session, wallet: Wallet, rule: RecurringTransactionRule, source: str, now: datetime
) -> list[WalletTransaction]:
    ongoing = wallet.credits_ongoing_balance
    pending = _pending_credits(session, wallet)
    paid = paid_credits_of(rule, wallet, ongoing=ongoing, pending=pending)
    granted = granted_credits_of(rule, ongoing=ongoing)
    if paid <= 0 and granted <= 0:
        return []
    organization = session.get(Organization, wallet.organization_id)
    customer = session.get(Customer, wallet.customer_id)
    assert organization is not None and customer is not None
    top_up = TopUp(
        paid=paid if paid > 0 else None,
        granted=granted if granted > 0 else None,
        name=rule.transaction_name,
        metadata=tuple((m["key"], m["value"]) for m in rule.transaction_metadata or []),
        invoice_requires_successful_payment=rule.invoice_requires_successful_payment,
        ignore_paid_top_up_limits=rule.method == "target" or rule.ignore_paid_top_up_limits,
        purchase_order_number=rule.purchase_order_number,
        source=source,
    )
    errors = Errors()
    fields = {"paid_credits": _text(top_up.paid), "granted_credits": _text(top_up.granted)}
    credits = transaction_service.validate_credits(wallet, fields, errors)
    if top_up.paid is not None and "paid_credits" in credits:
        value = credit_value(top_up.paid, wallet.rate_amount, wallet.currency)
        check_paid_limits(wallet, value, errors, ignore=top_up.ignore_paid_top_up_limits)
    if errors:  # an amount worth nothing, out of the limits: Lago's job fails the same way, nothing written
        log.warning("recurring top-up of wallet %s refused: %s", wallet.id, errors.details)
        return []
    return transaction_service.apply(session, organization, customer, wallet, top_up, now=now)


def _text(credits: Decimal | None) -> str | None:
    return None if credits is None else format(credits, "f")


def threshold_top_up(session: Session, wallet: Wallet, now: datetime) -> list[WalletTransaction]:
    """Top up ``wallet`` (locked by the caller) when its threshold rule says so."""
    if wallet.status != WalletStatus.ACTIVE:
        return []
    rule = _active_rule(session, wallet, "threshold", now)
    if rule is None or wallet.credits_ongoing_balance > rule.threshold_credits:
        return []
    if wallet.credits_ongoing_balance + _pending_credits(session, wallet) > rule.threshold_credits:
        return []
    return _top_up(session, wallet, rule, TransactionSource.THRESHOLD, now)


def due_interval_rules(session: Session, now: datetime) -> list[uuid.UUID]:
    """The interval rules whose top-up is due today (each checked again under its wallet's lock)."""
    rows = session.execute(
        select(RecurringTransactionRule, Wallet)
        .join(Wallet, Wallet.id == RecurringTransactionRule.wallet_id)
        .where(
            RecurringTransactionRule.trigger == "interval",
            RecurringTransactionRule.status == WalletStatus.ACTIVE,
            Wallet.status == WalletStatus.ACTIVE,
        )
        .order_by(RecurringTransactionRule.created_at, RecurringTransactionRule.id)
    ).all()
    return [rule.id for rule, wallet in rows if _due(session, rule, wallet, now)]


def _due(session: Session, rule: RecurringTransactionRule, wallet: Wallet, now: datetime) -> bool:
    if not currently_active(rule, now) or (rule.started_at is not None and rule.started_at > now):
        return False
    organization = session.get(Organization, wallet.organization_id)
    customer = session.get(Customer, wallet.customer_id)
    if organization is None or customer is None:
        return False
    zone = customer.applicable_timezone(organization)
    today = local_date(now, zone)
    if local_date(wallet.created_at, zone) == today:
        return False
    if not anniversary(rule.interval or "", local_date(rule.started_at or wallet.created_at, zone), today):
        return False
    recent = session.scalars(
        select(WalletTransaction.created_at).where(
            WalletTransaction.wallet_id == wallet.id,
            WalletTransaction.source == TransactionSource.INTERVAL,
            WalletTransaction.created_at >= now - timedelta(days=2),
        )
    ).all()
    return all(local_date(created, zone) != today for created in recent)


def interval_top_up(session: Session, rule_id: uuid.UUID, now: datetime) -> list[WalletTransaction]:
    rule = session.get(RecurringTransactionRule, rule_id)
    if rule is None:
        return []
    wallet = ledger.locked(session, rule.wallet_id)
    session.refresh(rule)
    if (
        wallet.status != WalletStatus.ACTIVE
        or rule.trigger != "interval"
        or not _due(session, rule, wallet, now)
    ):
        return []
    return _top_up(session, wallet, rule, TransactionSource.INTERVAL, now)
