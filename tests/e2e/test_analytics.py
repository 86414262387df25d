"""Revenue analytics through ``lago-python-client`` (``gross_revenues``, ``mrrs``, ``invoice_collections``,
``invoiced_usages``, ``overdue_balances``, ``usages``) on a new organization, so other tests' invoices
stay out."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import pytest
from lago_python_client.client import Client
from lago_python_client.exceptions import LagoApiError
from lago_python_client.models import Customer, Plan, Subscription

from tests.e2e.conftest import Server

pytestmark = pytest.mark.e2e


def fresh_organization(server: Server, suffix: str) -> Client:
    output = server.billow("organizations", "create", "--name", f"Analytics {suffix}")
    match = re.search(r"api key \(shown once, store it now\): (\S+)", output)
    assert match, output
    return server.client(match.group(1))


def subscribe(lago: Client, code: str, interval: str, amount_cents: int) -> None:
    lago.plans.create(
        Plan(
            name=code,
            code=code,
            interval=interval,
            amount_cents=amount_cents,
            amount_currency="EUR",
            pay_in_advance=True,
        )
    )
    lago.customers.create(Customer(external_id=code, name=code, currency="EUR"))
    lago.subscriptions.create(
        Subscription(external_customer_id=code, plan_code=code, external_id=code, billing_time="anniversary")
    )
    deadline = time.monotonic() + 10
    while not lago.invoices.find_all(options={"external_customer_id": code})["invoices"]:
        assert time.monotonic() < deadline, "no invoice"
        time.sleep(0.2)


def test_gross_revenue_and_mrr(server: Server, suffix: str) -> None:
    lago = fresh_organization(server, suffix)
    now = datetime.now(UTC)
    month = f"{now.year:04d}-{now.month:02d}-01T00:00:00.000Z"
    assert lago.gross_revenues.find_all()["gross_revenues"] == []
    # Pay-in-advance plans on anniversary billing: the first period is billed in full, now.
    subscribe(lago, f"yearly_{suffix}", "yearly", 12000)
    subscribe(lago, f"monthly_{suffix}", "monthly", 3100)

    revenues = lago.gross_revenues.find_all()["gross_revenues"]
    # 12000 + 3100 = 15100, two invoices
    assert [(r.month, r.amount_cents, r.currency, r.invoices_count) for r in revenues] == [
        (month, 15100, "EUR", 2)
    ]
    revenues = lago.gross_revenues.find_all(
        options={"external_customer_id": f"monthly_{suffix}", "months": 1}
    )
    assert [(r.amount_cents, r.invoices_count) for r in revenues["gross_revenues"]] == [(3100, 1)]
    assert lago.gross_revenues.find_all(options={"currency": "USD"})["gross_revenues"] == []

    # MRR: 12000 / 12 = 1000 from the yearly plan + 3100 from the monthly one = 4100
    mrrs = lago.mrrs.find_all(options={"currency": "EUR", "months": 12})["mrrs"]
    assert [(m.month, m.amount_cents, m.currency) for m in mrrs] == [(month, 4100, "EUR")]

    collections = lago.invoice_collections.find_all()["invoice_collections"]
    assert [(c.month, c.payment_status, c.invoices_count, c.amount_cents) for c in collections] == [
        (month, "pending", 2, 15100)
    ]
    assert lago.invoiced_usages.find_all()["invoiced_usages"] == []
    assert lago.overdue_balances.find_all()["overdue_balances"] == []
    assert lago.usages.find_all(options={"time_granularity": "daily"})["usages"] == []

    with pytest.raises(LagoApiError) as refused:
        lago.mrrs.find_all(options={"currency": "EURO"})
    assert refused.value.status_code == 422
