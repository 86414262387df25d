from __future__ import annotations

import uuid
from typing import Literal

from pydantic import Field

from billow.kit.limits import Days
from billow.kit.schemas import Input, Output, Timestamp
from billow.kit.strings import INVOICE_FOOTER_MAX_LENGTH, URL_MAX_LENGTH, ZIPCODE_MAX_LENGTH


class OrganizationBillingConfiguration(Input):
    invoice_footer: str | None = Field(default=None, max_length=INVOICE_FOOTER_MAX_LENGTH)
    invoice_grace_period: Days | None = Field(default=None, ge=0)
    document_locale: str | None = None
    bill_backdated_periods: bool | None = None


class OrganizationUpdate(Input):
    webhook_url: str | None = Field(default=None, max_length=URL_MAX_LENGTH)
    country: str | None = None
    default_currency: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    state: str | None = None
    zipcode: str | None = Field(default=None, max_length=ZIPCODE_MAX_LENGTH)
    email: str | None = None
    city: str | None = None
    legal_name: str | None = None
    legal_number: str | None = None
    tax_identification_number: str | None = None
    net_payment_term: Days | None = Field(default=None, ge=0)
    timezone: str | None = None
    document_numbering: Literal["per_customer", "per_organization"] | None = None
    document_number_prefix: str | None = Field(default=None, max_length=10)
    email_settings: list[str] | None = None
    finalize_zero_amount_invoice: bool | None = None
    billing_configuration: OrganizationBillingConfiguration | None = None


class OrganizationUpdateRequest(Input):
    organization: OrganizationUpdate


class OrganizationBillingConfigurationOut(Output):
    invoice_footer: str | None
    invoice_grace_period: int
    document_locale: str
    bill_backdated_periods: bool


class OrganizationOut(Output):
    lago_id: uuid.UUID
    name: str
    created_at: Timestamp
    webhook_url: str | None
    webhook_urls: list[str]
    #: The key of the organization's ``hmac`` webhook signatures (Billow's addition: Lago's UI shows it).
    hmac_key: str
    country: str | None
    default_currency: str
    address_line1: str | None
    address_line2: str | None
    state: str | None
    zipcode: str | None
    email: str | None
    city: str | None
    legal_name: str | None
    legal_number: str | None
    net_payment_term: int
    tax_identification_number: str | None
    timezone: str
    document_numbering: str
    document_number_prefix: str
    email_settings: list[str]
    finalize_zero_amount_invoice: bool
    billing_configuration: OrganizationBillingConfigurationOut


class OrganizationEnvelope(Output):
    organization: OrganizationOut
