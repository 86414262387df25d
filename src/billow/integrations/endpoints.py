from __future__ import annotations

from fastapi import APIRouter, Query

from billow.auth import CurrentOrganization
from billow.db import DbSession
from billow.errors import Errors, NotAllowed, NotFound
from billow.integrations.jobs import OPERATIONS, requeue
from billow.integrations.repository import integration_repository as repository
from billow.integrations.schemas import (
    IntegrationEnvelope,
    IntegrationList,
    IntegrationRequest,
    JobDetailOut,
    JobEnvelope,
    JobList,
    MappingEnvelope,
    MappingList,
    MappingRequest,
    ProviderList,
    ProviderOut,
    integration_out,
    job_out,
    mapping_out,
)
from billow.integrations.service import integration_service as service
from billow.kit.ids import parse_lago_id, parse_uuid
from billow.kit.pagination import Pagination, paginate
from billow.kit.strict_json import StrictJSONRoute
from billow.models.integrations import Integration, JobStatus
from billow.providers import registry

router = APIRouter(tags=["integrations"], route_class=StrictJSONRoute)


@router.get("/integrations/providers", response_model=ProviderList)
def providers(organization: CurrentOrganization) -> ProviderList:
    """The provider types installed (``type`` of an integration), with their fields."""
    return ProviderList(
        providers=[
            ProviderOut(
                type=name,
                kind=str(provider.kind),
                settings_fields=dict(provider.settings_fields),
                secret_fields=dict(provider.secret_fields),
            )
            for name, provider in sorted(registry.providers().items())
        ]
    )


@router.post("/integrations", response_model=IntegrationEnvelope)
def create(
    body: IntegrationRequest, session: DbSession, organization: CurrentOrganization
) -> IntegrationEnvelope:
    return IntegrationEnvelope(
        integration=integration_out(service.create(session, organization, body.integration))
    )


@router.get("/integrations", response_model=IntegrationList)
def index(session: DbSession, organization: CurrentOrganization, pages: Pagination) -> IntegrationList:
    integrations, meta = paginate(session, repository.list_stmt(organization.id), pages)
    return IntegrationList(integrations=[integration_out(i) for i in integrations], meta=meta)


@router.get("/integrations/{code}", response_model=IntegrationEnvelope)
def show(code: str, session: DbSession, organization: CurrentOrganization) -> IntegrationEnvelope:
    return IntegrationEnvelope(integration=integration_out(service.get(session, organization, code)))


@router.put("/integrations/{code}", response_model=IntegrationEnvelope)
def update(
    code: str, body: IntegrationRequest, session: DbSession, organization: CurrentOrganization
) -> IntegrationEnvelope:
    integration = service.update(session, organization, code, body.integration)
    return IntegrationEnvelope(integration=integration_out(integration))


@router.delete("/integrations/{code}", response_model=IntegrationEnvelope)
def destroy(code: str, session: DbSession, organization: CurrentOrganization) -> IntegrationEnvelope:
    return IntegrationEnvelope(integration=integration_out(service.delete(session, organization, code)))


# ---------------------------------------------------------------------------------------------- mappings
@router.get("/integrations/{code}/mappings", response_model=MappingList)
def mappings(
    code: str, session: DbSession, organization: CurrentOrganization, pages: Pagination
) -> MappingList:
    integration = service.get(session, organization, code)
    rows, meta = paginate(session, repository.mappings_stmt(integration), pages)
    return MappingList(integration_mappings=[mapping_out(m) for m in rows], meta=meta)


@router.post("/integrations/{code}/mappings", response_model=MappingEnvelope)
def create_mapping(
    code: str, body: MappingRequest, session: DbSession, organization: CurrentOrganization
) -> MappingEnvelope:
    mapping = service.create_mapping(session, organization, code, body.integration_mapping)
    return MappingEnvelope(integration_mapping=mapping_out(mapping))


@router.delete("/integrations/{code}/mappings/{mapping_id}", response_model=MappingEnvelope)
def delete_mapping(
    code: str, mapping_id: str, session: DbSession, organization: CurrentOrganization
) -> MappingEnvelope:
    mapping = service.delete_mapping(session, organization, code, mapping_id)
    return MappingEnvelope(integration_mapping=mapping_out(mapping))


# -------------------------------------------------------------------------------------------------- jobs
@router.get("/integrations/{code}/jobs", response_model=JobList)
def jobs(
    code: str,
    session: DbSession,
    organization: CurrentOrganization,
    pages: Pagination,
    status: str | None = Query(default=None),
    operation: str | None = Query(default=None),
    object_id: str | None = Query(default=None),
) -> JobList:
    integration = service.get(session, organization, code)
    errors = Errors()
    if status and status not in tuple(JobStatus):
        errors.add("status", "value_is_invalid")
    if operation and operation not in OPERATIONS:
        errors.add("operation", "value_is_invalid")
    wanted = parse_uuid(object_id) if object_id else None
    if object_id and wanted is None:
        errors.add("object_id", "value_is_invalid")
    errors.raise_if_any()
    stmt = repository.jobs_stmt(integration, status=status, operation=operation, object_id=wanted)
    rows, meta = paginate(session, stmt, pages)
    return JobList(integration_jobs=[job_out(job, integration.code) for job in rows], meta=meta)


def _job_envelope(session: DbSession, organization: CurrentOrganization, lago_id: str) -> JobEnvelope:
    job = repository.job(session, organization.id, parse_lago_id(lago_id, "integration_job"))
    if job is None:
        raise NotFound("integration_job")
    integration = session.get(Integration, job.integration_id)
    assert integration is not None
    out = job_out(job, integration.code, repository.attempts(session, job))
    assert isinstance(out, JobDetailOut)
    return JobEnvelope(integration_job=out)


@router.get("/integration_jobs/{lago_id}", response_model=JobEnvelope)
def show_job(lago_id: str, session: DbSession, organization: CurrentOrganization) -> JobEnvelope:
    return _job_envelope(session, organization, lago_id)


@router.post("/integration_jobs/{lago_id}/retry", response_model=JobEnvelope)
def retry_job(lago_id: str, session: DbSession, organization: CurrentOrganization) -> JobEnvelope:
    """A failed job queued again (same idempotency key: what the provider already has is not duplicated)."""
    job = repository.job(session, organization.id, parse_lago_id(lago_id, "integration_job"))
    if job is None:
        raise NotFound("integration_job")
    if job.status != JobStatus.FAILED:
        raise NotAllowed(code="invalid_status")
    requeue(session, job)
    return _job_envelope(session, organization, lago_id)
