"""Applying coupons to customers and terminating them (Lago's ``AppliedCoupons`` create and terminate).

Applying checks, in Lago's order, the first failure answering: the customer (404 ``customer_not_found``),
the coupon, live, active and not expired (404 ``coupon_not_found``), a limited coupon whose targets
overlap those of an active applied coupon of the customer (405 ``plan_overlapping``), a non-reusable
coupon already applied to the customer, whatever that application's status (422 ``coupon_is_not_reusable``
on ``coupon``), the overrides' values, and for a fixed amount the customer's currency (it adopts the
coupon's when it has none; 422 ``currencies_does_not_match`` on ``currency`` otherwise). Each term is the
override when sent, else the coupon's. Invoices do not consume applied coupons yet.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from billow.applied_coupons.repository import applied_coupon_repository as repository
from billow.applied_coupons.schemas import AppliedCouponInput
from billow.coupons.repository import coupon_repository
from billow.customers.repository import customer_repository
from billow.db import utcnow
from billow.errors import Errors, NotAllowed, NotFound, ValidationFailed
from billow.kit.currency import is_currency
from billow.kit.ids import parse_lago_id
from billow.kit.limits import (
    MAX_AMOUNT_CENTS,
    MAX_PERCENTAGE,
    MAX_PERIODS,
    MAX_PRICE_DECIMALS,
    bounded_decimal,
)
from billow.kit.locking import lock_row
from billow.models.coupons import FREQUENCIES, AppliedCoupon, Coupon
from billow.models.customers import Customer
from billow.models.organizations import Organization


class AppliedCouponService:
    def apply(self, session: Session, organization: Organization, data: AppliedCouponInput) -> AppliedCoupon:
        customer = None
        if data.external_customer_id is not None:
            customer = customer_repository.by_external_id(session, organization.id, data.external_customer_id)
        if customer is None:
            raise NotFound("customer")
        # One application at a time per customer: the reusable check must see the previous one.
        customer = lock_row(session, Customer, customer.id)
        coupon = None
        if data.coupon_code is not None:
            coupon = coupon_repository.by_code(session, organization.id, data.coupon_code)
        if coupon is None or not self._applicable(coupon):
            raise NotFound("coupon")
        if (coupon.limited_plans or coupon.limited_billable_metrics) and repository.targets_overlap(
            session, customer.id, coupon.id
        ):
            raise NotAllowed(code="plan_overlapping")
        if not coupon.reusable and repository.ever_applied(session, customer.id, coupon.id):
            raise ValidationFailed.one("coupon", "coupon_is_not_reusable")
        self._validate(data)

        amount_cents = coupon.amount_cents if data.amount_cents is None else data.amount_cents
        currency = data.amount_currency or coupon.amount_currency
        frequency = data.frequency or coupon.frequency
        duration = coupon.frequency_duration if data.frequency_duration is None else data.frequency_duration
        if coupon.coupon_type == "fixed_amount":
            if customer.currency is None:
                customer.currency = currency
            elif customer.currency != currency:
                raise ValidationFailed.one("currency", "currencies_does_not_match")
        applied = AppliedCoupon(
            organization_id=organization.id,
            coupon_id=coupon.id,
            customer_id=customer.id,
            status="active",
            amount_cents=amount_cents,
            # What is left of a one-time fixed amount (Lago shows none for the other kinds).
            amount_cents_remaining=(
                amount_cents if coupon.coupon_type == "fixed_amount" and frequency == "once" else None
            ),
            amount_currency=currency,
            percentage_rate=coupon.percentage_rate if data.percentage_rate is None else data.percentage_rate,
            frequency=frequency,
            frequency_duration=duration,
            frequency_duration_remaining=duration,
        )
        session.add(applied)
        session.flush()
        return applied

    def terminate(
        self, session: Session, organization: Organization, external_customer_id: str, applied_coupon_id: str
    ) -> AppliedCoupon:
        """Terminate a customer's applied coupon (again: unchanged). 404 for an unknown customer or id."""
        customer = customer_repository.by_external_id(session, organization.id, external_customer_id)
        if customer is None:
            raise NotFound("customer")
        lago_id = parse_lago_id(applied_coupon_id, "applied_coupon")
        applied = repository.of_customer(session, organization.id, customer.id, lago_id)
        if applied is None:
            raise NotFound("applied_coupon")
        if applied.status != "terminated":
            applied.status = "terminated"
            applied.terminated_at = utcnow()
            session.flush()
        return applied

    @staticmethod
    def _applicable(coupon: Coupon) -> bool:
        """Active and not past its expiration (the clock terminates it then; this does not wait for it)."""
        if coupon.status != "active":
            return False
        return coupon.expiration_at is None or coupon.expiration_at > utcnow()

    @staticmethod
    def _validate(data: AppliedCouponInput) -> None:
        errors = Errors()
        if data.amount_cents is not None and not 0 <= data.amount_cents <= MAX_AMOUNT_CENTS:
            errors.add("amount_cents", "value_is_out_of_range")
        if data.amount_currency is not None and not is_currency(data.amount_currency):
            errors.add("amount_currency", "value_is_invalid")
        rate = data.percentage_rate
        if rate is not None and not (
            bounded_decimal(rate, high=MAX_PERCENTAGE, decimals=MAX_PRICE_DECIMALS) and rate > 0
        ):
            errors.add("percentage_rate", "value_is_out_of_range")
        if data.frequency is not None and data.frequency not in FREQUENCIES:
            errors.add("frequency", "value_is_invalid")
        if data.frequency_duration is not None and not 0 <= data.frequency_duration <= MAX_PERIODS:
            errors.add("frequency_duration", "value_is_out_of_range")
        errors.raise_if_any()


applied_coupon_service = AppliedCouponService()
