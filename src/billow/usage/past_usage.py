"""``GET /customers/{id}/past_usage``: the usage billed on a subscription's issued invoices.

Read back from the stored charge fees (never recomputed from events), one entry per invoiced
charges period, newest first, in the same shape as current usage.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billow.customers.service import customer_service
from billow.kit.pagination import PageMeta, PageParams
from billow.kit.schemas import decimal_str, iso_seconds
from billow.models.billable_metrics import BillableMetric
from billow.models.invoices import Fee, FeeType, Invoice, InvoiceStatus, InvoiceSubscription
from billow.models.organizations import Organization
from billow.models.plans import Charge
from billow.models.subscriptions import Subscription


class PastUsageService:
    def periods(
        self,
        session: Session,
        organization: Organization,
        *,
        external_customer_id: str,
        external_subscription_id: str,
        billable_metric_code: str | None,
        periods_count: int | None,
        pages: PageParams,
    ) -> tuple[list[dict[str, Any]], PageMeta]:
        customer = customer_service.get(session, organization, external_customer_id)
        stmt = (
            select(InvoiceSubscription, Invoice)
            .join(Invoice, Invoice.id == InvoiceSubscription.invoice_id)
            .join(Subscription, Subscription.id == InvoiceSubscription.subscription_id)
            .where(
                InvoiceSubscription.organization_id == organization.id,
                Subscription.customer_id == customer.id,
                Subscription.external_id == external_subscription_id,
                InvoiceSubscription.charges_from_datetime.is_not(None),
                # One entry per period: not the pay-in-advance and progressive-billing invoices within it.
                InvoiceSubscription.invoicing_reason.not_in(("in_advance_charge", "progressive_billing")),
                Invoice.status == InvoiceStatus.FINALIZED,
            )
            .order_by(InvoiceSubscription.charges_from_datetime.desc(), InvoiceSubscription.id)
        )
        if periods_count:
            stmt = stmt.limit(periods_count)
            subquery = stmt.subquery()
            ids = select(subquery.c.id)
            stmt = (
                select(InvoiceSubscription, Invoice)
                .join(Invoice, Invoice.id == InvoiceSubscription.invoice_id)
                .where(InvoiceSubscription.id.in_(ids))
                .order_by(InvoiceSubscription.charges_from_datetime.desc(), InvoiceSubscription.id)
            )
        total = len(session.execute(stmt).all())
        if pages.past_end(total):
            return [], pages.meta(total)
        rows = session.execute(stmt.limit(pages.per_page).offset(pages.offset)).all()
        entries = [self._entry(session, link, invoice, billable_metric_code) for link, invoice in rows]
        return entries, pages.meta(total)

    def _entry(
        self, session: Session, link: InvoiceSubscription, invoice: Invoice, metric_code: str | None
    ) -> dict[str, Any]:
        fees = list(
            session.scalars(
                select(Fee).where(
                    Fee.invoice_id == invoice.id,
                    Fee.subscription_id == link.subscription_id,
                    Fee.fee_type == FeeType.CHARGE,
                )
            )
        )
        charges = _by_id(session, Charge, {f.charge_id for f in fees if f.charge_id})
        metrics = _by_id(session, BillableMetric, {c.billable_metric_id for c in charges.values()})
        by_charge: dict[uuid.UUID, list[Fee]] = defaultdict(list)
        for fee in fees:
            if fee.charge_id is not None and fee.charge_id in charges:
                by_charge[fee.charge_id].append(fee)
        usages: list[dict[str, Any]] = []
        for charge_id, charge_fees in by_charge.items():
            charge = charges[charge_id]
            metric = metrics[charge.billable_metric_id]
            if metric_code is not None and metric.code != metric_code:
                continue
            units = sum((f.units for f in charge_fees), Decimal(0))
            usages.append(
                {
                    "units": decimal_str(units),
                    "total_aggregated_units": decimal_str(units),
                    "events_count": sum(f.events_count for f in charge_fees),
                    "amount_cents": sum(f.amount_cents for f in charge_fees),
                    "amount_currency": invoice.currency,
                    "pricing_unit_details": None,
                    "charge": {
                        "lago_id": str(charge.id),
                        "code": charge.code,
                        "charge_model": charge.charge_model,
                        "invoice_display_name": charge.invoice_display_name,
                    },
                    "billable_metric": {
                        "lago_id": str(metric.id),
                        "name": metric.name,
                        "code": metric.code,
                        "aggregation_type": metric.aggregation_type,
                    },
                    "filters": [
                        {
                            "units": decimal_str(f.units),
                            "total_aggregated_units": decimal_str(f.total_aggregated_units),
                            "events_count": f.events_count,
                            "amount_cents": f.amount_cents,
                            "invoice_display_name": f.invoice_display_name,
                            "values": None,
                            "pricing_unit_details": None,
                            "presentation_breakdowns": [],
                        }
                        for f in charge_fees
                        if f.charge_filter_id is not None
                    ],
                    "grouped_usage": [],
                    "presentation_breakdowns": [],
                }
            )
        amount = sum(u["amount_cents"] for u in usages)
        taxes = sum(f.taxes_amount_cents for f in fees if f.charge_id in by_charge)
        charges_from, charges_to = link.charges_from_datetime, link.charges_to_datetime
        # The listing keeps invoiced periods only: both bounds are set.
        assert charges_from is not None and charges_to is not None
        return {
            "from_datetime": iso_seconds(charges_from),
            "to_datetime": iso_seconds(charges_to - timedelta(seconds=1)),
            "issuing_date": invoice.issuing_date.isoformat(),
            "lago_invoice_id": str(invoice.id),
            "currency": invoice.currency,
            "amount_cents": amount,
            "taxes_amount_cents": taxes,
            "total_amount_cents": amount + taxes,
            "charges_usage": usages,
        }


def _by_id(session: Session, model: Any, ids: set[Any]) -> dict[Any, Any]:
    if not ids:
        return {}
    return {row.id: row for row in session.scalars(select(model).where(model.id.in_(list(ids))))}


past_usage_service = PastUsageService()
