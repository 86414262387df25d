from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.organizations.models import ApiKey, Organization


class OrganizationRepository:
    def by_key_digest(self, session: Session, digest: str) -> Organization | None:
        stmt = (
            select(Organization)
            .join(ApiKey, ApiKey.organization_id == Organization.id)
            .where(ApiKey.value_digest == digest, ApiKey.revoked_at.is_(None))
        )
        return session.scalars(stmt).first()

    def add(self, session: Session, organization: Organization) -> Organization:
        session.add(organization)
        session.flush()
        return organization

    def add_key(self, session: Session, key: ApiKey) -> ApiKey:
        session.add(key)
        session.flush()
        return key


organization_repository = OrganizationRepository()
