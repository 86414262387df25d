"""Work that follows an API call happens right after its commit (issue 8, defects 1-7): a real
``billow serve`` per backend driven by ``lago-python-client``, with **no worker process, no ``billow bill``
call, and the periodic scans slowed to one an hour** (``BILLOW_SCAN_INTERVAL=3600``: they run once at
startup, before anything exists), so the invoices seen below can only come from the after-commit tasks.
The last test checks that on PostgreSQL the default ``BILLOW_SCHEDULER=auto`` runs the scans in the
server (a due period billed without a worker).
"""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from lago_python_client.client import Client
from lago_python_client.models import (
    AppliedCoupon,
    BillableMetric,
    Charge,
    Coupon,
    Customer,
    Plan,
    Subscription,
    Wallet,
)
from lago_python_client.models.charge import Charges
from lago_python_client.models.customer import CustomerBillingConfiguration
from lago_python_client.models.event import BatchEvent, Event
from lago_python_client.models.usage_threshold import UsageThreshold, UsageThresholds

from tests.conftest import _backends, create_throwaway_database
from tests.e2e.conftest import _billow_command, _free_port, _wait_healthy

pytestmark = pytest.mark.e2e

#: How long an after-commit task may take to show its invoice.
WITHIN = 8.0


@dataclass
class Served:
    backend: str
    lago: Client
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text()


@contextmanager
def _serve(backend: str, tmp: Path, **extra: str) -> Iterator[Served]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BILLOW_")}
    env["BILLOW_DATA_DIR"] = str(tmp / "data")
    env.update(extra)
    drop = None
    if backend == "postgresql":
        database, drop = create_throwaway_database("postgresql", tmp)
        env["BILLOW_DATABASE_URL"] = database.url
    env["BILLOW_API_KEY"] = api_key = "imm_" + secrets.token_hex(16)
    port = _free_port()
    log_path = tmp / "serve.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*_billow_command(), "serve", "--port", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(base_url, process, log_path)
        yield Served(backend, Client(api_key=api_key, api_url=base_url), log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if drop is not None:
            drop()


@pytest.fixture(scope="module", params=_backends())
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp(f"immediate-{request.param}")
    with _serve(request.param, tmp, BILLOW_SCAN_INTERVAL="3600") as served:
        yield served


def invoices_of(lago: Client, customer: str, invoice_type: str | None = None) -> list[Any]:
    listed = lago.invoices.find_all(options={"external_customer_id": customer, "per_page": 100})["invoices"]
    if invoice_type is not None:
        listed = [invoice for invoice in listed if invoice.invoice_type == invoice_type]
    return sorted(listed, key=lambda invoice: (invoice.sequential_id or 0, invoice.lago_id))


def wait_for(
    served: Served, find: Callable[[], list[Any]], count: int = 1, within: float = WITHIN
) -> tuple[list[Any], float]:
    """Poll until ``find`` returns at least ``count`` items; returns them and the seconds it took."""
    started = time.monotonic()
    while True:
        found = find()
        if len(found) >= count:
            return found, time.monotonic() - started
        if time.monotonic() - started > within:
            raise AssertionError(
                f"{len(found)} of {count} after {within}s; server log:\n{served.log()[-4000:]}"
            )
        time.sleep(0.2)


def customer(lago: Client, external_id: str, **extra: Any) -> None:
    lago.customers.create(Customer(external_id=external_id, name=external_id, currency="USD", **extra))


def subscribe(lago: Client, customer_id: str, plan_code: str, external_id: str, **extra: Any) -> None:
    lago.subscriptions.create(
        Subscription(external_customer_id=customer_id, plan_code=plan_code, external_id=external_id, **extra)
    )


def test_the_scans_are_slow_and_no_worker_runs(served: Served) -> None:
    """The premise of this module: the server says which mode it runs in, and scans are an hour apart."""
    log = served.log()
    assert "every 3600s" in log
    if served.backend == "postgresql":
        assert "advisory lock" in log and "this server leads" in log
    else:
        assert "run inside this server" in log


def test_pay_in_advance_subscription_invoiced_on_creation(served: Served) -> None:
    lago, suffix = served.lago, secrets.token_hex(4)
    lago.plans.create(
        Plan(
            name="Advance",
            code=f"adv_{suffix}",
            interval="monthly",
            amount_cents=3100,
            amount_currency="USD",
            pay_in_advance=True,
        )
    )
    customer(lago, f"cus_{suffix}")
    subscribe(lago, f"cus_{suffix}", f"adv_{suffix}", f"sub_{suffix}", billing_time="anniversary")
    invoices, _ = wait_for(served, lambda: invoices_of(lago, f"cus_{suffix}"))
    assert len(invoices) == 1
    (invoice,) = invoices
    assert invoice.invoice_type == "subscription" and invoice.status == "finalized"
    # Anniversary: the whole first period, in advance.
    assert invoice.fees_amount_cents == 3100


def test_coupon_on_the_first_invoice(served: Served) -> None:
    """A coupon applied before the subscription: the invoice issued on creation takes it, renders it in
    ``credits`` (parsed by the client), and the applied coupon carries the rest."""
    lago, suffix = served.lago, secrets.token_hex(4)
    lago.plans.create(
        Plan(
            name="Adv",
            code=f"cpn_{suffix}",
            interval="monthly",
            amount_cents=3100,
            amount_currency="USD",
            pay_in_advance=True,
        )
    )
    lago.coupons.create(
        Coupon(
            name="Launch",
            code=f"launch_{suffix}",
            coupon_type="fixed_amount",
            amount_cents=5000,
            amount_currency="USD",
            frequency="once",
            expiration="no_expiration",
        )
    )
    customer(lago, f"cus_{suffix}")
    lago.applied_coupons.create(
        AppliedCoupon(external_customer_id=f"cus_{suffix}", coupon_code=f"launch_{suffix}")
    )
    subscribe(lago, f"cus_{suffix}", f"cpn_{suffix}", f"sub_{suffix}", billing_time="anniversary")
    (invoice,), _ = wait_for(served, lambda: invoices_of(lago, f"cus_{suffix}"))
    # 3100 of the 5000: nothing to pay, 1900 left for the next invoices.
    assert (invoice.fees_amount_cents, invoice.coupons_amount_cents, invoice.total_amount_cents) == (
        3100,
        3100,
        0,
    )
    found = lago.invoices.find(invoice.lago_id)
    [credit] = found.credits.__root__
    assert (credit.amount_cents, credit.before_taxes, credit.item.type, credit.item.code) == (
        3100,
        True,
        "coupon",
        f"launch_{suffix}",
    )
    [applied] = lago.applied_coupons.find_all({"external_customer_id": f"cus_{suffix}"})["applied_coupons"]
    assert (applied.status, applied.amount_cents_remaining) == ("active", 1900)


def test_wallet_pays_the_first_invoice(served: Served) -> None:
    """Prepaid credits: a wallet of 50.00 granted credits pays the 31.00 invoice issued on creation."""
    lago, suffix = served.lago, secrets.token_hex(4)
    lago.plans.create(
        Plan(
            name="Adv",
            code=f"wal_{suffix}",
            interval="monthly",
            amount_cents=3100,
            amount_currency="USD",
            pay_in_advance=True,
        )
    )
    customer(lago, f"cus_{suffix}")
    wallet = lago.wallets.create(
        Wallet(external_customer_id=f"cus_{suffix}", rate_amount="1", currency="USD", granted_credits="50")
    )
    subscribe(lago, f"cus_{suffix}", f"wal_{suffix}", f"sub_{suffix}", billing_time="anniversary")
    (invoice,), _ = wait_for(served, lambda: invoices_of(lago, f"cus_{suffix}", "subscription"))
    assert (invoice.prepaid_credit_amount_cents, invoice.total_amount_cents) == (3100, 0)
    assert invoice.payment_status == "succeeded"
    found = lago.wallets.find(wallet.lago_id)
    assert (found.balance_cents, found.credits_balance) == (1900, "19.0")
    listed = lago.wallet_transactions.find_all(wallet.lago_id)["wallet_transactions"]
    assert sorted((t.transaction_type, t.transaction_status, t.amount) for t in listed) == [
        ("inbound", "granted", "50.0"),
        ("outbound", "invoiced", "31.0"),
    ]


def test_termination_bills_the_final_invoice(served: Served) -> None:
    lago, suffix = served.lago, secrets.token_hex(4)
    lago.plans.create(
        Plan(
            name="Arrears", code=f"arr_{suffix}", interval="monthly", amount_cents=3000, amount_currency="USD"
        )
    )
    customer(lago, f"cus_{suffix}")
    subscribe(lago, f"cus_{suffix}", f"arr_{suffix}", f"sub_{suffix}")
    time.sleep(1.0)
    assert invoices_of(lago, f"cus_{suffix}") == []  # in arrears: nothing at the start
    lago.subscriptions.destroy(f"sub_{suffix}")
    invoices, _ = wait_for(served, lambda: invoices_of(lago, f"cus_{suffix}"))
    assert [(i.invoice_type, i.status) for i in invoices] == [("subscription", "finalized")]


def test_termination_with_skip_bills_nothing(served: Served) -> None:
    lago, suffix = served.lago, secrets.token_hex(4)
    lago.plans.create(
        Plan(
            name="Arrears", code=f"skp_{suffix}", interval="monthly", amount_cents=3000, amount_currency="USD"
        )
    )
    customer(lago, f"cus_{suffix}")
    subscribe(lago, f"cus_{suffix}", f"skp_{suffix}", f"sub_{suffix}")
    lago.subscriptions.destroy(f"sub_{suffix}", options={"on_termination_invoice": "skip"})
    time.sleep(2.0)
    assert invoices_of(lago, f"cus_{suffix}") == []


def test_upgrade_is_one_invoice_within_seconds(served: Served) -> None:
    """Defect 5 with defects 1-2: an upgrade's closing of the old subscription and start of the new one are
    billed right after the call, on ONE invoice listing both subscriptions (Lago's upgrading invoice)."""
    lago, suffix = served.lago, secrets.token_hex(4)
    lago.plans.create(
        Plan(name="Basic", code=f"bas_{suffix}", interval="monthly", amount_cents=1000, amount_currency="USD")
    )
    lago.plans.create(
        Plan(
            name="Pro",
            code=f"pro_{suffix}",
            interval="monthly",
            amount_cents=6200,
            amount_currency="USD",
            pay_in_advance=True,
        )
    )
    customer(lago, f"cus_{suffix}")
    subscribe(lago, f"cus_{suffix}", f"bas_{suffix}", f"sub_{suffix}")
    time.sleep(1.0)
    assert invoices_of(lago, f"cus_{suffix}") == []  # in arrears: nothing at the start
    subscribe(lago, f"cus_{suffix}", f"pro_{suffix}", f"sub_{suffix}")  # same external id: an upgrade
    wait_for(served, lambda: invoices_of(lago, f"cus_{suffix}"))
    time.sleep(1.0)  # nothing else follows
    [invoice] = lago.invoices.find_all(options={"external_customer_id": f"cus_{suffix}"})["invoices"]
    invoice = lago.invoices.find(invoice.lago_id)
    assert (invoice.invoice_type, invoice.status) == ("subscription", "finalized")
    assert sorted(s.plan_code for s in invoice.subscriptions.__root__) == [f"bas_{suffix}", f"pro_{suffix}"]
    assert sorted(p.invoicing_reason for p in invoice.billing_periods.__root__) == [
        "subscription_starting",
        "subscription_terminating",
    ]


def _usage_plan(lago: Client, suffix: str, *, pay_in_advance: bool, thresholds: int | None = None) -> None:
    metric = lago.billable_metrics.create(
        BillableMetric(name="Units", code=f"units_{suffix}", aggregation_type="sum_agg", field_name="units")
    )
    lago.plans.create(
        Plan(
            name="Usage",
            code=f"use_{suffix}",
            interval="monthly",
            amount_cents=0,
            amount_currency="USD",
            charges=Charges(
                __root__=[
                    Charge(
                        billable_metric_id=metric.lago_id,
                        charge_model="standard",
                        pay_in_advance=pay_in_advance,
                        invoiceable=True if pay_in_advance else None,
                        properties={"amount": "2"},
                    )
                ]
            ),
            usage_thresholds=UsageThresholds(__root__=[UsageThreshold(amount_cents=thresholds)])
            if thresholds
            else None,
        )
    )


def test_pay_in_advance_charge_event_invoiced_within_seconds(served: Served) -> None:
    lago, suffix = served.lago, secrets.token_hex(4)
    _usage_plan(lago, suffix, pay_in_advance=True)
    customer(lago, f"cus_{suffix}")
    subscribe(lago, f"cus_{suffix}", f"use_{suffix}", f"sub_{suffix}")
    lago.events.create(
        Event(
            transaction_id=f"tr_{suffix}_1",
            external_subscription_id=f"sub_{suffix}",
            code=f"units_{suffix}",
            properties={"units": 3},
        )
    )
    invoices, _ = wait_for(served, lambda: invoices_of(lago, f"cus_{suffix}"))
    assert [(i.invoice_type, i.fees_amount_cents) for i in invoices] == [("subscription", 600)]
    # A batch: one fee (and invoice) per event.
    lago.events.batch_create(
        BatchEvent(
            events=[
                Event(
                    transaction_id=f"tr_{suffix}_{n}",
                    external_subscription_id=f"sub_{suffix}",
                    code=f"units_{suffix}",
                    properties={"units": 1},
                )
                for n in (2, 3)
            ]
        )
    )
    invoices, _ = wait_for(served, lambda: invoices_of(lago, f"cus_{suffix}"), count=3)
    assert sorted(i.fees_amount_cents for i in invoices) == [200, 200, 600]


def test_crossed_threshold_invoiced_within_seconds(served: Served) -> None:
    lago, suffix = served.lago, secrets.token_hex(4)
    _usage_plan(lago, suffix, pay_in_advance=False, thresholds=1000)
    customer(lago, f"cus_{suffix}")
    subscribe(lago, f"cus_{suffix}", f"use_{suffix}", f"sub_{suffix}")
    event = Event(
        transaction_id=f"tr_{suffix}_1",
        external_subscription_id=f"sub_{suffix}",
        code=f"units_{suffix}",
        properties={"units": 4},
    )
    lago.events.create(event)
    time.sleep(1.5)
    assert invoices_of(lago, f"cus_{suffix}") == []  # 8.00 < 10.00
    lago.events.create(event.copy(update={"transaction_id": f"tr_{suffix}_2"}))  # 16.00
    invoices, _ = wait_for(served, lambda: invoices_of(lago, f"cus_{suffix}"))
    assert [(i.invoice_type, i.fees_amount_cents) for i in invoices] == [("progressive_billing", 1600)]


def test_lowered_grace_period_finalizes_the_draft(served: Served) -> None:
    lago, suffix = served.lago, secrets.token_hex(4)
    lago.plans.create(
        Plan(
            name="Advance",
            code=f"gr_{suffix}",
            interval="monthly",
            amount_cents=1000,
            amount_currency="USD",
            pay_in_advance=True,
        )
    )
    customer(
        lago, f"cus_{suffix}", billing_configuration=CustomerBillingConfiguration(invoice_grace_period=3)
    )
    subscribe(lago, f"cus_{suffix}", f"gr_{suffix}", f"sub_{suffix}", billing_time="anniversary")
    invoices, _ = wait_for(served, lambda: invoices_of(lago, f"cus_{suffix}"))
    assert [i.status for i in invoices] == ["draft"]
    customer(
        lago, f"cus_{suffix}", billing_configuration=CustomerBillingConfiguration(invoice_grace_period=0)
    )
    finalized, _ = wait_for(
        served, lambda: [i for i in invoices_of(lago, f"cus_{suffix}") if i.status == "finalized"]
    )
    assert [(i.lago_id, i.fees_amount_cents) for i in finalized] == [(invoices[0].lago_id, 1000)]


@pytest.mark.skipif("postgresql" not in _backends(), reason="PostgreSQL backend not selected")
def test_postgresql_auto_mode_runs_the_scans_without_a_worker(tmp_path: Path) -> None:
    """Default ``BILLOW_SCHEDULER`` on PostgreSQL: the elected server runs the scans. A subscription
    starting 3 seconds after its creation (``pending`` until then; no API call touches it afterwards) is
    activated and its first pay-in-advance invoice billed by the in-process billing scan."""
    with _serve("postgresql", tmp_path, BILLOW_SCAN_INTERVAL="1") as served:
        lago, suffix = served.lago, secrets.token_hex(4)
        lago.plans.create(
            Plan(
                name="Later",
                code=f"later_{suffix}",
                interval="monthly",
                amount_cents=3000,
                amount_currency="USD",
                pay_in_advance=True,
            )
        )
        customer(lago, f"cus_{suffix}")
        starting = datetime.now(UTC) + timedelta(seconds=3)
        subscribe(
            lago,
            f"cus_{suffix}",
            f"later_{suffix}",
            f"sub_{suffix}",
            billing_time="anniversary",
            subscription_at=starting.isoformat(),
        )
        assert invoices_of(lago, f"cus_{suffix}") == []  # pending: nothing yet
        invoices, _ = wait_for(served, lambda: invoices_of(lago, f"cus_{suffix}"), within=20)
        assert [(i.invoice_type, i.status, i.fees_amount_cents) for i in invoices] == [
            ("subscription", "finalized", 3000)
        ]
        assert "this server leads" in served.log()
