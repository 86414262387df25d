from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.orm import Session

from billow.auth import CurrentOrganization
from billow.coupons.repository import coupon_repository
from billow.coupons.schemas import CouponEnvelope, CouponList, CouponOut, CouponRequest, coupon_out
from billow.coupons.service import coupon_service
from billow.db import DbSession
from billow.kit.pagination import Pagination, paginate
from billow.kit.strict_json import StrictJSONRoute
from billow.models.coupons import Coupon

router = APIRouter(tags=["coupons"], route_class=StrictJSONRoute)


def _out(session: Session, coupon: Coupon) -> CouponOut:
    return coupon_out(coupon, *coupon_repository.target_codes(session, [coupon.id])[coupon.id])


@router.post("/coupons", response_model=CouponEnvelope)
def create(body: CouponRequest, session: DbSession, organization: CurrentOrganization) -> CouponEnvelope:
    return CouponEnvelope(coupon=_out(session, coupon_service.create(session, organization, body.coupon)))


@router.get("/coupons", response_model=CouponList)
def index(session: DbSession, organization: CurrentOrganization, pages: Pagination) -> CouponList:
    coupons, meta = paginate(session, coupon_repository.list_stmt(organization.id), pages)
    codes = coupon_repository.target_codes(session, [c.id for c in coupons])
    return CouponList(coupons=[coupon_out(c, *codes[c.id]) for c in coupons], meta=meta)


@router.get("/coupons/{code}", response_model=CouponEnvelope)
def show(code: str, session: DbSession, organization: CurrentOrganization) -> CouponEnvelope:
    return CouponEnvelope(coupon=_out(session, coupon_service.get(session, organization, code)))


@router.put("/coupons/{code}", response_model=CouponEnvelope)
def update(
    code: str, body: CouponRequest, session: DbSession, organization: CurrentOrganization
) -> CouponEnvelope:
    return CouponEnvelope(
        coupon=_out(session, coupon_service.update(session, organization, code, body.coupon))
    )


@router.delete("/coupons/{code}", response_model=CouponEnvelope)
def destroy(code: str, session: DbSession, organization: CurrentOrganization) -> CouponEnvelope:
    return CouponEnvelope(coupon=_out(session, coupon_service.delete(session, organization, code)))
