from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from pydantic import PlainSerializer, field_validator

from billow.kit.pagination import PageMeta
from billow.kit.schemas import Input, Output, Timestamp, iso_millis
from billow.models.customers import Customer
from billow.models.plans import Plan, UsageThreshold
from billow.models.subscriptions import Subscription
from billow.plans.repository import PlanGraph
from billow.plans.schemas import PlanOut, PlanOverridesInput, plan_out
from billow.subscriptions.periods import current_billing_period

#: Lago sends ``started_at`` with milliseconds (``2024-04-23T10:02:03.000Z``), other instants without.
TimestampMillis = Annotated[datetime, PlainSerializer(iso_millis, return_type=str)]

# ---------------------------------------------------------------------------------------------- input


def _scalar_as_text(value: Any) -> Any:
    """Lago accepts numbers for identifiers and names (``external_id: 789`` is ``"789"``)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


class SubscriptionInput(Input):
    """``POST /subscriptions``. Dates stay raw here: the service answers ``invalid_date`` for bad ones."""

    external_customer_id: str | None = None
    plan_code: str | None = None
    external_id: str | None = None
    name: str | None = None
    billing_time: str | None = None
    subscription_at: Any = None
    ending_at: Any = None
    purchase_order_number: str | None = None
    progressive_billing_disabled: bool | None = None
    consolidate_invoice: bool | None = None
    #: The subscription gets a child plan of ``plan_code`` with these changes.
    plan_overrides: PlanOverridesInput | None = None
    # Accepted and ignored for now: subscription usage thresholds, payment methods, invoice custom
    # sections, billing entities and activation rules do not exist yet.
    usage_thresholds: list[Any] | None = None
    payment_method: dict[str, Any] | None = None
    invoice_custom_section: dict[str, Any] | None = None
    billing_entity_code: str | None = None
    activation_rules: list[Any] | None = None

    @field_validator("external_customer_id", "plan_code", "external_id", "name", mode="before")
    @classmethod
    def _numbers_as_text(cls, value: Any) -> Any:
        return _scalar_as_text(value)


class SubscriptionRequest(Input):
    subscription: SubscriptionInput


class SubscriptionUpdateInput(Input):
    """``PUT /subscriptions/{external_id}``: only what was sent changes."""

    name: str | None = None
    ending_at: Any = None
    #: Moves the start of a subscription that has not started yet; ignored once it has (as Lago).
    subscription_at: Any = None
    on_termination_credit_note: str | None = None
    on_termination_invoice: str | None = None
    purchase_order_number: str | None = None
    progressive_billing_disabled: bool | None = None
    consolidate_invoice: bool | None = None
    #: Changes the subscription's child plan (created from its plan if it has none).
    plan_overrides: PlanOverridesInput | None = None
    # Accepted and ignored for now (see SubscriptionInput).
    usage_thresholds: list[Any] | None = None
    payment_method: dict[str, Any] | None = None
    invoice_custom_section: dict[str, Any] | None = None
    billing_entity_code: str | None = None
    activation_rules: list[Any] | None = None

    @field_validator("name", mode="before")
    @classmethod
    def _numbers_as_text(cls, value: Any) -> Any:
        return _scalar_as_text(value)


class SubscriptionUpdateRequest(Input):
    subscription: SubscriptionUpdateInput


@dataclass
class SubscriptionFilters:
    """``GET /subscriptions`` query filters, as sent."""

    external_customer_id: str | None = None
    plan_code: str | None = None
    external_id: str | None = None
    currency: str | None = None
    statuses: list[str] | None = None


# --------------------------------------------------------------------------------------------- output


class PaymentMethodOut(Output):
    payment_method_id: uuid.UUID | None
    payment_method_type: str


class ApplicableUsageThresholdOut(Output):
    threshold_display_name: str | None
    amount_cents: int
    recurring: bool


class SubscriptionOut(Output):
    """A subscription as listed (Lago's ``V1::SubscriptionSerializer`` without includes)."""

    lago_id: uuid.UUID
    external_id: str
    lago_customer_id: uuid.UUID
    external_customer_id: str
    name: str | None
    plan_code: str
    plan_amount_cents: int
    plan_amount_currency: str
    status: str
    billing_time: str
    subscription_at: Timestamp
    started_at: TimestampMillis | None
    trial_ended_at: Timestamp | None
    ending_at: Timestamp | None
    terminated_at: Timestamp | None
    canceled_at: Timestamp | None
    created_at: Timestamp
    previous_plan_code: str | None
    next_plan_code: str | None
    downgrade_plan_date: str | None
    current_billing_period_started_at: Timestamp | None
    current_billing_period_ending_at: Timestamp | None
    on_termination_credit_note: str | None
    on_termination_invoice: str
    progressive_billing_disabled: bool
    consolidate_invoice: bool
    purchase_order_number: str | None
    cancellation_reason: str | None
    activated_at: Timestamp | None
    payment_method: PaymentMethodOut
    activation_rules: list[dict[str, Any]]


class SubscriptionDetailOut(SubscriptionOut):
    """A single subscription (create, show, update, terminate) also carries its plan and related lists."""

    plan: PlanOut
    entitlements: list[dict[str, Any]]
    applicable_usage_thresholds: list[ApplicableUsageThresholdOut]
    applied_invoice_custom_sections: list[dict[str, Any]]


class SubscriptionEnvelope(Output):
    subscription: SubscriptionDetailOut


class SubscriptionList(Output):
    subscriptions: list[SubscriptionOut]
    meta: PageMeta


@dataclass(frozen=True)
class PlanChange:
    """What a subscription's JSON says about plan changes (Lago's ``previous_plan_code``,
    ``next_plan_code`` and ``downgrade_plan_date``)."""

    previous_plan_code: str | None = None
    next_plan_code: str | None = None
    #: Local date on which a pending downgrade starts.
    downgrade_plan_date: str | None = None


def subscription_out(
    subscription: Subscription,
    customer: Customer,
    plan: Plan,
    *,
    timezone: str,
    now: datetime,
    plan_change: PlanChange | None = None,
) -> SubscriptionOut:
    return SubscriptionOut(
        **_fields(subscription, customer, plan, timezone=timezone, now=now, plan_change=plan_change)
    )


def subscription_detail_out(
    subscription: Subscription,
    customer: Customer,
    plan_graph: PlanGraph,
    *,
    timezone: str,
    now: datetime,
    plan_change: PlanChange | None = None,
) -> SubscriptionDetailOut:
    plan = plan_graph.plan
    thresholds: Sequence[UsageThreshold] = (
        [] if subscription.progressive_billing_disabled else plan_graph.thresholds
    )
    return SubscriptionDetailOut(
        **_fields(subscription, customer, plan, timezone=timezone, now=now, plan_change=plan_change),
        plan=plan_out(plan_graph),
        entitlements=[],
        applicable_usage_thresholds=[
            ApplicableUsageThresholdOut(
                threshold_display_name=t.threshold_display_name,
                amount_cents=t.amount_cents,
                recurring=t.recurring,
            )
            for t in thresholds
        ],
        applied_invoice_custom_sections=[],
    )


def _fields(
    subscription: Subscription,
    customer: Customer,
    plan: Plan,
    *,
    timezone: str,
    now: datetime,
    plan_change: PlanChange | None = None,
) -> dict[str, Any]:
    change = plan_change or PlanChange()
    period = current_billing_period(
        subscription,
        plan_interval=plan.interval,
        bill_charges_monthly=plan.bill_charges_monthly,
        timezone=timezone,
        now=now,
    )
    return {
        "lago_id": subscription.id,
        "external_id": subscription.external_id,
        "lago_customer_id": customer.id,
        "external_customer_id": customer.external_id,
        "name": subscription.name,
        "plan_code": plan.code,
        "plan_amount_cents": plan.amount_cents,
        "plan_amount_currency": plan.amount_currency,
        "status": subscription.status,
        "billing_time": subscription.billing_time,
        "subscription_at": subscription.subscription_at,
        "started_at": subscription.started_at,
        "trial_ended_at": subscription.trial_ended_at,
        "ending_at": subscription.ending_at,
        "terminated_at": subscription.terminated_at,
        "canceled_at": subscription.canceled_at,
        "created_at": subscription.created_at,
        "previous_plan_code": change.previous_plan_code,
        "next_plan_code": change.next_plan_code,
        "downgrade_plan_date": change.downgrade_plan_date,
        "current_billing_period_started_at": period.started_at,
        "current_billing_period_ending_at": period.ending_at,
        "on_termination_credit_note": subscription.on_termination_credit_note,
        "on_termination_invoice": subscription.on_termination_invoice,
        "progressive_billing_disabled": subscription.progressive_billing_disabled,
        "consolidate_invoice": subscription.consolidate_invoice,
        "purchase_order_number": subscription.purchase_order_number,
        "cancellation_reason": None,
        # Without activation rules a subscription is activated when it starts.
        "activated_at": subscription.started_at,
        "payment_method": PaymentMethodOut(payment_method_id=None, payment_method_type="provider"),
        "activation_rules": [],
    }
