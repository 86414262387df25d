from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy.orm import Session

from billow.auth import CurrentOrganization
from billow.billable_metrics.repository import billable_metric_repository as repository
from billow.billable_metrics.schemas import (
    BillableMetricEnvelope,
    BillableMetricList,
    BillableMetricRequest,
)
from billow.billable_metrics.service import billable_metric_service as service
from billow.billable_metrics.views import render_billable_metrics
from billow.db import DbSession
from billow.kit.pagination import Pagination, paginate
from billow.kit.strict_json import StrictJSONRoute
from billow.models.billable_metrics import BillableMetric

router = APIRouter(tags=["billable_metrics"], route_class=StrictJSONRoute)


def _envelope(session: Session, metric: BillableMetric) -> BillableMetricEnvelope:
    return BillableMetricEnvelope(billable_metric=render_billable_metrics(session, [metric])[0])


@router.post("/billable_metrics", response_model=BillableMetricEnvelope)
def create(
    body: BillableMetricRequest, session: DbSession, organization: CurrentOrganization
) -> BillableMetricEnvelope:
    return _envelope(session, service.create(session, organization, body.billable_metric))


@router.get("/billable_metrics", response_model=BillableMetricList)
def index(session: DbSession, organization: CurrentOrganization, pages: Pagination) -> BillableMetricList:
    metrics, meta = paginate(session, repository.list_stmt(organization.id), pages)
    return BillableMetricList(billable_metrics=render_billable_metrics(session, metrics), meta=meta)


@router.get("/billable_metrics/{code}", response_model=BillableMetricEnvelope)
def show(code: str, session: DbSession, organization: CurrentOrganization) -> BillableMetricEnvelope:
    return _envelope(session, service.get(session, organization, code))


@router.put("/billable_metrics/{code}", response_model=BillableMetricEnvelope)
def update(
    code: str, body: BillableMetricRequest, session: DbSession, organization: CurrentOrganization
) -> BillableMetricEnvelope:
    return _envelope(session, service.update(session, organization, code, body.billable_metric))


@router.delete("/billable_metrics/{code}", response_model=BillableMetricEnvelope)
def destroy(code: str, session: DbSession, organization: CurrentOrganization) -> BillableMetricEnvelope:
    return _envelope(session, service.delete(session, organization, code))
