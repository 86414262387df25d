"""Delivering the outbox (:mod:`billow.webhooks.outbox`) to each endpoint, in order, at least once.

One deliverer per endpoint at a time: it takes the endpoint's *lease* (a conditional update of
``webhook_endpoints.delivery_lease_*``, committed), then sends the endpoint's open webhooks one by one in
``position`` order, each in three short steps: read the head (rendering its object on first delivery,
:mod:`billow.webhooks.payloads`), POST it with no transaction open, record the attempt and the outcome.
A deliverer that dies (a killed worker) holds the lease until it expires (``webhook_lease``, 60 s); the
webhook it was sending is still open and is sent again with the same ``X-Lago-Unique-Key`` (its id), so
receivers that deduplicate on the key see every webhook once.

Order: a webhook that fails waits ``backoff * 2**(attempts-1)`` seconds (capped) before its next attempt
and the endpoint's later webhooks wait behind it (a receiver down for an hour gets everything afterwards,
in order); after ``webhook_max_attempts`` it is ``failed`` and the line moves on. Any 2xx answer is a
success; anything else, a timeout or a connection error is a failure (redirects are not followed).

It runs as the task ``webhooks.deliver`` (one endpoint) queued after the commit that wrote webhooks, and
the scan ``webhooks.deliver_due`` (every 10 seconds) finds endpoints with webhooks due (a lost task, a
retry whose time came).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from billow.config import Settings, current_settings
from billow.db import utcnow
from billow.kit import metrics
from billow.models.organizations import Organization
from billow.models.webhook_endpoints import WebhookEndpoint
from billow.models.webhooks import OPEN_STATUSES, Webhook, WebhookAttempt, WebhookEvent, WebhookStatus
from billow.webhooks.keys import SigningKeys, hmac_signature, jwt_signature, signing_keys
from billow.webhooks.outbox import DELIVER_TASK
from billow.webhooks.payloads import envelope
from billow.webhooks.payloads import load_all as load_renderers
from billow.worker.dispatch import task
from billow.worker.scans import SessionFactory, scan

log = logging.getLogger("billow.webhooks")

#: Webhooks of an endpoint read (and their objects rendered) together.
BATCH = 50
#: The most characters of a receiver's answer kept per attempt.
RESPONSE_EXCERPT = 1000
USER_AGENT = "Billow-Webhooks/1"


def backoff_seconds(attempts: int, settings: Settings) -> float:
    """The wait after the ``attempts``-th failed attempt: ``backoff * 2**(attempts-1)``, capped."""
    return float(min(settings.webhook_backoff * 2 ** max(attempts - 1, 0), settings.webhook_backoff_cap))


@dataclass(frozen=True)
class Outcome:
    http_status: int | None
    response: str | None
    error: str | None
    duration_ms: int

    @property
    def succeeded(self) -> bool:
        return self.http_status is not None and 200 <= self.http_status < 300


@dataclass(frozen=True)
class Prepared:
    webhook_id: uuid.UUID
    url: str
    body: str
    headers: dict[str, str]


# ------------------------------------------------------------------------------------------ lease


def _claim(session_factory: SessionFactory, endpoint_id: uuid.UUID, token: str, lease: float) -> bool:
    now = utcnow()
    with session_factory() as session, session.begin():
        claimed = session.execute(
            update(WebhookEndpoint)
            .where(
                WebhookEndpoint.id == endpoint_id,
                or_(
                    WebhookEndpoint.delivery_lease_until.is_(None),
                    WebhookEndpoint.delivery_lease_until < now,
                    WebhookEndpoint.delivery_lease_token == token,
                ),
            )
            .values(delivery_lease_until=now + timedelta(seconds=lease), delivery_lease_token=token)
            .execution_options(synchronize_session=False)
        )
        return bool(claimed.rowcount)  # type: ignore[attr-defined]  # CursorResult


def _release(session_factory: SessionFactory, endpoint_id: uuid.UUID, token: str) -> None:
    with session_factory() as session, session.begin():
        session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.delivery_lease_token == token)
            .values(delivery_lease_until=None, delivery_lease_token=None)
            .execution_options(synchronize_session=False)
        )


# ------------------------------------------------------------------------------------------ delivery


def _heads(session: Session, endpoint_id: uuid.UUID, limit: int) -> list[Webhook]:
    return list(
        session.scalars(
            select(Webhook)
            .where(Webhook.webhook_endpoint_id == endpoint_id, Webhook.status.in_(OPEN_STATUSES))
            .order_by(Webhook.position, Webhook.id)
            .limit(limit)
        )
    )


def _head(session: Session, endpoint_id: uuid.UUID) -> Webhook | None:
    found = _heads(session, endpoint_id, 1)
    return found[0] if found else None


def _is_due(webhook: Webhook, now: datetime) -> bool:
    return webhook.next_attempt_at is None or webhook.next_attempt_at <= now


def has_due(session_factory: SessionFactory, endpoint_id: uuid.UUID, now: datetime) -> bool:
    with session_factory() as session:
        head = _head(session, endpoint_id)
        return head is not None and _is_due(head, now)


class _Signer:
    """Each organization's keys, read once per delivery run."""

    def __init__(self) -> None:
        self._keys: dict[uuid.UUID, SigningKeys] = {}

    def headers(
        self, session: Session, organization: Organization, algorithm: str, body: str, settings: Settings
    ) -> dict[str, str]:
        keys = self._keys.get(organization.id)
        if keys is None:
            keys = self._keys[organization.id] = signing_keys(session, organization)
        if algorithm == "hmac":
            signature = hmac_signature(keys, body)
        else:
            algorithm = "jwt"
            signature = jwt_signature(keys, body, settings.public_url)
        return {"X-Lago-Signature": signature, "X-Lago-Signature-Algorithm": algorithm}


def render_missing(session: Session, organization: Organization, events: list[WebhookEvent]) -> None:
    """Render (and keep) the objects of the events not rendered yet, a type at a time (a renderer takes a
    list: a page of invoices costs a fixed number of queries)."""
    missing: dict[str, list[WebhookEvent]] = defaultdict(list)
    for event in events:
        if event.payload is None:
            missing[event.object_type].append(event)
    for object_type, pending in missing.items():
        function = load_renderers().get(object_type)
        ids = [e.object_id for e in pending if e.object_id is not None]
        rendered = function(session, organization, ids) if function is not None and ids else {}
        for event in pending:
            payload = rendered.get(event.object_id) if event.object_id is not None else None
            if payload is None:
                log.warning(
                    "webhook %s: no rendering of %s %s; sending its id only",
                    event.webhook_type,
                    event.object_type,
                    event.object_id,
                )
                payload = {"lago_id": str(event.object_id) if event.object_id else None}
            event.payload = payload


def body_of(event: WebhookEvent) -> str:
    """The webhook's JSON body (its object rendered)."""
    return json.dumps(
        envelope(event.webhook_type, event.object_type, event.organization_id, event.payload),
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )


def _prepare(
    session_factory: SessionFactory,
    endpoint_id: uuid.UUID,
    token: str,
    now: datetime,
    signer: _Signer,
    settings: Settings,
) -> list[Prepared]:
    """The endpoint's next webhooks to send, in order (at most :data:`BATCH`, stopping at one not due),
    or none (nothing due, or the lease was lost)."""
    with session_factory() as session, session.begin():
        endpoint = session.get(WebhookEndpoint, endpoint_id)
        if endpoint is None or endpoint.delivery_lease_token != token:
            return []
        due: list[Webhook] = []
        for webhook in _heads(session, endpoint_id, BATCH):
            if not _is_due(webhook, now):
                break
            due.append(webhook)
        if not due:
            return []
        endpoint.delivery_lease_until = utcnow() + timedelta(seconds=settings.webhook_lease)
        events = {
            e.id: e
            for e in session.scalars(
                select(WebhookEvent).where(WebhookEvent.id.in_({w.webhook_event_id for w in due}))
            )
        }
        organization = session.get(Organization, endpoint.organization_id)
        if organization is None:
            return []
        render_missing(session, organization, list(events.values()))
        prepared = []
        for webhook in due:
            event = events.get(webhook.webhook_event_id)
            if event is None:  # deleted under us (a foreign-key cascade)
                break
            body = body_of(event)
            headers = {
                "Content-Type": "application/json",
                "User-Agent": USER_AGENT,
                "X-Lago-Unique-Key": str(webhook.id),
                **signer.headers(session, organization, endpoint.signature_algo, body, settings),
            }
            prepared.append(Prepared(webhook.id, endpoint.webhook_url, body, headers))
        return prepared


def post(client: httpx.Client, prepared: Prepared) -> Outcome:
    started = time.perf_counter()
    try:
        answer = client.post(prepared.url, content=prepared.body.encode("utf-8"), headers=prepared.headers)
    except httpx.HTTPError as error:
        text = f"{type(error).__name__}: {error}"[:1024]
        return Outcome(None, None, text, int((time.perf_counter() - started) * 1000))
    duration = int((time.perf_counter() - started) * 1000)
    return Outcome(answer.status_code, answer.text[:RESPONSE_EXCERPT], None, duration)


def _record(
    session_factory: SessionFactory,
    endpoint_id: uuid.UUID,
    token: str,
    prepared: Prepared,
    outcome: Outcome,
    started_at: datetime,
    now: datetime,
    settings: Settings,
) -> bool:
    """Record the attempt and the webhook's new status, renewing the lease; whether to go on with the
    next webhook (this one is done: sent, or failed for good; and the lease is still held)."""
    with session_factory() as session, session.begin():
        held = session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.delivery_lease_token == token)
            .values(delivery_lease_until=utcnow() + timedelta(seconds=settings.webhook_lease))
            .execution_options(synchronize_session=False)
        )
        still_leased = bool(held.rowcount)  # type: ignore[attr-defined]  # CursorResult
        webhook = session.get(Webhook, prepared.webhook_id)
        if webhook is None:
            return outcome.succeeded and still_leased
        webhook.attempts += 1
        webhook.http_status = outcome.http_status
        webhook.response = outcome.response if outcome.error is None else outcome.error
        webhook.last_attempt_at = started_at
        if outcome.succeeded:
            webhook.status = WebhookStatus.SUCCEEDED
            webhook.next_attempt_at = None
        elif webhook.attempts >= settings.webhook_max_attempts:
            webhook.status = WebhookStatus.FAILED
            webhook.next_attempt_at = None
        else:
            webhook.status = WebhookStatus.RETRYING
            webhook.next_attempt_at = now + timedelta(seconds=backoff_seconds(webhook.attempts, settings))
        session.add(
            WebhookAttempt(
                organization_id=webhook.organization_id,
                webhook_id=webhook.id,
                number=webhook.attempts,
                started_at=started_at,
                duration_ms=outcome.duration_ms,
                http_status=outcome.http_status,
                response=outcome.response,
                error=outcome.error,
            )
        )
        metrics.WEBHOOK_DELIVERIES.labels(str(webhook.status)).inc()
        return (outcome.succeeded or webhook.status == WebhookStatus.FAILED) and still_leased


def deliver_endpoint(
    session_factory: SessionFactory,
    endpoint_id: uuid.UUID,
    now: datetime,
    *,
    client: httpx.Client | None = None,
    settings: Settings | None = None,
) -> int:
    """Send the endpoint's due webhooks in order until one fails or none is left; the number of attempts
    made. Does nothing while another deliverer holds the endpoint."""
    settings = settings or current_settings()
    token = str(uuid.uuid4())
    signer = _Signer()
    own_client = client is None
    http = client or httpx.Client(timeout=settings.webhook_timeout, follow_redirects=False)
    attempts = 0
    try:
        while _claim(session_factory, endpoint_id, token, settings.webhook_lease):
            try:
                going = True
                while going:
                    batch = _prepare(session_factory, endpoint_id, token, now, signer, settings)
                    going = bool(batch)
                    for prepared in batch:
                        started_at = utcnow()
                        outcome = post(http, prepared)
                        attempts += 1
                        if not _record(
                            session_factory, endpoint_id, token, prepared, outcome, started_at, now, settings
                        ):
                            # The head waits for its next attempt; the later ones wait behind it.
                            going = False
                            break
            finally:
                _release(session_factory, endpoint_id, token)
            # A webhook committed while this run was ending found the lease taken: look once more.
            if not has_due(session_factory, endpoint_id, now):
                break
    finally:
        if own_client:
            http.close()
    return attempts


@task(DELIVER_TASK)
def deliver_task(session_factory: SessionFactory, payload: str, now: datetime) -> None:
    deliver_endpoint(session_factory, uuid.UUID(payload), now)


def due_endpoints(session: Session, now: datetime) -> list[uuid.UUID]:
    """Endpoints with an open webhook due (of every organization: the scan's work list)."""
    return list(
        session.scalars(
            select(Webhook.webhook_endpoint_id)
            .where(
                Webhook.status.in_(OPEN_STATUSES),
                or_(Webhook.next_attempt_at.is_(None), Webhook.next_attempt_at <= now),
            )
            .distinct()
        )
    )


def _deliver_item(session_factory: SessionFactory, item: str, now: datetime) -> Any:
    return deliver_endpoint(session_factory, uuid.UUID(item), now)


@scan("webhooks.deliver_due", every=timedelta(seconds=10), each=_deliver_item)
def deliver_due(session_factory: SessionFactory, now: datetime) -> list[str]:
    with session_factory() as session:
        return [str(endpoint_id) for endpoint_id in due_endpoints(session, now)]
