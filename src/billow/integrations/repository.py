"""Every query of integrations; each one filters on the organization."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from billow.models.integrations import (
    Integration,
    IntegrationCustomer,
    IntegrationInboundEvent,
    IntegrationJob,
    IntegrationJobAttempt,
    IntegrationMapping,
    IntegrationResource,
)


class IntegrationRepository:
    def by_code(self, session: Session, organization_id: uuid.UUID, code: str) -> Integration | None:
        return session.scalars(
            select(Integration).where(
                Integration.organization_id == organization_id,
                Integration.code == code,
                Integration.deleted_at.is_(None),
            )
        ).first()

    def of_type(self, session: Session, organization_id: uuid.UUID, type_: str) -> list[Integration]:
        return list(
            session.scalars(
                select(Integration)
                .where(
                    Integration.organization_id == organization_id,
                    Integration.type == type_,
                    Integration.deleted_at.is_(None),
                )
                .order_by(Integration.created_at, Integration.id)
            )
        )

    def list_stmt(self, organization_id: uuid.UUID) -> Select[Integration]:
        return (
            select(Integration)
            .where(Integration.organization_id == organization_id, Integration.deleted_at.is_(None))
            .order_by(Integration.created_at.desc(), Integration.id)
        )

    # ------------------------------------------------------------------------------------ customers
    def customer_links(
        self, session: Session, organization_id: uuid.UUID, customer_id: uuid.UUID
    ) -> list[tuple[IntegrationCustomer, Integration]]:
        rows = session.execute(
            select(IntegrationCustomer, Integration)
            .join(Integration, Integration.id == IntegrationCustomer.integration_id)
            .where(
                IntegrationCustomer.organization_id == organization_id,
                IntegrationCustomer.customer_id == customer_id,
                Integration.deleted_at.is_(None),
            )
            .order_by(IntegrationCustomer.created_at, IntegrationCustomer.id)
        ).all()
        return [(link, integration) for link, integration in rows]

    def customer_link(
        self, session: Session, integration: Integration, customer_id: uuid.UUID
    ) -> IntegrationCustomer | None:
        return session.scalars(
            select(IntegrationCustomer).where(
                IntegrationCustomer.organization_id == integration.organization_id,
                IntegrationCustomer.integration_id == integration.id,
                IntegrationCustomer.customer_id == customer_id,
            )
        ).first()

    # ------------------------------------------------------------------------------------- mappings
    def mappings(self, session: Session, integration: Integration) -> list[IntegrationMapping]:
        return list(
            session.scalars(
                select(IntegrationMapping)
                .where(
                    IntegrationMapping.organization_id == integration.organization_id,
                    IntegrationMapping.integration_id == integration.id,
                )
                .order_by(IntegrationMapping.created_at, IntegrationMapping.id)
            )
        )

    def mappings_stmt(self, integration: Integration) -> Select[IntegrationMapping]:
        return (
            select(IntegrationMapping)
            .where(
                IntegrationMapping.organization_id == integration.organization_id,
                IntegrationMapping.integration_id == integration.id,
            )
            .order_by(IntegrationMapping.created_at, IntegrationMapping.id)
        )

    # ------------------------------------------------------------------------------------ resources
    def resource(
        self, session: Session, integration: Integration, object_type: str, object_id: uuid.UUID
    ) -> IntegrationResource | None:
        return session.scalars(
            select(IntegrationResource).where(
                IntegrationResource.organization_id == integration.organization_id,
                IntegrationResource.integration_id == integration.id,
                IntegrationResource.object_type == object_type,
                IntegrationResource.object_id == object_id,
            )
        ).first()

    def resources_of(
        self, session: Session, integration: Integration, object_type: str, object_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, IntegrationResource]:
        if not object_ids:
            return {}
        return {
            r.object_id: r
            for r in session.scalars(
                select(IntegrationResource).where(
                    IntegrationResource.organization_id == integration.organization_id,
                    IntegrationResource.integration_id == integration.id,
                    IntegrationResource.object_type == object_type,
                    IntegrationResource.object_id.in_(set(object_ids)),
                )
            )
        }

    # ----------------------------------------------------------------------------------------- jobs
    def job(self, session: Session, organization_id: uuid.UUID, job_id: uuid.UUID) -> IntegrationJob | None:
        return session.scalars(
            select(IntegrationJob).where(
                IntegrationJob.organization_id == organization_id, IntegrationJob.id == job_id
            )
        ).first()

    def jobs_stmt(
        self,
        integration: Integration,
        *,
        status: str | None = None,
        operation: str | None = None,
        object_id: uuid.UUID | None = None,
    ) -> Select[IntegrationJob]:
        stmt = select(IntegrationJob).where(
            IntegrationJob.organization_id == integration.organization_id,
            IntegrationJob.integration_id == integration.id,
        )
        if status:
            stmt = stmt.where(IntegrationJob.status == status)
        if operation:
            stmt = stmt.where(IntegrationJob.operation == operation)
        if object_id is not None:
            stmt = stmt.where(IntegrationJob.object_id == object_id)
        return stmt.order_by(IntegrationJob.created_at.desc(), IntegrationJob.id)

    def attempts(self, session: Session, job: IntegrationJob) -> list[IntegrationJobAttempt]:
        return list(
            session.scalars(
                select(IntegrationJobAttempt)
                .where(
                    IntegrationJobAttempt.organization_id == job.organization_id,
                    IntegrationJobAttempt.job_id == job.id,
                )
                .order_by(IntegrationJobAttempt.number)
            )
        )

    # --------------------------------------------------------------------------------------- inbound
    def inbound_event(
        self, session: Session, integration: Integration, event_id: str
    ) -> IntegrationInboundEvent | None:
        return session.scalars(
            select(IntegrationInboundEvent).where(
                IntegrationInboundEvent.organization_id == integration.organization_id,
                IntegrationInboundEvent.integration_id == integration.id,
                IntegrationInboundEvent.event_id == event_id,
            )
        ).first()


integration_repository = IntegrationRepository()
