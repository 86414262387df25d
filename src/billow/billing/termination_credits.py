"""The credit of a terminated subscription's unused days: pending work of the billing run (decision 0005).

When a subscription whose plan fee is paid in advance is terminated, reaches its ``ending_at`` or is
upgraded, the subscriptions layer only records what is owed on its row (``unused_days_credit``: the credit
note's reason, ``unused_days_credit_at``: its issuing instant). The billing run credits it
(:meth:`billow.credit_notes.service.CreditNoteService.credit_unused_days`) under the subscription's row
lock and clears the record in the same transaction:

- :func:`credit_owed`, in the transaction of the subscription's next invoice (its
  ``subscription_terminating`` one, or an older period still due), before that invoice's fees are written
  and before it takes its credit: the credit is computed on the fees paid when the subscription ended,
  and an upgrade's invoice (the old subscription's final period and the new one's first) consumes it;
- :func:`credit_remaining`, the run's pass after its invoices over the subscriptions still owed a credit
  (``on_termination_invoice`` ``skip``, an invoice that failed), each in its own transaction; the billing
  scan lists them with the subscriptions owing invoices (:func:`and_owed`).

Once whatever the retries and concurrent runs: the record is read and cleared under the row lock, and
credit notes are unique per (subscription, reason). No request writes a credit note any more.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable
from typing import Protocol, TypeVar

from sqlalchemy import inspect, select
from sqlalchemy.exc import NoResultFound
from sqlalchemy.orm import Session

from billow.credit_notes.service import credit_note_service
from billow.kit.locking import lock_row
from billow.models.credit_notes import CreditNoteReason
from billow.models.subscriptions import Subscription

log = logging.getLogger(__name__)

#: Subscriptions per ``IN (...)`` list.
_CHUNK = 1000


class Failures(Protocol):
    """Where a pass records what failed (:class:`billow.billing.run.BillingSummary`)."""

    failed: list[str]
    unrecorded: list[str]


Summary = TypeVar("Summary", bound=Failures)

#: What a subscription owes, which the run's lock statement does not load.
_OWED = ("unused_days_credit", "unused_days_credit_at", "on_termination_credit_note")


def credit_owed(session: Session, members: Iterable[tuple[Subscription, object]]) -> bool:
    """Credit the unused days owed by the subscriptions of an invoice's ``members`` (``(subscription,
    period)``, locked by the caller's transaction) and clear what they owe; whether a credit note was
    written (the run's hints about credit notes then predate it). Only a terminated subscription owes
    one: the others cost nothing."""
    written = False
    for subscription, _ in members:
        if subscription.terminated_at is None:
            continue
        if inspect(subscription).unloaded & set(_OWED):  # the run's lock loads a few columns only
            session.refresh(subscription, list(_OWED))
        if subscription.unused_days_credit is not None:
            written = _credit(session, subscription) or written
    return written


def _credit(session: Session, subscription: Subscription) -> bool:
    reason = subscription.unused_days_credit
    issued_at = subscription.unused_days_credit_at or subscription.terminated_at
    note = None
    if issued_at is not None:
        note = credit_note_service.credit_unused_days(
            session, subscription, upgrade=reason == CreditNoteReason.ORDER_CHANGE, now=issued_at
        )
    subscription.unused_days_credit = None
    subscription.unused_days_credit_at = None
    session.flush()
    return note is not None


def owed(
    session: Session,
    *,
    organization_id: uuid.UUID | None = None,
    customer_ids: Iterable[uuid.UUID] | None = None,
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """``(subscription_id, customer_id)`` of the subscriptions still owed a credit of unused days (of one
    organization, or of ``customer_ids``)."""
    query = select(Subscription.id, Subscription.customer_id).where(
        Subscription.unused_days_credit.is_not(None)
    )
    if organization_id is not None:
        query = query.where(Subscription.organization_id == organization_id)
    if customer_ids is None:
        return [(row[0], row[1]) for row in session.execute(query.order_by(Subscription.id))]
    customers = list(dict.fromkeys(customer_ids))
    found: list[tuple[uuid.UUID, uuid.UUID]] = []
    for start in range(0, len(customers), _CHUNK):
        chunk = customers[start : start + _CHUNK]
        rows = session.execute(query.where(Subscription.customer_id.in_(chunk)).order_by(Subscription.id))
        found += [(row[0], row[1]) for row in rows]
    return found


def and_owed(
    session_factory: Callable[[], Session], due: list[tuple[uuid.UUID, uuid.UUID]]
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    """``due`` (``(subscription_id, customer_id)`` with invoices due) and the subscriptions owed a credit,
    once each: what the billing scan hands out (:func:`billow.billing.tasks.find_due_subscriptions`)."""
    with session_factory() as session:
        return list(dict.fromkeys([*due, *owed(session)]))


def credit_remaining(
    session_factory: Callable[[], Session],
    summary: Summary,
    *,
    organization_id: uuid.UUID | None = None,
    customer_ids: Iterable[uuid.UUID] | None = None,
) -> Summary:
    """The run's pass, after its invoices, over the subscriptions still owed a credit (:func:`owed`: a
    final invoice skipped, or failed), each in its own transaction under its row lock; a failure is
    logged, added to ``summary`` and left to the next run. Returns ``summary``."""
    with session_factory() as session:
        found = owed(session, organization_id=organization_id, customer_ids=customer_ids)
    for subscription_id, _ in found:
        session = session_factory()
        try:
            with session.begin():
                subscription = _lock(session, subscription_id)
                if subscription is not None and subscription.unused_days_credit is not None:
                    _credit(session, subscription)
        except Exception as error:  # one subscription's credit; the others go on
            log.exception("crediting the unused days of subscription %s failed", subscription_id)
            message = f"unused days of {subscription_id}: {error!r}"
            summary.failed.append(message)
            summary.unrecorded.append(message)
        finally:
            session.close()
    return summary


def _lock(session: Session, subscription_id: uuid.UUID) -> Subscription | None:
    """The subscription, its row locked for the transaction; ``None`` when it is gone."""
    try:
        return lock_row(session, Subscription, subscription_id)
    except NoResultFound:
        return None
