"""The audit log: activity logs (every change of a business object) and API logs (every API request
that changes something). Lago's ``/activity_logs`` and ``/api_logs``; written by :mod:`billow.audit`.

Rows are never updated; the retention scan deletes the old ones (``logged_at``). ``api_key_id`` and
``member_id`` keep no foreign key: a log outlives the key or the member it names.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from billow.db import Base, TenantMixin
from billow.kit.db_types import UTCDateTime


class ActivityLog(TenantMixin, Base):
    """One created, updated or deleted object (``id`` is Lago's ``activity_id``)."""

    __tablename__ = "activity_logs"
    __table_args__ = (
        # Serves the listing (newest first, per organization).
        Index("ix_activity_logs_organization_id_logged_at", "organization_id", "logged_at"),
        # Serves the retention scan (every organization).
        Index("ix_activity_logs_logged_at", "logged_at"),
    )

    #: ``plan.updated``, ``customer.deleted``, ``subscription.started``...
    activity_type: Mapped[str] = mapped_column(String(64))
    #: ``api``, ``front`` or ``system`` (:mod:`billow.kit.actor`).
    activity_source: Mapped[str] = mapped_column(String(16))
    #: The object's columns after the change (before it, for a deletion), secrets left out.
    activity_object: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    #: ``{column: [old, new]}`` of an update (secrets left out).
    activity_object_changes: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    user_email: Mapped[str | None] = mapped_column(String(255))
    member_id: Mapped[uuid.UUID | None] = mapped_column()
    api_key_id: Mapped[uuid.UUID | None] = mapped_column()
    resource_id: Mapped[uuid.UUID] = mapped_column()
    #: Lago's class name of the object: ``BillableMetric``, ``Invoice``...
    resource_type: Mapped[str] = mapped_column(String(64))
    external_customer_id: Mapped[str | None] = mapped_column(String(255))
    external_subscription_id: Mapped[str | None] = mapped_column(String(255))
    logged_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ApiLog(TenantMixin, Base):
    """One ``/api/v1`` request that changes something (not event ingestion)."""

    __tablename__ = "api_logs"
    __table_args__ = (
        Index("ix_api_logs_organization_id_logged_at", "organization_id", "logged_at"),
        Index("ix_api_logs_organization_id_request_id", "organization_id", "request_id"),
        Index("ix_api_logs_logged_at", "logged_at"),
    )

    #: The ``X-Request-Id`` of the request (the client's, or one Billow made).
    request_id: Mapped[str] = mapped_column(String(128))
    api_key_id: Mapped[uuid.UUID | None] = mapped_column()
    #: Lower case, as Lago: ``post``, ``put``, ``patch``, ``delete``.
    http_method: Mapped[str] = mapped_column(String(8))
    http_status: Mapped[int] = mapped_column()
    request_path: Mapped[str] = mapped_column(String(2048))
    #: The JSON body, secret-looking fields replaced (:mod:`billow.audit.requests`).
    request_body: Mapped[dict[str, Any]] = mapped_column(JSON)
    #: The JSON answer, redacted the same way; a long one is cut.
    request_response: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    api_version: Mapped[str] = mapped_column(String(8))
    #: The ``User-Agent``.
    client: Mapped[str] = mapped_column(String(255))
    request_origin: Mapped[str] = mapped_column(String(1024))
    logged_at: Mapped[datetime] = mapped_column(UTCDateTime())
