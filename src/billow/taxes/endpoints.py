from __future__ import annotations

from fastapi import APIRouter

from billow.auth import CurrentOrganization
from billow.db import DbSession
from billow.kit.pagination import Pagination, paginate
from billow.kit.strict_json import StrictJSONRoute
from billow.taxes.repository import tax_repository
from billow.taxes.schemas import TaxEnvelope, TaxList, TaxRequest, tax_out
from billow.taxes.service import tax_service

router = APIRouter(tags=["taxes"], route_class=StrictJSONRoute)


@router.post("/taxes", response_model=TaxEnvelope)
def create(body: TaxRequest, session: DbSession, organization: CurrentOrganization) -> TaxEnvelope:
    return TaxEnvelope(tax=tax_out(tax_service.create(session, organization, body.tax)))


@router.get("/taxes", response_model=TaxList)
def index(session: DbSession, organization: CurrentOrganization, pages: Pagination) -> TaxList:
    taxes, meta = paginate(session, tax_repository.list_stmt(organization.id), pages)
    return TaxList(taxes=[tax_out(t) for t in taxes], meta=meta)


@router.get("/taxes/{code}", response_model=TaxEnvelope)
def show(code: str, session: DbSession, organization: CurrentOrganization) -> TaxEnvelope:
    return TaxEnvelope(tax=tax_out(tax_service.get(session, organization, code)))


@router.put("/taxes/{code}", response_model=TaxEnvelope)
def update(code: str, body: TaxRequest, session: DbSession, organization: CurrentOrganization) -> TaxEnvelope:
    return TaxEnvelope(tax=tax_out(tax_service.update(session, organization, code, body.tax)))


@router.delete("/taxes/{code}", response_model=TaxEnvelope)
def destroy(code: str, session: DbSession, organization: CurrentOrganization) -> TaxEnvelope:
    return TaxEnvelope(tax=tax_out(tax_service.delete(session, organization, code)))
