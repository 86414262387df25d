"""Providers' webhooks: ``POST /webhooks/{integration_type}/{organization_id}[?code=...]`` (outside
``/api/v1``: the provider's signature authenticates it).

The provider verifies and translates the body (``parse_webhook``, maybe calling its API, so with no
transaction open); then, in one transaction, each event is recorded once in
``integration_inbound_events`` and applied: the payments domain hears it (``PAYMENT_EVENT_HOOK``) and a
customer's provider id or payment methods are updated. A replayed event is answered 200 and changes
nothing."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from billow.db import utcnow
from billow.errors import BadRequest, NotFound, ValidationFailed
from billow.integrations.repository import integration_repository as repository
from billow.integrations.service import context_of, open_secrets, store_secrets
from billow.models.customers import Customer
from billow.models.integrations import Integration, IntegrationInboundEvent
from billow.payment_methods.service import payment_method_service
from billow.providers import registry
from billow.providers.interface import (
    PAYMENT_EVENT_HOOK,
    InboundEvent,
    InboundEventType,
    PaymentProvider,
    ProviderContext,
    ProviderError,
    WebhookSignatureInvalid,
)
from billow.worker.dispatch import run_hooks


def _integration(
    session: Session, integration_type: str, organization_id: str, code: str | None
) -> Integration:
    try:
        owner = uuid.UUID(organization_id)
    except ValueError:
        raise NotFound("integration") from None
    if code:
        found = repository.by_code(session, owner, code)
        if found is None or found.type != integration_type:
            raise NotFound("integration")
        return found
    candidates = repository.of_type(session, owner, integration_type)
    if len(candidates) != 1:  # none, or several: ``?code=`` must say which
        raise NotFound("integration")
    return candidates[0]


def receive(
    sessions: sessionmaker[Session],
    integration_type: str,
    organization_id: str,
    code: str | None,
    headers: Mapping[str, str],
    body: bytes,
) -> int:
    """Verify, record and apply a provider's webhook; the number of events applied (replays: 0)."""
    with sessions() as session:
        integration = _integration(session, integration_type, organization_id, code)
        provider = registry.get(integration.type)
        if not isinstance(provider, PaymentProvider):
            raise NotFound("integration")
        integration_id = integration.id
        ctx = context_of(integration, open_secrets(integration))
    try:
        events = provider.parse_webhook(ctx, {k.lower(): v for k, v in headers.items()}, body)
    except WebhookSignatureInvalid:
        raise BadRequest("webhook signature is invalid") from None
    except ValueError:  # a body the provider cannot read (malformed JSON...)
        raise BadRequest("webhook body is invalid") from None
    except ProviderError as error:  # a verification call failed: not 2xx, so the provider sends it again
        raise ValidationFailed(
            {"third_party": integration_type, "thirdparty_error": error.message}, code="third_party_error"
        ) from None
    digest = hashlib.sha256(body).hexdigest()
    applied = 0
    with sessions.begin() as session:
        current = session.get(Integration, integration_id)
        assert current is not None
        if ctx.secret_updates:
            store_secrets(current, {**open_secrets(current), **ctx.secret_updates})
        for event in events:
            applied += apply_event(session, current, event, digest)
    return applied


def apply_event(session: Session, integration: Integration, event: InboundEvent, digest: str) -> int:
    """Record the event (once) and apply it; 1 when applied, 0 for a replay or an ignored type."""
    now = utcnow()
    record = IntegrationInboundEvent(
        organization_id=integration.organization_id,
        integration_id=integration.id,
        event_id=event.event_id,
        type=str(event.type),
        provider_event_type=event.provider_event_type[:255],
        received_at=now,
        payload_digest=digest,
    )
    if repository.inbound_event(session, integration, event.event_id) is not None:
        return 0
    try:
        with session.begin_nested():
            session.add(record)
            session.flush()
    except IntegrityError:  # the same event, recorded meanwhile by a concurrent delivery
        return 0
    if event.type == InboundEventType.IGNORED:
        return 0
    if event.type in (InboundEventType.CUSTOMER_UPDATED, InboundEventType.PAYMENT_METHOD_UPDATED):
        _update_customer(session, integration, event)
    run_hooks(
        session,
        PAYMENT_EVENT_HOOK,
        organization_id=integration.organization_id,
        integration_code=integration.code,
        provider=integration.type,
        event=event,
    )
    record.applied_at = now
    return 1


def _customer_of(session: Session, integration: Integration, event: InboundEvent) -> Customer | None:
    billow_id = event.metadata.get("billow_customer_id")
    if billow_id:
        try:
            customer = session.get(Customer, uuid.UUID(billow_id))
        except ValueError:
            customer = None
        if customer is not None and customer.organization_id == integration.organization_id:
            return customer
    if event.provider_customer_id:
        return session.scalars(
            select(Customer).where(
                Customer.organization_id == integration.organization_id,
                Customer.payment_provider_code == integration.code,
                Customer.provider_customer_id == event.provider_customer_id,
                Customer.deleted_at.is_(None),
            )
        ).first()
    return None


def _update_customer(session: Session, integration: Integration, event: InboundEvent) -> None:
    customer = _customer_of(session, integration, event)
    if customer is None:
        return
    if event.provider_customer_id and customer.payment_provider_code in (None, integration.code):
        customer.payment_provider = integration.type
        customer.payment_provider_code = integration.code
        customer.provider_customer_id = event.provider_customer_id
    if event.payment_method is not None:
        # A stored method: ``provider_payment_methods`` (the method types allowed) is not touched.
        payment_method_service.store(session, integration, customer, event.payment_method)


def provider_context(integration: Integration) -> ProviderContext:
    return context_of(integration, open_secrets(integration))
