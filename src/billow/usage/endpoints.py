"""The customer-usage API: ``GET /customers/{external_customer_id}/current_usage``, ``.../projected_usage``,
``GET /customers/{external_customer_id}/past_usage``, ``POST /events/estimate_fees`` and the instant
estimates ``POST /events/estimate_instant_fees`` and ``/events/batch_estimate_instant_fees``."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Query

from billow.auth import CurrentOrganization
from billow.db import DbSession
from billow.errors import ValidationFailed
from billow.events.endpoints import Body
from billow.events.schemas import (
    BatchEstimateInstantFeesRequest,
    EstimateFeesRequest,
    EstimateInstantFeesRequest,
    request_body_doc,
)
from billow.fees.usage import UsageFilters
from billow.kit.limits import BIGINT_MAX
from billow.kit.pagination import Pagination
from billow.kit.strict_json import StrictJSONRoute
from billow.subscriptions.dependencies import Now
from billow.usage import instant
from billow.usage.past_usage import past_usage_service
from billow.usage.projected_schemas import CustomerProjectedUsageEnvelope, customer_projected_usage_out
from billow.usage.schemas import (
    CustomerUsageEnvelope,
    FeesEnvelope,
    InstantFeesEnvelope,
    customer_usage_out,
    estimated_fee_out,
    instant_fee_out,
)
from billow.usage.service import customer_usage_service

#: Tags per route: the usage routes are the customers' in the documentation, the estimate the events'.
router = APIRouter(route_class=StrictJSONRoute)
log = logging.getLogger(__name__)

#: Rails' ``ActiveModel::Type::Boolean`` false values (any other non-empty value is true).
_FALSE_VALUES = {"0", "f", "false", "off", ""}


def _flag(value: str | None, default: bool) -> bool:
    if value is None:
        return default
    return value.strip().lower() not in _FALSE_VALUES


@router.get(
    "/customers/{external_customer_id}/current_usage",
    response_model=CustomerUsageEnvelope,
    tags=["customers"],
)
def current_usage(
    external_customer_id: str,
    session: DbSession,
    organization: CurrentOrganization,
    now: Now,
    external_subscription_id: str | None = None,
    apply_taxes: str | None = None,
    charge_id: str | None = None,
    charge_code: str | None = None,
    billable_metric_code: str | None = None,
    filter_by_charge_id: str | None = None,
    filter_by_charge_code: str | None = None,
) -> CustomerUsageEnvelope:
    try:
        usage = customer_usage_service.current_usage(
            session,
            organization,
            external_customer_id=external_customer_id,
            external_subscription_id=external_subscription_id,
            now=now,
            apply_taxes=_flag(apply_taxes, True),
            filters=UsageFilters(
                charge_id=charge_id or filter_by_charge_id,
                charge_code=charge_code or filter_by_charge_code,
                billable_metric_code=billable_metric_code,
            ),
        )
    except ArithmeticError as error:  # stored prices or durations beyond any real bill (issue 9)
        log.warning("current usage of %s: %r", external_subscription_id, error)
        raise ValidationFailed.one("charges", "value_is_out_of_range") from error
    if max(abs(usage.amount_cents), abs(usage.total_amount_cents)) > _MAX_AMOUNT_CENTS:
        raise ValidationFailed.one("charges", "value_is_out_of_range")  # no bill can carry it
    return customer_usage_out(usage)


@router.get(
    "/customers/{external_customer_id}/projected_usage",
    response_model=CustomerProjectedUsageEnvelope,
    tags=["customers"],
)
def projected_usage(
    external_customer_id: str,
    session: DbSession,
    organization: CurrentOrganization,
    now: Now,
    external_subscription_id: str | None = None,
    apply_taxes: str | None = None,
) -> CustomerProjectedUsageEnvelope:
    try:
        projected = customer_usage_service.projected_usage(
            session,
            organization,
            external_customer_id=external_customer_id,
            external_subscription_id=external_subscription_id,
            now=now,
            apply_taxes=_flag(apply_taxes, True),
        )
    except ArithmeticError as error:  # stored prices or durations beyond any real bill (issue 9)
        log.warning("projected usage of %s: %r", external_subscription_id, error)
        raise ValidationFailed.one("charges", "value_is_out_of_range") from error
    body = customer_projected_usage_out(projected)
    usage = body.customer_projected_usage
    if (
        max(abs(usage.amount_cents), abs(usage.total_amount_cents), usage.projected_amount_cents)
        > _MAX_AMOUNT_CENTS
    ):
        raise ValidationFailed.one("charges", "value_is_out_of_range")  # no bill can carry it
    return body


#: The largest amount an invoice can carry (``BIGINT``).
_MAX_AMOUNT_CENTS = 2**63 - 1


@router.get("/customers/{external_customer_id}/past_usage", tags=["customers"])
def past_usage(
    external_customer_id: str,
    session: DbSession,
    organization: CurrentOrganization,
    pages: Pagination,
    external_subscription_id: str,
    billable_metric_code: str | None = None,
    periods_count: Annotated[int | None, Query(ge=1, le=BIGINT_MAX)] = None,
) -> dict[str, Any]:
    periods, meta = past_usage_service.periods(
        session,
        organization,
        external_customer_id=external_customer_id,
        external_subscription_id=external_subscription_id,
        billable_metric_code=billable_metric_code,
        periods_count=periods_count,
        pages=pages,
    )
    return {"usage_periods": periods, "meta": meta.model_dump()}


@router.post(
    "/events/estimate_fees",
    response_model=FeesEnvelope,
    openapi_extra=request_body_doc(EstimateFeesRequest),
    summary="Estimate the pay-in-advance fees of an event, without storing anything",
    tags=["events"],
)
def estimate_fees(
    session: DbSession, organization: CurrentOrganization, now: Now, body: Body
) -> FeesEnvelope:
    fees = customer_usage_service.estimate_fees(session, organization, body.data, now)
    return FeesEnvelope(fees=[estimated_fee_out(fee) for fee in fees])


@router.post(
    "/events/estimate_instant_fees",
    response_model=InstantFeesEnvelope,
    openapi_extra=request_body_doc(EstimateInstantFeesRequest),
    summary="Estimate an event's fees under pay-in-advance standard and percentage charges",
    tags=["events"],
)
def estimate_instant_fees(
    session: DbSession, organization: CurrentOrganization, now: Now, body: Body
) -> InstantFeesEnvelope:
    fees = instant.estimate_instant_fees(session, organization, body.data, now)
    return InstantFeesEnvelope(fees=[instant_fee_out(fee) for fee in fees])


@router.post(
    "/events/batch_estimate_instant_fees",
    response_model=InstantFeesEnvelope,
    openapi_extra=request_body_doc(BatchEstimateInstantFeesRequest),
    summary="Estimate the fees of events under pay-in-advance standard and percentage charges",
    tags=["events"],
)
def batch_estimate_instant_fees(
    session: DbSession, organization: CurrentOrganization, now: Now, body: Body
) -> InstantFeesEnvelope:
    fees = instant.batch_estimate_instant_fees(session, organization, body.data, now)
    return InstantFeesEnvelope(fees=[instant_fee_out(fee) for fee in fees])
