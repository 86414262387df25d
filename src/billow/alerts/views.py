"""The ``alert.triggered`` webhook's object, ``triggered_alert`` (Lago's ``TriggeredAlertObject``): which
alert crossed which thresholds, for which subscription (or wallet), with the values before and after.
Values are decimal strings, as every value of the alerts' API."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.kit.schemas import DecimalString, Output, Timestamp
from billow.models.alerts import Alert, TriggeredAlert
from billow.models.billable_metrics import BillableMetric
from billow.models.customers import Customer
from billow.models.organizations import Organization
from billow.models.subscriptions import Subscription
from billow.models.wallets import Wallet
from billow.webhooks.payloads import renderer


class TriggeredAlertOut(Output):
    lago_id: uuid.UUID
    lago_organization_id: uuid.UUID
    lago_alert_id: uuid.UUID
    lago_subscription_id: uuid.UUID | None
    external_subscription_id: str | None
    lago_wallet_id: uuid.UUID | None
    wallet_code: str | None
    external_customer_id: str | None
    billable_metric_code: str | None
    alert_type: str
    alert_code: str
    alert_name: str | None
    current_value: DecimalString
    previous_value: DecimalString
    crossed_thresholds: list[dict[str, Any]]
    triggered_at: Timestamp


@renderer("triggered_alert")
def triggered_alert_payloads(
    session: Session, organization: Organization, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    rows = session.execute(
        select(TriggeredAlert, Alert, Subscription, Wallet, BillableMetric.code)
        .join(Alert, Alert.id == TriggeredAlert.alert_id)
        .outerjoin(Subscription, Subscription.id == TriggeredAlert.subscription_id)
        .outerjoin(Wallet, Wallet.id == TriggeredAlert.wallet_id)
        .outerjoin(BillableMetric, BillableMetric.id == Alert.billable_metric_id)
        .where(TriggeredAlert.organization_id == organization.id, TriggeredAlert.id.in_(set(ids)))
    ).all()
    customer_ids = {row[2].customer_id for row in rows if row[2] is not None}
    customer_ids |= {row[3].customer_id for row in rows if row[3] is not None}
    customers = dict(
        session.execute(
            select(Customer.id, Customer.external_id).where(
                Customer.organization_id == organization.id, Customer.id.in_(customer_ids)
            )
        ).all()
    )
    out: dict[uuid.UUID, dict[str, Any]] = {}
    for triggered, alert, subscription, wallet, metric_code in rows:
        owner = (
            subscription.customer_id if subscription is not None else wallet.customer_id if wallet else None
        )
        out[triggered.id] = TriggeredAlertOut(
            lago_id=triggered.id,
            lago_organization_id=triggered.organization_id,
            lago_alert_id=alert.id,
            lago_subscription_id=subscription.id if subscription is not None else None,
            external_subscription_id=subscription.external_id if subscription is not None else None,
            lago_wallet_id=wallet.id if wallet is not None else None,
            wallet_code=wallet.code if wallet is not None else None,
            external_customer_id=customers.get(owner) if owner is not None else None,
            billable_metric_code=metric_code,
            alert_type=alert.alert_type,
            alert_code=alert.code,
            alert_name=alert.name,
            current_value=triggered.current_value,
            previous_value=triggered.previous_value,
            crossed_thresholds=triggered.crossed_thresholds,
            triggered_at=triggered.triggered_at,
        ).model_dump(mode="json")
    return out
