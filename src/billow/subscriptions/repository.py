"""All SQL of subscriptions."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import Select, and_, case, exists, literal, or_, select, update
from sqlalchemy.orm import Session, aliased

from billow.models.billable_metrics import BillableMetric
from billow.models.credit_notes import CreditNoteReason
from billow.models.customers import Customer
from billow.models.plans import Charge, Plan
from billow.models.subscriptions import Subscription, SubscriptionStatus

_LIVE = (SubscriptionStatus.ACTIVE, SubscriptionStatus.PENDING)
#: What a pay-in-advance subscription does with its unused days when terminated, unless told otherwise.
DEFAULT_CREDIT_NOTE = "credit"

#: ``status=None`` lookups prefer the active subscription, then the pending one, then ended ones.
_RELEVANCE = case(
    (Subscription.status == SubscriptionStatus.ACTIVE, 0),
    (Subscription.status == SubscriptionStatus.PENDING, 1),
    (Subscription.status == SubscriptionStatus.TERMINATED, 2),
    else_=3,
)


class SubscriptionRepository:
    # ------------------------------------------------------------------------------------- lookups

    def active_by_external_id(
        self, session: Session, organization_id: uuid.UUID, external_id: str
    ) -> Subscription | None:
        """The active subscription with this external id (there is at most one)."""
        return session.scalars(
            select(Subscription).where(
                Subscription.organization_id == organization_id,
                Subscription.external_id == external_id,
                Subscription.status == SubscriptionStatus.ACTIVE,
            )
        ).first()

    def active_of_customer(
        self, session: Session, customer: Customer, external_id: str
    ) -> Subscription | None:
        """The customer's active subscription with this external id."""
        return session.scalars(
            select(Subscription).where(
                Subscription.organization_id == customer.organization_id,
                Subscription.customer_id == customer.id,
                Subscription.external_id == external_id,
                Subscription.status == SubscriptionStatus.ACTIVE,
            )
        ).first()

    def by_external_id(
        self,
        session: Session,
        organization_id: uuid.UUID,
        external_id: str,
        status: str | None = None,
    ) -> Subscription | None:
        """The subscription with this external id and status, the most recent one first.

        Most recent: not terminated before terminated, then the latest ``terminated_at``, then the
        latest ``started_at`` (Lago's order). Without ``status``, the most relevant one: the active
        subscription, else the pending one, else the last terminated, else the last canceled.
        """
        stmt = select(Subscription).where(
            Subscription.organization_id == organization_id, Subscription.external_id == external_id
        )
        stmt = stmt.where(Subscription.status == status) if status is not None else stmt.order_by(_RELEVANCE)
        stmt = stmt.order_by(
            Subscription.terminated_at.desc().nulls_first(),
            Subscription.canceled_at.desc().nulls_first(),
            Subscription.started_at.desc().nulls_first(),
            Subscription.created_at.desc(),
            Subscription.id,
        )
        return session.scalars(stmt.limit(1)).first()

    def count_by_external_id(self, session: Session, organization_id: uuid.UUID, external_id: str) -> int:
        return len(
            session.scalars(
                select(Subscription.id)
                .where(
                    Subscription.organization_id == organization_id, Subscription.external_id == external_id
                )
                .limit(2)
            ).all()
        )

    def live_of_customer(
        self, session: Session, customer_id: uuid.UUID, external_id: str
    ) -> Subscription | None:
        """The customer's active subscription with this external id, else its pending (not a plan change)."""
        return session.scalars(
            select(Subscription)
            .where(
                Subscription.customer_id == customer_id,
                Subscription.external_id == external_id,
                or_(
                    Subscription.status == SubscriptionStatus.ACTIVE,
                    and_(
                        Subscription.status == SubscriptionStatus.PENDING,
                        Subscription.previous_subscription_id.is_(None),
                    ),
                ),
            )
            .order_by(_RELEVANCE, Subscription.created_at.desc(), Subscription.id)
        ).first()

    def live_external_id_taken(self, session: Session, organization_id: uuid.UUID, external_id: str) -> bool:
        """Another active or pending subscription of the organization uses this external id."""
        return bool(
            session.scalar(
                select(
                    exists().where(
                        Subscription.organization_id == organization_id,
                        Subscription.external_id == external_id,
                        Subscription.status.in_(_LIVE),
                    )
                )
            )
        )

    # -------------------------------------------------------------------------------- plan changes

    def pending_plan_change_of(self, session: Session, subscription_id: uuid.UUID) -> Subscription | None:
        """The pending downgrade that will replace this subscription, if any."""
        return session.scalars(
            select(Subscription)
            .where(
                Subscription.previous_subscription_id == subscription_id,
                Subscription.status == SubscriptionStatus.PENDING,
            )
            .order_by(Subscription.created_at.desc(), Subscription.id)
        ).first()

    def replaced_by_plan_change(self, session: Session, subscription_id: uuid.UUID) -> bool:
        """Whether a plan change replaced (or will replace) this subscription: a next subscription that
        was not canceled (Lago's ``next_subscription``)."""
        return bool(
            session.scalar(
                select(
                    exists().where(
                        Subscription.previous_subscription_id == subscription_id,
                        Subscription.status != SubscriptionStatus.CANCELED,
                    )
                )
            )
        )

    def recurring_charges_shared_with_next_plan(
        self, session: Session, subscription: Subscription
    ) -> set[uuid.UUID]:
        """Charge ids of the subscription's plan on a recurring metric that the plan of its next (not
        canceled) subscription also charges."""
        following = aliased(Subscription)
        next_charge = aliased(Charge)
        next_plans = select(following.plan_id).where(
            following.previous_subscription_id == subscription.id,
            following.status != SubscriptionStatus.CANCELED,
        )
        rows = session.scalars(
            select(Charge.id)
            .join(BillableMetric, BillableMetric.id == Charge.billable_metric_id)
            .where(
                Charge.plan_id == subscription.plan_id,
                BillableMetric.recurring.is_(True),
                exists().where(
                    next_charge.plan_id.in_(next_plans),
                    next_charge.billable_metric_id == Charge.billable_metric_id,
                    next_charge.deleted_at.is_(None),
                ),
            )
        )
        return set(rows)

    def plan_change_links(
        self, session: Session, subscriptions: Sequence[Subscription]
    ) -> tuple[dict[uuid.UUID, tuple[str, Subscription]], dict[uuid.UUID, str]]:
        """For each subscription: its next (not canceled) subscription with that one's plan code, and its
        previous subscription's plan code."""
        ids = [s.id for s in subscriptions]
        previous_ids = [s.previous_subscription_id for s in subscriptions if s.previous_subscription_id]
        following: dict[uuid.UUID, tuple[str, Subscription]] = {}
        previous: dict[uuid.UUID, str] = {}
        if ids:
            rows = session.execute(
                select(Subscription, Plan.code)
                .join(Plan, Plan.id == Subscription.plan_id)
                .where(
                    Subscription.previous_subscription_id.in_(ids),
                    Subscription.status != SubscriptionStatus.CANCELED,
                )
                .order_by(Subscription.created_at, Subscription.id)
            ).all()
            for next_subscription, code in rows:
                assert next_subscription.previous_subscription_id is not None
                following[next_subscription.previous_subscription_id] = (code, next_subscription)
        if previous_ids:
            codes = dict(
                session.execute(
                    select(Subscription.id, Plan.code)
                    .join(Plan, Plan.id == Subscription.plan_id)
                    .where(Subscription.id.in_(previous_ids))
                ).all()
            )
            for subscription in subscriptions:
                if subscription.previous_subscription_id in codes:
                    previous[subscription.id] = codes[subscription.previous_subscription_id]
        return following, previous

    def due_plan_changes(
        self, session: Session, now: datetime, organization_id: uuid.UUID | None
    ) -> list[tuple[Subscription, Subscription]]:
        """``(active, pending downgrade)`` pairs whose change instant has come, the active one not ending
        at or before it (then the downgrade is canceled instead)."""
        old = aliased(Subscription)
        query = (
            select(old, Subscription)
            .join(old, old.id == Subscription.previous_subscription_id)
            .where(
                Subscription.status == SubscriptionStatus.PENDING,
                Subscription.plan_change_at.is_not(None),
                Subscription.plan_change_at <= now,
                old.status == SubscriptionStatus.ACTIVE,
                or_(old.ending_at.is_(None), old.ending_at > Subscription.plan_change_at),
            )
            .order_by(Subscription.plan_change_at, Subscription.id)
        )
        if organization_id is not None:
            query = query.where(Subscription.organization_id == organization_id)
        return [(row[0], row[1]) for row in session.execute(query).all()]

    def cancel_orphan_plan_changes(
        self, session: Session, now: datetime, organization_id: uuid.UUID | None
    ) -> list[uuid.UUID]:
        """Cancel pending downgrades whose subscription ended before they could replace it."""
        previous = aliased(Subscription)
        where = [
            Subscription.status == SubscriptionStatus.PENDING,
            Subscription.previous_subscription_id.is_not(None),
            exists().where(
                previous.id == Subscription.previous_subscription_id,
                previous.status != SubscriptionStatus.ACTIVE,
            ),
        ]
        if organization_id is not None:
            where.append(Subscription.organization_id == organization_id)
        result = session.execute(
            update(Subscription)
            .where(*where)
            .values(status=SubscriptionStatus.CANCELED, canceled_at=now)
            .returning(Subscription.id)
            .execution_options(synchronize_session="fetch")
        )
        return list(result.scalars())

    # ------------------------------------------------------------------------------------- listing

    def list_stmt(
        self,
        organization_id: uuid.UUID,
        *,
        customer_id: uuid.UUID | None = None,
        external_customer_id: str | None = None,
        plan_code: str | None = None,
        external_id: str | None = None,
        currency: str | None = None,
        statuses: Sequence[str] | None = None,
    ) -> Select[Subscription]:
        """Newest ``subscription_at`` first (Lago's order). ``statuses=None``: every status."""
        stmt = select(Subscription).where(Subscription.organization_id == organization_id)
        if customer_id is not None:
            stmt = stmt.where(Subscription.customer_id == customer_id)
        if external_customer_id is not None:
            customers = select(Customer.id).where(
                Customer.organization_id == organization_id,
                Customer.external_id == external_customer_id,
                Customer.deleted_at.is_(None),
            )
            stmt = stmt.where(Subscription.customer_id.in_(customers))
        if plan_code is not None or currency is not None:
            plans = select(Plan.id).where(Plan.organization_id == organization_id)
            if plan_code is not None:
                plans = plans.where(Plan.code == plan_code)
            if currency is not None:
                plans = plans.where(Plan.amount_currency == currency)
            stmt = stmt.where(Subscription.plan_id.in_(plans))
        if external_id is not None:
            stmt = stmt.where(Subscription.external_id == external_id)
        if statuses is not None:
            stmt = stmt.where(Subscription.status.in_(list(statuses)))
        return stmt.order_by(
            Subscription.subscription_at.desc().nulls_last(), Subscription.created_at.desc(), Subscription.id
        )

    # ------------------------------------------------------------------------------ related objects

    def customers_by_id(self, session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Customer]:
        """Customers of subscriptions, deleted ones included."""
        wanted = list(set(ids))
        if not wanted:
            return {}
        return {c.id: c for c in session.scalars(select(Customer).where(Customer.id.in_(wanted)))}

    def plans_by_id(self, session: Session, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, Plan]:
        """Plans of subscriptions, deleted ones included."""
        wanted = list(set(ids))
        if not wanted:
            return {}
        return {p.id: p for p in session.scalars(select(Plan).where(Plan.id.in_(wanted)))}

    # ----------------------------------------------------------------------------- timed transitions

    def has_due_transitions(self, session: Session, now: datetime, organization_id: uuid.UUID | None) -> bool:
        """Whether a pending subscription's start or an active one's ``ending_at`` has come.

        A cheap read, so that reads which find nothing due never take a write lock.
        """
        scope = [] if organization_id is None else [Subscription.organization_id == organization_id]
        starting = exists().where(
            *scope,
            Subscription.status == SubscriptionStatus.PENDING,
            Subscription.previous_subscription_id.is_(None),
            Subscription.subscription_at <= now,
        )
        ending = exists().where(
            *scope,
            Subscription.status == SubscriptionStatus.ACTIVE,
            Subscription.ending_at.is_not(None),
            Subscription.ending_at <= now,
        )
        changing = exists().where(
            *scope,
            Subscription.status == SubscriptionStatus.PENDING,
            Subscription.plan_change_at.is_not(None),
            Subscription.plan_change_at <= now,
        )
        return bool(session.scalar(select(or_(starting, ending, changing))))

    def activate_due(
        self, session: Session, now: datetime, organization_id: uuid.UUID | None
    ) -> list[uuid.UUID]:
        """Activate pending subscriptions whose ``subscription_at`` has come, from ``subscription_at``.

        Pending plan changes (``previous_subscription_id`` set) are left to the plan-change code. Never
        makes a second active subscription for an external id: a pending one waits while another is
        active, and of several due pending ones only the earliest is activated.
        """
        other = aliased(Subscription)
        first_due = aliased(Subscription)
        due = [
            Subscription.status == SubscriptionStatus.PENDING,
            Subscription.previous_subscription_id.is_(None),
            Subscription.subscription_at <= now,
        ]
        if organization_id is not None:
            due.append(Subscription.organization_id == organization_id)
        earliest_due_id = (
            select(first_due.id)
            .where(
                first_due.organization_id == Subscription.organization_id,
                first_due.external_id == Subscription.external_id,
                first_due.status == SubscriptionStatus.PENDING,
                first_due.previous_subscription_id.is_(None),
                first_due.subscription_at <= now,
            )
            .order_by(first_due.subscription_at, first_due.created_at, first_due.id)
            .limit(1)
            .scalar_subquery()
        )
        result = session.execute(
            update(Subscription)
            .where(
                *due,
                ~exists().where(
                    other.organization_id == Subscription.organization_id,
                    other.external_id == Subscription.external_id,
                    other.status == SubscriptionStatus.ACTIVE,
                ),
                Subscription.id == earliest_due_id,
            )
            .values(status=SubscriptionStatus.ACTIVE, started_at=Subscription.subscription_at)
            .returning(Subscription.id)
            .execution_options(synchronize_session="fetch")
        )
        return list(result.scalars())

    def organizations_of(self, session: Session, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
        """The organization of each subscription of ``ids``, in the order given."""
        if not ids:
            return {}
        found = dict(
            session.execute(
                select(Subscription.id, Subscription.organization_id).where(Subscription.id.in_(set(ids)))
            ).all()
        )
        return {i: found[i] for i in ids if i in found}

    def terminate_due(
        self, session: Session, now: datetime, organization_id: uuid.UUID | None
    ) -> list[uuid.UUID]:
        """Terminate active subscriptions whose ``ending_at`` has come: ``terminated_at = ending_at``.

        As a termination on request, a pay-in-advance plan's subscription without a credit-note choice
        gets the default one (``credit``), and owes the credit of its unused days (``order_cancellation``
        as of ``now``: the billing run issues it).
        """
        pay_in_advance = select(Plan.pay_in_advance).where(Plan.id == Subscription.plan_id).scalar_subquery()
        due = [
            Subscription.status == SubscriptionStatus.ACTIVE,
            Subscription.ending_at.is_not(None),
            Subscription.ending_at <= now,
        ]
        if organization_id is not None:
            due.append(Subscription.organization_id == organization_id)
        result = session.execute(
            update(Subscription)
            .where(*due)
            .values(
                status=SubscriptionStatus.TERMINATED,
                terminated_at=Subscription.ending_at,
                on_termination_credit_note=case(
                    (
                        and_(Subscription.on_termination_credit_note.is_(None), pay_in_advance),
                        DEFAULT_CREDIT_NOTE,
                    ),
                    else_=Subscription.on_termination_credit_note,
                ),
                unused_days_credit=case(
                    (pay_in_advance, CreditNoteReason.ORDER_CANCELLATION.value),
                    else_=Subscription.unused_days_credit,
                ),
                unused_days_credit_at=case(
                    (pay_in_advance, literal(now, type_=Subscription.unused_days_credit_at.type)),
                    else_=Subscription.unused_days_credit_at,
                ),
            )
            .returning(Subscription.id)
            .execution_options(synchronize_session="fetch")
        )
        return list(result.scalars())


subscription_repository = SubscriptionRepository()
