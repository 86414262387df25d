"""Rendering of stored payment methods (the API's answers), with their integration's type/code/name."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from billow.models.payment_methods import PaymentMethod
from billow.payment_methods.repository import payment_method_repository as repository
from billow.payment_methods.schemas import PaymentMethodOut


def render_methods(session: Session, methods: Sequence[PaymentMethod]) -> list[PaymentMethodOut]:
    if not methods:
        return []
    integrations = repository.integrations(
        session, methods[0].organization_id, [m.integration_id for m in methods]
    )
    rendered = []
    for method in methods:
        integration = integrations.get(method.integration_id)
        rendered.append(
            PaymentMethodOut(
                lago_id=method.id,
                is_default=method.is_default,
                payment_provider_code=integration.code if integration is not None else None,
                payment_provider_name=integration.name if integration is not None else None,
                payment_provider_type=integration.type if integration is not None else "",
                provider_method_id=method.provider_method_id,
                method_type=method.provider_method_type,
                details=dict(method.details or {}),
                created_at=method.created_at,
            )
        )
    return rendered


def render_method(session: Session, method: PaymentMethod) -> PaymentMethodOut:
    [out] = render_methods(session, [method])
    return out
