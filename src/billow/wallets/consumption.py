"""How much of an invoice each of the customer's wallets pays (Lago's prepaid-credit allocation,
reference §5.4 step 7). Pure: no database, no clock. Not wired into billing yet: the billing run calls
:func:`allocate` when finalizing, then :meth:`billow.wallets.transactions.TransactionService.consume`.

1. The invoice's fees are grouped by ``(fee_type, billable_metric_code)``; each group's amount is the sum
   of its fees' amounts (after coupons, taxes included, in minor units; fees of 0 or less are left out).
   Groups are taken largest first (ties: first seen). When the amount owed exceeds the groups' sum by at
   most one minor unit per group (rounding), the difference goes to the largest group.
2. Wallets apply in Lago's order: ``priority`` (1 first), then the oldest; only those in the invoice's
   currency with a positive balance.
3. A wallet pays a group when it is unrestricted (no ``fee_types``, no ``billable_metric_codes``), when
   the group's fee type is one of its ``fee_types``, or when the group is a ``charge`` of one of its
   ``billable_metric_codes``; it pays ``min(group left, balance left, invoice left)`` of each such group
   in turn.

The result never exceeds a wallet's balance nor what the invoice still owes.
"""

from __future__ import annotations

import uuid
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class FeeShare:
    key: Hashable
    fee_type: str
    billable_metric_code: str | None
    #: After coupons, taxes included, in minor units.
    amount_cents: int


@dataclass(frozen=True)
class WalletShare:
    id: uuid.UUID
    priority: int
    created_at: datetime
    balance_cents: int
    currency: str
    fee_types: Sequence[str] = field(default_factory=tuple)
    billable_metric_codes: Sequence[str] = field(default_factory=tuple)


GroupKey = tuple[str, str | None]


def fee_groups(fees: Sequence[FeeShare], owed_cents: int) -> list[tuple[GroupKey, int]]:
    """Step 1: the groups and their amounts, largest first, the rounding difference reconciled."""
    sums: dict[GroupKey, int] = {}
    for fee in fees:
        if fee.amount_cents <= 0:
            continue
        metric = fee.billable_metric_code if fee.fee_type == "charge" else None
        key = (fee.fee_type, metric)
        sums[key] = sums.get(key, 0) + fee.amount_cents
    ordered = sorted(sums.items(), key=lambda item: -item[1])  # stable: ties keep the first seen
    if ordered:
        difference = owed_cents - sum(amount for _, amount in ordered)
        if 0 < difference <= len(ordered):
            key, amount = ordered[0]
            ordered[0] = (key, amount + difference)
    return ordered


def applies(wallet: WalletShare, key: GroupKey) -> bool:
    fee_type, metric = key
    if not wallet.fee_types and not wallet.billable_metric_codes:
        return True
    if fee_type in wallet.fee_types:
        return True
    return fee_type == "charge" and metric is not None and metric in wallet.billable_metric_codes


def allocate(
    fees: Sequence[FeeShare], wallets: Sequence[WalletShare], *, owed_cents: int, currency: str
) -> dict[uuid.UUID, int]:
    """Cents each wallet pays, in application order (wallets paying nothing are left out)."""
    groups = fee_groups(fees, owed_cents)
    left = {key: amount for key, amount in groups}
    invoice_left = owed_cents
    ordered = sorted(
        (w for w in wallets if w.currency == currency and w.balance_cents > 0),
        key=lambda w: (w.priority, w.created_at, str(w.id)),
    )
    paid: dict[uuid.UUID, int] = {}
    for wallet in ordered:
        used = 0
        for key, _ in groups:
            if invoice_left <= 0:
                break
            if left[key] <= 0 or not applies(wallet, key):
                continue
            amount = min(left[key], wallet.balance_cents - used, invoice_left)
            if amount <= 0:
                continue
            left[key] -= amount
            invoice_left -= amount
            used += amount
        if used > 0:
            paid[wallet.id] = used
    return paid
