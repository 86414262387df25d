"""The progressive-billing credits of a subscription invoice (reference §6 "Progressive billing"): at period
end, the subscription invoice deducts what the period's progressive-billing invoices
(:mod:`billow.billing.progressive`) already billed. :func:`apply_period_credits` gives each charge fee of
the invoice a credit of at most its amount (the progressive fees of the same charge, filter and group,
:func:`fee_key`); the invoice's ``progressive_billing_credit_amount_cents`` is their sum and taxes apply
to what remains (:func:`billow.billing.totals.invoice_amounts`). A progressive amount above the period's
final fee (usage that went down) is not refunded (Lago issues a credit note; not done).
"""

from __future__ import annotations

import json
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from billow.billing.context import FeeDraft, InvoiceContext
from billow.billing.repository import billing_repository
from billow.billing.run_context import known_absent
from billow.models.invoices import FeeType

FeeKey = tuple[uuid.UUID | None, uuid.UUID | None, str]


def fee_key(charge_id: uuid.UUID | None, charge_filter_id: uuid.UUID | None, grouped_by: Any) -> FeeKey:
    """A charge fee's identity within a period: charge, filter and group."""
    return charge_id, charge_filter_id, json.dumps(dict(grouped_by or {}), sort_keys=True)


def progressive_billed(
    session: Session, subscription_id: uuid.UUID, charges_from: datetime
) -> dict[FeeKey, int]:
    """What the progressive invoices of the charges period starting at ``charges_from`` billed, per fee."""
    rows = billing_repository.progressive_fees(session, subscription_id, charges_from)
    billed: dict[FeeKey, int] = defaultdict(int)
    for charge_id, filter_id, grouped_by, amount in rows:
        billed[fee_key(charge_id, filter_id, grouped_by)] += amount
    return dict(billed)


def apply_period_credits(ctx: InvoiceContext, drafts: Sequence[FeeDraft]) -> None:
    """Give each charge fee of a subscription invoice (its charges window's ``drafts``) its share of the
    period's progressive billing (at most its amount): :attr:`FeeDraft.progressive_credit_cents`."""
    subscription_id, charges_from = ctx.subscription.id, ctx.due.charges_from
    if charges_from is None or known_absent(ctx.run, "progressive_billing", subscription_id):
        return
    billed = progressive_billed(ctx.session, subscription_id, charges_from)
    if not billed:
        return
    for draft in drafts:
        fee = draft.fee
        if fee.fee_type != FeeType.CHARGE or fee.pay_in_advance:
            continue
        key = fee_key(fee.charge_id, fee.charge_filter_id, fee.grouped_by)
        credit = min(billed.get(key, 0), fee.amount_cents)
        if credit > 0:
            draft.progressive_credit_cents = credit
            billed[key] -= credit
