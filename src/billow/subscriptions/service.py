"""Subscriptions: create (creating the customer if needed), plan changes, read, list, update,
terminate, and the timed transitions (pending → active at ``subscription_at``, active → terminated at
``ending_at``, a pending downgrade replacing its subscription at ``plan_change_at``).

Plan changes (Lago's ``PlanUpgradeService``/``PlanDowngradeService``): re-posting an active
subscription's external id with another plan of the same currency is an **upgrade** when the new plan's
yearly amount (:func:`yearly_amount_cents`) is at least the old one's: the old subscription is terminated
now (its final invoice comes with the billing run; a pay-in-advance fee's unused days, the switch day
included, are credited, :mod:`billow.credit_notes.service`), and a new one starts now with the same
external id. Otherwise it is a **downgrade**: a ``pending`` subscription that replaces the active one at
the end of its current billing period; the answer is the active subscription (``next_plan_code``,
``downgrade_plan_date``). A new plan change replaces a pending downgrade (canceled); terminating the
subscription cancels it too. A subscription that has not started yet just takes the new plan.

Termination of a pay-in-advance subscription credits the unused days per ``on_termination_credit_note``.
``plan_overrides`` give the subscription a child plan of its plan (:meth:`PlanService.override`);
the subscription's ``plan_code`` stays the parent's. Not here: trials (``trial_ended_at`` stays null).
Error codes are Lago's: ``invalid_date``, ``currencies_does_not_match``, ``value_already_exist``,
``invalid_value``, ``subscription_not_found``, ``plan_not_found``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select
from sqlalchemy.orm import Session

from billow.config import max_backdate_days
from billow.credit_notes.service import credit_note_service
from billow.customers.service import customer_service
from billow.errors import Errors, NotAllowed, NotFound, ValidationFailed
from billow.kit.currency import is_currency
from billow.kit.time import local_date
from billow.models.customers import Customer
from billow.models.organizations import Organization
from billow.models.plans import Plan
from billow.models.subscriptions import Subscription, SubscriptionStatus
from billow.plans.repository import plan_repository
from billow.plans.schemas import PlanOverridesInput
from billow.plans.service import plan_service
from billow.subscriptions.calendar import BillingTime, Interval, period_containing
from billow.subscriptions.follow_up import bill_after_commit
from billow.subscriptions.repository import DEFAULT_CREDIT_NOTE
from billow.subscriptions.repository import subscription_repository as repository
from billow.subscriptions.schemas import (
    PlanChange,
    SubscriptionFilters,
    SubscriptionInput,
    SubscriptionUpdateInput,
)

ON_TERMINATION_CREDIT_NOTES = ("credit", "skip", "refund", "offset")
ON_TERMINATION_INVOICES = ("generate", "skip")
DEFAULT_TERMINATION_INVOICE = "generate"
#: Statuses the list filter knows (Lago's; ``incomplete`` never occurs here yet).
STATUSES = (*(status.value for status in SubscriptionStatus), "incomplete")
#: Column lengths checked before writing (``value_is_too_long``).
MAX_LENGTH = 255


def parse_instant(value: Any) -> datetime | None:
    """An ISO-8601 date or datetime as an aware UTC datetime (no offset = UTC); ``None`` if unreadable."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def within_backdating_horizon(subscription_at: datetime, now: datetime) -> bool:
    """A subscription may start at most ``BILLOW_MAX_BACKDATE_DAYS`` before ``now`` (issue 9: a start in
    year 1 made billing catch up 24,311 monthly invoices); 422 ``value_is_out_of_range`` beyond."""
    return subscription_at >= now - timedelta(days=max_backdate_days())


def _ending_at_valid(ending_at: datetime, subscription_at: datetime, now: datetime) -> bool:
    """Lago's rule: the end is on a later (UTC) day than today and than the start."""
    return ending_at.date() > now.date() and ending_at.date() > subscription_at.date()


def _purchase_order_number(value: str) -> str | None:
    return value.strip() or None


#: Periods per year, to compare plans of different intervals (Lago's ``Plan#yearly_amount_cents``).
_PER_YEAR = {
    Interval.WEEKLY: 52,
    Interval.MONTHLY: 12,
    Interval.QUARTERLY: 4,
    Interval.SEMIANNUAL: 2,
    Interval.YEARLY: 1,
}


def yearly_amount_cents(plan: Plan) -> int:
    return plan.amount_cents * _PER_YEAR[Interval(plan.interval)]


def is_upgrade(current: Plan, new: Plan) -> bool:
    """Lago's rule: an upgrade when the new plan's yearly amount is at least the current one's."""
    return yearly_amount_cents(new) >= yearly_amount_cents(current)


@dataclass(frozen=True)
class _PlanChangeInput:
    """What a plan change takes from the request (the rest comes from the current subscription)."""

    name: str
    ending_at: datetime | None
    consolidate_invoice: bool
    progressive_billing_disabled: bool
    purchase_order_number: str | None


@dataclass(frozen=True)
class DueTransitions:
    activated: list[uuid.UUID]
    terminated: list[uuid.UUID]


class SubscriptionService:
    # ---------------------------------------------------------------------------------- transitions

    def apply_due_transitions(
        self, session: Session, now: datetime, organization_id: uuid.UUID | None = None
    ) -> DueTransitions:
        """Activate pending subscriptions whose ``subscription_at`` is at or before ``now`` and terminate
        active ones whose ``ending_at`` is; for one organization, or all of them (the scheduler).

        Idempotent: the result depends only on the stored rows and ``now``. Read endpoints call it with
        the request time, so answers are right even between two scheduler runs.
        """
        if not repository.has_due_transitions(session, now, organization_id):
            return DueTransitions([], [])
        activated: list[uuid.UUID] = []
        terminated: list[uuid.UUID] = []
        # Downgrades first: a subscription replaced at its period end before an ``ending_at`` that falls
        # later is replaced (the new one inherits ``ending_at``, ended below if due).
        for old, new in repository.due_plan_changes(session, now, organization_id):
            assert new.plan_change_at is not None
            old.status = SubscriptionStatus.TERMINATED
            old.terminated_at = new.plan_change_at
            session.flush()  # one active subscription per external id
            new.status = SubscriptionStatus.ACTIVE
            new.started_at = new.plan_change_at
            session.flush()
            terminated.append(old.id)
            activated.append(new.id)
        activated += repository.activate_due(session, now, organization_id)
        ended = repository.terminate_due(session, now, organization_id)
        terminated += ended
        repository.cancel_orphan_plan_changes(session, now, organization_id)
        # The billing run bills the final invoices of the ended subscriptions and the first ones of the
        # started ones; unused days of a pay-in-advance fee are credited now.
        for subscription_id in ended:
            subscription = session.get(Subscription, subscription_id)
            if subscription is not None:
                credit_note_service.credit_unused_days(session, subscription, upgrade=False, now=now)
        return DueTransitions(activated, terminated)

    # -------------------------------------------------------------------------------------- create

    def create(
        self, session: Session, organization: Organization, data: SubscriptionInput, now: datetime
    ) -> Subscription:
        """Subscribe a customer (created if unknown) to a plan.

        Re-posting the external id of the customer's live subscription on the same plan returns that
        subscription unchanged (as Lago); on another plan it is a plan change, not supported yet.
        ``plan_overrides`` put the new subscription on a child plan of the plan; the other inputs listed
        as ignored in :class:`SubscriptionInput` are ignored.
        """
        plan = plan_repository.by_code(session, organization.id, data.plan_code) if data.plan_code else None
        if plan is None:
            raise NotFound("plan")

        errors = Errors()
        external_customer_id = (data.external_customer_id or "").strip()
        external_id = (data.external_id or "").strip()
        name = (data.name or "").strip()
        purchase_order_number = _purchase_order_number(data.purchase_order_number or "")
        for field, value in (
            ("external_customer_id", external_customer_id),
            ("external_id", external_id),
        ):
            if not value:
                errors.add(field, "value_is_mandatory")
        for field, text in (
            ("external_customer_id", external_customer_id),
            ("external_id", external_id),
            ("name", name),
            ("purchase_order_number", purchase_order_number),
        ):
            if text and len(text) > MAX_LENGTH:
                errors.add(field, "value_is_too_long")
        billing_time = data.billing_time or BillingTime.CALENDAR.value
        if billing_time not in {b.value for b in BillingTime}:
            errors.add("billing_time", "value_is_invalid")
        subscription_at = now if data.subscription_at is None else parse_instant(data.subscription_at)
        if subscription_at is None:
            errors.add("subscription_at", "invalid_date")
        elif not within_backdating_horizon(subscription_at, now):
            errors.add("subscription_at", "value_is_out_of_range")
        ending_at = self._ending_at(data.ending_at, subscription_at, now, errors)
        errors.raise_if_any()
        assert subscription_at is not None

        customer = customer_service.get_or_create(session, organization, external_customer_id)
        overrides = data.plan_overrides
        self._adopt_currency(customer, plan, overrides.amount_currency if overrides is not None else None)

        live = repository.live_of_customer(session, customer.id, external_id)
        if live is not None:
            current_plan = self._plan_of(session, live)
            if plan.id in (live.plan_id, current_plan.parent_id):
                return live
            plan = self._with_overrides(session, organization, plan, overrides)
            if live.status == SubscriptionStatus.PENDING:
                # Not started yet: it just takes the new plan (Lago's ``update_pending_subscription``).
                live.plan_id = plan.id
                if name:
                    live.name = name
                session.flush()
                return live
            provided = data.provided()
            changes = _PlanChangeInput(
                name=name,
                ending_at=ending_at if "ending_at" in provided else live.ending_at,
                consolidate_invoice=live.consolidate_invoice
                if data.consolidate_invoice is None
                else data.consolidate_invoice,
                progressive_billing_disabled=bool(data.progressive_billing_disabled),
                purchase_order_number=purchase_order_number,
            )
            if is_upgrade(current_plan, plan):
                return self._upgrade(session, live, current_plan, plan, changes, now)
            return self._downgrade(session, organization, customer, live, current_plan, plan, changes, now)
        if repository.live_external_id_taken(session, organization.id, external_id):
            raise ValidationFailed.one("external_id", "value_already_exist")

        plan = self._with_overrides(session, organization, plan, overrides)
        subscription = Subscription(
            organization_id=organization.id,
            customer_id=customer.id,
            plan_id=plan.id,
            external_id=external_id,
            name=name,
            billing_time=billing_time,
            subscription_at=subscription_at,
            ending_at=ending_at,
            on_termination_invoice=DEFAULT_TERMINATION_INVOICE,
            progressive_billing_disabled=bool(data.progressive_billing_disabled),
            consolidate_invoice=True if data.consolidate_invoice is None else data.consolidate_invoice,
            purchase_order_number=purchase_order_number,
        )
        self._start_if_due(subscription, now)
        session.add(subscription)
        session.flush()
        if subscription.status == SubscriptionStatus.ACTIVE and plan.pay_in_advance:
            # Its ``subscription_starting`` invoice, right after the commit (Lago's create service).
            bill_after_commit(session, [subscription.id], now)
        return subscription

    # ---------------------------------------------------------------------------------------- read

    def get(
        self, session: Session, organization: Organization, external_id: str, status: str | None
    ) -> Subscription:
        """``GET /subscriptions/{external_id}``: the one with ``status`` (default ``active``)."""
        subscription = repository.by_external_id(
            session, organization.id, external_id, status or SubscriptionStatus.ACTIVE
        )
        if subscription is None:
            raise NotFound("subscription")
        return subscription

    def list_stmt(
        self,
        organization: Organization,
        filters: SubscriptionFilters,
        *,
        customer: Customer | None = None,
    ) -> Select[Subscription]:
        """Default status filter ``active``; if any status sent is unknown, no status filter (as Lago)."""
        requested = filters.statuses or [SubscriptionStatus.ACTIVE.value]
        statuses = requested if all(status in STATUSES for status in requested) else None
        return repository.list_stmt(
            organization.id,
            customer_id=customer.id if customer is not None else None,
            external_customer_id=None if customer is not None else filters.external_customer_id or None,
            plan_code=filters.plan_code or None,
            external_id=filters.external_id or None,
            currency=filters.currency or None,
            statuses=statuses,
        )

    # -------------------------------------------------------------------------------------- update

    def update(
        self,
        session: Session,
        organization: Organization,
        external_id: str,
        data: SubscriptionUpdateInput,
        *,
        status: str | None,
        now: datetime,
    ) -> Subscription:
        """Change what was sent. With several subscriptions under the external id, ``status=pending``
        picks the pending one, else the active one; with a single one, that one whatever its status."""
        subscription = self._for_update(session, organization, external_id, status)
        plan = self._plan_of(session, subscription)
        provided = data.provided()
        errors = Errors()

        starts_later = (
            subscription.status == SubscriptionStatus.PENDING
            and subscription.previous_subscription_id is None
        )
        subscription_at = subscription.subscription_at
        if "subscription_at" in provided:
            parsed = parse_instant(data.subscription_at)
            if parsed is None:
                errors.add("subscription_at", "invalid_date")
            elif starts_later and not within_backdating_horizon(parsed, now):
                errors.add("subscription_at", "value_is_out_of_range")
            elif starts_later:
                subscription_at = parsed
        ending_at = subscription.ending_at
        if "ending_at" in provided:
            ending_at = self._ending_at(data.ending_at, subscription_at, now, errors)
        elif (
            ending_at is not None
            and subscription_at != subscription.subscription_at
            and not ending_at.date() > subscription_at.date()
        ):
            # Moving the start past the end would make the subscription end before it starts.
            errors.add("ending_at", "invalid_date")
        if (
            data.on_termination_credit_note
            and data.on_termination_credit_note not in ON_TERMINATION_CREDIT_NOTES
        ):
            errors.add("on_termination_credit_note", "invalid_value")
        if data.on_termination_invoice and data.on_termination_invoice not in ON_TERMINATION_INVOICES:
            errors.add("on_termination_invoice", "invalid_value")
        if data.name is not None and len(data.name) > MAX_LENGTH:
            errors.add("name", "value_is_too_long")
        purchase_order_number = subscription.purchase_order_number
        if data.purchase_order_number is not None:
            purchase_order_number = _purchase_order_number(data.purchase_order_number)
            if purchase_order_number and len(purchase_order_number) > MAX_LENGTH:
                errors.add("purchase_order_number", "value_is_too_long")
        errors.raise_if_any()

        live = subscription.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PENDING)
        if purchase_order_number != subscription.purchase_order_number and not live:
            raise NotAllowed(code="purchase_order_number_not_editable")

        if data.plan_overrides is not None:
            if plan.parent_id is None:
                child = plan_service.override(session, organization, plan, None, data.plan_overrides)
                subscription.plan_id = child.id
            else:
                parent = self._parent_of(session, plan)
                plan_service.override(session, organization, parent, plan, data.plan_overrides)
        if data.name is not None:
            subscription.name = data.name
        subscription.ending_at = ending_at
        subscription.purchase_order_number = purchase_order_number
        if data.progressive_billing_disabled is not None:
            subscription.progressive_billing_disabled = data.progressive_billing_disabled
        if data.consolidate_invoice is not None:
            subscription.consolidate_invoice = data.consolidate_invoice
        if "on_termination_credit_note" in provided and plan.pay_in_advance:
            # Only pay-in-advance plans have unused days to credit (Lago ignores it for the others).
            subscription.on_termination_credit_note = data.on_termination_credit_note or None
        if "on_termination_invoice" in provided:
            subscription.on_termination_invoice = data.on_termination_invoice or DEFAULT_TERMINATION_INVOICE
        if starts_later and subscription_at != subscription.subscription_at:
            subscription.subscription_at = subscription_at
            self._start_if_due(subscription, now)
        session.flush()
        return subscription

    # ----------------------------------------------------------------------------------- terminate

    def terminate(
        self,
        session: Session,
        organization: Organization,
        external_id: str,
        *,
        status: str | None,
        on_termination_credit_note: str | None,
        on_termination_invoice: str | None,
        now: datetime,
    ) -> Subscription:
        """``DELETE /subscriptions/{external_id}``: terminate the active subscription now, or with
        ``status=pending`` cancel the pending one. Anything else (already ended) is not found, as Lago."""
        if status == SubscriptionStatus.PENDING:
            subscription = repository.by_external_id(
                session, organization.id, external_id, SubscriptionStatus.PENDING
            )
        else:
            subscription = repository.active_by_external_id(session, organization.id, external_id)
        if subscription is None:
            raise NotFound("subscription")

        if subscription.status == SubscriptionStatus.PENDING:
            subscription.status = SubscriptionStatus.CANCELED
            subscription.canceled_at = now
            session.flush()
            return subscription

        plan = self._plan_of(session, subscription)
        errors = Errors()
        if on_termination_invoice and on_termination_invoice not in ON_TERMINATION_INVOICES:
            errors.add("on_termination_invoice", "invalid_value")
        if (
            plan.pay_in_advance
            and on_termination_credit_note
            and on_termination_credit_note not in ON_TERMINATION_CREDIT_NOTES
        ):
            errors.add("on_termination_credit_note", "invalid_value")
        errors.raise_if_any()

        subscription.status = SubscriptionStatus.TERMINATED
        subscription.terminated_at = now
        subscription.on_termination_invoice = (
            on_termination_invoice or subscription.on_termination_invoice or DEFAULT_TERMINATION_INVOICE
        )
        if plan.pay_in_advance:
            subscription.on_termination_credit_note = (
                on_termination_credit_note or subscription.on_termination_credit_note or DEFAULT_CREDIT_NOTE
            )
        self._cancel_pending_plan_change(session, subscription, now)
        session.flush()
        credit_note_service.credit_unused_days(session, subscription, upgrade=False, now=now)
        if subscription.on_termination_invoice != "skip":
            # The final invoice, right after the commit (the billing scan otherwise).
            bill_after_commit(session, [subscription.id], now)
        return subscription

    # ---------------------------------------------------------------------------------- plan changes

    def _upgrade(
        self,
        session: Session,
        current: Subscription,
        current_plan: Plan,
        plan: Plan,
        changes: _PlanChangeInput,
        now: datetime,
    ) -> Subscription:
        """Terminate ``current`` now and start the new plan now (Lago's ``PlanUpgradeService``)."""
        self._cancel_pending_plan_change(session, current, now)
        current.status = SubscriptionStatus.TERMINATED
        current.terminated_at = now
        if current_plan.pay_in_advance and current.on_termination_credit_note is None:
            current.on_termination_credit_note = DEFAULT_CREDIT_NOTE
        session.flush()  # one active subscription per external id
        new = self._next_subscription(current, plan, changes)
        new.status = SubscriptionStatus.ACTIVE
        new.started_at = now
        session.add(new)
        session.flush()
        credit_note_service.credit_unused_days(session, current, upgrade=True, now=now)
        # The old subscription's final invoice and the new one's first, in one billing call.
        bill_after_commit(session, [current.id, new.id], now)
        return new

    def _downgrade(
        self,
        session: Session,
        organization: Organization,
        customer: Customer,
        current: Subscription,
        current_plan: Plan,
        plan: Plan,
        changes: _PlanChangeInput,
        now: datetime,
    ) -> Subscription:
        """Add a pending subscription replacing ``current`` at the end of its billing period (Lago's
        ``PlanDowngradeService``); answer ``current``."""
        assert current.started_at is not None
        self._cancel_pending_plan_change(session, current, now)
        timezone = customer.applicable_timezone(organization)
        period = period_containing(
            now,
            interval=current_plan.interval,
            billing_time=current.billing_time,
            anchor=local_date(current.started_at, timezone),
            timezone=timezone,
        )
        new = self._next_subscription(current, plan, changes)
        new.status = SubscriptionStatus.PENDING
        new.plan_change_at = period.end
        session.add(new)
        session.flush()
        return current

    def _next_subscription(
        self, current: Subscription, plan: Plan, changes: _PlanChangeInput
    ) -> Subscription:
        return Subscription(
            organization_id=current.organization_id,
            customer_id=current.customer_id,
            plan_id=plan.id,
            external_id=current.external_id,
            name=changes.name,
            billing_time=current.billing_time,
            subscription_at=current.subscription_at,
            ending_at=changes.ending_at,
            previous_subscription_id=current.id,
            on_termination_invoice=DEFAULT_TERMINATION_INVOICE,
            progressive_billing_disabled=changes.progressive_billing_disabled,
            consolidate_invoice=changes.consolidate_invoice,
            purchase_order_number=changes.purchase_order_number,
        )

    def _cancel_pending_plan_change(self, session: Session, current: Subscription, now: datetime) -> None:
        pending = repository.pending_plan_change_of(session, current.id)
        if pending is not None:
            pending.status = SubscriptionStatus.CANCELED
            pending.canceled_at = now

    def plan_changes(
        self, session: Session, subscriptions: list[Subscription], *, timezone_of: Any
    ) -> dict[uuid.UUID, PlanChange]:
        """``previous_plan_code``, ``next_plan_code`` and ``downgrade_plan_date`` of each subscription;
        ``timezone_of(subscription)`` gives its customer's zone."""
        following, previous = repository.plan_change_links(session, subscriptions)
        result: dict[uuid.UUID, PlanChange] = {}
        for subscription in subscriptions:
            next_code = None
            downgrade_date = None
            if subscription.id in following:
                next_code, next_subscription = following[subscription.id]
                if (
                    next_subscription.status == SubscriptionStatus.PENDING
                    and next_subscription.plan_change_at
                ):
                    downgrade_date = local_date(
                        next_subscription.plan_change_at, timezone_of(subscription)
                    ).isoformat()
            result[subscription.id] = PlanChange(
                previous_plan_code=previous.get(subscription.id),
                next_plan_code=next_code,
                downgrade_plan_date=downgrade_date,
            )
        return result

    def replaced_by_plan_change(self, session: Session, subscription: Subscription) -> bool:
        """Whether a plan change replaced this (terminated) subscription: its last plan-fee day is then
        the day before the switch (the next plan pays for the switch day)."""
        return repository.replaced_by_plan_change(session, subscription.id)

    def plan_fee_end(self, session: Session, subscription: Subscription, timezone: str) -> datetime | None:
        """The end of the subscription's plan-fee span: ``terminated_at``, or for a subscription replaced
        by a plan change the start of the switch day (customer's zone), which the next plan pays for
        (Lago bills the old plan up to the day before: upgraded Jan 10, the old fee covers Jan 1-9)."""
        ended = subscription.terminated_at
        if ended is None or not repository.replaced_by_plan_change(session, subscription.id):
            return ended
        zone = ZoneInfo(timezone)
        local = ended.astimezone(zone)
        return datetime.combine(local.date(), time(), tzinfo=zone).astimezone(UTC)

    def charges_carried_over(self, session: Session, subscription: Subscription) -> set[uuid.UUID]:
        """Charges of a subscription replaced by a plan change whose billable metric is recurring and
        also charged by the next plan: their usage carries over and is billed by the next subscription
        (Lago's ``Charge#included_in_next_subscription?``), not by this one's final invoice."""
        if subscription.terminated_at is None:
            return set()
        return repository.recurring_charges_shared_with_next_plan(session, subscription)

    # ------------------------------------------------------------------------------------ internals

    def _ending_at(
        self, value: Any, subscription_at: datetime | None, now: datetime, errors: Errors
    ) -> datetime | None:
        """The parsed ``ending_at``; ``None`` when absent or empty (no end)."""
        if value is None or value == "":
            return None
        ending_at = parse_instant(value)
        if (
            ending_at is None
            or subscription_at is None
            or not _ending_at_valid(ending_at, subscription_at, now)
        ):
            errors.add("ending_at", "invalid_date")
            return None
        return ending_at

    def _with_overrides(
        self, session: Session, organization: Organization, plan: Plan, overrides: PlanOverridesInput | None
    ) -> Plan:
        """``plan``, or with ``plan_overrides`` a new child plan of it."""
        if overrides is None:
            return plan
        return plan_service.override(session, organization, plan, None, overrides)

    def _parent_of(self, session: Session, plan: Plan) -> Plan:
        assert plan.parent_id is not None
        return repository.plans_by_id(session, [plan.parent_id])[plan.parent_id]

    def _adopt_currency(self, customer: Customer, plan: Plan, override: str | None = None) -> None:
        """A customer bills in one currency: the first plan's, which later plans must share."""
        # An invalid override is reported by the plan's validation.
        currency = override if override and is_currency(override) else plan.amount_currency
        if customer.currency is None:
            customer.currency = currency
        elif customer.currency != currency:
            raise ValidationFailed.one("currency", "currencies_does_not_match")

    def _start_if_due(self, subscription: Subscription, now: datetime) -> None:
        if subscription.subscription_at <= now:
            subscription.status = SubscriptionStatus.ACTIVE
            subscription.started_at = subscription.subscription_at
        else:
            subscription.status = SubscriptionStatus.PENDING
            subscription.started_at = None

    def _for_update(
        self, session: Session, organization: Organization, external_id: str, status: str | None
    ) -> Subscription:
        if repository.count_by_external_id(session, organization.id, external_id) > 1:
            wanted = (
                SubscriptionStatus.PENDING
                if status == SubscriptionStatus.PENDING
                else SubscriptionStatus.ACTIVE
            )
            subscription = repository.by_external_id(session, organization.id, external_id, wanted)
        else:
            subscription = repository.by_external_id(session, organization.id, external_id)
        if subscription is None:
            raise NotFound("subscription")
        return subscription

    def _plan_of(self, session: Session, subscription: Subscription) -> Plan:
        return repository.plans_by_id(session, [subscription.plan_id])[subscription.plan_id]


subscription_service = SubscriptionService()
