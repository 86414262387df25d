from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from billow.coupons.repository import coupon_repository as repository
from billow.coupons.schemas import CouponAppliesTo, CouponInput
from billow.db import utcnow
from billow.errors import Errors, NotAllowed, NotFound
from billow.kit.currency import is_currency
from billow.kit.limits import (
    MAX_AMOUNT_CENTS,
    MAX_PERCENTAGE,
    MAX_PERIODS,
    MAX_PRICE_DECIMALS,
    bounded_decimal,
)
from billow.kit.time import parse_instant_or_none
from billow.models.billable_metrics import BillableMetric
from billow.models.coupons import COUPON_TYPES, EXPIRATIONS, FREQUENCIES, Coupon
from billow.models.organizations import Organization
from billow.models.plans import Plan


@dataclass(frozen=True)
class Targets:
    plans: list[Plan]
    billable_metrics: list[BillableMetric]


class CouponService:
    def get(self, session: Session, organization: Organization, code: str) -> Coupon:
        coupon = repository.by_code(session, organization.id, code)
        if coupon is None:
            raise NotFound("coupon")
        return coupon

    def create(self, session: Session, organization: Organization, data: CouponInput) -> Coupon:
        expiration_at = self._validate(session, organization, data, existing=None)
        targets = self._targets(session, organization, data.applies_to)
        coupon = Coupon(
            organization_id=organization.id,
            name=data.name,
            code=data.code,
            description=data.description,
            coupon_type=data.coupon_type,
            amount_cents=data.amount_cents,
            amount_currency=data.amount_currency,
            percentage_rate=data.percentage_rate,
            frequency=data.frequency,
            frequency_duration=data.frequency_duration,
            expiration=data.expiration,
            expiration_at=expiration_at,
            reusable=True if data.reusable is None else data.reusable,
            limited_plans=bool(targets and targets.plans),
            limited_billable_metrics=bool(targets and targets.billable_metrics),
        )
        session.add(coupon)
        session.flush()
        if targets is not None:
            repository.replace_targets(session, coupon, targets.plans, targets.billable_metrics)
            session.flush()
        return coupon

    def update(self, session: Session, organization: Organization, code: str, data: CouponInput) -> Coupon:
        """Apply the fields that were sent. ``applies_to``, when sent, replaces every target of the coupon."""
        coupon = self.get(session, organization, code)
        expiration_at = self._validate(session, organization, data, existing=coupon)
        targets = self._targets(session, organization, data.applies_to)
        for key, value in data.provided().items():
            if key == "expiration_at":
                coupon.expiration_at = expiration_at
            elif key != "applies_to":
                setattr(coupon, key, value)
        if targets is not None:
            coupon.limited_plans = bool(targets.plans)
            coupon.limited_billable_metrics = bool(targets.billable_metrics)
            repository.replace_targets(session, coupon, targets.plans, targets.billable_metrics)
        session.flush()
        return coupon

    def delete(self, session: Session, organization: Organization, code: str) -> Coupon:
        """Soft delete: the code becomes free; the coupon can no longer be applied, and its applications
        to customers are terminated (as Lago)."""
        coupon = self.get(session, organization, code)
        coupon.deleted_at = utcnow()
        repository.terminate_applications(session, coupon_id=coupon.id, at=coupon.deleted_at)
        session.flush()
        return coupon

    def _targets(
        self, session: Session, organization: Organization, applies_to: CouponAppliesTo | None
    ) -> Targets | None:
        """The plans or billable metrics named by ``applies_to`` (``None`` if it was not sent).

        404 ``plans_not_found`` / ``billable_metrics_not_found`` if a code is unknown, 405
        ``only_one_limitation_type_per_coupon_allowed`` if both kinds are given (Lago's codes and order).
        """
        if applies_to is None:
            return None
        plan_codes = list(dict.fromkeys(c for c in applies_to.plan_codes or [] if c is not None))
        metric_codes = list(dict.fromkeys(c for c in applies_to.billable_metric_codes or [] if c is not None))
        plans = repository.plans_by_codes(session, organization.id, plan_codes)
        if len(plans) != len(plan_codes):
            raise NotFound("plans")
        metrics = repository.billable_metrics_by_codes(session, organization.id, metric_codes)
        if len(metrics) != len(metric_codes):
            raise NotFound("billable_metrics")
        if plans and metrics:
            raise NotAllowed(code="only_one_limitation_type_per_coupon_allowed")
        return Targets(plans=plans, billable_metrics=metrics)

    def _validate(
        self, session: Session, organization: Organization, data: CouponInput, existing: Coupon | None
    ) -> datetime | None:
        """Raise on invalid input (checks the state after the update); return the parsed ``expiration_at``."""
        errors = Errors()
        provided = data.provided()
        creating = existing is None

        def value(field: str) -> Any:
            if field in provided:
                return provided[field]
            return getattr(existing, field) if existing is not None else None

        errors.require(provided, ("name", "code"), creating=creating)
        new_code = data.code if existing is None or data.code != existing.code else None
        if new_code and repository.by_code(session, organization.id, new_code) is not None:
            errors.add("code", "value_already_exist")

        for field, allowed in (
            ("coupon_type", COUPON_TYPES),
            ("frequency", FREQUENCIES),
            ("expiration", EXPIRATIONS),
        ):
            if field in provided:
                if provided[field] == "":
                    errors.add(field, "value_is_mandatory")
                elif provided[field] not in allowed:
                    errors.add(field, "value_is_invalid")
            elif creating:
                errors.add(field, "value_is_mandatory")

        if "amount_cents" in provided and not 0 < data.amount_cents <= MAX_AMOUNT_CENTS:  # type: ignore[operator]
            errors.add("amount_cents", "value_is_out_of_range")
        if "amount_currency" in provided and not is_currency(data.amount_currency):
            errors.add("amount_currency", "value_is_invalid")
        if value("coupon_type") == "fixed_amount":
            for field in ("amount_cents", "amount_currency"):
                if value(field) is None:
                    errors.add(field, "value_is_mandatory")

        rate = data.percentage_rate
        if rate is not None and not (
            bounded_decimal(rate, high=MAX_PERCENTAGE, decimals=MAX_PRICE_DECIMALS) and rate > 0
        ):
            errors.add("percentage_rate", "value_is_out_of_range")
        if value("coupon_type") == "percentage" and value("percentage_rate") is None:
            errors.add("percentage_rate", "value_is_mandatory")

        duration = data.frequency_duration
        if duration is not None and not 0 <= duration <= MAX_PERIODS:
            errors.add("frequency_duration", "value_is_out_of_range")
        if value("frequency") == "recurring":
            if value("frequency_duration") is None:
                errors.add("frequency_duration", "value_is_mandatory")
            elif value("frequency_duration") <= 0:
                errors.add("frequency_duration", "value_is_out_of_range")

        expiration_at = existing.expiration_at if existing is not None else None
        if "expiration_at" in provided:
            expiration_at = parse_instant_or_none(data.expiration_at)
            if expiration_at is None or expiration_at <= utcnow():
                errors.add("expiration_at", "invalid_date")
        elif value("expiration") == "time_limit" and expiration_at is None:
            errors.add("expiration_at", "value_is_mandatory")

        errors.raise_if_any()
        return expiration_at


coupon_service = CouponService()
