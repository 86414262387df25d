"""``GET /analytics/*``: Lago's revenue analytics, month by month and currency by currency."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from billow.analytics.schemas import (
    GrossRevenueList,
    InvoiceCollectionList,
    InvoicedUsageList,
    MrrList,
    OverdueBalanceList,
)
from billow.analytics.service import analytics_service, filters
from billow.auth import CurrentOrganization
from billow.db import DbSession
from billow.kit.strict_json import StrictJSONRoute

router = APIRouter(tags=["analytics"], route_class=StrictJSONRoute)

#: ``months``: the current month and the ``months - 1`` before it (all months when absent).
Months = Annotated[int | None, Query(ge=1, le=1200)]
Currency = Annotated[str | None, Query(max_length=3)]
ExternalCustomerId = Annotated[str | None, Query(max_length=255)]


@router.get("/analytics/gross_revenue", response_model=GrossRevenueList)
def gross_revenue(
    session: DbSession,
    organization: CurrentOrganization,
    currency: Currency = None,
    external_customer_id: ExternalCustomerId = None,
    months: Months = None,
) -> GrossRevenueList:
    wanted = filters(organization.id, currency, months, external_customer_id)
    return GrossRevenueList(gross_revenues=analytics_service.gross_revenues(session, wanted))


@router.get("/analytics/invoice_collection", response_model=InvoiceCollectionList)
def invoice_collection(
    session: DbSession, organization: CurrentOrganization, currency: Currency = None, months: Months = None
) -> InvoiceCollectionList:
    wanted = filters(organization.id, currency, months)
    return InvoiceCollectionList(invoice_collections=analytics_service.invoice_collections(session, wanted))


@router.get("/analytics/invoiced_usage", response_model=InvoicedUsageList)
def invoiced_usage(
    session: DbSession, organization: CurrentOrganization, currency: Currency = None, months: Months = None
) -> InvoicedUsageList:
    wanted = filters(organization.id, currency, months)
    return InvoicedUsageList(invoiced_usages=analytics_service.invoiced_usages(session, wanted))


@router.get("/analytics/mrr", response_model=MrrList)
def mrr(
    session: DbSession, organization: CurrentOrganization, currency: Currency = None, months: Months = None
) -> MrrList:
    wanted = filters(organization.id, currency, months)
    return MrrList(mrrs=analytics_service.mrrs(session, wanted))


@router.get("/analytics/overdue_balance", response_model=OverdueBalanceList)
def overdue_balance(
    session: DbSession,
    organization: CurrentOrganization,
    currency: Currency = None,
    external_customer_id: ExternalCustomerId = None,
    months: Months = None,
) -> OverdueBalanceList:
    wanted = filters(organization.id, currency, months, external_customer_id)
    return OverdueBalanceList(overdue_balances=analytics_service.overdue_balances(session, wanted))
