"""Analytics rules: validate the query, run the route's one query, shape Lago's monthly rows."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from billow.analytics import repository
from billow.analytics.months import (
    Month,
    month_label,
    period,
    spread,
    to_cents,
    units_text,
    weekly_mrr,
    window_start,
)
from billow.analytics.repository import Filters, UsageFilters
from billow.analytics.schemas import (
    GrossRevenueOut,
    InvoiceCollectionOut,
    InvoicedUsageOut,
    MrrOut,
    OverdueBalanceOut,
    UsageOut,
)
from billow.errors import ValidationFailed
from billow.kit.currency import is_currency


def today() -> date:
    return datetime.now(UTC).date()


def filters(
    organization_id: uuid.UUID,
    currency: str | None,
    months: int | None,
    external_customer_id: str | None = None,
) -> Filters:
    """The request's filters; a currency that is not ISO 4217 is a 422 ``value_is_invalid``."""
    if currency is not None and not is_currency(currency):
        raise ValidationFailed.one("currency", "value_is_invalid")
    return Filters(organization_id, currency, external_customer_id, window_start(today(), months))


class AnalyticsService:
    def gross_revenues(self, session: Session, wanted: Filters) -> list[GrossRevenueOut]:
        return [
            GrossRevenueOut(
                month=month_label((row.year, row.month)),
                amount_cents=int(row.amount_cents),
                currency=row.currency,
                invoices_count=int(row.invoices_count),
            )
            for row in repository.gross_revenues(session, wanted)
        ]

    def invoice_collections(self, session: Session, wanted: Filters) -> list[InvoiceCollectionOut]:
        return [
            InvoiceCollectionOut(
                month=month_label((row.year, row.month)),
                payment_status=row.payment_status,
                invoices_count=int(row.invoices_count),
                amount_cents=int(row.amount_cents),
                currency=row.currency,
            )
            for row in repository.invoice_collections(session, wanted)
        ]

    def invoiced_usages(self, session: Session, wanted: Filters) -> list[InvoicedUsageOut]:
        return [
            InvoicedUsageOut(
                month=month_label((row.year, row.month)),
                code=row.code,
                amount_cents=int(row.amount_cents),
                currency=row.currency,
            )
            for row in repository.invoiced_usages(session, wanted)
        ]

    def overdue_balances(self, session: Session, wanted: Filters) -> list[OverdueBalanceOut]:
        groups: dict[tuple[Month, str], tuple[int, list[str]]] = {}
        for row in repository.overdue_invoices(session, wanted):
            key = ((row.year, row.month), row.currency)
            cents, ids = groups.get(key, (0, []))
            groups[key] = (cents + max(int(row.due_cents), 0), [*ids, str(row.id)])
        return [
            OverdueBalanceOut(
                month=month_label(month), amount_cents=cents, currency=currency, lago_invoice_ids=ids
            )
            for (month, currency), (cents, ids) in sorted(groups.items())
        ]

    def mrrs(self, session: Session, wanted: Filters) -> list[MrrOut]:
        totals: dict[tuple[Month, str], Decimal] = defaultdict(Decimal)
        weekly: dict[tuple[Month, str, uuid.UUID], list[Decimal]] = defaultdict(list)
        for fee in repository.subscription_fees(session, wanted):
            issued: Month = (fee.issuing_date.year, fee.issuing_date.month)
            if fee.interval == "weekly":
                weekly[(issued, fee.currency, fee.subscription_id)].append(fee.amount)
                continue
            if fee.interval == "monthly" or fee.from_datetime is None:
                first = issued
            else:
                first = (fee.from_datetime.year, fee.from_datetime.month)
            for month, share in spread(fee.amount, first, fee.interval if fee.from_datetime else "monthly"):
                totals[(month, fee.currency)] += share
        for (month, currency, _subscription), amounts in weekly.items():
            totals[(month, currency)] += weekly_mrr(amounts)
        since = wanted.since
        current: Month = (today().year, today().month)
        return [
            MrrOut(month=month_label(month), amount_cents=to_cents(amount), currency=currency)
            for (month, currency), amount in sorted(totals.items())
            if month <= current and (since is None or month >= (since.year, since.month))
        ]

    def usages(
        self, session: Session, wanted: Filters, usage: UsageFilters, granularity: str
    ) -> list[UsageOut]:
        groups: dict[tuple[date, date, str, str, bool], tuple[Decimal, int]] = {}
        for row in repository.usages(session, wanted, usage):
            start, end = period(row.issuing_date, granularity)
            key = (start, end, row.currency, row.code, bool(row.deleted))
            units, cents = groups.get(key, (Decimal(0), 0))
            groups[key] = (units + row.units, cents + int(row.amount_cents))
        return [
            UsageOut(
                organization_id=str(wanted.organization_id),
                start_of_period_dt=start.isoformat(),
                end_of_period_dt=end.isoformat(),
                amount_currency=currency,
                amount_cents=cents,
                billable_metric_code=code,
                units=units_text(units),
                is_billable_metric_deleted=deleted,
            )
            for (start, end, currency, code, deleted), (units, cents) in sorted(groups.items())
        ]


analytics_service = AnalyticsService()
