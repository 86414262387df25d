from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ConfigDict, Field
from sqlalchemy.orm import object_session

from billow.kit.limits import Days
from billow.kit.pagination import PageMeta
from billow.kit.schemas import Input, Output, Timestamp
from billow.kit.strings import URL_MAX_LENGTH, ZIPCODE_MAX_LENGTH
from billow.models.customers import Customer, CustomerMetadata
from billow.models.dunning import DunningCampaign
from billow.models.organizations import Organization
from billow.models.taxes import Tax
from billow.taxes.schemas import TaxOut, tax_out


class AddressInput(Input):
    # The service checks each value against its column (``shipping_zipcode``: ``value_is_too_long``).
    model_config = ConfigDict(str_max_length=None)

    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    zipcode: str | None = None
    state: str | None = None
    country: str | None = None


class BillingConfigurationInput(Input):
    # The service checks each value against its column, or against its closed list.
    model_config = ConfigDict(str_max_length=None)

    invoice_grace_period: Days | None = None
    payment_provider: str | None = None
    payment_provider_code: str | None = None
    provider_customer_id: str | None = None
    sync: bool | None = None
    sync_with_provider: bool | None = None
    document_locale: str | None = None
    provider_payment_methods: list[str] | None = None
    subscription_invoice_issuing_date_anchor: str | None = None
    subscription_invoice_issuing_date_adjustment: str | None = None


class MetadataInput(Input):
    # The service checks the lengths (Lago's: key 20, value 100), naming ``key`` and ``value``.
    model_config = ConfigDict(str_max_length=None)

    #: ``lago_id`` of an existing entry to update; unknown ids create a new entry (as Lago).
    id: str | None = None
    key: str | None = None
    value: str | None = None
    display_in_invoice: bool | None = None


class IntegrationCustomerInput(Input):
    """The customer's link to an accounting/CRM integration (billow.integrations)."""

    id: str | None = None
    external_customer_id: str | None = None
    integration_type: str | None = None
    integration_code: str | None = None
    subsidiary_id: str | None = None
    sync_with_provider: bool | None = None


class CustomerInput(Input):
    external_id: str | None = None
    name: str | None = None
    firstname: str | None = None
    lastname: str | None = None
    customer_type: str | None = None
    account_type: str | None = None
    email: str | None = Field(default=None, max_length=URL_MAX_LENGTH)
    phone: str | None = None
    url: str | None = Field(default=None, max_length=URL_MAX_LENGTH)
    logo_url: str | None = Field(default=None, max_length=URL_MAX_LENGTH)
    legal_name: str | None = None
    legal_number: str | None = None
    tax_identification_number: str | None = None
    external_salesforce_id: str | None = None
    currency: str | None = None
    timezone: str | None = None
    net_payment_term: Days | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    city: str | None = None
    state: str | None = None
    zipcode: str | None = Field(default=None, max_length=ZIPCODE_MAX_LENGTH)
    country: str | None = None
    shipping_address: AddressInput | None = None
    billing_configuration: BillingConfigurationInput | None = None
    metadata: list[MetadataInput] | None = None
    tax_codes: list[str] | None = None
    finalize_zero_amount_invoice: str | None = None
    skip_invoice_custom_sections: bool | None = None
    invoice_custom_section_codes: list[str] | None = None
    integration_customers: list[IntegrationCustomerInput] | None = None
    billing_entity_code: str | None = None
    #: The customer's own dunning campaign (``""``: none, the organization's default applies).
    applied_dunning_campaign_code: str | None = None
    exclude_from_dunning_campaign: bool | None = None


class CustomerRequest(Input):
    customer: CustomerInput


@dataclass
class CustomerFilters:
    """``GET /customers`` query filters, as sent (validated by the service)."""

    search_term: str | None = None
    external_id: str | None = None
    currencies: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    states: list[str] = field(default_factory=list)
    zipcodes: list[str] = field(default_factory=list)
    account_types: list[str] = field(default_factory=list)
    customer_type: str | None = None
    has_customer_type: str | None = None
    has_tax_identification_number: str | None = None
    #: ``metadata[key]=value``: customers having that pair; an empty value: customers without the key.
    metadata: dict[str, str] = field(default_factory=dict)


class AddressOut(Output):
    address_line1: str | None
    address_line2: str | None
    city: str | None
    zipcode: str | None
    state: str | None
    country: str | None


class BillingConfigurationOut(Output):
    invoice_grace_period: int | None
    payment_provider: str | None
    payment_provider_code: str | None
    provider_customer_id: str | None
    sync: bool | None
    sync_with_provider: bool | None
    document_locale: str | None
    provider_payment_methods: list[str] | None
    subscription_invoice_issuing_date_anchor: str | None
    subscription_invoice_issuing_date_adjustment: str | None


class CustomerMetadataOut(Output):
    lago_id: uuid.UUID
    key: str
    value: str
    display_in_invoice: bool
    created_at: Timestamp


class AppliedDunningCampaignOut(Output):
    lago_id: uuid.UUID
    code: str
    name: str


class CustomerOut(Output):
    """A customer as listed (Lago's ``V1::CustomerSerializer`` with taxes and integration customers)."""

    lago_id: uuid.UUID
    billing_entity_code: str | None
    external_id: str
    account_type: str
    name: str | None
    firstname: str | None
    lastname: str | None
    customer_type: str | None
    sequential_id: int
    slug: str
    created_at: Timestamp
    updated_at: Timestamp
    country: str | None
    address_line1: str | None
    address_line2: str | None
    state: str | None
    zipcode: str | None
    email: str | None
    city: str | None
    url: str | None
    phone: str | None
    logo_url: str | None
    legal_name: str | None
    legal_number: str | None
    currency: str | None
    tax_identification_number: str | None
    timezone: str | None
    applicable_timezone: str
    net_payment_term: int | None
    external_salesforce_id: str | None
    finalize_zero_amount_invoice: str
    billing_configuration: BillingConfigurationOut
    shipping_address: AddressOut
    skip_invoice_custom_sections: bool
    metadata: list[CustomerMetadataOut]
    taxes: list[TaxOut]
    integration_customers: list[dict[str, Any]]
    #: The customer's own dunning campaign (``None``: the organization's default applies, if any).
    applied_dunning_campaign: AppliedDunningCampaignOut | None
    exclude_from_dunning_campaign: bool
    last_dunning_campaign_attempt: int
    last_dunning_campaign_attempt_at: Timestamp | None


class CustomerDetailOut(CustomerOut):
    """A single customer (create, show, delete) adds the applicable invoice custom sections and errors."""

    applicable_invoice_custom_sections: list[dict[str, Any]]
    error_details: list[dict[str, Any]]


class CustomerEnvelope(Output):
    customer: CustomerDetailOut


class CustomerList(Output):
    customers: list[CustomerOut]
    meta: PageMeta


def applied_dunning_campaign(customer: Customer) -> AppliedDunningCampaignOut | None:
    """The customer's own campaign, read in the customer's session (its identity map: one query per
    campaign and session, whatever the number of customers shown)."""
    if customer.applied_dunning_campaign_id is None:
        return None
    session = object_session(customer)
    campaign = session.get(DunningCampaign, customer.applied_dunning_campaign_id) if session else None
    if campaign is None or campaign.organization_id != customer.organization_id:
        return None
    return AppliedDunningCampaignOut(lago_id=campaign.id, code=campaign.code, name=campaign.name)


def customer_out(
    customer: Customer,
    organization: Organization,
    metadata: Sequence[CustomerMetadata],
    taxes: Sequence[Tax],
    *,
    detail: bool = False,
    integration_customers: Sequence[dict[str, Any]] = (),
) -> CustomerOut:
    values: dict[str, Any] = {
        name: getattr(customer, name)
        for name in CustomerOut.model_fields
        if hasattr(customer, name) and name not in {"metadata", "billing_configuration", "shipping_address"}
    }
    values.update(
        lago_id=customer.id,
        billing_entity_code=None,
        applicable_timezone=customer.applicable_timezone(organization),
        billing_configuration=BillingConfigurationOut(
            invoice_grace_period=customer.invoice_grace_period,
            payment_provider=customer.payment_provider,
            payment_provider_code=customer.payment_provider_code,
            provider_customer_id=customer.provider_customer_id,
            sync=customer.sync,
            sync_with_provider=customer.sync_with_provider,
            document_locale=customer.document_locale,
            provider_payment_methods=customer.provider_payment_methods,
            subscription_invoice_issuing_date_anchor=customer.subscription_invoice_issuing_date_anchor,
            subscription_invoice_issuing_date_adjustment=customer.subscription_invoice_issuing_date_adjustment,
        ),
        shipping_address=AddressOut(
            address_line1=customer.shipping_address_line1,
            address_line2=customer.shipping_address_line2,
            city=customer.shipping_city,
            zipcode=customer.shipping_zipcode,
            state=customer.shipping_state,
            country=customer.shipping_country,
        ),
        metadata=[
            CustomerMetadataOut(
                lago_id=m.id,
                key=m.key,
                value=m.value,
                display_in_invoice=m.display_in_invoice,
                created_at=m.created_at,
            )
            for m in metadata
        ],
        taxes=[tax_out(tax) for tax in taxes],
        integration_customers=list(integration_customers),
        applied_dunning_campaign=applied_dunning_campaign(customer),
        # A transient customer (an invoice preview's) has no column defaults.
        exclude_from_dunning_campaign=bool(customer.exclude_from_dunning_campaign),
        last_dunning_campaign_attempt=customer.last_dunning_campaign_attempt or 0,
    )
    if detail:
        return CustomerDetailOut(**values, applicable_invoice_custom_sections=[], error_details=[])
    return CustomerOut(**values)
