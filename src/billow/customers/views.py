"""Rendering customers in Lago's shape (``CustomerOut``): the API's answers and the ``customer.*``
webhooks (:mod:`billow.webhooks.payloads`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.customers.repository import customer_repository
from billow.customers.schemas import CustomerOut, customer_out
from billow.models.customers import Customer
from billow.models.organizations import Organization
from billow.webhooks.payloads import renderer


def render_customers(
    session: Session, organization: Organization, customers: Sequence[Customer], *, detail: bool = False
) -> list[CustomerOut]:
    ids = [customer.id for customer in customers]
    metadata = customer_repository.metadata_by_customer(session, ids)
    taxes = customer_repository.taxes_by_customer(session, ids)
    links = customer_repository.integration_customers_by_customer(session, organization.id, ids)
    return [
        customer_out(
            customer,
            organization,
            metadata[customer.id],
            taxes[customer.id],
            detail=detail,
            integration_customers=links.get(customer.id, []),
        )
        for customer in customers
    ]


@renderer("customer")
def customer_payloads(
    session: Session, organization: Organization, ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, Any]]:
    customers = list(
        session.scalars(
            select(Customer).where(Customer.organization_id == organization.id, Customer.id.in_(set(ids)))
        )
    )
    rendered = render_customers(session, organization, customers, detail=True)
    return {c.id: out.model_dump(mode="json") for c, out in zip(customers, rendered, strict=True)}
