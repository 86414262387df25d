from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Row, Table, delete, func, or_, select, update
from sqlalchemy.orm import Session

from billow.db import utcnow
from billow.models.customers import Customer
from billow.models.organizations import ApiKey, Organization


def live_key(now: datetime | None = None) -> ColumnElement[bool]:
    """A key that authenticates: not revoked, not past its ``expires_at``."""
    return ApiKey.revoked_at.is_(None) & or_(
        ApiKey.expires_at.is_(None), ApiKey.expires_at > (now or utcnow())
    )


class OrganizationRepository:
    def by_key_digest(self, session: Session, digest: str) -> Organization | None:
        found = self.key_and_organization(session, digest)
        return found[1] if found else None

    def key_and_organization(
        self, session: Session, digest: str
    ) -> tuple[uuid.UUID, Organization, datetime | None] | None:
        """The id of the live key of this digest, its organization and its ``last_used_at`` (one query)."""
        stmt = (
            select(ApiKey.id, Organization, ApiKey.last_used_at)
            .join(ApiKey, ApiKey.organization_id == Organization.id)
            .where(ApiKey.value_digest == digest, live_key())
        )
        row = session.execute(stmt).first()
        return (row[0], row[1], row[2]) if row else None

    def key_by_digest(self, session: Session, digest: str) -> ApiKey | None:
        """The key of this digest, revoked or not."""
        return session.scalars(select(ApiKey).where(ApiKey.value_digest == digest)).first()

    def get(
        self, session: Session, organization_id: uuid.UUID, *, for_update: bool = False
    ) -> Organization | None:
        stmt = select(Organization).where(Organization.id == organization_id)
        if for_update:
            stmt = stmt.with_for_update()
        return session.scalars(stmt).first()

    def by_name(self, session: Session, name: str) -> Sequence[Organization]:
        return session.scalars(
            select(Organization).where(Organization.name == name).order_by(Organization.created_at)
        ).all()

    def count(self, session: Session) -> int:
        return session.scalar(select(func.count()).select_from(Organization)) or 0

    def listing(self, session: Session) -> Sequence[Row[Organization, int, int]]:
        """Every organization with its number of active keys and of (non-deleted) customers."""
        active_keys = (
            select(func.count())
            .where(ApiKey.organization_id == Organization.id, live_key())
            .correlate(Organization)
            .scalar_subquery()
        )
        customers = (
            select(func.count())
            .where(Customer.organization_id == Organization.id, Customer.deleted_at.is_(None))
            .correlate(Organization)
            .scalar_subquery()
        )
        return session.execute(
            select(Organization, active_keys, customers).order_by(Organization.created_at, Organization.id)
        ).all()

    def add(self, session: Session, organization: Organization) -> Organization:
        session.add(organization)
        session.flush()
        return organization

    def add_key(self, session: Session, key: ApiKey) -> ApiKey:
        session.add(key)
        session.flush()
        return key

    def get_key(self, session: Session, key_id: uuid.UUID) -> ApiKey | None:
        return session.get(ApiKey, key_id)

    def keys(self, session: Session, organization_id: uuid.UUID | None = None) -> Sequence[Row[ApiKey, str]]:
        """API keys (revoked ones included) with their organization's name, oldest first."""
        stmt = (
            select(ApiKey, Organization.name)
            .join(Organization, Organization.id == ApiKey.organization_id)
            .order_by(Organization.created_at, Organization.id, ApiKey.created_at, ApiKey.id)
        )
        if organization_id is not None:
            stmt = stmt.where(ApiKey.organization_id == organization_id)
        return session.execute(stmt).all()

    def active_key_count(self, session: Session, organization_id: uuid.UUID) -> int:
        return (
            session.scalar(select(func.count()).where(ApiKey.organization_id == organization_id, live_key()))
            or 0
        )

    def organization_keys(self, session: Session, organization_id: uuid.UUID) -> Sequence[ApiKey]:
        """The organization's keys, newest first (revoked and expired ones included)."""
        return session.scalars(
            select(ApiKey)
            .where(ApiKey.organization_id == organization_id)
            .order_by(ApiKey.created_at.desc(), ApiKey.id)
        ).all()

    def organization_key(
        self, session: Session, organization_id: uuid.UUID, key_id: uuid.UUID
    ) -> ApiKey | None:
        return session.scalars(
            select(ApiKey).where(ApiKey.organization_id == organization_id, ApiKey.id == key_id)
        ).first()

    def touch_key(self, session: Session, key_id: uuid.UUID, now: datetime, every_seconds: int) -> bool:
        """Set the key's ``last_used_at`` unless it was set less than ``every_seconds`` ago (one
        statement); whether a row changed."""
        result = session.execute(
            update(ApiKey)
            .where(
                ApiKey.id == key_id,
                or_(
                    ApiKey.last_used_at.is_(None),
                    ApiKey.last_used_at < now - timedelta(seconds=every_seconds),
                ),
            )
            .values(last_used_at=now)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    def revoke_key(self, session: Session, key: ApiKey, at: datetime) -> None:
        key.revoked_at = at
        session.flush()

    def count_owned(
        self, session: Session, tables: Sequence[Table], organization_id: uuid.UUID
    ) -> dict[str, int]:
        counts: dict[str, int] = {}
        for table in tables:
            counts[table.name] = (
                session.scalar(
                    select(func.count()).select_from(table).where(table.c.organization_id == organization_id)
                )
                or 0
            )
        return counts

    def delete_owned(self, session: Session, table: Table, organization_id: uuid.UUID) -> int:
        result = session.execute(delete(table).where(table.c.organization_id == organization_id))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]

    def delete(self, session: Session, organization: Organization) -> None:
        session.execute(delete(Organization.__table__).where(Organization.id == organization.id))
        session.expunge(organization)


organization_repository = OrganizationRepository()
