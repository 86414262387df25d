"""The dashboard's home, ``/app/``: the revenue overview of ``billow.analytics`` (the functions behind
Lago's ``/analytics/*``), in one currency at a time
(the one the organization invoices most in, unless another is chosen).

Cards: MRR this month, invoiced this month (gross revenue), collected this month (invoices paid,
by issuing month), overdue balance (what overdue invoices still owe, every month). Charts per month over
the last 12 months (the current one included), each with its figures in a table; usage per billable
metric (``/analytics/usage``: units and amount per metric and month). A member without
``analytics:view`` gets a short welcome with links to what their role opens.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass

from fastapi import APIRouter, Request
from fastapi.responses import Response
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billow.analytics import service as analytics
from billow.analytics.months import Month, add_months, month_label, window_start
from billow.analytics.repository import UsageFilters
from billow.dashboard.catalog_forms import organization_of
from billow.db import DbSession
from billow.kit.money import from_minor_units
from billow.models.invoices import Invoice, InvoiceStatus
from billow.web.auth import CurrentViewer
from billow.web.charts import Bar, bar_chart
from billow.web.templating import money, render

router = APIRouter()

#: Months shown in the charts, the current one included.
MONTHS = 12
#: Lago's payment status of a collected invoice.
COLLECTED = "succeeded"


@dataclass(frozen=True)
class Series:
    key: str
    title: str
    #: cents per month, oldest first (every month of the window, 0 when nothing)
    values: list[tuple[Month, int]]


def _per_month(rows: list[tuple[str, int]], months: list[Month]) -> list[tuple[Month, int]]:
    totals: dict[str, int] = defaultdict(int)
    for label, cents in rows:
        totals[label] += cents
    return [(month, totals.get(month_label(month), 0)) for month in months]


def currencies_of(session: Session, organization_id: uuid.UUID, default: str) -> list[str]:
    """The organization's currencies: its default one and every currency it invoiced in."""
    found = session.scalars(
        select(Invoice.currency).where(Invoice.organization_id == organization_id).distinct()
    )
    return sorted({default, *found})


def busiest_currency(session: Session, organization_id: uuid.UUID, default: str) -> str:
    """The currency the organization invoices most in: the one with the most finalized invoices (a tie
    goes to the default currency, then alphabetically); the default currency when none is finalized."""
    count = func.count(Invoice.id)
    found = session.execute(
        select(Invoice.currency, count)
        .where(Invoice.organization_id == organization_id, Invoice.status == InvoiceStatus.FINALIZED)
        .group_by(Invoice.currency)
    ).all()
    if not found:
        return default
    return min(found, key=lambda row: (-int(row[1]), row[0] != default, row[0]))[0]


def overview_series(
    session: Session, organization_id: uuid.UUID, currency: str
) -> tuple[list[Series], dict[str, int]]:
    """(the charts' series, the cards' figures) in ``currency`` (cents)."""
    wanted = analytics.filters(organization_id, currency, MONTHS)
    today = analytics.today()
    current: Month = (today.year, today.month)
    months = [add_months(current, offset) for offset in range(-(MONTHS - 1), 1)]
    service = analytics.analytics_service
    mrr = _per_month([(r.month, r.amount_cents) for r in service.mrrs(session, wanted)], months)
    gross = _per_month([(r.month, r.amount_cents) for r in service.gross_revenues(session, wanted)], months)
    collected = _per_month(
        [
            (r.month, r.amount_cents)
            for r in service.invoice_collections(session, wanted)
            if r.payment_status == COLLECTED
        ],
        months,
    )
    usage = _per_month([(r.month, r.amount_cents) for r in service.invoiced_usages(session, wanted)], months)
    overdue = _per_month(
        [(r.month, r.amount_cents) for r in service.overdue_balances(session, wanted)], months
    )
    every_month = analytics.filters(organization_id, currency, None)
    overdue_total = sum(r.amount_cents for r in service.overdue_balances(session, every_month))
    series = [
        Series("mrr", "MRR per month", mrr),
        Series("gross", "Invoiced per month", gross),
        Series("collected", "Collected per month", collected),
        Series("usage", "Invoiced usage per month", usage),
        Series("overdue", "Overdue balance per month (by due month)", overdue),
    ]
    cards = {
        "mrr": mrr[-1][1],
        "gross": gross[-1][1],
        "collected": collected[-1][1],
        "overdue": overdue_total,
    }
    return series, cards


@dataclass(frozen=True)
class MetricUsage:
    month: str  # "2024-03"
    code: str
    deleted: bool
    units: str
    amount_cents: int


def usage_per_metric(session: Session, organization_id: uuid.UUID, currency: str) -> list[MetricUsage]:
    """``GET /analytics/usage``'s monthly figures in ``currency`` over the overview's months: units and
    amount per billable metric per month (charge fees of finalized invoices, by issuing month), oldest
    first, then by code."""
    wanted = analytics.filters(organization_id, currency, None)
    since = window_start(analytics.today(), MONTHS)
    rows = analytics.analytics_service.usages(session, wanted, UsageFilters(from_date=since), "monthly")
    return [
        MetricUsage(
            month=row.start_of_period_dt[:7],
            code=row.billable_metric_code,
            deleted=row.is_billable_metric_deleted,
            units=row.units,
            amount_cents=row.amount_cents,
        )
        for row in rows
    ]


def usage_chart(rows: list[MetricUsage], currency: str) -> tuple[Markup, list[tuple[str, str]]]:
    """A bar per billable metric: its amount over the months shown (and those totals as rows)."""
    totals: dict[str, int] = defaultdict(int)
    for row in rows:
        totals[row.code] += row.amount_cents
    ordered = sorted(totals.items())
    bars = [Bar(code, from_minor_units(cents, currency), money(cents, currency)) for code, cents in ordered]
    title = f"Usage amount per billable metric, last {MONTHS} months ({currency})"
    chart = bar_chart(bars, title=title, key="chart-metric-usage", empty="No usage invoiced yet.")
    return chart, [(code, money(cents, currency)) for code, cents in ordered]


def short_month(month: Month) -> str:
    return f"{month[0]:04d}-{month[1]:02d}"


@router.get("/app/", name="overview")
def overview(
    request: Request, session: DbSession, viewer: CurrentViewer, currency: str | None = None
) -> Response:
    if not viewer.can("analytics:view"):
        return render(request, "overview/welcome.html")
    organization = organization_of(session, viewer)
    currencies = currencies_of(session, organization.id, organization.default_currency)
    if currency is not None and currency in currencies:
        chosen = currency
    else:
        chosen = busiest_currency(session, organization.id, organization.default_currency)
    series, cards = overview_series(session, organization.id, chosen)
    charts = []
    for item in series:
        bars = [
            Bar(short_month(month), from_minor_units(cents, chosen), money(cents, chosen))
            for month, cents in item.values
        ]
        charts.append(
            {
                "key": item.key,
                "title": item.title,
                "svg": bar_chart(bars, title=f"{item.title} ({chosen})", key=f"chart-{item.key}"),
                "rows": [(short_month(month), money(cents, chosen)) for month, cents in item.values],
            }
        )
    metric_rows = usage_per_metric(session, organization.id, chosen)
    metric_chart, metric_totals = usage_chart(metric_rows, chosen)
    context = {
        "metric_usage": {"svg": metric_chart, "rows": metric_rows, "totals": metric_totals},
        "currencies": currencies,
        "currency": chosen,
        "cards": [
            ("MRR this month", money(cards["mrr"], chosen), "card-mrr"),
            ("Invoiced this month", money(cards["gross"], chosen), "card-gross"),
            ("Collected this month", money(cards["collected"], chosen), "card-collected"),
            ("Overdue balance", money(cards["overdue"], chosen), "card-overdue"),
        ],
        "charts": charts,
    }
    return render(request, "overview/overview.html", context)
