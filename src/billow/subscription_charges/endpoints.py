"""``/subscriptions/{external_id}/charges[/{code}[/filters[/{filter_id}]]]``: a subscription's charges and
their filters, read and overridden (:mod:`billow.subscription_charges.service`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from billow.auth import CurrentOrganization
from billow.db import DbSession
from billow.kit.pagination import Pagination, paginate
from billow.kit.strict_json import StrictJSONRoute
from billow.models.plans import Charge, ChargeFilter, Plan
from billow.plans.repository import plan_repository
from billow.plans.schemas import (
    ChargeEnvelope,
    ChargeFilterEnvelope,
    ChargeFilterList,
    ChargeFilterRequest,
    ChargeList,
    charge_filter_out,
)
from billow.subscription_charges.schemas import SubscriptionChargeRequest, subscription_charge_out
from billow.subscription_charges.service import subscription_charge_service as service

router = APIRouter(tags=["subscriptions"], route_class=StrictJSONRoute)

#: The subscription's status (Lago keeps ``status`` for backward compatibility); default ``active``.
SubscriptionStatusQuery = Annotated[str | None, Query(max_length=255)]

_CHARGES = "/subscriptions/{external_id}/charges"
_CHARGE = _CHARGES + "/{charge_code}"
_FILTERS = _CHARGE + "/filters"
_FILTER = _FILTERS + "/{filter_id}"


def _status(subscription_status: str | None, status: str | None) -> str | None:
    return subscription_status or status or None


def _charge(session: Session, plan: Plan, charge: Charge) -> ChargeEnvelope:
    [graph] = plan_repository.load_charges(session, [charge])
    return ChargeEnvelope(charge=subscription_charge_out(graph, service.parent_ids(session, plan, [charge])))


def _filter(session: Session, charge: Charge, charge_filter: ChargeFilter) -> ChargeFilterEnvelope:
    [graph] = plan_repository.load_filters(session, [charge_filter], {charge.id: charge.code})
    return ChargeFilterEnvelope(filter=charge_filter_out(graph))


@router.get(_CHARGES, response_model=ChargeList)
def index(
    external_id: str,
    session: DbSession,
    organization: CurrentOrganization,
    pages: Pagination,
    subscription_status: SubscriptionStatusQuery = None,
    status: SubscriptionStatusQuery = None,
) -> ChargeList:
    _, plan = service.plan(session, organization, external_id, _status(subscription_status, status))
    charges, meta = paginate(session, plan_repository.charges_stmt(plan), pages)
    parents = service.parent_ids(session, plan, charges)
    graphs = plan_repository.load_charges(session, charges)
    return ChargeList(charges=[subscription_charge_out(graph, parents) for graph in graphs], meta=meta)


@router.get(_CHARGE, response_model=ChargeEnvelope)
def show(
    external_id: str,
    charge_code: str,
    session: DbSession,
    organization: CurrentOrganization,
    subscription_status: SubscriptionStatusQuery = None,
    status: SubscriptionStatusQuery = None,
) -> ChargeEnvelope:
    _, plan, charge = service.charge(
        session, organization, external_id, charge_code, _status(subscription_status, status)
    )
    return _charge(session, plan, charge)


@router.put(_CHARGE, response_model=ChargeEnvelope)
def override(
    external_id: str,
    charge_code: str,
    body: SubscriptionChargeRequest,
    session: DbSession,
    organization: CurrentOrganization,
    subscription_status: SubscriptionStatusQuery = None,
    status: SubscriptionStatusQuery = None,
) -> ChargeEnvelope:
    plan, charge = service.override(
        session, organization, external_id, charge_code, _status(subscription_status, status), body.charge
    )
    return _charge(session, plan, charge)


@router.get(_FILTERS, response_model=ChargeFilterList)
def filters_index(
    external_id: str,
    charge_code: str,
    session: DbSession,
    organization: CurrentOrganization,
    pages: Pagination,
    subscription_status: SubscriptionStatusQuery = None,
    status: SubscriptionStatusQuery = None,
) -> ChargeFilterList:
    _, _, charge = service.charge(
        session, organization, external_id, charge_code, _status(subscription_status, status)
    )
    filters, meta = paginate(session, plan_repository.filters_stmt(charge), pages)
    graphs = plan_repository.load_filters(session, filters, {charge.id: charge.code})
    return ChargeFilterList(filters=[charge_filter_out(graph) for graph in graphs], meta=meta)


@router.post(_FILTERS, response_model=ChargeFilterEnvelope)
def filters_create(
    external_id: str,
    charge_code: str,
    body: ChargeFilterRequest,
    session: DbSession,
    organization: CurrentOrganization,
    subscription_status: SubscriptionStatusQuery = None,
    status: SubscriptionStatusQuery = None,
) -> ChargeFilterEnvelope:
    charge, charge_filter = service.create_filter(
        session, organization, external_id, charge_code, _status(subscription_status, status), body.filter
    )
    return _filter(session, charge, charge_filter)


@router.get(_FILTER, response_model=ChargeFilterEnvelope)
def filters_show(
    external_id: str,
    charge_code: str,
    filter_id: str,
    session: DbSession,
    organization: CurrentOrganization,
    subscription_status: SubscriptionStatusQuery = None,
    status: SubscriptionStatusQuery = None,
) -> ChargeFilterEnvelope:
    _, _, charge, charge_filter = service.filter(
        session, organization, external_id, charge_code, filter_id, _status(subscription_status, status)
    )
    return _filter(session, charge, charge_filter)


@router.put(_FILTER, response_model=ChargeFilterEnvelope)
def filters_update(
    external_id: str,
    charge_code: str,
    filter_id: str,
    body: ChargeFilterRequest,
    session: DbSession,
    organization: CurrentOrganization,
    subscription_status: SubscriptionStatusQuery = None,
    status: SubscriptionStatusQuery = None,
) -> ChargeFilterEnvelope:
    charge, charge_filter = service.update_filter(
        session,
        organization,
        external_id,
        charge_code,
        filter_id,
        _status(subscription_status, status),
        body.filter,
    )
    return _filter(session, charge, charge_filter)


@router.delete(_FILTER, response_model=ChargeFilterEnvelope)
def filters_destroy(
    external_id: str,
    charge_code: str,
    filter_id: str,
    session: DbSession,
    organization: CurrentOrganization,
    subscription_status: SubscriptionStatusQuery = None,
    status: SubscriptionStatusQuery = None,
) -> ChargeFilterEnvelope:
    charge, charge_filter = service.delete_filter(
        session, organization, external_id, charge_code, filter_id, _status(subscription_status, status)
    )
    return _filter(session, charge, charge_filter)
