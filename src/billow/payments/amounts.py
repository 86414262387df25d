"""The money of payments, as pure functions over integer minor units.

* :func:`apply_payment`: what an invoice's ``total_paid_amount_cents``, ``total_due_amount_cents`` and
  ``payment_status`` become when a succeeded payment of ``amount_cents`` is added. What is due is Lago's
  ``total_amount_cents - total_paid_amount_cents - offset`` (the credit notes' offsets, as
  ``GET /invoices`` shows it). A payment larger than what is due is refused (Lago's ``invalid_amount``);
  Lago has no ``partially_paid`` status: a partly paid invoice stays ``pending`` (its list filter
  ``partially_paid`` reads the amounts) and becomes ``succeeded`` when nothing is due any more.
* :func:`spread`: a payment request's payment split over its invoices, the oldest first, each getting at
  most what it still owes.

Whole cents in, whole cents out: no rounding happens anywhere (a payment is never divided by a ratio).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

SUCCEEDED = "succeeded"
PENDING = "pending"


class Overpayment(ValueError):
    """The payment is larger than what the invoice (or the payment request) still owes."""

    def __init__(self, amount_cents: int, due_cents: int) -> None:
        super().__init__(f"{amount_cents} cents paid, {due_cents} cents due")
        self.amount_cents = amount_cents
        self.due_cents = due_cents


@dataclass(frozen=True)
class InvoicePayments:
    """What is paid and due on an invoice, and its resulting payment status."""

    total_paid_amount_cents: int
    total_due_amount_cents: int
    payment_status: str


def due_cents(total_amount_cents: int, total_paid_amount_cents: int, offset_cents: int = 0) -> int:
    """What the invoice still owes (never below 0)."""
    return max(0, total_amount_cents - total_paid_amount_cents - offset_cents)


def apply_payment(
    *,
    total_amount_cents: int,
    total_paid_amount_cents: int,
    amount_cents: int,
    offset_cents: int = 0,
    payment_status: str = PENDING,
) -> InvoicePayments:
    """The invoice once ``amount_cents`` (> 0) more is paid. Raises :class:`Overpayment` when that is more
    than what is due. ``payment_status`` is the invoice's current one: it becomes ``succeeded`` when
    nothing is due any more, otherwise it is kept (a partial payment leaves ``pending`` or ``failed``
    as it was, and an invoice marked ``succeeded`` by ``PUT /invoices/{id}`` stays so)."""
    if amount_cents <= 0:
        raise ValueError("a payment is positive")
    due = due_cents(total_amount_cents, total_paid_amount_cents, offset_cents)
    if amount_cents > due:
        raise Overpayment(amount_cents, due)
    paid = total_paid_amount_cents + amount_cents
    left = due - amount_cents
    return InvoicePayments(
        total_paid_amount_cents=paid,
        total_due_amount_cents=left,
        payment_status=SUCCEEDED if left == 0 else payment_status,
    )


@dataclass(frozen=True)
class Owed:
    """An invoice of a payment request and what it still owes (``due_cents``), in the request's order."""

    invoice_id: uuid.UUID
    due_cents: int


def spread(amount_cents: int, invoices: Sequence[Owed]) -> list[tuple[uuid.UUID, int]]:
    """``amount_cents`` split over ``invoices`` (already ordered oldest first): each takes what it owes
    until the amount runs out. Invoices that get nothing are left out. Raises :class:`Overpayment` when
    the amount is more than all of them owe."""
    owed = sum(max(0, item.due_cents) for item in invoices)
    if amount_cents > owed:
        raise Overpayment(amount_cents, owed)
    shares: list[tuple[uuid.UUID, int]] = []
    left = amount_cents
    for item in invoices:
        if left <= 0:
            break
        share = min(left, max(0, item.due_cents))
        if share > 0:
            shares.append((item.invoice_id, share))
            left -= share
    return shares
