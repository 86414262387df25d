"""Answers of the analytics routes (Lago's ``GrossRevenues``, ``InvoiceCollections``, ...)."""

from __future__ import annotations

from billow.kit.schemas import Output


class GrossRevenueOut(Output):
    month: str
    amount_cents: int
    currency: str
    invoices_count: int


class GrossRevenueList(Output):
    gross_revenues: list[GrossRevenueOut]


class InvoiceCollectionOut(Output):
    month: str
    payment_status: str
    invoices_count: int
    amount_cents: int
    currency: str


class InvoiceCollectionList(Output):
    invoice_collections: list[InvoiceCollectionOut]


class InvoicedUsageOut(Output):
    month: str
    code: str
    amount_cents: int
    currency: str


class InvoicedUsageList(Output):
    invoiced_usages: list[InvoicedUsageOut]


class MrrOut(Output):
    month: str
    amount_cents: int
    currency: str


class MrrList(Output):
    mrrs: list[MrrOut]


class OverdueBalanceOut(Output):
    month: str
    amount_cents: int
    currency: str
    lago_invoice_ids: list[str]


class OverdueBalanceList(Output):
    overdue_balances: list[OverdueBalanceOut]


class UsageOut(Output):
    organization_id: str
    start_of_period_dt: str
    end_of_period_dt: str
    amount_currency: str
    amount_cents: int
    billable_metric_code: str
    units: str
    is_billable_metric_deleted: bool


class UsageList(Output):
    usages: list[UsageOut]
