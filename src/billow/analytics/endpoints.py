"""``GET /analytics/*``: Lago's revenue analytics, month by month and currency by currency."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query

from billow.analytics.repository import UsageFilters
from billow.analytics.schemas import (
    GrossRevenueList,
    InvoiceCollectionList,
    InvoicedUsageList,
    MrrList,
    OverdueBalanceList,
    UsageList,
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


Code = Annotated[str | None, Query(max_length=255)]


@router.get("/analytics/usage", response_model=UsageList)
def usage(
    session: DbSession,
    organization: CurrentOrganization,
    time_granularity: Annotated[Literal["daily", "weekly", "monthly"], Query()] = "monthly",
    currency: Currency = None,
    from_date: Annotated[date | None, Query()] = None,
    to_date: Annotated[date | None, Query()] = None,
    customer_type: Annotated[Literal["individual", "company"] | None, Query()] = None,
    external_customer_id: ExternalCustomerId = None,
    customer_country: Annotated[str | None, Query(max_length=2)] = None,
    external_subscription_id: Code = None,
    is_billable_metric_recurring: Annotated[bool | None, Query()] = None,
    plan_code: Code = None,
    billable_metric_code: Code = None,
) -> UsageList:
    wanted = filters(organization.id, currency, None)
    narrowed = UsageFilters(
        from_date=from_date,
        to_date=to_date,
        customer_type=customer_type,
        external_customer_id=external_customer_id,
        customer_country=customer_country,
        external_subscription_id=external_subscription_id,
        is_billable_metric_recurring=is_billable_metric_recurring,
        plan_code=plan_code,
        billable_metric_code=billable_metric_code,
    )
    return UsageList(usages=analytics_service.usages(session, wanted, narrowed, time_granularity))
