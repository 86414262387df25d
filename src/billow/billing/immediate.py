"""Billing that follows an API call right after its commit (:mod:`billow.worker.dispatch`), as Lago's
jobs enqueued by its services; the periodic scans (:mod:`billow.billing.tasks`) stay the safety net.

- :data:`BILL_SUBSCRIPTIONS`: the invoices due at an instant of some subscriptions, billed together in
  one :func:`billow.billing.run.bill_subscriptions` call (an upgrade's old and new subscriptions: its
  ``subscription_terminating`` and ``subscription_starting`` invoices). Queued by
  :func:`billow.subscriptions.follow_up.bill_after_commit` when a subscription on a pay-in-advance plan
  starts now (creation, upgrade, pending subscription activated), when one is terminated (``DELETE``,
  upgrade, ``ending_at`` reached) unless its ``on_termination_invoice`` is ``skip`` and it owes no
  credit of unused days (:mod:`billow.billing.termination_credits`).
- :data:`EVALUATE_ALERTS`: the subscription alerts of the events' subscriptions
  (:mod:`billow.billing.usage_alerts`), collected for ``BILLOW_ALERTS_WINDOW`` seconds (10 by default;
  :class:`Coalescer`) then evaluated by one task.
- :data:`PAY_IN_ADVANCE` / :data:`PROGRESSIVE`: after an event ingestion commits, the fees (and invoices)
  of the pay-in-advance charges of the events' subscriptions, and the progressive-billing invoice of
  those whose plan has usage thresholds: one task per request (a batch is one task), queued by
  :func:`after_ingestion` only when the in-memory :class:`IngestionHints` say the events may need it.

**Ingestion hints.** Per organization and server process: the codes of its pay-in-advance charges and the
external ids of its live subscriptions whose plan has usage thresholds and of its active subscriptions
whose customer has an active wallet (:data:`REFRESH_WALLETS`), and the external ids watched by live
subscription alerts evaluated on usage (:data:`EVALUATE_ALERTS`), loaded with one query each and
kept :data:`HINTS_TTL`; a commit that changed a plan, charge, threshold, metric or subscription of the
organization in this process, or created a wallet or an alert, drops them at once (a deleted alert stays
in them until the TTL: its evaluation then finds nothing to do). Another process's change is seen within
the TTL; nothing depends on it being exact: the scans bill what no task did.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import and_, event, exists, select
from sqlalchemy.orm import Session

from billow.config import current_settings
from billow.models.alerts import USAGE_EVALUATED_TYPES, Alert
from billow.models.billable_metrics import BillableMetric
from billow.models.plans import Charge, Plan, UsageThreshold
from billow.models.subscriptions import Subscription, SubscriptionStatus
from billow.models.wallets import Wallet, WalletStatus
from billow.subscriptions.follow_up import BILL_SUBSCRIPTIONS
from billow.worker.dispatch import Dispatcher, ids_payload, split_ids_payload, task
from billow.worker.scans import SessionFactory

log = logging.getLogger(__name__)


PAY_IN_ADVANCE = "billing.pay_in_advance"
PROGRESSIVE = "billing.progressive"
#: :mod:`billow.billing.ongoing_balances`'s task (the wallets' ongoing balances after an ingestion).
REFRESH_WALLETS = "wallets.refresh_ongoing"
#: :mod:`billow.billing.usage_alerts`'s task (the subscription alerts after an ingestion).
EVALUATE_ALERTS = "alerts.evaluate_usage"

#: How long a process trusts its ingestion hints of an organization.
HINTS_TTL = timedelta(seconds=15)


class TaskFailed(RuntimeError):
    """Some of a task's work failed (logged; the scans retry it)."""


# ------------------------------------------------------------------------------------------ payloads


# ------------------------------------------------------------------------------------------ subscriptions


@task(BILL_SUBSCRIPTIONS)
def bill_subscriptions_task(session_factory: SessionFactory, payload: str, now: datetime) -> int:
    from billow.billing.run import bill_subscriptions

    instant, ids = split_ids_payload(payload)
    summary = bill_subscriptions(
        session_factory, [uuid.UUID(i) for i in ids], datetime.fromisoformat(instant)
    )
    if summary.unrecorded:  # recorded failures are retried by the scans
        raise TaskFailed("; ".join(summary.unrecorded))
    return summary.invoices_created


# ------------------------------------------------------------------------------------------ events


@task(PAY_IN_ADVANCE)
def pay_in_advance_task(session_factory: SessionFactory, payload: str, now: datetime) -> int:
    from billow.billing.pay_in_advance import create_pay_in_advance_fees

    return _run_for_subscriptions(create_pay_in_advance_fees, session_factory, payload, now).fees_created


@task(PROGRESSIVE)
def progressive_task(session_factory: SessionFactory, payload: str, now: datetime) -> int:
    from billow.billing.progressive import bill_thresholds

    return _run_for_subscriptions(bill_thresholds, session_factory, payload, now).invoices_created


def _run_for_subscriptions(pass_: Any, session_factory: SessionFactory, payload: str, now: datetime) -> Any:
    """Run a billing pass (pay-in-advance fees, progressive billing) on the subscriptions of an
    ``organization|external ids`` payload; raise when some of its work failed."""
    organization_id, external_ids = split_ids_payload(payload)
    summary = pass_(
        session_factory,
        now,
        organization_id=uuid.UUID(organization_id),
        external_subscription_ids=external_ids,
    )
    if summary.failed:
        raise TaskFailed("; ".join(summary.failed))
    return summary


class IngestedEvent(Protocol):
    code: str
    external_subscription_id: str


@dataclass(frozen=True)
class _Hints:
    pay_in_advance_codes: frozenset[str]
    threshold_subscriptions: frozenset[str]
    expires: float
    #: Live subscriptions whose customer has an active wallet (its ongoing balance follows the usage).
    wallet_subscriptions: frozenset[str] = frozenset()
    #: External ids watched by a live subscription alert evaluated on usage.
    alert_subscriptions: frozenset[str] = frozenset()


class IngestionHints:
    """The per-process cache described in the module's docstring."""

    def __init__(self, ttl: timedelta = HINTS_TTL) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._by_organization: dict[uuid.UUID, _Hints] = {}
        #: Loads from the database (tests).
        self.loads = 0

    def fresh(self, organization_id: uuid.UUID) -> _Hints | None:
        hints = self._by_organization.get(organization_id)
        if hints is None or hints.expires <= time.monotonic():
            return None
        return hints

    def get(self, session_factory: SessionFactory, organization_id: uuid.UUID) -> _Hints:
        hints = self.fresh(organization_id)
        if hints is None:
            hints = self._load(session_factory, organization_id)
        return hints

    def _load(self, session_factory: SessionFactory, organization_id: uuid.UUID) -> _Hints:
        started = time.monotonic()
        with session_factory() as session:
            codes = session.scalars(
                select(BillableMetric.code)
                .join(Charge, Charge.billable_metric_id == BillableMetric.id)
                .join(Plan, Plan.id == Charge.plan_id)
                .where(
                    Charge.organization_id == organization_id,
                    Charge.pay_in_advance.is_(True),
                    Charge.deleted_at.is_(None),
                    Plan.deleted_at.is_(None),
                )
                .distinct()
            ).all()
            subscriptions = session.scalars(
                select(Subscription.external_id)
                .where(
                    Subscription.organization_id == organization_id,
                    Subscription.status.in_([SubscriptionStatus.ACTIVE, SubscriptionStatus.PENDING]),
                    Subscription.progressive_billing_disabled.is_(False),
                    exists().where(
                        and_(
                            UsageThreshold.plan_id == Subscription.plan_id,
                            UsageThreshold.deleted_at.is_(None),
                        )
                    ),
                )
                .distinct()
            ).all()
            with_wallets = session.scalars(
                select(Subscription.external_id)
                .join(Wallet, Wallet.customer_id == Subscription.customer_id)
                .where(
                    Subscription.organization_id == organization_id,
                    Subscription.status == SubscriptionStatus.ACTIVE,
                    Wallet.status == WalletStatus.ACTIVE,
                )
                .distinct()
            ).all()
            with_alerts = session.scalars(
                select(Alert.subscription_external_id)
                .where(
                    Alert.organization_id == organization_id,
                    Alert.deleted_at.is_(None),
                    Alert.subscription_external_id.is_not(None),
                    Alert.alert_type.in_(sorted(USAGE_EVALUATED_TYPES)),
                )
                .distinct()
            ).all()
        hints = _Hints(
            frozenset(codes),
            frozenset(subscriptions),
            started + self.ttl.total_seconds(),
            frozenset(with_wallets),
            frozenset(e for e in with_alerts if e is not None),
        )
        with self._lock:
            self._by_organization[organization_id] = hints
            self.loads += 1
        return hints

    def invalidate(self, organization_ids: Iterable[uuid.UUID] | None = None) -> None:
        with self._lock:
            if organization_ids is None:
                self._by_organization.clear()
            else:
                for organization_id in organization_ids:
                    self._by_organization.pop(organization_id, None)


#: This process's hints.
hints = IngestionHints()

_CATALOG_TYPES = (Plan, Charge, UsageThreshold, BillableMetric, Subscription)
_CHANGED_KEY = "billow.hints_changed"


@event.listens_for(Session, "after_flush")
def _note_catalog_changes(session: Session, _context: Any) -> None:
    changed: set[uuid.UUID] | None = None
    for instance in (*session.new, *session.dirty, *session.deleted):
        # A new wallet or alert changes the hints; a wallet's balance (dirty at every consumption) and an
        # alert's evaluation (``previous_value``) do not.
        if isinstance(instance, _CATALOG_TYPES) or (
            isinstance(instance, (Wallet, Alert)) and instance in session.new
        ):
            organization_id = getattr(instance, "organization_id", None)
            if organization_id is not None:
                if changed is None:
                    changed = session.info.setdefault(_CHANGED_KEY, set())
                changed.add(organization_id)


@event.listens_for(Session, "after_commit")
def _invalidate_changed(session: Session) -> None:
    changed = session.info.pop(_CHANGED_KEY, None)
    if changed:
        hints.invalidate(changed)


@event.listens_for(Session, "after_rollback")
def _forget_changes(session: Session) -> None:
    session.info.pop(_CHANGED_KEY, None)


class Coalescer:
    """Collect the external ids of a task per organization for ``window`` (by default the setting
    ``alerts_window``, read once), then submit one task with all of them: a stream of events evaluates a
    subscription at most once per window and process, whatever the event rate. In ``sync`` mode (tests)
    the task is submitted at once. Ids still collected when the process stops are dropped (the scan
    catches up)."""

    def __init__(self, window: timedelta | None = None) -> None:
        self._window = window
        self._lock = threading.Lock()
        self._pending: dict[tuple[Dispatcher, str, uuid.UUID], set[str]] = {}
        self._timer: threading.Timer | None = None

    @property
    def window(self) -> timedelta:
        if self._window is None:
            self._window = timedelta(seconds=current_settings().alerts_window)
        return self._window

    def add(self, dispatcher: Dispatcher, name: str, organization_id: uuid.UUID, ids: Iterable[str]) -> None:
        seconds = self.window.total_seconds()
        if dispatcher.mode == "sync" or seconds <= 0:
            dispatcher.submit(name, ids_payload(str(organization_id), sorted(set(ids))))
            return
        with self._lock:
            self._pending.setdefault((dispatcher, name, organization_id), set()).update(ids)
            if self._timer is None:
                self._timer = threading.Timer(seconds, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        """Submit what was collected (the timer's end)."""
        with self._lock:
            pending, self._pending, self._timer = self._pending, {}, None
        for (dispatcher, name, organization_id), ids in pending.items():
            try:
                dispatcher.submit(name, ids_payload(str(organization_id), sorted(ids)))
            except Exception:  # the scan catches up
                log.exception("could not queue task %s", name)


#: This process's collected alert evaluations (:data:`EVALUATE_ALERTS`).
alert_evaluations = Coalescer()


def after_ingestion(
    dispatcher: Dispatcher | None, organization_id: uuid.UUID, events: Sequence[IngestedEvent]
) -> None:
    """Queue the pay-in-advance and progressive-billing work of events just committed (one task of each
    kind at most). May query the database when the organization's hints are stale."""
    if dispatcher is None or dispatcher.mode == "off" or not events:
        return
    try:
        _queue_event_work(dispatcher, organization_id, events)
    except Exception:  # never fail an ingestion that committed: the scans bill these events
        log.exception("could not queue the billing of ingested events")


def _queue_event_work(
    dispatcher: Dispatcher, organization_id: uuid.UUID, events: Sequence[IngestedEvent]
) -> None:
    found = hints.get(dispatcher.session_factory, organization_id)
    if found.pay_in_advance_codes:
        ids = sorted({e.external_subscription_id for e in events if e.code in found.pay_in_advance_codes})
        if ids:
            dispatcher.submit(PAY_IN_ADVANCE, ids_payload(str(organization_id), ids))
    if found.threshold_subscriptions:
        ids = sorted({e.external_subscription_id for e in events} & found.threshold_subscriptions)
        if ids:
            dispatcher.submit(PROGRESSIVE, ids_payload(str(organization_id), ids))
    if found.wallet_subscriptions:
        ids = sorted({e.external_subscription_id for e in events} & found.wallet_subscriptions)
        if ids:
            dispatcher.submit(REFRESH_WALLETS, ids_payload(str(organization_id), ids))
    if found.alert_subscriptions:
        ids = sorted({e.external_subscription_id for e in events} & found.alert_subscriptions)
        if ids:
            alert_evaluations.add(dispatcher, EVALUATE_ALERTS, organization_id, ids)


async def after_ingestion_async(
    dispatcher: Dispatcher | None, organization_id: uuid.UUID, events: Sequence[IngestedEvent]
) -> None:
    """:func:`after_ingestion` from the event loop: in memory when the hints are fresh, else (or in
    ``sync`` mode) in a worker thread."""
    if dispatcher is None or dispatcher.mode == "off" or not events:
        return
    if dispatcher.mode == "sync" or hints.fresh(organization_id) is None:
        await asyncio.to_thread(after_ingestion, dispatcher, organization_id, events)
    else:
        after_ingestion(dispatcher, organization_id, events)


@dataclass(frozen=True)
class IngestionFollowUp:
    """The billing that follows an ingestion, for :mod:`billow.events.endpoints` (wired by
    :func:`billow.app.create_app`): :func:`after_ingestion` on the app's dispatcher."""

    dispatcher: Dispatcher | None

    def queue(self, organization_id: uuid.UUID, events: Sequence[IngestedEvent]) -> None:
        after_ingestion(self.dispatcher, organization_id, events)

    async def queue_async(self, organization_id: uuid.UUID, events: Sequence[IngestedEvent]) -> None:
        await after_ingestion_async(self.dispatcher, organization_id, events)
