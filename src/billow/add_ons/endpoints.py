from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.orm import Session

from billow.add_ons.repository import add_on_repository
from billow.add_ons.schemas import AddOnEnvelope, AddOnList, AddOnOut, AddOnRequest, add_on_out
from billow.add_ons.service import add_on_service
from billow.auth import CurrentOrganization
from billow.db import DbSession
from billow.kit.pagination import Pagination, paginate
from billow.kit.strict_json import StrictJSONRoute
from billow.models.add_ons import AddOn

router = APIRouter(tags=["add_ons"], route_class=StrictJSONRoute)


def _out(session: Session, add_on: AddOn) -> AddOnOut:
    return add_on_out(add_on, add_on_repository.taxes_by_add_on(session, [add_on.id])[add_on.id])


@router.post("/add_ons", response_model=AddOnEnvelope)
def create(body: AddOnRequest, session: DbSession, organization: CurrentOrganization) -> AddOnEnvelope:
    return AddOnEnvelope(add_on=_out(session, add_on_service.create(session, organization, body.add_on)))


@router.get("/add_ons", response_model=AddOnList)
def index(session: DbSession, organization: CurrentOrganization, pages: Pagination) -> AddOnList:
    add_ons, meta = paginate(session, add_on_repository.list_stmt(organization.id), pages)
    taxes = add_on_repository.taxes_by_add_on(session, [a.id for a in add_ons])
    return AddOnList(add_ons=[add_on_out(a, taxes[a.id]) for a in add_ons], meta=meta)


@router.get("/add_ons/{code}", response_model=AddOnEnvelope)
def show(code: str, session: DbSession, organization: CurrentOrganization) -> AddOnEnvelope:
    return AddOnEnvelope(add_on=_out(session, add_on_service.get(session, organization, code)))


@router.put("/add_ons/{code}", response_model=AddOnEnvelope)
def update(
    code: str, body: AddOnRequest, session: DbSession, organization: CurrentOrganization
) -> AddOnEnvelope:
    return AddOnEnvelope(
        add_on=_out(session, add_on_service.update(session, organization, code, body.add_on))
    )


@router.delete("/add_ons/{code}", response_model=AddOnEnvelope)
def destroy(code: str, session: DbSession, organization: CurrentOrganization) -> AddOnEnvelope:
    return AddOnEnvelope(add_on=_out(session, add_on_service.delete(session, organization, code)))
