from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy.orm import Session

from billow.applied_coupons.repository import applied_coupon_repository
from billow.applied_coupons.schemas import (
    AppliedCouponEnvelope,
    AppliedCouponList,
    AppliedCouponRequest,
    applied_coupon_list_item,
    applied_coupon_out,
)
from billow.applied_coupons.service import applied_coupon_service
from billow.auth import CurrentOrganization
from billow.customers.repository import customer_repository
from billow.db import DbSession
from billow.errors import NotFound
from billow.kit.pagination import Pagination, paginate
from billow.kit.strict_json import StrictJSONRoute
from billow.models.coupons import AppliedCoupon

router = APIRouter(tags=["applied_coupons"], route_class=StrictJSONRoute)


def _envelope(session: Session, applied: AppliedCoupon) -> AppliedCouponEnvelope:
    coupons, customers = applied_coupon_repository.coupons_and_customers(session, [applied])
    return AppliedCouponEnvelope(
        applied_coupon=applied_coupon_out(applied, coupons[applied.coupon_id], customers[applied.customer_id])
    )


@router.post("/applied_coupons", response_model=AppliedCouponEnvelope)
def create(
    body: AppliedCouponRequest, session: DbSession, organization: CurrentOrganization
) -> AppliedCouponEnvelope:
    return _envelope(session, applied_coupon_service.apply(session, organization, body.applied_coupon))


@router.get("/applied_coupons", response_model=AppliedCouponList)
def index(
    session: DbSession,
    organization: CurrentOrganization,
    pages: Pagination,
    external_customer_id: Annotated[str | None, Query(max_length=255)] = None,
    status: Annotated[str | None, Query(max_length=255)] = None,
    coupon_code: Annotated[list[str] | None, Query(alias="coupon_code[]", max_length=255)] = None,
) -> AppliedCouponList:
    """Newest first; filters: one customer, one status, any of ``coupon_code[]`` (Lago's)."""
    stmt = applied_coupon_repository.list_stmt(
        organization.id, external_customer_id=external_customer_id, status=status, coupon_codes=coupon_code
    )
    applied, meta = paginate(session, stmt, pages)
    coupons, customers = applied_coupon_repository.coupons_and_customers(session, applied)
    credits = applied_coupon_repository.credits_of(session, [a.id for a in applied])
    return AppliedCouponList(
        applied_coupons=[
            applied_coupon_list_item(a, coupons[a.coupon_id], customers[a.customer_id], credits[a.id])
            for a in applied
        ],
        meta=meta,
    )


@router.get("/customers/{external_customer_id}/applied_coupons", response_model=AppliedCouponList)
def customer_index(
    external_customer_id: str,
    session: DbSession,
    organization: CurrentOrganization,
    pages: Pagination,
    status: Annotated[str | None, Query(max_length=255)] = None,
    coupon_code: Annotated[list[str] | None, Query(alias="coupon_code[]", max_length=255)] = None,
) -> AppliedCouponList:
    """One customer's applied coupons (Lago's customer-scoped list); 404 for an unknown customer."""
    if customer_repository.by_external_id(session, organization.id, external_customer_id) is None:
        raise NotFound("customer")
    return index(
        session,
        organization,
        pages,
        external_customer_id=external_customer_id,
        status=status,
        coupon_code=coupon_code,
    )


@router.delete(
    "/customers/{external_customer_id}/applied_coupons/{applied_coupon_id}",
    response_model=AppliedCouponEnvelope,
)
def destroy(
    external_customer_id: str, applied_coupon_id: str, session: DbSession, organization: CurrentOrganization
) -> AppliedCouponEnvelope:
    applied = applied_coupon_service.terminate(session, organization, external_customer_id, applied_coupon_id)
    return _envelope(session, applied)
