"""Billing end to end: a backdated subscription created through ``lago-python-client`` against a real
``billow serve``, usage sent in each past period, ``billow bill --as-of`` run as a separate process on
the same database, and the invoices read back through the client.

Dates are fixed in 2025 so every amount below is hand-computed. The customer lives in New York
(EST, UTC-5, until 2025-03-09; EDT, UTC-4, after); periods are its local calendar months.
"""

from __future__ import annotations

import os
import secrets
import subprocess
from collections.abc import Iterator

import pytest
from lago_python_client.client import Client
from lago_python_client.models import BillableMetric, Charge, Customer, Plan, Subscription, Tax
from lago_python_client.models.charge import Charges
from lago_python_client.models.event import BatchEvent, Event

from tests.conftest import _backends, create_throwaway_database
from tests.e2e.conftest import Server, _billow_command, _free_port, _wait_healthy

pytestmark = pytest.mark.e2e

NY = "America/New_York"
AS_OF = "2025-04-10T12:00:00Z"


def ts(text: str) -> int:
    from datetime import datetime

    return int(datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp())


@pytest.fixture(scope="module", params=_backends())
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A ``billow serve`` of this module's own, with ``BILLOW_SCHEDULER=off``: the in-process scans would
    otherwise bill these backdated subscriptions up to the real now, before ``billow bill --as-of``."""
    tmp = tmp_path_factory.mktemp(f"billing-{request.param}")
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLOW_")}
    env["BILLOW_DATA_DIR"] = str(tmp / "data")
    env["BILLOW_SCHEDULER"] = "off"
    # These subscriptions are backdated (created now, started in 2025) and their past billed on purpose.
    env["BILLOW_BILL_BACKDATED_PERIODS"] = "true"
    drop = None
    if request.param == "postgresql":
        database, drop = create_throwaway_database("postgresql", tmp)
        env["BILLOW_DATABASE_URL"] = database.url
    env["BILLOW_API_KEY"] = "e2e_" + secrets.token_hex(16)
    port = _free_port()
    log_path = tmp / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*_billow_command(), "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base_url, process, log_path)
        yield Server(request.param, base_url, env["BILLOW_API_KEY"], env)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        if drop is not None:
            drop()


@pytest.fixture(scope="module")
def org(server: Server) -> Client:
    return server.client()


def bill(server: Server, as_of: str = AS_OF) -> str:
    """``billow bill --as-of`` in its own process, with the serve process's environment (same database)."""
    result = subprocess.run(
        [*_billow_command(), "bill", "--as-of", as_of],
        env=server.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def invoices_of(lago: Client, customer: str) -> list:
    listed = lago.invoices.find_all(options={"external_customer_id": customer, "per_page": 100})["invoices"]
    return sorted((lago.invoices.find(i.lago_id) for i in listed), key=lambda i: i.issuing_date)


def summary(invoice) -> tuple:
    fees = sorted(
        ((fee.item.type, fee.amount_cents, fee.taxes_amount_cents) for fee in invoice.fees.__root__),
        key=lambda fee: fee[0] != "subscription",
    )
    return (
        invoice.issuing_date,
        invoice.invoice_type,
        invoice.status,
        fees,
        invoice.fees_amount_cents,
        invoice.taxes_amount_cents,
        invoice.total_amount_cents,
    )


@pytest.fixture(scope="module")
def billed(server: Server, org: Client) -> dict[str, str]:
    lago = org
    metric = lago.billable_metrics.create(
        BillableMetric(name="Storage", code="gb", aggregation_type="sum_agg", field_name="gb")
    )
    lago.taxes.create(Tax(name="VAT", code="vat", rate=20.0))
    lago.plans.create(
        Plan(
            name="Monthly",
            code="monthly",
            interval="monthly",
            amount_cents=3100,
            amount_currency="USD",
            pay_in_advance=False,
            tax_codes=["vat"],
            charges=Charges(
                __root__=[
                    Charge(
                        billable_metric_id=metric.lago_id,
                        charge_model="graduated",
                        properties={
                            "graduated_ranges": [
                                {"from_value": 0, "to_value": 10, "per_unit_amount": "1", "flat_amount": "0"},
                                {
                                    "from_value": 11,
                                    "to_value": None,
                                    "per_unit_amount": "0.5",
                                    "flat_amount": "2",
                                },
                            ]
                        },
                    )
                ]
            ),
        )
    )
    for customer in ("calendar", "anniversary"):
        lago.customers.create(Customer(external_id=customer, name=customer, timezone=NY, currency="USD"))
    # 2025-01-15T03:00Z is Jan 14 22:00 in New York: the subscription's first local day is Jan 14.
    for billing_time in ("calendar", "anniversary"):
        lago.subscriptions.create(
            Subscription(
                external_customer_id=billing_time,
                plan_code="monthly",
                external_id=f"sub_{billing_time}",
                billing_time=billing_time,
                subscription_at="2025-01-15T03:00:00Z",
            )
        )
    usage = [
        ("2025-01-20T12:00:00Z", 4),
        ("2025-02-01T04:30:00Z", 2),  # Jan 31 23:30 EST: January
        ("2025-02-10T12:00:00Z", 12),
        ("2025-04-01T03:30:00Z", 3),  # Mar 31 23:30 EDT: March
        ("2025-04-01T04:00:00Z", 100),  # Apr 1 00:00 EDT: April, not billed yet
    ]
    lago.events.batch_create(
        BatchEvent(
            events=[
                Event(
                    transaction_id=f"gb-{i}",
                    external_subscription_id="sub_calendar",
                    code="gb",
                    timestamp=ts(at),
                    properties={"gb": value},
                )
                for i, (at, value) in enumerate(usage)
            ]
        )
    )
    first = bill(server)
    assert "5 invoice(s) created" in first, first
    return {"first": first}


CALENDAR = [
    # Jan 14-31 local = 18/31 x 3100 = 1800 (17 days, 1700, if the zone were ignored). Usage 4 + 2 = 6 GB
    # at 1.00 = 600. Tax 20 %: 360 + 120 = 480.
    (
        "2025-02-01",
        "subscription",
        "finalized",
        [("subscription", 1800, 360), ("charge", 600, 120)],
        2400,
        480,
        2880,
    ),
    # February whole: 3100. Usage 12 GB: 10 x 1.00 + 2 x 0.50 + 2 flat = 13.00. Tax 620 + 260 = 880.
    (
        "2025-03-01",
        "subscription",
        "finalized",
        [("subscription", 3100, 620), ("charge", 1300, 260)],
        4400,
        880,
        5280,
    ),
    # March whole: 3100. Usage 3 GB = 300. Tax 620 + 60 = 680.
    (
        "2025-04-01",
        "subscription",
        "finalized",
        [("subscription", 3100, 620), ("charge", 300, 60)],
        3400,
        680,
        4080,
    ),
]

ANNIVERSARY = [
    # Anniversary on the 14th (local): Feb 14 00:00 EST, Mar 14 00:00 EDT; whole periods, no usage.
    ("2025-02-14", "subscription", "finalized", [("subscription", 3100, 620)], 3100, 620, 3720),
    ("2025-03-14", "subscription", "finalized", [("subscription", 3100, 620)], 3100, 620, 3720),
]


def test_one_invoice_per_past_period(org: Client, billed: dict[str, str]) -> None:
    assert [summary(i) for i in invoices_of(org, "calendar")] == CALENDAR


def test_anniversary_periods(org: Client, billed: dict[str, str]) -> None:
    assert [summary(i) for i in invoices_of(org, "anniversary")] == ANNIVERSARY


def test_billing_periods_are_local_midnights(org: Client, billed: dict[str, str]) -> None:
    [first, _, third] = invoices_of(org, "calendar")
    [period] = first.billing_periods.__root__
    assert (period.subscription_from_datetime, period.subscription_to_datetime) == (
        "2025-01-15T03:00:00Z",
        "2025-02-01T04:59:59Z",
    )
    assert period.invoicing_reason == "subscription_periodic"
    [period] = third.billing_periods.__root__
    assert (period.charges_from_datetime, period.charges_to_datetime) == (
        "2025-03-01T05:00:00Z",
        "2025-04-01T03:59:59Z",
    )


def test_billing_again_creates_nothing(server: Server, org: Client, billed: dict[str, str]) -> None:
    before = {i.lago_id for c in ("calendar", "anniversary") for i in invoices_of(org, c)}
    assert len(before) == 5
    assert "0 invoice(s) created" in bill(server)
    after = {i.lago_id for c in ("calendar", "anniversary") for i in invoices_of(org, c)}
    assert after == before
