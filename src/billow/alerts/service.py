"""Alerts of a wallet or a subscription: create (one, or a batch atomically), update, delete (one, all).

Validation follows Lago's ``UsageMonitoring::CreateAlertService`` / ``UpdateAlertService`` in order; the
first failing check answers (422, or 404 ``billable_metric_not_found``); then the record's own errors
(``code`` mandatory, the billable metric mandatory for the metric types and blank for the others)
together; then the uniqueness of the alert's type on its target (``base: alert_already_exists``, also
Lago's answer to a second recurring threshold) and of its code (``code: value_already_exist``).

A wallet alert is ``decreasing``: its ``previous_value`` starts at the wallet's current value, so only a
later fall crosses a threshold (:mod:`billow.alerts.evaluation`). A subscription alert is ``increasing``
and starts at 0; its evaluation on usage is not done yet.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext
from typing import Any

from sqlalchemy.orm import Session

from billow.alerts import values
from billow.alerts.repository import Target, alert_repository
from billow.alerts.schemas import AlertInput, ThresholdInput
from billow.db import utcnow
from billow.errors import BadRequest, BillowError, NotFound, ValidationFailed
from billow.kit.limits import parse_decimal_text
from billow.models.alerts import (
    BILLABLE_METRIC_TYPES,
    WALLET_TYPES,
    Alert,
    AlertThreshold,
    AlertType,
    Direction,
)
from billow.models.billable_metrics import BillableMetric
from billow.models.organizations import Organization

#: Lago's ``AlertThreshold::SOFT_LIMIT``.
MAX_THRESHOLDS = 20
#: Lago stores values as ``decimal(30, 5)``.
VALUE_DECIMALS = 5
MAX_VALUE = Decimal(10) ** 25

_ALL_TYPES = frozenset(t.value for t in AlertType)
_FEATURE_NOT_AVAILABLE = frozenset({AlertType.BILLABLE_METRIC_LIFETIME_USAGE_UNITS})


@dataclass(frozen=True)
class ThresholdValue:
    code: str | None
    value: Decimal
    recurring: bool


def parse_value(raw: Any) -> Decimal | None:
    """A threshold value: a JSON integer (or number) or a numeric string, at Lago's 5 decimals (half up).
    None when it is not a number."""
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        number: Decimal | None = Decimal(raw)
    elif isinstance(raw, float | Decimal):
        try:
            number = Decimal(str(raw))
        except InvalidOperation:
            return None
    elif isinstance(raw, str):
        number = parse_decimal_text(raw)
    else:
        return None
    if number is None or not number.is_finite():
        return None
    with localcontext() as context:
        context.prec = 60
        return number.quantize(Decimal(1).scaleb(-VALUE_DECIMALS), rounding=ROUND_HALF_UP)


def _check_thresholds(thresholds: list[ThresholdInput]) -> list[ThresholdValue]:
    """Lago's threshold checks, in its order (the first failing one answers)."""
    if len(thresholds) > MAX_THRESHOLDS:
        raise ValidationFailed.one("thresholds", "too_many_thresholds")
    keys = [(_key(t.value), bool(t.recurring)) for t in thresholds]
    if len(keys) != len(set(keys)):
        raise ValidationFailed.one("thresholds", "duplicate_threshold_values")
    if any(t.value is None for t in thresholds):
        raise ValidationFailed.one("thresholds:value", "value_is_mandatory")
    parsed = [parse_value(t.value) for t in thresholds]
    if any(value is None for value in parsed):
        raise ValidationFailed.one("thresholds:value", "value_is_invalid")
    result = [
        ThresholdValue(t.code, v, bool(t.recurring))
        for t, v in zip(thresholds, parsed, strict=True)
        if v is not None
    ]
    if any(abs(t.value) >= MAX_VALUE for t in result):
        raise ValidationFailed.one("thresholds:value", "value_is_out_of_range")
    if any(t.recurring and t.value <= 0 for t in result):
        raise ValidationFailed.one("thresholds:value", "recurring_value_is_negative")
    return result


def _key(value: Any) -> object:
    parsed = parse_value(value) if value is not None else None
    return parsed if parsed is not None else repr(value)


class AlertService:
    # ------------------------------------------------------------------------------------------ reads

    def get(self, session: Session, organization: Organization, target: Target, code: str) -> Alert:
        alert = alert_repository.by_code(session, organization.id, target, code)
        if alert is None:
            raise NotFound("alert")
        return alert

    # ---------------------------------------------------------------------------------------- create

    def create(self, session: Session, organization: Organization, target: Target, data: AlertInput) -> Alert:
        alert_type, thresholds, metric = self._validate_create(session, organization, target, data)
        alert = Alert(
            id=uuid.uuid4(),
            organization_id=organization.id,
            alert_type=alert_type,
            code=data.code,
            name=data.name,
            subscription_external_id=target.subscription_external_id,
            wallet_id=target.wallet.id if target.wallet is not None else None,
            billable_metric_id=metric.id if metric is not None else None,
            direction=Direction.DECREASING if target.is_wallet else Direction.INCREASING,
            previous_value=Decimal(0),
        )
        if target.wallet is not None:
            # The wallet is locked by the caller: the value cannot move before the alert exists.
            alert.previous_value = values.wallet_value(target.wallet, alert_type)
        session.add(alert)
        session.flush()
        self._write_thresholds(session, alert, thresholds)
        return alert

    def create_batch(
        self, session: Session, organization: Organization, target: Target, items: list[AlertInput]
    ) -> list[Alert]:
        """Every alert or none (the request's transaction rolls back on the error): each failed item is
        reported under its index with its params and Lago's error message; the later items see the
        earlier ones (a duplicate type or code in the batch fails)."""
        created: list[Alert] = []
        errors: dict[str, Any] = {}
        for index, item in enumerate(items):
            try:  # a create validates everything before it writes: a failed item wrote nothing
                created.append(self.create(session, organization, target, item))
            except (ValidationFailed, NotFound) as error:
                params = item.model_dump(exclude_unset=True)
                if target.is_wallet:
                    params.pop("billable_metric_code", None)
                errors[str(index)] = {"params": params, "errors": _message(error)}
        if errors:
            raise ValidationFailed(errors)
        return created

    def _validate_create(
        self, session: Session, organization: Organization, target: Target, data: AlertInput
    ) -> tuple[str, list[ThresholdValue], BillableMetric | None]:
        alert_type = data.alert_type
        if alert_type in _FEATURE_NOT_AVAILABLE:
            raise ValidationFailed.one("alert_type", "feature_not_available")
        if not alert_type:
            raise ValidationFailed({"alert_type": ["value_is_mandatory", "value_is_invalid"]})
        if alert_type not in _ALL_TYPES or (alert_type in WALLET_TYPES) != target.is_wallet:
            raise ValidationFailed.one("alert_type", "invalid_type")
        if not data.thresholds:
            raise ValidationFailed.one("thresholds", "value_is_mandatory")
        thresholds = _check_thresholds(data.thresholds)
        # A wallet alert has no metric: Lago does not permit the parameter there (ignored).
        metric = None if target.is_wallet else self._metric(session, organization, data)
        self._check_record(alert_type, data.code, metric)
        self._check_unique(
            session, organization, target, alert_type, data.code or "", metric, thresholds, None
        )
        return alert_type, thresholds, metric

    # ---------------------------------------------------------------------------------------- update

    def update(
        self, session: Session, organization: Organization, target: Target, alert: Alert, data: AlertInput
    ) -> Alert:
        provided = data.provided()
        thresholds: list[ThresholdValue] | None = None
        if data.thresholds is not None:
            if len(data.thresholds) > MAX_THRESHOLDS:
                raise ValidationFailed.one("thresholds", "too_many_thresholds")
            if data.thresholds:
                thresholds = _check_thresholds(data.thresholds)
        metric = self._metric(session, organization, data) if not target.is_wallet else None
        code = data.code if "code" in provided else alert.code
        metric_after = metric if metric is not None else self._current_metric(session, alert)
        self._check_record(alert.alert_type, code, metric_after)
        self._check_unique(
            session,
            organization,
            target,
            alert.alert_type,
            code or "",
            metric_after,
            thresholds or [],
            alert.id,
        )
        if "name" in provided:
            alert.name = data.name
        if "code" in provided and data.code is not None:
            alert.code = data.code
        if metric is not None:
            alert.billable_metric_id = metric.id
        alert.updated_at = utcnow()
        if thresholds:
            alert_repository.delete_thresholds(session, [alert.id])
            self._write_thresholds(session, alert, thresholds)
        session.flush()
        return alert

    # ---------------------------------------------------------------------------------------- delete

    def delete(self, session: Session, alert: Alert) -> Alert:
        now = utcnow()
        alert_repository.delete_thresholds(session, [alert.id])
        alert.deleted_at = now
        alert.updated_at = now
        session.flush()
        return alert

    def delete_all(self, session: Session, organization: Organization, target: Target) -> None:
        ids = [a.id for a in alert_repository.live(session, organization.id, target)]
        alert_repository.delete_thresholds(session, ids)
        alert_repository.soft_delete(session, ids, utcnow())

    # --------------------------------------------------------------------------------------- helpers

    def _metric(
        self, session: Session, organization: Organization, data: AlertInput
    ) -> BillableMetric | None:
        if data.billable_metric_code is None:
            return None
        metric = alert_repository.metric_by_code(session, organization.id, data.billable_metric_code)
        if metric is None:
            raise NotFound("billable_metric")
        return metric

    def _current_metric(self, session: Session, alert: Alert) -> BillableMetric | None:
        if alert.billable_metric_id is None:
            return None
        return alert_repository.metrics(session, [alert.billable_metric_id]).get(alert.billable_metric_id)

    def _check_record(self, alert_type: str, code: str | None, metric: BillableMetric | None) -> None:
        details: dict[str, list[str]] = {}
        if not code:
            details["code"] = ["value_is_mandatory"]
        if alert_type in BILLABLE_METRIC_TYPES and metric is None:
            details["billable_metric"] = ["value_is_mandatory"]
        if alert_type not in BILLABLE_METRIC_TYPES and metric is not None:
            details["billable_metric"] = ["value_must_be_blank"]
        if details:
            raise ValidationFailed(details)

    def _check_unique(
        self,
        session: Session,
        organization: Organization,
        target: Target,
        alert_type: str,
        code: str,
        metric: BillableMetric | None,
        thresholds: list[ThresholdValue],
        alert_id: uuid.UUID | None,
    ) -> None:
        if sum(1 for t in thresholds if t.recurring) > 1:
            raise ValidationFailed.one("base", "alert_already_exists")
        if alert_repository.type_taken(
            session,
            organization.id,
            target,
            alert_type,
            metric.id if metric is not None else None,
            other_than=alert_id,
        ):
            raise ValidationFailed.one("base", "alert_already_exists")
        if alert_repository.code_taken(session, organization.id, target, code, other_than=alert_id):
            raise ValidationFailed.one("code", "value_already_exist")

    def _write_thresholds(self, session: Session, alert: Alert, thresholds: list[ThresholdValue]) -> None:
        for position, threshold in enumerate(thresholds):
            session.add(
                AlertThreshold(
                    organization_id=alert.organization_id,
                    alert_id=alert.id,
                    code=threshold.code,
                    value=threshold.value,
                    recurring=threshold.recurring,
                    position=position,
                )
            )
        session.flush()


def _message(error: BillowError) -> str:
    """Lago's ``error.message`` of a failed create inside a batch."""
    if isinstance(error, ValidationFailed):
        return "Validation errors: " + json.dumps(error.error_details, separators=(",", ":"))
    return error.code or error.error


def require_root(data: AlertInput | None, root: str = "alert") -> AlertInput:
    """Lago's ``params.require(:alert)``: absent or empty is a 400."""
    if data is None or not data.provided():
        raise BadRequest(f"param is missing or the value is empty or invalid: {root}")
    return data


alert_service = AlertService()
