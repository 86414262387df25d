"""The few reads the dashboard needs that no domain offers: objects by ``lago_id`` (the pages' URLs) and
the event debugger's extra filters. Every query is scoped to the viewer's organization."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from billow.events.repository import event_repository
from billow.kit.ids import parse_uuid
from billow.models.customers import Customer
from billow.models.events import Event
from billow.models.plans import Plan
from billow.models.subscriptions import Subscription
from billow.models.wallets import Wallet


def customer_by_id(session: Session, organization_id: uuid.UUID, lago_id: str) -> Customer | None:
    wanted = parse_uuid(lago_id)
    if wanted is None:
        return None
    return session.scalar(
        select(Customer).where(
            Customer.organization_id == organization_id, Customer.id == wanted, Customer.deleted_at.is_(None)
        )
    )


def subscription_by_id(session: Session, organization_id: uuid.UUID, lago_id: str) -> Subscription | None:
    wanted = parse_uuid(lago_id)
    if wanted is None:
        return None
    return session.scalar(
        select(Subscription).where(Subscription.organization_id == organization_id, Subscription.id == wanted)
    )


def subscriptions_of(session: Session, customer: Customer) -> list[Subscription]:
    """Every subscription of the customer, newest first."""
    return list(
        session.scalars(
            select(Subscription)
            .where(
                Subscription.organization_id == customer.organization_id,
                Subscription.customer_id == customer.id,
            )
            .order_by(Subscription.created_at.desc(), Subscription.id)
        )
    )


def live_plans(session: Session, organization_id: uuid.UUID) -> list[tuple[str, str]]:
    """``(code, name)`` of the organization's plans that can be subscribed to (not children)."""
    rows = session.execute(
        select(Plan.code, Plan.name)
        .where(Plan.organization_id == organization_id, Plan.deleted_at.is_(None), Plan.parent_id.is_(None))
        .order_by(Plan.name, Plan.code)
    )
    return [(code, name) for code, name in rows]


def wallets_of(session: Session, customer: Customer) -> list[Wallet]:
    return list(
        session.scalars(
            select(Wallet)
            .where(Wallet.organization_id == customer.organization_id, Wallet.customer_id == customer.id)
            .order_by(Wallet.created_at.desc(), Wallet.id)
        )
    )


def customer_external_ids(
    session: Session, organization_id: uuid.UUID, ids: set[uuid.UUID]
) -> dict[uuid.UUID, str]:
    if not ids:
        return {}
    rows = session.execute(
        select(Customer.id, Customer.external_id).where(
            Customer.organization_id == organization_id, Customer.id.in_(ids)
        )
    )
    return {customer_id: external_id for customer_id, external_id in rows}


def event_by_id(session: Session, organization_id: uuid.UUID, lago_id: str) -> Event | None:
    wanted = parse_uuid(lago_id)
    if wanted is None:
        return None
    return session.scalar(select(Event).where(Event.organization_id == organization_id, Event.id == wanted))


def events_stmt(
    organization_id: uuid.UUID,
    *,
    external_customer_id: str | None,
    external_subscription_id: str | None,
    code: str | None,
    transaction_id: str | None,
) -> Select[Any]:
    """``GET /events``' query (newest first) with the debugger's filters: the customer's subscriptions'
    events, and one transaction id."""
    stmt = event_repository.list_stmt(
        organization_id, code=code or None, external_subscription_id=external_subscription_id or None
    )
    if transaction_id:
        stmt = stmt.where(Event.transaction_id == transaction_id)
    if external_customer_id:
        external_ids = (
            select(Subscription.external_id)
            .join(Customer, Customer.id == Subscription.customer_id)
            .where(
                Subscription.organization_id == organization_id,
                Customer.organization_id == organization_id,
                Customer.external_id == external_customer_id,
                Customer.deleted_at.is_(None),
            )
        )
        stmt = stmt.where(Event.external_subscription_id.in_(external_ids))
    return stmt
