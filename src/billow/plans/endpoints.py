from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy.orm import Session

from billow.auth import CurrentOrganization
from billow.db import DbSession
from billow.kit.pagination import Pagination, paginate
from billow.kit.schemas import Input, Output
from billow.kit.strict_json import StrictJSONRoute
from billow.models.plans import Charge, ChargeFilter, Plan
from billow.plans.repository import plan_repository as repository
from billow.plans.schemas import (
    ChargeEnvelope,
    ChargeFilterEnvelope,
    ChargeFilterList,
    ChargeFilterOut,
    ChargeFilterRequest,
    ChargeList,
    ChargeOut,
    ChargeRequest,
    PlanEnvelope,
    PlanList,
    PlanRequest,
    charge_filter_out,
    charge_out,
)
from billow.plans.service import charge_filter_service, charge_service, plan_metadata_service, plan_service
from billow.plans.views import render_plans

router = APIRouter(tags=["plans"], route_class=StrictJSONRoute)


def _plan(session: Session, plan: Plan) -> PlanEnvelope:
    return PlanEnvelope(plan=render_plans(session, [plan])[0])


def _charge_out(session: Session, charge: Charge) -> ChargeOut:
    return charge_out(repository.load_charges(session, [charge])[0])


def _filter_out(session: Session, charge: Charge, charge_filter: ChargeFilter) -> ChargeFilterOut:
    return charge_filter_out(repository.load_filters(session, [charge_filter], {charge.id: charge.code})[0])


# ------------------------------------------------------------------------------------------- plans


@router.post("/plans", response_model=PlanEnvelope)
def create(body: PlanRequest, session: DbSession, organization: CurrentOrganization) -> PlanEnvelope:
    return _plan(session, plan_service.create(session, organization, body.plan))


@router.get("/plans", response_model=PlanList)
def index(session: DbSession, organization: CurrentOrganization, pages: Pagination) -> PlanList:
    plans, meta = paginate(session, repository.list_stmt(organization.id), pages)
    return PlanList(plans=render_plans(session, plans), meta=meta)


@router.get("/plans/{code}", response_model=PlanEnvelope)
def show(code: str, session: DbSession, organization: CurrentOrganization) -> PlanEnvelope:
    return _plan(session, plan_service.get(session, organization, code))


@router.put("/plans/{code}", response_model=PlanEnvelope)
def update(
    code: str, body: PlanRequest, session: DbSession, organization: CurrentOrganization
) -> PlanEnvelope:
    return _plan(session, plan_service.update(session, organization, code, body.plan))


@router.delete("/plans/{code}", response_model=PlanEnvelope)
def destroy(code: str, session: DbSession, organization: CurrentOrganization) -> PlanEnvelope:
    return _plan(session, plan_service.delete(session, organization, code))


# ---------------------------------------------------------------------------------------- metadata


class MetadataRequest(Input):
    metadata: dict[str, Any]


class MetadataEnvelope(Output):
    metadata: dict[str, str | None]


@router.post("/plans/{code}/metadata", response_model=MetadataEnvelope)
def replace_metadata(
    code: str, body: MetadataRequest, session: DbSession, organization: CurrentOrganization
) -> MetadataEnvelope:
    return MetadataEnvelope(
        metadata=plan_metadata_service.replace(session, organization, code, body.metadata)
    )


@router.patch("/plans/{code}/metadata", response_model=MetadataEnvelope)
def merge_metadata(
    code: str, body: MetadataRequest, session: DbSession, organization: CurrentOrganization
) -> MetadataEnvelope:
    return MetadataEnvelope(metadata=plan_metadata_service.merge(session, organization, code, body.metadata))


@router.delete("/plans/{code}/metadata", response_model=MetadataEnvelope)
def delete_metadata(code: str, session: DbSession, organization: CurrentOrganization) -> MetadataEnvelope:
    return MetadataEnvelope(metadata=plan_metadata_service.delete(session, organization, code))


@router.delete("/plans/{code}/metadata/{key}", response_model=MetadataEnvelope)
def delete_metadata_key(
    code: str, key: str, session: DbSession, organization: CurrentOrganization
) -> MetadataEnvelope:
    return MetadataEnvelope(metadata=plan_metadata_service.delete(session, organization, code, key))


# ----------------------------------------------------------------------------------------- charges


@router.get("/plans/{code}/charges", response_model=ChargeList)
def charges_index(
    code: str, session: DbSession, organization: CurrentOrganization, pages: Pagination
) -> ChargeList:
    plan = plan_service.get(session, organization, code)
    charges, meta = paginate(session, repository.charges_stmt(plan), pages)
    return ChargeList(
        charges=[charge_out(graph) for graph in repository.load_charges(session, charges)], meta=meta
    )


@router.post("/plans/{code}/charges", response_model=ChargeEnvelope)
def charges_create(
    code: str, body: ChargeRequest, session: DbSession, organization: CurrentOrganization
) -> ChargeEnvelope:
    return ChargeEnvelope(
        charge=_charge_out(session, charge_service.create(session, organization, code, body.charge))
    )


@router.get("/plans/{code}/charges/{charge_code}", response_model=ChargeEnvelope)
def charges_show(
    code: str, charge_code: str, session: DbSession, organization: CurrentOrganization
) -> ChargeEnvelope:
    _, charge = charge_service.find(session, organization, code, charge_code)
    return ChargeEnvelope(charge=_charge_out(session, charge))


@router.put("/plans/{code}/charges/{charge_code}", response_model=ChargeEnvelope)
def charges_update(
    code: str, charge_code: str, body: ChargeRequest, session: DbSession, organization: CurrentOrganization
) -> ChargeEnvelope:
    charge = charge_service.update(session, organization, code, charge_code, body.charge)
    return ChargeEnvelope(charge=_charge_out(session, charge))


@router.delete("/plans/{code}/charges/{charge_code}", response_model=ChargeEnvelope)
def charges_destroy(
    code: str, charge_code: str, session: DbSession, organization: CurrentOrganization
) -> ChargeEnvelope:
    charge = charge_service.delete(session, organization, code, charge_code)
    return ChargeEnvelope(charge=_charge_out(session, charge))


# ---------------------------------------------------------------------------------- charge filters


@router.get("/plans/{code}/charges/{charge_code}/filters", response_model=ChargeFilterList)
def filters_index(
    code: str, charge_code: str, session: DbSession, organization: CurrentOrganization, pages: Pagination
) -> ChargeFilterList:
    _, charge = charge_service.find(session, organization, code, charge_code)
    filters, meta = paginate(session, repository.filters_stmt(charge), pages)
    graphs = repository.load_filters(session, filters, {charge.id: charge.code})
    return ChargeFilterList(filters=[charge_filter_out(graph) for graph in graphs], meta=meta)


@router.post("/plans/{code}/charges/{charge_code}/filters", response_model=ChargeFilterEnvelope)
def filters_create(
    code: str,
    charge_code: str,
    body: ChargeFilterRequest,
    session: DbSession,
    organization: CurrentOrganization,
) -> ChargeFilterEnvelope:
    charge, charge_filter = charge_filter_service.create(
        session, organization, code, charge_code, body.filter
    )
    return ChargeFilterEnvelope(filter=_filter_out(session, charge, charge_filter))


@router.get("/plans/{code}/charges/{charge_code}/filters/{filter_id}", response_model=ChargeFilterEnvelope)
def filters_show(
    code: str, charge_code: str, filter_id: str, session: DbSession, organization: CurrentOrganization
) -> ChargeFilterEnvelope:
    charge, charge_filter = charge_filter_service.get(session, organization, code, charge_code, filter_id)
    return ChargeFilterEnvelope(filter=_filter_out(session, charge, charge_filter))


@router.put("/plans/{code}/charges/{charge_code}/filters/{filter_id}", response_model=ChargeFilterEnvelope)
def filters_update(
    code: str,
    charge_code: str,
    filter_id: str,
    body: ChargeFilterRequest,
    session: DbSession,
    organization: CurrentOrganization,
) -> ChargeFilterEnvelope:
    charge, charge_filter = charge_filter_service.update(
        session, organization, code, charge_code, filter_id, body.filter
    )
    return ChargeFilterEnvelope(filter=_filter_out(session, charge, charge_filter))


@router.delete("/plans/{code}/charges/{charge_code}/filters/{filter_id}", response_model=ChargeFilterEnvelope)
def filters_destroy(
    code: str, charge_code: str, filter_id: str, session: DbSession, organization: CurrentOrganization
) -> ChargeFilterEnvelope:
    charge, charge_filter = charge_filter_service.delete(session, organization, code, charge_code, filter_id)
    return ChargeFilterEnvelope(filter=_filter_out(session, charge, charge_filter))
