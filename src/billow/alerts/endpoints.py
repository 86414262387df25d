"""Alerts of a wallet (``/customers/{id}/wallets/{code}/alerts[/{code}]``) and of a subscription
(``/subscriptions/{external_id}/alerts[/{code}]``, with ``subscription_status``), as Lago."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from sqlalchemy.orm import Session

from billow.alerts.repository import Target, alert_repository
from billow.alerts.schemas import (
    AlertCollection,
    AlertEnvelope,
    AlertList,
    AlertMetricOut,
    AlertOut,
    AlertRequest,
    AlertUpdateRequest,
    alert_out,
    metric_out,
)
from billow.alerts.service import alert_service as service
from billow.alerts.service import require_root
from billow.auth import CurrentOrganization
from billow.billable_metrics.repository import billable_metric_repository
from billow.db import DbSession
from billow.errors import NotFound
from billow.kit.locking import lock_row
from billow.kit.pagination import Pagination, paginate
from billow.kit.strict_json import StrictJSONRoute
from billow.models.alerts import Alert
from billow.models.organizations import Organization
from billow.models.subscriptions import Subscription, SubscriptionStatus
from billow.subscriptions.repository import subscription_repository
from billow.wallets import ledger
from billow.wallets.service import wallet_service

router = APIRouter(route_class=StrictJSONRoute)

_WALLET_ALERTS = "/customers/{external_customer_id}/wallets/{wallet_code}/alerts"
_WALLET_ALERT = _WALLET_ALERTS + "/{code}"
_SUBSCRIPTION_ALERTS = "/subscriptions/{external_id}/alerts"
_SUBSCRIPTION_ALERT = _SUBSCRIPTION_ALERTS + "/{code}"

#: The subscription's status (Lago keeps ``status`` for backward compatibility); default ``active``.
StatusQuery = Annotated[str | None, Query(max_length=255)]


def _outs(session: Session, alerts: list[Alert]) -> list[AlertOut]:
    thresholds = alert_repository.thresholds(session, [a.id for a in alerts])
    codes = alert_repository.wallet_codes(session, sorted({a.wallet_id for a in alerts if a.wallet_id}))
    metric_ids = sorted({a.billable_metric_id for a in alerts if a.billable_metric_id})
    metrics = alert_repository.metrics(session, metric_ids)
    filters = billable_metric_repository.filters_of(session, metric_ids)
    outs: dict[object, AlertMetricOut] = {
        m_id: metric_out(metric, filters[m_id]) for m_id, metric in metrics.items()
    }
    return [
        alert_out(
            a,
            thresholds.get(a.id, []),
            wallet_code=codes.get(a.wallet_id) if a.wallet_id else None,
            billable_metric=outs.get(a.billable_metric_id) if a.billable_metric_id else None,
        )
        for a in alerts
    ]


def _envelope(session: Session, alert: Alert) -> AlertEnvelope:
    [out] = _outs(session, [alert])
    return AlertEnvelope(alert=out)


def _create(
    session: Session, organization: Organization, target: Target, body: AlertRequest
) -> AlertEnvelope | AlertCollection:
    if body.alerts:
        return AlertCollection(
            alerts=_outs(session, service.create_batch(session, organization, target, body.alerts))
        )
    data = require_root(body.alert)
    return _envelope(session, service.create(session, organization, target, data))


def _ok() -> Response:
    return Response(status_code=200)


# ------------------------------------------------------------------------------------------ wallets


def _wallet(
    session: Session,
    organization: Organization,
    external_customer_id: str,
    wallet_code: str,
    *,
    lock: bool = False,
) -> Target:
    """``lock`` (a write): the wallet's row is locked (a create reads its balances; two concurrent writes
    of its alerts see each other)."""
    wallet = wallet_service.by_code(session, organization, external_customer_id, wallet_code)
    if lock:
        wallet = ledger.locked(session, wallet.id)
    return Target(wallet=wallet)


@router.get(_WALLET_ALERTS, response_model=AlertList, tags=["wallets"])
def wallet_index(
    external_customer_id: str,
    wallet_code: str,
    session: DbSession,
    organization: CurrentOrganization,
    pages: Pagination,
) -> AlertList:
    target = _wallet(session, organization, external_customer_id, wallet_code)
    alerts, meta = paginate(session, alert_repository.list_stmt(organization.id, target), pages)
    return AlertList(alerts=_outs(session, alerts), meta=meta)


@router.post(_WALLET_ALERTS, response_model=AlertEnvelope | AlertCollection, tags=["wallets"])
def wallet_create(
    external_customer_id: str,
    wallet_code: str,
    body: AlertRequest,
    session: DbSession,
    organization: CurrentOrganization,
) -> AlertEnvelope | AlertCollection:
    # The wallet is locked: a wallet alert starts from the wallet's current value.
    target = _wallet(session, organization, external_customer_id, wallet_code, lock=True)
    return _create(session, organization, target, body)


@router.delete(_WALLET_ALERTS, tags=["wallets"])
def wallet_destroy_all(
    external_customer_id: str, wallet_code: str, session: DbSession, organization: CurrentOrganization
) -> Response:
    service.delete_all(
        session, organization, _wallet(session, organization, external_customer_id, wallet_code)
    )
    return _ok()


@router.get(_WALLET_ALERT, response_model=AlertEnvelope, tags=["wallets"])
def wallet_show(
    external_customer_id: str,
    wallet_code: str,
    code: str,
    session: DbSession,
    organization: CurrentOrganization,
) -> AlertEnvelope:
    target = _wallet(session, organization, external_customer_id, wallet_code)
    return _envelope(session, service.get(session, organization, target, code))


@router.put(_WALLET_ALERT, response_model=AlertEnvelope, tags=["wallets"])
def wallet_update(
    external_customer_id: str,
    wallet_code: str,
    code: str,
    body: AlertUpdateRequest,
    session: DbSession,
    organization: CurrentOrganization,
) -> AlertEnvelope:
    target = _wallet(session, organization, external_customer_id, wallet_code, lock=True)
    alert = service.get(session, organization, target, code)
    data = require_root(body.alert)
    data.billable_metric_code = None  # not a wallet alert's parameter (Lago does not permit it)
    return _envelope(session, service.update(session, organization, target, alert, data))


@router.delete(_WALLET_ALERT, response_model=AlertEnvelope, tags=["wallets"])
def wallet_destroy(
    external_customer_id: str,
    wallet_code: str,
    code: str,
    session: DbSession,
    organization: CurrentOrganization,
) -> AlertEnvelope:
    target = _wallet(session, organization, external_customer_id, wallet_code)
    return _envelope(session, service.delete(session, service.get(session, organization, target, code)))


# ------------------------------------------------------------------------------------ subscriptions


def _subscription(
    session: Session,
    organization: Organization,
    external_id: str,
    subscription_status: str | None,
    status: str | None,
    *,
    lock: bool = False,
) -> Target:
    """``lock`` (a write): the subscription's row is locked, so that two concurrent writes of its alerts
    see each other (no unique index error)."""
    subscription = subscription_repository.by_external_id(
        session, organization.id, external_id, subscription_status or status or SubscriptionStatus.ACTIVE
    )
    if subscription is None:
        raise NotFound("subscription")
    if lock:
        lock_row(session, Subscription, subscription.id)
    return Target(subscription_external_id=subscription.external_id)


@router.get(_SUBSCRIPTION_ALERTS, response_model=AlertList, tags=["subscriptions"])
def subscription_index(
    external_id: str,
    session: DbSession,
    organization: CurrentOrganization,
    pages: Pagination,
    subscription_status: StatusQuery = None,
    status: StatusQuery = None,
) -> AlertList:
    target = _subscription(session, organization, external_id, subscription_status, status)
    alerts, meta = paginate(session, alert_repository.list_stmt(organization.id, target), pages)
    return AlertList(alerts=_outs(session, alerts), meta=meta)


@router.post(_SUBSCRIPTION_ALERTS, response_model=AlertEnvelope | AlertCollection, tags=["subscriptions"])
def subscription_create(
    external_id: str,
    body: AlertRequest,
    session: DbSession,
    organization: CurrentOrganization,
    subscription_status: StatusQuery = None,
    status: StatusQuery = None,
) -> AlertEnvelope | AlertCollection:
    target = _subscription(session, organization, external_id, subscription_status, status, lock=True)
    return _create(session, organization, target, body)


@router.delete(_SUBSCRIPTION_ALERTS, tags=["subscriptions"])
def subscription_destroy_all(
    external_id: str,
    session: DbSession,
    organization: CurrentOrganization,
    subscription_status: StatusQuery = None,
    status: StatusQuery = None,
) -> Response:
    target = _subscription(session, organization, external_id, subscription_status, status)
    service.delete_all(session, organization, target)
    return _ok()


@router.get(_SUBSCRIPTION_ALERT, response_model=AlertEnvelope, tags=["subscriptions"])
def subscription_show(
    external_id: str,
    code: str,
    session: DbSession,
    organization: CurrentOrganization,
    subscription_status: StatusQuery = None,
    status: StatusQuery = None,
) -> AlertEnvelope:
    target = _subscription(session, organization, external_id, subscription_status, status)
    return _envelope(session, service.get(session, organization, target, code))


@router.put(_SUBSCRIPTION_ALERT, response_model=AlertEnvelope, tags=["subscriptions"])
def subscription_update(
    external_id: str,
    code: str,
    body: AlertUpdateRequest,
    session: DbSession,
    organization: CurrentOrganization,
    subscription_status: StatusQuery = None,
    status: StatusQuery = None,
) -> AlertEnvelope:
    target = _subscription(session, organization, external_id, subscription_status, status, lock=True)
    alert = service.get(session, organization, target, code)
    data = require_root(body.alert)
    return _envelope(session, service.update(session, organization, target, alert, data))


@router.delete(_SUBSCRIPTION_ALERT, response_model=AlertEnvelope, tags=["subscriptions"])
def subscription_destroy(
    external_id: str,
    code: str,
    session: DbSession,
    organization: CurrentOrganization,
    subscription_status: StatusQuery = None,
    status: StatusQuery = None,
) -> AlertEnvelope:
    target = _subscription(session, organization, external_id, subscription_status, status)
    return _envelope(session, service.delete(session, service.get(session, organization, target, code)))
