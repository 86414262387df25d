"""What follows a subscription's change once its transaction commits: the invoices it makes due.

A subscription that starts (pay-in-advance plan fee), ends, or changes plan makes invoices due at once
(and, on a pay-in-advance plan, a credit of its unused days: ``Subscription.unused_days_credit``).
The subscriptions layer names that work (:data:`BILL_SUBSCRIPTIONS`) and queues it with
:func:`billow.worker.dispatch.after_commit`; the billing layer, above, registers the task
(:mod:`billow.billing.immediate`) and bills. The billing scan remains the safety net.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from billow.worker.dispatch import after_commit, ids_payload

#: The task that bills the invoices due at an instant of some subscriptions, together.
BILL_SUBSCRIPTIONS = "billing.bill_subscriptions"


def bill_after_commit(session: Session, subscription_ids: Sequence[uuid.UUID], as_of: datetime) -> None:
    """Bill the invoices of ``subscription_ids`` due at ``as_of`` once the transaction commits, in one
    billing call (so an upgrade's two subscriptions are billed together)."""
    if subscription_ids:
        ids = [str(sid) for sid in dict.fromkeys(subscription_ids)]
        after_commit(session, BILL_SUBSCRIPTIONS, ids_payload(as_of.isoformat(), ids))
