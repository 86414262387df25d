from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy.orm import Session

from billow.auth import CurrentOrganization
from billow.customers.schemas import (
    CustomerEnvelope,
    CustomerFilters,
    CustomerList,
    CustomerRequest,
)
from billow.customers.service import customer_service
from billow.customers.views import render_customers
from billow.db import DbSession
from billow.kit.pagination import Pagination, paginate
from billow.kit.strict_json import StrictJSONRoute
from billow.models.customers import Customer
from billow.models.organizations import Organization

router = APIRouter(tags=["customers"], route_class=StrictJSONRoute)


def _envelope(session: Session, organization: Organization, customer: Customer) -> CustomerEnvelope:
    [out] = render_customers(session, organization, [customer], detail=True)
    return CustomerEnvelope.model_validate({"customer": out})


def customer_filters(request: Request) -> CustomerFilters:
    """Query filters; list filters are accepted as ``currencies[]=X`` (Lago) or ``currencies=X``."""
    query = request.query_params

    def many(name: str) -> list[str]:
        return [value for value in [*query.getlist(f"{name}[]"), *query.getlist(name)] if value != ""]

    metadata = {
        key[len("metadata[") : -1]: value
        for key, value in query.multi_items()
        if key.startswith("metadata[") and key.endswith("]") and len(key) > len("metadata[]")
    }
    return CustomerFilters(
        search_term=query.get("search_term"),
        external_id=query.get("external_id"),
        currencies=many("currencies"),
        countries=many("countries"),
        states=many("states"),
        zipcodes=many("zipcodes"),
        account_types=many("account_type"),
        customer_type=query.get("customer_type"),
        has_customer_type=query.get("has_customer_type"),
        has_tax_identification_number=query.get("has_tax_identification_number"),
        metadata=metadata,
    )


@router.post("/customers", response_model=CustomerEnvelope)
def upsert(body: CustomerRequest, session: DbSession, organization: CurrentOrganization) -> CustomerEnvelope:
    customer = customer_service.upsert(session, organization, body.customer)
    return _envelope(session, organization, customer)


@router.get("/customers", response_model=CustomerList)
def index(
    request: Request, session: DbSession, organization: CurrentOrganization, pages: Pagination
) -> CustomerList:
    stmt = customer_service.list_stmt(organization, customer_filters(request))
    customers, meta = paginate(session, stmt, pages)
    return CustomerList(customers=render_customers(session, organization, customers), meta=meta)


@router.get("/customers/{external_id}", response_model=CustomerEnvelope)
def show(external_id: str, session: DbSession, organization: CurrentOrganization) -> CustomerEnvelope:
    return _envelope(session, organization, customer_service.get(session, organization, external_id))


@router.delete("/customers/{external_id}", response_model=CustomerEnvelope)
def destroy(external_id: str, session: DbSession, organization: CurrentOrganization) -> CustomerEnvelope:
    return _envelope(session, organization, customer_service.delete(session, organization, external_id))
