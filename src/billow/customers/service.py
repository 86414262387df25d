"""Customers: upsert by ``external_id``, read, list, soft delete.

Error codes follow Lago's: ``invalid_timezone``, ``not_a_valid_country_code``,
``invalid_email_format``, ``not_a_valid_language_code``, ``invalid_value``
(``finalize_zero_amount_invoice``), ``invalid_count`` (more than 5 metadata)...
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from babel import Locale
from sqlalchemy import Select
from sqlalchemy.orm import Session

from billow.coupons.repository import coupon_repository
from billow.customers.repository import customer_repository as repository
from billow.customers.schemas import CustomerFilters, CustomerInput, MetadataInput
from billow.customers.settings import GRACE_PERIOD_CHANGED, grace_period_days
from billow.db import utcnow
from billow.errors import Errors, NotAllowed, NotFound, ValidationFailed
from billow.kit.currency import is_currency
from billow.kit.ids import parse_uuid
from billow.kit.time import is_timezone
from billow.models.customers import Customer, CustomerMetadata
from billow.models.organizations import Organization
from billow.models.taxes import Tax
from billow.providers import registry
from billow.providers.interface import ProviderKind
from billow.taxes.service import tax_service
from billow.webhooks.outbox import emit
from billow.worker.dispatch import run_hooks

CUSTOMER_TYPES = ("company", "individual")
ACCOUNT_TYPES = ("customer", "partner")
PAYMENT_PROVIDERS = ("stripe", "gocardless", "cashfree", "adyen", "flutterwave", "moneyhash")
ISSUING_DATE_ANCHORS = ("next_period_start", "current_period_end")
ISSUING_DATE_ADJUSTMENTS = ("align_with_finalization_date", "keep_anchor")
FINALIZE_ZERO_AMOUNT_INVOICE = ("inherit", "skip", "finalize")
#: The languages invoices can be rendered in (Lago's available locales).
DOCUMENT_LOCALES = ("en", "fr", "nb", "de", "it", "es", "sv", "pt-BR", "zh-TW")
METADATA_MAX_COUNT = 5
METADATA_KEY_MAX_LENGTH = 20
METADATA_VALUE_MAX_LENGTH = 100

#: Top-level input fields stored as-is in the column of the same name.
_PLAIN_FIELDS = (
    "name",
    "firstname",
    "lastname",
    "customer_type",
    "account_type",
    "email",
    "phone",
    "url",
    "logo_url",
    "legal_name",
    "legal_number",
    "tax_identification_number",
    "external_salesforce_id",
    "currency",
    "timezone",
    "net_payment_term",
    "address_line1",
    "address_line2",
    "city",
    "state",
    "zipcode",
    "country",
    "finalize_zero_amount_invoice",
)
_ADDRESS_COLUMNS = frozenset(
    prefix + name
    for prefix in ("", "shipping_")
    for name in ("address_line1", "address_line2", "city", "state", "zipcode", "country")
)
#: Code-like columns where an empty string clears the value (null counts as absent and cannot).
_CLEARED_BY_EMPTY = frozenset(
    {
        "customer_type",
        "currency",
        "timezone",
        "document_locale",
        "payment_provider",
        "payment_provider_code",
        "subscription_invoice_issuing_date_anchor",
        "subscription_invoice_issuing_date_adjustment",
    }
)

# CLDR region codes that are not ISO 3166-1 countries (continents, pseudo-regions, reservations).
_NOT_COUNTRIES = frozenset(
    {"AC", "CP", "CQ", "DG", "EA", "EU", "EZ", "IC", "QO", "TA", "UN", "XA", "XB", "ZZ"}
)


@lru_cache(maxsize=1)
def _country_codes() -> frozenset[str]:
    territories = Locale("en").territories
    return frozenset(
        code
        for code in territories
        if isinstance(code, str) and len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES
    )


def _column_length(column: str) -> int | None:
    """The ``String(n)`` length of a ``customers`` column (None: unbounded or not a string)."""
    return getattr(Customer.__table__.c[column].type, "length", None)


def is_country_code(code: object) -> bool:
    """An ISO 3166-1 alpha-2 code, upper case (``FR``)."""
    return isinstance(code, str) and code in _country_codes()


_EMAIL_ATOM = r"[\w!#$%&'*+/=?^`{|}~-]+"
_EMAIL = re.compile(
    rf"{_EMAIL_ATOM}(?:\.{_EMAIL_ATOM})*@(?:[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.)+[a-z0-9](?:[a-z0-9-]*[a-z0-9])?",
    re.IGNORECASE,
)
_DASH_LOOKALIKES = re.compile("[\u2012\u2013\u2014\u2015\u2043\u2212]")
_INVISIBLE = re.compile("[\u200b\u200c\u200d\u00a0\u200e\u200f\ufeff]")


def normalize_email(value: str) -> str:
    return _INVISIBLE.sub("", _DASH_LOOKALIKES.sub("-", value)).strip()


def is_email_list(value: str) -> bool:
    """One address, or several separated by commas; an empty item makes the list invalid."""
    return all(_EMAIL.fullmatch(item.strip()) for item in value.split(","))


#: In-transaction hook announced when a customer is created or updated through the API, with
#: ``organization``, ``customer``, ``created`` and ``integration_customers`` (the request's list or
#: ``None``): billow.integrations links and syncs it with its providers.
CUSTOMER_SAVED = "customers.saved"


def reset_dunning(customer: Customer) -> None:
    """The customer's dunning attempts start over (Lago resets them when the campaign changes or the
    overdue balance is paid)."""
    customer.last_dunning_campaign_attempt = 0
    customer.last_dunning_campaign_attempt_at = None
    customer.dunning_campaign_completed = False


#: In-transaction hook announced when a customer is deleted, with ``customer``.
CUSTOMER_DELETED = "customers.deleted"


def is_payment_provider(name: str) -> bool:
    """One of Lago's payment providers, or a payment provider installed (billow.providers)."""
    if name in PAYMENT_PROVIDERS:
        return True
    provider = registry.get(name)
    return provider is not None and provider.kind == ProviderKind.PAYMENT


class CustomerService:
    def get(self, session: Session, organization: Organization, external_id: str) -> Customer:
        customer = repository.by_external_id(session, organization.id, external_id)
        if customer is None:
            raise NotFound("customer")
        return customer

    def get_or_create(self, session: Session, organization: Organization, external_id: str) -> Customer:
        """The customer with this ``external_id``, created with nothing else if unknown (subscriptions)."""
        customer = repository.by_external_id(session, organization.id, external_id)
        if customer is not None:
            return customer
        if not external_id.strip():
            raise ValidationFailed.one("external_id", "value_is_mandatory")
        return self._create(session, organization, external_id, {})

    def upsert(self, session: Session, organization: Organization, data: CustomerInput) -> Customer:
        """Create the customer, or update the non-deleted one with this ``external_id`` with what was sent.

        Taxes and metadata, when sent, replace the customer's; ``integration_customers`` are linked by
        the :data:`CUSTOMER_SAVED` hook (billow.integrations); ``invoice_custom_section_codes`` and
        ``billing_entity_code`` are accepted and ignored.
        """
        values = self._column_values(data)
        self._validate(data, values)
        taxes = None
        if data.tax_codes is not None:
            taxes = tax_service.resolve_codes(session, organization.id, data.tax_codes)
        values.update(self._dunning_values(session, organization, data))

        external_id = data.external_id or ""  # not blank: checked by _validate
        customer = repository.by_external_id(session, organization.id, external_id)
        created = customer is None
        if customer is None:
            customer = self._create(session, organization, external_id, values)
        else:
            # Later: the account type can only change while the customer has no subscription, invoice,
            # wallet or applied coupon (Lago's ``Customer#editable?``).
            old_grace = grace_period_days(customer, organization)
            old_dunning = (customer.applied_dunning_campaign_id, customer.exclude_from_dunning_campaign)
            for column, value in values.items():
                setattr(customer, column, value)
            if (customer.applied_dunning_campaign_id, customer.exclude_from_dunning_campaign) != old_dunning:
                reset_dunning(customer)  # another campaign (or none): its attempts start over
            session.flush()
            if grace_period_days(customer, organization) != old_grace:
                # Its drafts move with it (billow.invoices.grace); those now due are finalized right
                # after the commit.
                run_hooks(
                    session,
                    GRACE_PERIOD_CHANGED,
                    organization=organization,
                    customer=customer,
                    old_grace=old_grace,
                )

        if taxes is not None:
            self._apply_taxes(session, customer, taxes)
        if data.metadata is not None:
            self._replace_metadata(session, customer, data.metadata)
        if not created:
            emit(session, organization.id, "customer.updated", "customer", customer.id)
        session.flush()
        run_hooks(
            session,
            CUSTOMER_SAVED,
            organization=organization,
            customer=customer,
            created=created,
            integration_customers=data.integration_customers,
        )
        return customer

    def delete(self, session: Session, organization: Organization, external_id: str) -> Customer:
        """Soft-delete the customer; its ``external_id`` becomes free for a new customer."""
        customer = self.get(session, organization, external_id)
        # Lago terminates the customer's subscriptions (and invoices them) on deletion; Billow asks
        # the caller to terminate them first, so nothing is billed or lost by accident.
        if repository.has_live_subscriptions(session, customer.id):
            raise NotAllowed(code="customer_has_active_subscriptions")
        customer.deleted_at = utcnow()
        # As Lago: the customer's coupons end with it.
        coupon_repository.terminate_applications(session, customer_id=customer.id, at=customer.deleted_at)
        session.flush()
        run_hooks(session, CUSTOMER_DELETED, customer=customer)  # e.g. its wallets are terminated
        return customer

    def list_stmt(self, organization: Organization, filters: CustomerFilters) -> Select[Customer]:
        errors = Errors()
        countries = [code.upper() for code in filters.countries]
        if not all(is_currency(code) for code in filters.currencies):
            errors.add("currencies", "value_is_invalid")
        if not all(is_country_code(code) for code in countries):
            errors.add("countries", "value_is_invalid")
        if not all(value in ACCOUNT_TYPES for value in filters.account_types):
            errors.add("account_type", "value_is_invalid")
        if filters.customer_type and filters.customer_type not in CUSTOMER_TYPES:
            errors.add("customer_type", "value_is_invalid")
        flags: dict[str, bool | None] = {}
        for name in ("has_customer_type", "has_tax_identification_number"):
            raw = getattr(filters, name)
            if raw is None or raw == "":
                flags[name] = None
            elif raw.lower() in ("true", "false"):
                flags[name] = raw.lower() == "true"
            else:
                errors.add(name, "value_is_invalid")
        errors.raise_if_any()
        return repository.list_stmt(
            organization.id,
            search_term=(filters.search_term or "").strip() or None,
            external_id=filters.external_id or None,
            currencies=filters.currencies,
            countries=countries,
            states=filters.states,
            zipcodes=filters.zipcodes,
            account_types=filters.account_types,
            customer_type=filters.customer_type or None,
            has_customer_type=flags["has_customer_type"],
            has_tax_identification_number=flags["has_tax_identification_number"],
            metadata=filters.metadata,
        )

    # Internals

    def _create(
        self, session: Session, organization: Organization, external_id: str, values: dict[str, Any]
    ) -> Customer:
        sequential_id = repository.next_sequential_id(session, organization.id)
        customer = Customer(
            organization_id=organization.id,
            external_id=external_id,
            sequential_id=sequential_id,
            slug=f"{organization.document_number_prefix}-{sequential_id:03d}",
            account_type="customer",
            finalize_zero_amount_invoice="inherit",
            skip_invoice_custom_sections=False,
        )
        for column, value in values.items():
            setattr(customer, column, value)
        repository.add(session, customer)
        emit(session, organization.id, "customer.created", "customer", customer.id)
        return customer

    def _dunning_values(
        self, session: Session, organization: Organization, data: CustomerInput
    ) -> dict[str, Any]:
        """``applied_dunning_campaign_code`` (``""``: none; unknown: 404 ``dunning_campaign_not_found``) and
        ``exclude_from_dunning_campaign`` as column values."""
        values: dict[str, Any] = {}
        code = data.applied_dunning_campaign_code
        if code is not None:
            campaign = repository.dunning_campaign_by_code(session, organization.id, code) if code else None
            if code and campaign is None:
                raise NotFound("dunning_campaign")
            values["applied_dunning_campaign_id"] = campaign.id if campaign else None
        if data.exclude_from_dunning_campaign is not None:
            values["exclude_from_dunning_campaign"] = data.exclude_from_dunning_campaign
        return values

    def _column_values(self, data: CustomerInput) -> dict[str, Any]:
        """What was sent, as column values, normalized the way Lago stores them."""
        provided = data.provided()
        values: dict[str, Any] = {name: provided[name] for name in _PLAIN_FIELDS if name in provided}
        if data.shipping_address is not None:
            values.update({f"shipping_{k}": v for k, v in data.shipping_address.provided().items()})
        if data.billing_configuration is not None:
            values.update(data.billing_configuration.provided())
        if data.skip_invoice_custom_sections is not None:
            values["skip_invoice_custom_sections"] = data.skip_invoice_custom_sections
        if data.invoice_custom_section_codes is not None:
            # Choosing sections turns the skip off (the sections themselves are not implemented yet).
            values["skip_invoice_custom_sections"] = False

        for column, value in values.items():
            if not isinstance(value, str):
                continue
            blank_address = column in _ADDRESS_COLUMNS and not value.strip()
            if blank_address or (column in _CLEARED_BY_EMPTY and value == ""):
                values[column] = None
        for column in ("country", "shipping_country"):
            if values.get(column):
                values[column] = values[column].upper()
        if values.get("email"):
            values["email"] = normalize_email(values["email"])
        return values

    def _validate(self, data: CustomerInput, values: dict[str, Any]) -> None:
        errors = Errors()
        external_id_length = _column_length("external_id")
        if not data.external_id or not data.external_id.strip():
            errors.add("external_id", "value_is_mandatory")
        elif external_id_length is not None and len(data.external_id) > external_id_length:
            errors.add("external_id", "value_is_too_long")

        def check(column: str, valid: Any, code: str = "value_is_invalid") -> None:
            if values.get(column) is not None and not valid(values[column]):
                errors.add(column, code)

        check("customer_type", CUSTOMER_TYPES.__contains__)
        check("account_type", ACCOUNT_TYPES.__contains__)
        check("currency", is_currency)
        check("timezone", is_timezone, "invalid_timezone")
        check("country", is_country_code, "not_a_valid_country_code")
        check("shipping_country", is_country_code, "not_a_valid_country_code")
        check("email", lambda v: v == "" or is_email_list(v), "invalid_email_format")
        check("net_payment_term", lambda v: v >= 0, "value_is_out_of_range")
        check("invoice_grace_period", lambda v: v >= 0, "value_is_out_of_range")
        check("payment_provider", is_payment_provider)
        check("document_locale", DOCUMENT_LOCALES.__contains__, "not_a_valid_language_code")
        check("subscription_invoice_issuing_date_anchor", ISSUING_DATE_ANCHORS.__contains__)
        check("subscription_invoice_issuing_date_adjustment", ISSUING_DATE_ADJUSTMENTS.__contains__)
        check("finalize_zero_amount_invoice", FINALIZE_ZERO_AMOUNT_INVOICE.__contains__, "invalid_value")
        for column, value in values.items():
            length = _column_length(column)
            too_long = isinstance(value, str) and length is not None and len(value) > length
            if too_long and column not in errors.details:
                errors.add(column, "value_is_too_long")
        if data.skip_invoice_custom_sections and data.invoice_custom_section_codes is not None:
            errors.add("invoice_custom_sections", "skip_sections_and_selected_ids_sent_together")
        if data.metadata is not None:
            self._validate_metadata(data.metadata, errors)
        errors.raise_if_any()

    def _validate_metadata(self, items: list[MetadataInput], errors: Errors) -> None:
        if len(items) > METADATA_MAX_COUNT:
            errors.add("metadata", "invalid_count")
        seen: set[str] = set()
        for item in items:
            if not item.key or not item.key.strip():
                errors.add("key", "value_is_mandatory")
            elif len(item.key) > METADATA_KEY_MAX_LENGTH:
                errors.add("key", "value_is_too_long")
            elif item.key in seen:
                errors.add("key", "value_already_exist")
            else:
                seen.add(item.key)
            if not item.value or not item.value.strip():
                errors.add("value", "value_is_mandatory")
            elif len(item.value) > METADATA_VALUE_MAX_LENGTH:
                errors.add("value", "value_is_too_long")

    def _apply_taxes(self, session: Session, customer: Customer, taxes: list[Tax]) -> None:
        # Later: flag the customer's draft invoices for a refresh, as their taxes change.
        repository.replace_taxes(session, customer, taxes)

    def _replace_metadata(self, session: Session, customer: Customer, items: list[MetadataInput]) -> None:
        """The sent list becomes the customer's metadata: entries whose ``id`` is known are updated,
        the others created, and entries left out are deleted."""
        existing = {row.id: row for row in repository.metadata_of(session, customer.id)}
        updates: list[tuple[CustomerMetadata, MetadataInput]] = []
        creates: list[MetadataInput] = []
        for item in items:
            known_id = parse_uuid(item.id)
            row = existing.pop(known_id, None) if known_id is not None else None
            if row is None:
                creates.append(item)
            else:
                updates.append((row, item))
        for row in existing.values():
            session.delete(row)
        session.flush()
        # Keys may move between kept entries (a swap): park the moving ones first so that the
        # one-key-per-customer index never sees two entries with the same key.
        moving = [row for row, item in updates if row.key != item.key]
        for row in moving:
            row.key = f"~moving~{row.id.hex}"
        if moving:
            session.flush()
        for row, item in updates:
            row.key = item.key  # type: ignore[assignment]
            row.value = item.value  # type: ignore[assignment]
            row.display_in_invoice = bool(item.display_in_invoice)
        session.flush()
        session.add_all(
            CustomerMetadata(
                organization_id=customer.organization_id,
                customer_id=customer.id,
                key=item.key,
                value=item.value,
                display_in_invoice=bool(item.display_in_invoice),
            )
            for item in creates
        )
        session.flush()


customer_service = CustomerService()
