"""Wallet alerts evaluated in the transaction that changes the wallet's balances.

:mod:`billow.wallets.ledger` announces ``wallets.balances_changed`` (:func:`billow.worker.dispatch.run_hooks`)
with the locked wallet after a settlement and after a new ongoing usage; :func:`on_balances_changed`
evaluates each live alert of the wallet (Lago's ``ProcessWalletAlertsService`` / ``ProcessAlertService``):
the thresholds crossed between ``previous_value`` and the current value
(:func:`billow.alerts.crossing.crossed`), a :class:`TriggeredAlert` row when any were, then
``previous_value`` and ``last_processed_at`` move on, so that a threshold triggers once per crossing.

Subscription alerts are evaluated on usage by :mod:`billow.billing.usage_alerts` (above this package:
it needs the current and lifetime usage), through the same :func:`record_evaluation`.

TODO(webhooks): Lago sends ``alert.triggered`` (object ``triggered_alert``) after the commit of each
triggered alert. Each one is announced in the transaction as the hook :data:`ALERT_TRIGGERED`
(:func:`announce_triggered`) with ``triggered_alert``, ``alert`` and either ``wallet=`` (a wallet alert)
or ``subscription=`` (a subscription alert); nothing registers it yet: the webhooks issue registers there
the queuing of the delivery (``after_commit``), which then never sends a webhook for a rolled-back change.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from billow.alerts import crossing
from billow.alerts.repository import alert_repository
from billow.alerts.values import wallet_value
from billow.models.alerts import WALLET_TYPES, Alert, AlertThreshold, Direction, TriggeredAlert
from billow.models.subscriptions import Subscription
from billow.models.wallets import Wallet
from billow.worker.dispatch import hook, run_hooks

#: Announced by :mod:`billow.wallets.ledger` (the name is repeated there: a lower layer).
WALLET_BALANCES_CHANGED = "wallets.balances_changed"
#: Announced for each triggered alert, with ``triggered_alert``, ``alert`` and ``wallet`` or ``subscription``.
ALERT_TRIGGERED = "alert.triggered"


@hook(WALLET_BALANCES_CHANGED)
def on_balances_changed(session: Session, *, wallet: Wallet, now: datetime) -> None:
    alerts = [a for a in alert_repository.wallet_alerts(session, wallet) if a.alert_type in WALLET_TYPES]
    if not alerts:
        return
    thresholds = alert_repository.thresholds(session, [a.id for a in alerts])
    for alert in alerts:
        evaluate(session, alert, wallet, thresholds.get(alert.id, []), now)
    session.flush()


def evaluate(
    session: Session, alert: Alert, wallet: Wallet, rows: list[AlertThreshold], now: datetime
) -> TriggeredAlert | None:
    current = wallet_value(wallet, alert.alert_type)
    return record_evaluation(session, alert, rows, alert.previous_value, current, now, wallet=wallet)


def record_evaluation(
    session: Session,
    alert: Alert,
    rows: list[AlertThreshold],
    previous: Decimal,
    current: Decimal,
    now: datetime,
    *,
    wallet: Wallet | None = None,
    subscription: Subscription | None = None,
) -> TriggeredAlert | None:
    """The thresholds of ``rows`` crossed from ``previous`` to ``current`` (in the alert's direction): a
    :class:`TriggeredAlert` (announced) when any were; ``previous_value`` becomes ``current``. The alert's
    target is ``wallet`` or ``subscription`` (exactly one)."""
    assert (wallet is None) != (subscription is None)
    thresholds = [crossing.Threshold(t.code, t.value, t.recurring) for t in rows]
    values = crossing.crossed(
        thresholds, previous, current, decreasing=alert.direction == Direction.DECREASING
    )
    triggered = None
    if values:
        triggered = TriggeredAlert(
            organization_id=alert.organization_id,
            alert_id=alert.id,
            wallet_id=wallet.id if wallet is not None else None,
            subscription_id=subscription.id if subscription is not None else None,
            current_value=current,
            previous_value=previous,
            crossed_thresholds=crossing.formatted(thresholds, values),
            triggered_at=now,
        )
        session.add(triggered)
        session.flush()
        announce_triggered(session, triggered, alert, wallet=wallet, subscription=subscription)
    alert.previous_value = current
    alert.last_processed_at = now
    return triggered


def announce_triggered(
    session: Session,
    triggered: TriggeredAlert,
    alert: Alert,
    *,
    wallet: Wallet | None = None,
    subscription: Subscription | None = None,
) -> None:
    """TODO(webhooks): the ``alert.triggered`` webhook's hook point (no function registered yet): its
    details are ``triggered_alert``, ``alert`` and ``wallet`` or ``subscription`` (the alert's target)."""
    if wallet is not None:
        run_hooks(session, ALERT_TRIGGERED, triggered_alert=triggered, alert=alert, wallet=wallet)
    else:
        run_hooks(session, ALERT_TRIGGERED, triggered_alert=triggered, alert=alert, subscription=subscription)
