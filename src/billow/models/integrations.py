"""Integrations: an organization's configured providers (payment, accounting, CRM; :mod:`billow.providers`),
what links Billow's objects to theirs, and every outbound call as a job with its attempts.

Secrets of an integration (API keys, webhook secrets, OAuth tokens) are one JSON object sealed with
:mod:`billow.kit.secrets` into ``secrets_sealed`` (decision 0007; ``billow migrate --rotate-secrets``
re-seals it like every ``*_sealed`` column); they are never returned, only their names.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from billow.db import Base, SoftDeleteMixin, TenantMixin
from billow.kit.db_types import UTCDateTime


class Integration(TenantMixin, SoftDeleteMixin, Base):
    __tablename__ = "integrations"

    code: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255))
    #: The provider's name in the registry (``stripe``), the integration ``type`` of the API.
    type: Mapped[str] = mapped_column(String(64))
    #: ``payment``, ``accounting`` or ``crm`` (the provider's kind).
    kind: Mapped[str] = mapped_column(String(16))
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: The secrets, a JSON object sealed (:mod:`billow.kit.secrets`).
    secrets_sealed: Mapped[str | None] = mapped_column(Text)
    #: The names of the secrets set (what the API shows of them).
    secret_keys: Mapped[list[str]] = mapped_column(JSON, default=list)
    api_base_url: Mapped[str | None] = mapped_column(String(1024))


Index(
    "uq_integrations_organization_id_code",
    Integration.organization_id,
    Integration.code,
    unique=True,
    sqlite_where=Integration.deleted_at.is_(None),
    postgresql_where=Integration.deleted_at.is_(None),
)


class IntegrationCustomer(TenantMixin, Base):
    """A customer as known to an integration (Lago's ``integration_customers``)."""

    __tablename__ = "integration_customers"
    __table_args__ = (
        Index(
            "uq_integration_customers_integration_id_customer_id",
            "integration_id",
            "customer_id",
            unique=True,
        ),
    )

    integration_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    external_customer_id: Mapped[str | None] = mapped_column(String(255))
    sync_with_provider: Mapped[bool] = mapped_column(default=False)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


#: Lago's default mapping types (an item for what has no mapping of its own).
MAPPING_TYPES = (
    "fallback_item",
    "coupon",
    "credit_note",
    "tax",
    "prepaid_credit",
    "minimum_commitment",
    "subscription_fee",
    "account",
)
#: Billow objects that can be mapped one by one.
MAPPABLE_TYPES = ("add_on", "billable_metric", "plan", "fixed_charge")


class IntegrationMapping(TenantMixin, Base):
    """Where a Billow object (``mappable_type``/``mappable_id``), or a kind of line (``mapping_type``),
    lands in the integration's tool."""

    __tablename__ = "integration_mappings"
    __table_args__ = (
        Index(
            "uq_integration_mappings_mappable",
            "integration_id",
            "mappable_type",
            "mappable_id",
            unique=True,
        ),
        Index("uq_integration_mappings_mapping_type", "integration_id", "mapping_type", unique=True),
    )

    integration_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    mappable_type: Mapped[str | None] = mapped_column(String(32))
    mappable_id: Mapped[uuid.UUID | None] = mapped_column()
    mapping_type: Mapped[str | None] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(255))
    external_account_code: Mapped[str | None] = mapped_column(String(255))
    external_name: Mapped[str | None] = mapped_column(String(255))


class IntegrationResource(TenantMixin, Base):
    """What exists at the provider for a Billow object: a second sync updates it, never creates another."""

    __tablename__ = "integration_resources"
    __table_args__ = (
        Index(
            "uq_integration_resources_object",
            "integration_id",
            "object_type",
            "object_id",
            unique=True,
        ),
    )

    integration_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    #: ``customer``, ``invoice``, ``credit_note``, ``payment``, ``subscription``, ``refund``...
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[uuid.UUID] = mapped_column()
    external_id: Mapped[str] = mapped_column(String(255))
    external_url: Mapped[str | None] = mapped_column(String(1024))
    synced_at: Mapped[datetime] = mapped_column(UTCDateTime())


class JobStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class IntegrationJob(TenantMixin, Base):
    """One outbound call to a provider, run after the commit that queued it and retried with backoff
    (:mod:`billow.integrations.jobs`)."""

    __tablename__ = "integration_jobs"
    __table_args__ = (
        Index("uq_integration_jobs_idempotency_key", "idempotency_key", unique=True),
        Index("ix_integration_jobs_status_next_attempt_at", "status", "next_attempt_at"),
        Index("ix_integration_jobs_integration_id_created_at", "integration_id", "created_at"),
    )

    integration_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    #: ``sync_customer``, ``sync_invoice``, ``sync_credit_note``, ``sync_payment``, ``sync_subscription``,
    #: ``create_payment``, ``refund``.
    operation: Mapped[str] = mapped_column(String(32))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[uuid.UUID] = mapped_column(index=True)
    #: A snapshot of what cannot be read again (a payable), else ``None``.
    input: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default=JobStatus.PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lease_token: Mapped[str | None] = mapped_column(String(36))
    last_error_code: Mapped[str | None] = mapped_column(String(255))
    last_error_message: Mapped[str | None] = mapped_column(Text)
    last_error_http_status: Mapped[int | None] = mapped_column()
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: Passed to the provider on every attempt of this job: a retry never creates a second object.
    idempotency_key: Mapped[str] = mapped_column(String(64))


class IntegrationJobAttempt(TenantMixin, Base):
    __tablename__ = "integration_job_attempts"

    job_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("integration_jobs.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column()
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: ``succeeded``, ``retrying``, ``failed``.
    outcome: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(255))
    error_message: Mapped[str | None] = mapped_column(Text)
    http_status: Mapped[int | None] = mapped_column()


class IntegrationInboundEvent(TenantMixin, Base):
    """A provider's webhook event, recorded once: a replay is answered 200 and applies nothing."""

    __tablename__ = "integration_inbound_events"
    __table_args__ = (
        Index(
            "uq_integration_inbound_events_integration_id_event_id", "integration_id", "event_id", unique=True
        ),
    )

    integration_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("integrations.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(255))
    type: Mapped[str] = mapped_column(String(64))
    provider_event_type: Mapped[str | None] = mapped_column(String(255))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    payload_digest: Mapped[str] = mapped_column(String(64))
