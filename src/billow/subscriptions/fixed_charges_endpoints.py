"""``/subscriptions/{external_id}/fixed_charges[/{fixed_charge_code}]``: a subscription's fixed charges
(its plan's, or its child plan's) and their overrides (:mod:`billow.subscriptions.fixed_charges`)."""

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
    FixedChargeOverrideRequest,
    fixed_charge_out,
)
from billow.subscriptions.fixed_charges import subscription_fixed_charge_service as service

router = APIRouter(tags=["subscriptions"], route_class=StrictJSONRoute)
ONE = "/subscriptions/{external_id}/fixed_charges/{fixed_charge_code}"


def _envelope(session: Session, fixed_charge: FixedCharge) -> FixedChargeEnvelope:
    return FixedChargeEnvelope(fixed_charge=fixed_charge_out(repository.load(session, [fixed_charge])[0]))


@router.get("/subscriptions/{external_id}/fixed_charges", response_model=FixedChargeList)
def index(
    external_id: str,
    session: DbSession,
    organization: CurrentOrganization,
    pages: Pagination,
    subscription_status: str | None = None,
    status: str | None = None,
) -> FixedChargeList:
    _, plan = service.plan(session, organization, external_id, subscription_status or status)
    fixed_charges, meta = paginate(session, repository.list_stmt(plan), pages)
    graphs = repository.load(session, fixed_charges)
    return FixedChargeList(fixed_charges=[fixed_charge_out(graph) for graph in graphs], meta=meta)


@router.get(ONE, response_model=FixedChargeEnvelope)
def show(
    external_id: str,
    fixed_charge_code: str,
    session: DbSession,
    organization: CurrentOrganization,
    subscription_status: str | None = None,
    status: str | None = None,
) -> FixedChargeEnvelope:
    _, _, fixed_charge = service.find(
        session, organization, external_id, fixed_charge_code, subscription_status or status
    )
    return _envelope(session, fixed_charge)


@router.put(ONE, response_model=FixedChargeEnvelope)
def override(
    external_id: str,
    fixed_charge_code: str,
    body: FixedChargeOverrideRequest,
    session: DbSession,
    organization: CurrentOrganization,
    subscription_status: str | None = None,
    status: str | None = None,
) -> FixedChargeEnvelope:
    wanted = subscription_status or status
    fixed_charge = service.override(
        session, organization, external_id, fixed_charge_code, wanted, body.fixed_charge
    )
    return _envelope(session, fixed_charge)
