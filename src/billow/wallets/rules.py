"""Recurring transaction rules of a wallet (Lago's ``RecurringTransactionRules`` validate, create and
update services): stored and shown. Their execution (the interval scan, the threshold top-up) is not
written yet.

A wallet has at most one rule (422 ``invalid_number_of_recurring_rules``); an invalid rule is 422
``invalid_recurring_rule`` on ``recurring_transaction_rules``. A rule is valid when its trigger is
``interval`` with a known interval, or ``threshold`` with a decimal ``threshold_credits``; a ``target``
rule has a decimal ``target_ongoing_balance`` (at least the threshold for a threshold rule); its credits,
when sent, are decimals; its transaction metadata valid; its ``expiration_at`` a future instant.

On update the list sent replaces the wallet's active rules: a rule whose ``lago_id`` is known is updated,
the others are created, the active rules left out are terminated.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from billow.errors import Errors
from billow.kit.time import parse_instant_or_none
from billow.models.wallets import RecurringTransactionRule, Wallet, WalletStatus
from billow.wallets.schemas import RecurringRuleInput
from billow.wallets.transactions import metadata_pairs, parse_credits, validate_transaction_metadata

INTERVALS = ("weekly", "monthly", "quarterly", "semiannual", "yearly")
TRIGGERS = ("interval", "threshold")
METHODS = ("fixed", "target")


def _instant(text: str | None) -> datetime | None:
    try:
        return parse_instant_or_none(text)
    except OverflowError:
        return None


def valid_rule(rule: RecurringRuleInput, now: datetime) -> bool:
    method = rule.method or "fixed"
    if method not in METHODS:
        return False
    if rule.trigger == "interval":
        if rule.interval not in INTERVALS:
            return False
    elif rule.trigger == "threshold":
        if parse_credits(rule.threshold_credits) is None:
            return False
    else:
        return False
    if method == "target":
        target = parse_credits(rule.target_ongoing_balance)
        if target is None:
            return False
        threshold = parse_credits(rule.threshold_credits)
        if rule.trigger == "threshold" and threshold is not None and target < threshold:
            return False
    for credits in (rule.paid_credits, rule.granted_credits):
        if credits is not None and parse_credits(credits) is None:
            return False
    metadata_errors = Errors()
    validate_transaction_metadata(rule.transaction_metadata, metadata_errors, max_keys=5)
    if metadata_errors:
        return False
    for text in (rule.started_at, rule.expiration_at):
        if text is not None and _instant(text) is None:
            return False
    expiration = _instant(rule.expiration_at)
    return expiration is None or expiration > now


def validate_rules(rules: list[RecurringRuleInput] | None, errors: Errors, now: datetime) -> None:
    if not rules:
        return
    if len(rules) > 1:
        errors.add("recurring_transaction_rules", "invalid_number_of_recurring_rules")
    elif not valid_rule(rules[0], now):
        errors.add("recurring_transaction_rules", "invalid_recurring_rule")


def _apply(
    rule: RecurringTransactionRule,
    data: RecurringRuleInput,
    *,
    wallet: Wallet,
    fallback_paid: Decimal | None,
    fallback_granted: Decimal | None,
) -> None:
    method = data.method or rule.method or "fixed"
    paid = parse_credits(data.paid_credits)
    granted = parse_credits(data.granted_credits)
    if method == "fixed" and paid is None and granted is None:
        paid, granted = fallback_paid, fallback_granted
    rule.trigger = data.trigger or rule.trigger
    rule.method = method
    rule.interval = data.interval if data.trigger == "interval" else None
    rule.threshold_credits = parse_credits(data.threshold_credits) or Decimal(0)
    rule.paid_credits = paid or Decimal(0)
    rule.granted_credits = granted or Decimal(0)
    rule.target_ongoing_balance = parse_credits(data.target_ongoing_balance)
    rule.grants_target_top_up = bool(data.grants_target_top_up) if method == "target" else None
    rule.started_at = _instant(data.started_at)
    rule.expiration_at = _instant(data.expiration_at)
    if data.invoice_requires_successful_payment is not None:
        rule.invoice_requires_successful_payment = data.invoice_requires_successful_payment
    elif rule.invoice_requires_successful_payment is None:
        rule.invoice_requires_successful_payment = wallet.invoice_requires_successful_payment
    if data.ignore_paid_top_up_limits is not None:
        rule.ignore_paid_top_up_limits = data.ignore_paid_top_up_limits
    rule.transaction_name = data.transaction_name or None
    rule.purchase_order_number = data.purchase_order_number
    rule.transaction_metadata = metadata_pairs(data.transaction_metadata)


def create_rules(
    session: Session,
    wallet: Wallet,
    rules: list[RecurringRuleInput],
    *,
    paid: Decimal | None,
    granted: Decimal | None,
) -> None:
    for data in rules:
        rule = RecurringTransactionRule(
            organization_id=wallet.organization_id,
            wallet_id=wallet.id,
            status=WalletStatus.ACTIVE,
            ignore_paid_top_up_limits=False,
            invoice_requires_successful_payment=None,
        )
        _apply(rule, data, wallet=wallet, fallback_paid=paid, fallback_granted=granted)
        session.add(rule)
    session.flush()


def replace_rules(
    session: Session,
    wallet: Wallet,
    existing: list[RecurringTransactionRule],
    rules: list[RecurringRuleInput],
    now: datetime,
) -> None:
    active = {str(r.id): r for r in existing if r.status == WalletStatus.ACTIVE}
    for data in rules:
        rule = active.pop(data.lago_id, None) if data.lago_id else None
        if rule is None:
            create_rules(session, wallet, [data], paid=None, granted=None)
        else:
            _apply(
                rule,
                data,
                wallet=wallet,
                fallback_paid=rule.paid_credits,
                fallback_granted=rule.granted_credits,
            )
    terminate_rules(list(active.values()), now)
    session.flush()


def terminate_rules(rules: list[RecurringTransactionRule], now: datetime) -> None:
    for rule in rules:
        if rule.status == WalletStatus.ACTIVE:
            rule.status = WalletStatus.TERMINATED
            rule.terminated_at = now
