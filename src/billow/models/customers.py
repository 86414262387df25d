"""Customers, their metadata, the taxes applied to them and their per-organization numbering.

A customer is identified in the API by ``external_id``, unique per organization among non-deleted
customers: a deleted customer's ``external_id`` can be taken by a new customer. ``sequential_id``
numbers the customers of an organization (1, 2, 3... in creation order, deleted ones included) and
feeds per-customer invoice numbers; it comes from :class:`CustomerSequence`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String, false, text
from sqlalchemy.orm import Mapped, mapped_column

from billow.db import Base, SoftDeleteMixin, TenantMixin
from billow.kit.db_types import UTCDateTime

if TYPE_CHECKING:
    from billow.models.organizations import Organization


class Customer(TenantMixin, SoftDeleteMixin, Base):
    __tablename__ = "customers"

    external_id: Mapped[str] = mapped_column(String(255))
    sequential_id: Mapped[int] = mapped_column(BigInteger)
    #: ``<organization document prefix>-<sequential_id on 3 digits>``, set once at creation.
    slug: Mapped[str] = mapped_column(String(255))
    account_type: Mapped[str] = mapped_column(String(16), default="customer")
    customer_type: Mapped[str | None] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(String(255))
    firstname: Mapped[str | None] = mapped_column(String(255))
    lastname: Mapped[str | None] = mapped_column(String(255))
    #: One address or several separated by commas.
    email: Mapped[str | None] = mapped_column(String(1024))
    phone: Mapped[str | None] = mapped_column(String(255))
    url: Mapped[str | None] = mapped_column(String(1024))
    logo_url: Mapped[str | None] = mapped_column(String(1024))
    legal_name: Mapped[str | None] = mapped_column(String(255))
    legal_number: Mapped[str | None] = mapped_column(String(255))
    tax_identification_number: Mapped[str | None] = mapped_column(String(255))
    external_salesforce_id: Mapped[str | None] = mapped_column(String(255))
    currency: Mapped[str | None] = mapped_column(String(3))
    #: IANA zone; ``None`` = the organization's.
    timezone: Mapped[str | None] = mapped_column(String(64))
    #: Days; ``None`` = the organization's.
    net_payment_term: Mapped[int | None] = mapped_column()

    address_line1: Mapped[str | None] = mapped_column(String(255))
    address_line2: Mapped[str | None] = mapped_column(String(255))
    city: Mapped[str | None] = mapped_column(String(255))
    state: Mapped[str | None] = mapped_column(String(255))
    zipcode: Mapped[str | None] = mapped_column(String(64))
    #: ISO 3166-1 alpha-2, upper case.
    country: Mapped[str | None] = mapped_column(String(2))

    shipping_address_line1: Mapped[str | None] = mapped_column(String(255))
    shipping_address_line2: Mapped[str | None] = mapped_column(String(255))
    shipping_city: Mapped[str | None] = mapped_column(String(255))
    shipping_state: Mapped[str | None] = mapped_column(String(255))
    shipping_zipcode: Mapped[str | None] = mapped_column(String(64))
    shipping_country: Mapped[str | None] = mapped_column(String(2))

    # Billing configuration. ``None`` means "the organization's setting" where the organization has one.
    invoice_grace_period: Mapped[int | None] = mapped_column()
    document_locale: Mapped[str | None] = mapped_column(String(16))
    subscription_invoice_issuing_date_anchor: Mapped[str | None] = mapped_column(String(32))
    subscription_invoice_issuing_date_adjustment: Mapped[str | None] = mapped_column(String(32))
    # Payment provider link, stored as given: no provider customer is created yet.
    payment_provider: Mapped[str | None] = mapped_column(String(32))
    payment_provider_code: Mapped[str | None] = mapped_column(String(255))
    provider_customer_id: Mapped[str | None] = mapped_column(String(255))
    sync: Mapped[bool | None] = mapped_column()
    sync_with_provider: Mapped[bool | None] = mapped_column()
    provider_payment_methods: Mapped[list[Any] | None] = mapped_column(JSON)

    #: ``inherit`` (the organization's choice), ``skip`` or ``finalize``.
    finalize_zero_amount_invoice: Mapped[str] = mapped_column(String(16), default="inherit")
    skip_invoice_custom_sections: Mapped[bool] = mapped_column(default=False)

    # Dunning (:mod:`billow.dunning`): the customer's own campaign (``None``: the organization's default).
    applied_dunning_campaign_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("dunning_campaigns.id", ondelete="SET NULL")
    )
    exclude_from_dunning_campaign: Mapped[bool] = mapped_column(default=False, server_default=false())
    #: Attempts of the current campaign run (reset when the overdue balance is paid or the campaign changes).
    last_dunning_campaign_attempt: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    last_dunning_campaign_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: ``dunning_campaign.finished`` was announced for the current run.
    dunning_campaign_completed: Mapped[bool] = mapped_column(default=False, server_default=false())

    def applicable_timezone(self, organization: Organization) -> str:
        """The zone of the customer's billing periods and dates (Lago's ``applicable_timezone``)."""
        return self.timezone or organization.timezone or "UTC"


Index(
    "uq_customers_organization_id_external_id",
    Customer.organization_id,
    Customer.external_id,
    unique=True,
    sqlite_where=Customer.deleted_at.is_(None),
    postgresql_where=Customer.deleted_at.is_(None),
)
# Deleted customers keep their number: the index covers every row.
Index(
    "uq_customers_organization_id_sequential_id",
    Customer.organization_id,
    Customer.sequential_id,
    unique=True,
)
# Serves the list, newest first.
Index("ix_customers_organization_id_created_at", Customer.organization_id, Customer.created_at)


class CustomerSequence(Base):
    """The last ``sequential_id`` given to a customer of an organization.

    Taking a number increments this row in the creating transaction, so concurrent creations queue
    on the row lock and never get the same number; a rolled-back creation gives its number back.
    """

    __tablename__ = "customer_sequences"

    organization_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True
    )
    last_value: Mapped[int] = mapped_column(BigInteger, default=0)


class CustomerMetadata(TenantMixin, Base):
    """A key/value pair shown (if ``display_in_invoice``) on the customer's invoices."""

    __tablename__ = "customer_metadata"
    __table_args__ = (Index("uq_customer_metadata_customer_id_key", "customer_id", "key", unique=True),)

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(String(255))
    display_in_invoice: Mapped[bool] = mapped_column(default=False)


class CustomerTax(TenantMixin, Base):
    """A tax applied to every invoice of the customer. Deleting the tax or the customer removes it."""

    __tablename__ = "customer_taxes"
    __table_args__ = (Index("uq_customer_taxes_customer_id_tax_id", "customer_id", "tax_id", unique=True),)

    customer_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    tax_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("taxes.id", ondelete="CASCADE"), index=True)
