"""Every outbound provider call is a job (``integration_jobs``), run after the commit that queued it.

:func:`enqueue` writes the job in the caller's transaction and queues the task ``integrations.run_job``
after its commit; the scan ``integrations.run_due`` (every 10 s) finds due jobs that were lost or wait
for a retry. A run, as :mod:`billow.webhooks.delivery` delivers a webhook, is three short steps:

1. *lease* the job (a conditional update, committed) and build the provider's snapshot from the rows;
2. call the provider with **no transaction open**, passing the job's ``idempotency_key`` (stable across
   attempts: a run that died between the call and step 3 is retried with the same key, and the provider
   answers with the object it already created instead of a second one);
3. in one transaction: record the attempt, store the provider's changed secrets, store the result
   (:mod:`billow.integrations.results`) or schedule the retry (``backoff * 2**(n-1)`` seconds, capped,
   while the error is retryable and attempts remain), else mark the job ``failed`` and announce it.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from billow.config import Settings, current_settings
from billow.db import utcnow
from billow.integrations import results, snapshots
from billow.integrations.service import context_of, open_secrets, provider_of, store_secrets
from billow.kit import metrics
from billow.models.integrations import Integration, IntegrationJob, IntegrationJobAttempt, JobStatus
from billow.providers.interface import (
    AccountingProvider,
    CrmProvider,
    PaymentProvider,
    Provider,
    ProviderContext,
    ProviderError,
)
from billow.worker.dispatch import after_commit, task
from billow.worker.scans import SessionFactory, scan

log = logging.getLogger("billow.integrations")

RUN_TASK = "integrations.run_job"
OPERATIONS = (
    "sync_customer",
    "sync_invoice",
    "sync_credit_note",
    "sync_payment",
    "sync_subscription",
    "create_payment",
    "refund",
)
#: Operations a second job of replaces while the first still waits (the newest state is synced).
_SYNCS = frozenset(op for op in OPERATIONS if op.startswith("sync_"))


def backoff_seconds(attempts: int, settings: Settings) -> float:
    """The wait after the ``attempts``-th failed attempt: ``backoff * 2**(attempts-1)``, capped
    (backoff 10: 10, 20, 40... s; cap 3600)."""
    return float(
        min(settings.integration_backoff * 2 ** max(attempts - 1, 0), settings.integration_backoff_cap)
    )


def enqueue(
    session: Session,
    integration: Integration,
    operation: str,
    object_type: str,
    object_id: uuid.UUID,
    input: dict[str, Any] | None = None,
) -> IntegrationJob:
    """A job for ``operation`` on the object, written in the caller's transaction and run after its
    commit. A sync already waiting for the same object is reused (it reads the rows when it runs)."""
    if operation not in OPERATIONS:
        raise ValueError(f"unknown integration operation {operation!r}")
    if operation in _SYNCS:
        waiting = session.scalars(
            select(IntegrationJob).where(
                IntegrationJob.organization_id == integration.organization_id,
                IntegrationJob.integration_id == integration.id,
                IntegrationJob.operation == operation,
                IntegrationJob.object_id == object_id,
                IntegrationJob.status == JobStatus.PENDING,
                IntegrationJob.attempts == 0,
            )
        ).first()
        if waiting is not None:
            return waiting
    job = IntegrationJob(
        organization_id=integration.organization_id,
        integration_id=integration.id,
        operation=operation,
        object_type=object_type,
        object_id=object_id,
        input=input,
        status=JobStatus.PENDING,
        attempts=0,
        idempotency_key=f"billow-{uuid.uuid4()}",
    )
    session.add(job)
    session.flush()
    after_commit(session, RUN_TASK, str(job.id), from_tasks=True)
    return job


def requeue(session: Session, job: IntegrationJob) -> None:
    """A failed job queued again (``POST /integration_jobs/{id}/retry``), same idempotency key."""
    job.status = JobStatus.PENDING
    job.attempts = 0
    job.next_attempt_at = None
    session.flush()
    after_commit(session, RUN_TASK, str(job.id), from_tasks=True)


# ------------------------------------------------------------------------------------------- running
@dataclass
class Prepared:
    job_id: uuid.UUID
    operation: str
    idempotency_key: str
    provider: Provider
    ctx: ProviderContext
    data: Any


@dataclass
class Outcome:
    result: Any = None
    error: ProviderError | None = None


def _claim(
    session_factory: SessionFactory, job_id: uuid.UUID, token: str, now: datetime, lease: float
) -> bool:
    with session_factory() as session, session.begin():
        claimed = session.execute(
            update(IntegrationJob)
            .where(
                IntegrationJob.id == job_id,
                or_(
                    and_(
                        IntegrationJob.status == JobStatus.PENDING,
                        or_(IntegrationJob.next_attempt_at.is_(None), IntegrationJob.next_attempt_at <= now),
                    ),
                    and_(IntegrationJob.status == JobStatus.RUNNING, IntegrationJob.lease_until < utcnow()),
                ),
            )
            .values(
                status=JobStatus.RUNNING,
                lease_token=token,
                lease_until=utcnow() + timedelta(seconds=lease),
            )
            .execution_options(synchronize_session=False)
        )
        return bool(claimed.rowcount)  # type: ignore[attr-defined]  # CursorResult


def _build(session: Session, job: IntegrationJob, integration: Integration) -> Any:
    op = job.operation
    if op == "sync_customer":
        return snapshots.customer_snapshot(session, integration, job.object_id)
    if op == "sync_invoice":
        return snapshots.invoice_data(session, integration, job.object_id)
    if op == "sync_credit_note":
        return snapshots.credit_note_data(session, integration, job.object_id)
    if op == "sync_subscription":
        return snapshots.subscription_data(session, integration, job.object_id)
    if op == "create_payment":
        return snapshots.payable_from_json(session, integration, job.input or {})
    if op == "sync_payment":
        return snapshots.payment_from_json(session, integration, job.input or {})
    if op == "refund":
        return dict(job.input or {})
    raise snapshots.Gone(f"operation {op}")


def _prepare(session_factory: SessionFactory, job_id: uuid.UUID, token: str) -> Prepared | ProviderError:
    with session_factory() as session, session.begin():
        job = session.get(IntegrationJob, job_id)
        if job is None or job.lease_token != token:
            return ProviderError("lease lost", code="lease_lost", retryable=True)
        integration = session.get(Integration, job.integration_id)
        if integration is None or integration.deleted_at is not None:
            return ProviderError("the integration was deleted", code="integration_deleted")
        provider = provider_of(integration)
        if provider is None:
            return ProviderError(
                f"provider {integration.type} is not installed", code="provider_not_installed"
            )
        try:
            data = _build(session, job, integration)
        except snapshots.Gone as gone:
            return ProviderError(f"{gone} no longer exists", code="object_not_found")
        return Prepared(
            job.id,
            job.operation,
            job.idempotency_key,
            provider,
            context_of(integration, open_secrets(integration)),
            data,
        )


def call(prepared: Prepared) -> Outcome:
    """The provider call (no transaction open)."""
    p, ctx, data, key = prepared.provider, prepared.ctx, prepared.data, prepared.idempotency_key
    try:
        if prepared.operation == "sync_customer":
            return Outcome(p.sync_customer(ctx, data))
        if prepared.operation == "create_payment" and isinstance(p, PaymentProvider):
            return Outcome(p.create_payment(ctx, data, key))
        if prepared.operation == "refund" and isinstance(p, PaymentProvider):
            return Outcome(
                p.refund(
                    ctx,
                    data["provider_payment_id"],
                    int(data["amount_cents"]),
                    data["currency"],
                    key,
                    {str(k): str(v) for k, v in (data.get("metadata") or {}).items()},
                )
            )
        if prepared.operation == "sync_invoice" and isinstance(p, AccountingProvider | CrmProvider):
            return Outcome(p.sync_invoice(ctx, data))
        if prepared.operation == "sync_credit_note" and isinstance(p, AccountingProvider):
            return Outcome(p.sync_credit_note(ctx, data))
        if prepared.operation == "sync_payment" and isinstance(p, AccountingProvider):
            return Outcome(p.sync_payment(ctx, data))
        if prepared.operation == "sync_subscription" and isinstance(p, CrmProvider):
            return Outcome(p.sync_subscription(ctx, data))
        raise NotImplementedError(prepared.operation)
    except ProviderError as error:
        return Outcome(error=error)
    except NotImplementedError:
        return Outcome(
            error=ProviderError(f"{p.name} does not support {prepared.operation}", code="not_supported")
        )
    except Exception as error:  # a provider's bug: recorded, retried like a transient failure
        log.exception("provider %s failed on %s", p.name, prepared.operation)
        return Outcome(
            error=ProviderError(
                f"{type(error).__name__}: {error}"[:1000], code="internal_error", retryable=True
            )
        )


def _record(
    session_factory: SessionFactory,
    job_id: uuid.UUID,
    token: str,
    prepared: Prepared | None,
    outcome: Outcome,
    started_at: datetime,
    now: datetime,
    settings: Settings,
) -> str | None:
    with session_factory() as session, session.begin():
        job = session.get(IntegrationJob, job_id)
        if job is None or job.lease_token != token:
            return None  # another runner took over (this one outlived its lease)
        integration = session.get(Integration, job.integration_id)
        if integration is None:
            return None
        if prepared is not None and prepared.ctx.secret_updates:
            secrets = open_secrets(integration)
            secrets.update(prepared.ctx.secret_updates)
            store_secrets(integration, secrets)
        job.attempts += 1
        job.lease_token = None
        job.lease_until = None
        error = outcome.error
        if error is None:
            job.status = JobStatus.SUCCEEDED
            job.next_attempt_at = None
            job.result = results.apply(
                session, integration, job, prepared.data if prepared else None, outcome.result
            )
            attempt_outcome = "succeeded"
        elif error.retryable and job.attempts < settings.integration_max_attempts:
            job.status = JobStatus.PENDING
            job.next_attempt_at = now + timedelta(seconds=backoff_seconds(job.attempts, settings))
            attempt_outcome = "retrying"
        else:
            job.status = JobStatus.FAILED
            job.next_attempt_at = None
            attempt_outcome = "failed"
        if error is not None:
            job.last_error_code = error.code[:255]
            job.last_error_message = error.message[:4000]
            job.last_error_http_status = error.http_status
        session.add(
            IntegrationJobAttempt(
                organization_id=job.organization_id,
                job_id=job.id,
                number=job.attempts,
                started_at=started_at,
                finished_at=utcnow(),
                outcome=attempt_outcome,
                error_code=error.code[:255] if error else None,
                error_message=error.message[:4000] if error else None,
                http_status=error.http_status if error else None,
            )
        )
        session.flush()
        if attempt_outcome == "failed" and error is not None:
            results.failed(session, integration, job, prepared.data if prepared else None, error)
        metrics.INTEGRATION_JOBS.labels(integration.type, job.operation, attempt_outcome).inc()
        return job.status


def run_job(
    session_factory: SessionFactory, job_id: uuid.UUID, now: datetime, *, settings: Settings | None = None
) -> str | None:
    """One attempt of the job when it is due and free; its new status (``None``: not run)."""
    settings = settings or current_settings()
    token = str(uuid.uuid4())
    if not _claim(session_factory, job_id, token, now, settings.integration_lease):
        return None
    started_at = utcnow()
    prepared = _prepare(session_factory, job_id, token)
    if isinstance(prepared, ProviderError):
        if prepared.code == "lease_lost":
            return None
        return _record(
            session_factory, job_id, token, None, Outcome(error=prepared), started_at, now, settings
        )
    outcome = call(prepared)
    return _record(session_factory, job_id, token, prepared, outcome, started_at, now, settings)


@task(RUN_TASK)
def run_job_task(session_factory: SessionFactory, payload: str, now: datetime) -> None:
    run_job(session_factory, uuid.UUID(payload), now)


def due_jobs(session: Session, now: datetime, limit: int = 500) -> list[uuid.UUID]:
    """Jobs to run now, of every organization: pending and due, or running with an expired lease."""
    return list(
        session.scalars(
            select(IntegrationJob.id)
            .where(
                or_(
                    and_(
                        IntegrationJob.status == JobStatus.PENDING,
                        or_(IntegrationJob.next_attempt_at.is_(None), IntegrationJob.next_attempt_at <= now),
                    ),
                    and_(IntegrationJob.status == JobStatus.RUNNING, IntegrationJob.lease_until < utcnow()),
                )
            )
            .order_by(IntegrationJob.created_at)
            .limit(limit)
        )
    )


def _run_item(session_factory: SessionFactory, item: str, now: datetime) -> Any:
    return run_job(session_factory, uuid.UUID(item), now)


@scan("integrations.run_due", every=timedelta(seconds=10), each=_run_item)
def run_due(session_factory: SessionFactory, now: datetime) -> list[str]:
    with session_factory() as session:
        return [str(job_id) for job_id in due_jobs(session, now)]
