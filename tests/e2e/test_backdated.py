"""Backdated subscriptions end to end, by default (no opt-in): Lago's docs example, a subscription
created today through ``lago-python-client`` with ``subscription_at`` 2022-08-08, bills no past period;
``billow bill`` refuses a future ``--as-of`` unless ``--allow-future``, ``--dry-run`` lists what would be
billed and writes nothing; an event stored after its period's invoice says ``period_already_invoiced``."""

from __future__ import annotations

import re
import subprocess
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from lago_python_client.client import Client
from lago_python_client.models import BillableMetric, Charge, Customer, Plan, Subscription
from lago_python_client.models.charge import Charges
from lago_python_client.models.event import Event

from tests.e2e.conftest import Server, _billow_command

pytestmark = pytest.mark.e2e


def billow(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_billow_command(), *args], env=server.env, capture_output=True, text=True, timeout=120
    )


def iso(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_lago_docs_example(server: Server, suffix: str) -> None:
    output = server.billow("organizations", "create", "--name", f"Backdated {suffix}")
    match = re.search(r"api key \(shown once, store it now\): (\S+)", output)
    assert match, output
    key = match.group(1)
    lago: Client = server.client(key)
    metric = lago.billable_metrics.create(
        BillableMetric(name="Calls", code="calls", aggregation_type="sum_agg", field_name="value")
    )
    lago.plans.create(
        Plan(
            name="Startup",
            code="startup",
            interval="monthly",
            amount_cents=10000,
            amount_currency="USD",
            pay_in_advance=False,
            charges=Charges(
                __root__=[
                    Charge(
                        billable_metric_id=metric.lago_id, charge_model="standard", properties={"amount": "1"}
                    )
                ]
            ),
        )
    )
    lago.customers.create(Customer(external_id="cus_bd", name="Backdated", currency="USD"))
    lago.subscriptions.create(
        Subscription(
            external_customer_id="cus_bd",
            plan_code="startup",
            external_id="sub_bd",
            subscription_at="2022-08-08T00:00:00Z",
        )
    )
    now = datetime.now(UTC)
    month_start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    next_month = (month_start + timedelta(days=32)).replace(day=1)
    for transaction_id, when in (("old", datetime(2023, 5, 10, tzinfo=UTC)), ("current", month_start)):
        lago.events.create(
            Event(
                transaction_id=transaction_id,
                external_subscription_id="sub_bd",
                code="calls",
                timestamp=int(when.timestamp()),
                properties={"value": 2},
            )
        )

    # Billing now bills nothing of the past (Lago's docs: 52 invoices before this default).
    result = billow(server, "bill")
    assert result.returncode == 0, result.stdout + result.stderr
    assert lago.invoices.find_all(options={"external_customer_id": "cus_bd"})["invoices"] == []

    # A future instant is refused, nothing written...
    result = billow(server, "bill", "--as-of", iso(next_month))
    assert result.returncode == 2, result.stdout + result.stderr
    assert "--allow-future" in result.stderr
    # ... but a dry run shows what it would bill: this month, with its usage since the 1st.
    result = billow(server, "bill", "--as-of", iso(next_month), "--dry-run")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    at = lines.index(f"due {iso(next_month)}  customer cus_bd")
    line = lines[at + 1]
    assert line.startswith("  subscription sub_bd  subscription_periodic"), result.stdout
    assert f"usage {iso(month_start)} .. {iso(next_month)}" in line
    assert lago.invoices.find_all(options={"external_customer_id": "cus_bd"})["invoices"] == []

    # Billing it anyway (a demo): one invoice, the month in progress, 100.00 + 2 calls.
    result = billow(server, "bill", "--as-of", iso(next_month), "--allow-future")
    assert result.returncode == 0, result.stdout + result.stderr
    [invoice] = lago.invoices.find_all(options={"external_customer_id": "cus_bd"})["invoices"]
    assert (invoice.status, invoice.fees_amount_cents) == ("finalized", 10000 + 200)

    # An event of that month sent now is stored, never billed, and says so.
    lago.events.create(
        Event(
            transaction_id="late",
            external_subscription_id="sub_bd",
            code="calls",
            timestamp=int((month_start + timedelta(hours=1)).timestamp()),
            properties={"value": 5},
        )
    )
    with httpx.Client(
        base_url=f"{server.base_url}/api/v1", headers={"Authorization": f"Bearer {key}"}, timeout=10
    ) as api:
        reasons = {
            e["transaction_id"]: e["not_aggregated_reason"] for e in api.get("/events").json()["events"]
        }
        assert reasons == {"old": None, "current": None, "late": "period_already_invoiced"}
        listed = api.get("/events", params={"not_aggregated_reason": "period_already_invoiced"}).json()
        assert [e["transaction_id"] for e in listed["events"]] == ["late"]
