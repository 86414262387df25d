"""The settings that apply to a customer: its own, else its organization's (Lago's fallbacks)."""

from __future__ import annotations

from billow.models.customers import Customer
from billow.models.organizations import Organization

#: Announced (:func:`billow.worker.dispatch.run_hooks`) when a customer's applicable grace period changes,
#: with ``organization``, ``customer`` and ``old_grace``: its drafts move with it (billow.invoices.grace).
GRACE_PERIOD_CHANGED = "customers.grace_period_changed"


def grace_period_days(customer: Customer, organization: Organization) -> int:
    """Days a draft invoice waits before it is finalized."""
    if customer.invoice_grace_period is not None:
        return customer.invoice_grace_period
    return organization.invoice_grace_period or 0


def net_payment_term(customer: Customer, organization: Organization) -> int:
    """Days from the issuing date to the payment due date."""
    if customer.net_payment_term is not None:
        return customer.net_payment_term
    return organization.net_payment_term
