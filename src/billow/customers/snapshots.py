"""A customer as providers see it (:class:`billow.providers.interface.CustomerData`)."""

from __future__ import annotations

from collections.abc import Mapping

from billow.models.customers import Customer
from billow.providers.interface import CustomerData


def customer_data(
    customer: Customer, *, provider_customer_id: str | None = None, metadata: Mapping[str, str] | None = None
) -> CustomerData:
    return CustomerData(
        id=str(customer.id),
        external_id=customer.external_id,
        name=customer.name,
        firstname=customer.firstname,
        lastname=customer.lastname,
        legal_name=customer.legal_name,
        email=customer.email,
        phone=customer.phone,
        address_line1=customer.address_line1,
        address_line2=customer.address_line2,
        city=customer.city,
        state=customer.state,
        zipcode=customer.zipcode,
        country=customer.country,
        currency=customer.currency,
        tax_identification_number=customer.tax_identification_number,
        customer_type=customer.customer_type,
        provider_customer_id=provider_customer_id,
        metadata=dict(metadata or {}),
    )
