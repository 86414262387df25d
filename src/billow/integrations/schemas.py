"""Requests and answers of ``/api/v1/integrations`` (Lago's style: root key ``integration``)."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import Field

from billow.kit.pagination import PageMeta
from billow.kit.schemas import Input, Output, Timestamp
from billow.kit.strings import URL_MAX_LENGTH
from billow.models.integrations import (
    Integration,
    IntegrationJob,
    IntegrationJobAttempt,
    IntegrationMapping,
)


class IntegrationInput(Input):
    type: str | None = None
    code: str | None = None
    name: str | None = None
    #: Non-secret settings (the provider's ``settings_fields``); on update, the keys sent replace theirs.
    settings: dict[str, Any] | None = None
    #: Write-only (the provider's ``secret_fields``); on update, the keys sent replace theirs.
    secrets: dict[str, str] | None = None
    api_base_url: str | None = Field(default=None, max_length=URL_MAX_LENGTH)


class IntegrationRequest(Input):
    integration: IntegrationInput


class IntegrationOut(Output):
    lago_id: uuid.UUID
    type: str
    kind: str
    code: str
    name: str
    settings: dict[str, Any]
    #: The names of the secrets set; their values are never returned.
    secret_keys: list[str]
    api_base_url: str | None
    created_at: Timestamp


class IntegrationEnvelope(Output):
    integration: IntegrationOut


class IntegrationList(Output):
    integrations: list[IntegrationOut]
    meta: PageMeta


def integration_out(integration: Integration) -> IntegrationOut:
    return IntegrationOut(
        lago_id=integration.id,
        type=integration.type,
        kind=integration.kind,
        code=integration.code,
        name=integration.name,
        settings=dict(integration.settings or {}),
        secret_keys=sorted(integration.secret_keys or []),
        api_base_url=integration.api_base_url,
        created_at=integration.created_at,
    )


class ProviderOut(Output):
    type: str
    kind: str
    settings_fields: dict[str, bool]
    secret_fields: dict[str, bool]


class ProviderList(Output):
    providers: list[ProviderOut]


# -------------------------------------------------------------------------------------------- mappings
class MappingInput(Input):
    #: An object mapped by id (``add_on``, ``billable_metric``, ``plan``, ``fixed_charge``)...
    mappable_type: str | None = None
    mappable_id: str | None = None
    #: ... or a default mapping by Lago's type (``fallback_item``, ``coupon``, ``tax``...).
    mapping_type: str | None = None
    external_id: str | None = None
    external_account_code: str | None = None
    external_name: str | None = None


class MappingRequest(Input):
    integration_mapping: MappingInput


class MappingOut(Output):
    lago_id: uuid.UUID
    integration_id: uuid.UUID
    mappable_type: str | None
    mappable_id: uuid.UUID | None
    mapping_type: str | None
    external_id: str
    external_account_code: str | None
    external_name: str | None
    created_at: Timestamp


class MappingEnvelope(Output):
    integration_mapping: MappingOut


class MappingList(Output):
    integration_mappings: list[MappingOut]
    meta: PageMeta


def mapping_out(mapping: IntegrationMapping) -> MappingOut:
    return MappingOut(
        lago_id=mapping.id,
        integration_id=mapping.integration_id,
        mappable_type=mapping.mappable_type,
        mappable_id=mapping.mappable_id,
        mapping_type=mapping.mapping_type,
        external_id=mapping.external_id,
        external_account_code=mapping.external_account_code,
        external_name=mapping.external_name,
        created_at=mapping.created_at,
    )


# ------------------------------------------------------------------------------------------------ jobs
class JobErrorOut(Output):
    code: str | None
    message: str | None
    http_status: int | None


class JobAttemptOut(Output):
    number: int
    started_at: Timestamp
    finished_at: Timestamp
    outcome: str
    error_code: str | None
    error_message: str | None
    http_status: int | None


class JobOut(Output):
    lago_id: uuid.UUID
    integration_code: str
    operation: str
    object_type: str
    object_id: uuid.UUID
    status: str
    attempts_count: int
    next_attempt_at: Timestamp | None
    last_error: JobErrorOut | None
    result: dict[str, Any] | None
    idempotency_key: str
    created_at: Timestamp
    updated_at: Timestamp


class JobDetailOut(JobOut):
    attempts: list[JobAttemptOut]


class JobEnvelope(Output):
    integration_job: JobDetailOut


class JobList(Output):
    integration_jobs: list[JobOut]
    meta: PageMeta


def job_out(
    job: IntegrationJob, code: str, attempts: list[IntegrationJobAttempt] | None = None
) -> JobOut | JobDetailOut:
    error = (
        JobErrorOut(
            code=job.last_error_code, message=job.last_error_message, http_status=job.last_error_http_status
        )
        if job.last_error_code is not None or job.last_error_message is not None
        else None
    )
    values: dict[str, Any] = dict(
        lago_id=job.id,
        integration_code=code,
        operation=job.operation,
        object_type=job.object_type,
        object_id=job.object_id,
        status=job.status,
        attempts_count=job.attempts,
        next_attempt_at=job.next_attempt_at,
        last_error=error,
        result=job.result,
        idempotency_key=job.idempotency_key,
        created_at=job.created_at,
        updated_at=job.updated_at,
    )
    if attempts is None:
        return JobOut(**values)
    return JobDetailOut(
        **values,
        attempts=[
            JobAttemptOut(
                number=a.number,
                started_at=a.started_at,
                finished_at=a.finished_at,
                outcome=a.outcome,
                error_code=a.error_code,
                error_message=a.error_message,
                http_status=a.http_status,
            )
            for a in attempts
        ],
    )
