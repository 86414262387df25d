"""``/plans/{code}/fixed_charges[/{fixed_charge_code}]``: a plan's fixed charges one at a time."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.orm import Session

from billow.auth import CurrentOrganization
from billow.db import DbSession
from billow.kit.pagination import Pagination, paginate
from billow.kit.strict_json import StrictJSONRoute
from billow.models.plans import FixedCharge
from billow.plans.fixed_charge_repository import fixed_charge_repository as repository
from billow.plans.fixed_charge_schemas import (
    FixedChargeEnvelope,
    FixedChargeList,
    FixedChargeRequest,
    fixed_charge_out,
)
from billow.plans.service import plan_service
from billow.plans.service.fixed_charges import fixed_charge_service

router = APIRouter(tags=["plans"], route_class=StrictJSONRoute)


def _envelope(session: Session, fixed_charge: FixedCharge) -> FixedChargeEnvelope:
    return FixedChargeEnvelope(fixed_charge=fixed_charge_out(repository.load(session, [fixed_charge])[0]))


@router.get("/plans/{code}/fixed_charges", response_model=FixedChargeList)
def index(
    code: str, session: DbSession, organization: CurrentOrganization, pages: Pagination
) -> FixedChargeList:
    plan = plan_service.get(session, organization, code)
    fixed_charges, meta = paginate(session, repository.list_stmt(plan), pages)
    graphs = repository.load(session, fixed_charges)
    return FixedChargeList(fixed_charges=[fixed_charge_out(graph) for graph in graphs], meta=meta)


@router.post("/plans/{code}/fixed_charges", response_model=FixedChargeEnvelope)
def create(
    code: str, body: FixedChargeRequest, session: DbSession, organization: CurrentOrganization
) -> FixedChargeEnvelope:
    return _envelope(session, fixed_charge_service.create(session, organization, code, body.fixed_charge))


@router.get("/plans/{code}/fixed_charges/{fixed_charge_code}", response_model=FixedChargeEnvelope)
def show(
    code: str, fixed_charge_code: str, session: DbSession, organization: CurrentOrganization
) -> FixedChargeEnvelope:
    _, fixed_charge = fixed_charge_service.find(session, organization, code, fixed_charge_code)
    return _envelope(session, fixed_charge)


@router.put("/plans/{code}/fixed_charges/{fixed_charge_code}", response_model=FixedChargeEnvelope)
def update(
    code: str,
    fixed_charge_code: str,
    body: FixedChargeRequest,
    session: DbSession,
    organization: CurrentOrganization,
) -> FixedChargeEnvelope:
    data = body.fixed_charge
    updated = fixed_charge_service.update(session, organization, code, fixed_charge_code, data)
    return _envelope(session, updated)


@router.delete("/plans/{code}/fixed_charges/{fixed_charge_code}", response_model=FixedChargeEnvelope)
def destroy(
    code: str, fixed_charge_code: str, session: DbSession, organization: CurrentOrganization
) -> FixedChargeEnvelope:
    return _envelope(session, fixed_charge_service.delete(session, organization, code, fixed_charge_code))
