"""Strings the databases cannot store (:mod:`billow.kit.strings`), the resource of a path parameter
(:mod:`billow.param_guard`), and the guard that every request string fits its column."""

from __future__ import annotations

import contextlib
import importlib
import pkgutil
from collections.abc import Iterator
from typing import Any, get_args

import annotated_types
import pytest
from sqlalchemy import String

import billow
import billow.models
import billow.plans.endpoints
from billow.db import Base
from billow.kit.schemas import Input
from billow.kit.strings import all_storable, storable
from billow.param_guard import resource_of


class TestStorable:
    @pytest.mark.parametrize("text", ["", "abc", "Zürich ☃", "emoji 🎉", "\n\t"])
    def test_storable(self, text: str) -> None:
        assert storable(text)
        assert all_storable(text)

    @pytest.mark.parametrize("text", ["a\x00b", "\x00", "\ud800", "a\udfff"])
    def test_not_storable(self, text: str) -> None:
        assert not storable(text)
        assert not all_storable(text)

    def test_json_documents_at_any_depth(self) -> None:
        assert all_storable({"a": [1, 2.5, None, True, {"b": "c"}]})
        assert not all_storable({"a": [1, {"b": ["c\x00"]}]})
        assert not all_storable({"a": {"b\x00": 1}})
        assert not all_storable([[["\ud800"]]])

    def test_deep_documents_do_not_exhaust_the_stack(self) -> None:
        document: Any = "x\x00"
        for _ in range(100_000):
            document = [document]
        assert not all_storable(document)


class TestResourceOf:
    @pytest.mark.parametrize(
        ("path", "param", "resource"),
        [
            ("/api/v1/customers/{external_id}", "external_id", "customer"),
            ("/api/v1/customers/{external_customer_id}/current_usage", "external_customer_id", "customer"),
            ("/api/v1/taxes/{code}", "code", "tax"),
            ("/api/v1/billable_metrics/{code}", "code", "billable_metric"),
            ("/api/v1/plans/{code}/charges/{charge_code}", "code", "plan"),
            ("/api/v1/plans/{code}/charges/{charge_code}", "charge_code", "charge"),
            ("/api/v1/plans/{code}/charges/{charge_code}/filters/{filter_id}", "filter_id", "charge_filter"),
            ("/api/v1/plans/{code}/metadata/{key}", "key", None),
            ("/api/v1/fees/{lago_id}", "lago_id", "fee"),
            ("/api/v1/events/{transaction_id}", "transaction_id", "event"),
        ],
    )
    def test_the_segment_before_the_parameter(self, path: str, param: str, resource: str | None) -> None:
        assert resource_of(path, param) == resource


# ------------------------------------------------------------------------------ the column guard

#: Request strings that may be longer than the column of the same name: the service refuses them
#: before any write, either against a closed list (currencies, countries, time zones, enumerations:
#: ``value_is_invalid`` & co) or against the column or Lago's limit with a field name of its own
#: (customers' nested address and billing configuration name the column, ``shipping_zipcode``;
#: metadata entries name ``key`` and ``value``). ``billow.kit.strings.check_flushed_strings`` would
#: refuse any miss at flush time anyway (422 on the column, on both databases).
CHECKED_BY_THE_SERVICE = {
    "AddOnInput.amount_currency",
    "AddressInput.address_line1",
    "AddressInput.address_line2",
    "AddressInput.city",
    "AddressInput.country",
    "AddressInput.state",
    "AddressInput.zipcode",
    "BillableMetricInput.aggregation_type",
    "BillableMetricInput.rounding_function",
    "BillableMetricInput.weighted_interval",
    "BillingConfigurationInput.document_locale",
    "BillingConfigurationInput.payment_provider",
    "BillingConfigurationInput.payment_provider_code",
    "BillingConfigurationInput.provider_customer_id",
    "BillingConfigurationInput.provider_payment_methods",
    "BillingConfigurationInput.subscription_invoice_issuing_date_adjustment",
    "BillingConfigurationInput.subscription_invoice_issuing_date_anchor",
    "ChargeInput.charge_model",
    "ChargeInput.regroup_paid_fees",
    "CouponInput.amount_currency",
    "CouponInput.coupon_type",
    "CouponInput.expiration",
    "CouponInput.frequency",
    "CustomerInput.account_type",
    "CustomerInput.country",
    "CustomerInput.currency",
    "CustomerInput.customer_type",
    "CustomerInput.finalize_zero_amount_invoice",
    "CustomerInput.timezone",
    "FeeUpdateInput.payment_status",
    "InvoiceMetadataInput.id",
    "InvoiceMetadataInput.key",
    "InvoiceMetadataInput.value",
    "InvoiceUpdateInput.payment_status",
    "MetadataInput.id",
    "MetadataInput.key",
    "MetadataInput.value",
    "OrganizationBillingConfiguration.document_locale",
    "OrganizationUpdate.country",
    "OrganizationUpdate.default_currency",
    "OrganizationUpdate.timezone",
    "PlanInput.amount_currency",
    "PlanInput.interval",
    "PlanOverridesInput.amount_currency",
    "SubscriptionInput.billing_time",
    "SubscriptionUpdateInput.on_termination_credit_note",
    "SubscriptionUpdateInput.on_termination_invoice",
    "WebhookEndpointInput.signature_algo",
}


def _inputs() -> list[type[Input]]:
    for module in pkgutil.iter_modules(billow.__path__):
        with contextlib.suppress(ModuleNotFoundError):
            importlib.import_module(f"billow.{module.name}.schemas")

    def walk(cls: type[Input]) -> Iterator[type[Input]]:
        for sub in cls.__subclasses__():
            yield sub
            yield from walk(sub)

    return sorted(set(walk(Input)), key=lambda cls: f"{cls.__module__}.{cls.__name__}")


def _holds_str(annotation: Any) -> bool:
    return annotation is str or any(_holds_str(arg) for arg in get_args(annotation))


def _limit(cls: type[Input], name: str) -> int | None:
    for item in cls.model_fields[name].metadata:
        if isinstance(item, annotated_types.MaxLen):
            return item.max_length
    return cls.model_config.get("str_max_length")


def _columns_by_domain() -> dict[str, dict[str, int]]:
    """``{"billow.customers": {column name: shortest String(n) of that name}}``."""
    columns: dict[str, dict[str, int]] = {}
    for mapper in Base.registry.mappers:
        domain = mapper.class_.__module__.rsplit(".", 1)[0]
        for column in mapper.columns:
            if isinstance(column.type, String) and column.type.length:
                known = columns.setdefault(domain, {})
                known[column.name] = min(known.get(column.name, column.type.length), column.type.length)
    return columns


def test_every_request_string_has_a_limit_that_fits_its_column() -> None:
    inputs = _inputs()
    assert len(inputs) > 20
    columns = _columns_by_domain()
    problems = []
    for cls in inputs:
        domain = cls.__module__.rsplit(".", 1)[0]
        for name, field in cls.model_fields.items():
            if not _holds_str(field.annotation) or f"{cls.__name__}.{name}" in CHECKED_BY_THE_SERVICE:
                continue
            limit = _limit(cls, name)
            column = columns.get(domain, {}).get(name)
            if limit is None:
                problems.append(f"{cls.__name__}.{name}: no length limit")
            elif column is not None and limit > column:
                problems.append(f"{cls.__name__}.{name}: limit {limit} > column String({column})")
    assert problems == []


def test_the_allowance_names_real_fields() -> None:
    fields = {f"{cls.__name__}.{name}" for cls in _inputs() for name in cls.model_fields}
    assert CHECKED_BY_THE_SERVICE - fields == set()
