"""Webhooks end to end: a real ``billow serve`` per backend, driven by ``lago-python-client``, delivering to
local receivers. A whole billing cycle arrives signed with both of Lago's schemes and verifies with the
public key and the HMAC key the API gives; a server killed in the middle of a delivery loses nothing
(the webhook it was sending is sent again, with the same unique key, once its lease expires)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.fernet import Fernet
from lago_python_client.client import Client
from lago_python_client.models import BillableMetric, Charge, Customer, Invoice, Plan, Subscription
from lago_python_client.models.charge import Charges
from lago_python_client.models.customer import CustomerBillingConfiguration
from lago_python_client.models.event import Event
from lago_python_client.models.webhook_endpoint import WebhookEndpoint

from tests.conftest import _backends, create_throwaway_database
from tests.e2e.conftest import Server, _billow_command, _free_port, _wait_healthy
from tests.fixtures.receiver import Receiver

pytestmark = pytest.mark.e2e

WITHIN = 20.0


def wait_until(check: Callable[[], bool], what: str, within: float = WITHIN) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not after {within}s: {what}")
        time.sleep(0.1)


def types_for(receiver: Receiver, external_customer_id: str) -> list[str]:
    """The webhook types received about one customer's objects, in order."""
    out = []
    for received in receiver.received:
        body = received.json
        obj = body[body["object_type"]]
        customer = (
            obj.get("external_customer_id")
            or obj.get("external_id")
            or obj.get("customer", {}).get("external_id")
        )
        if customer == external_customer_id:
            out.append(body["webhook_type"])
    return out


def test_a_billing_cycle_arrives_signed_with_both_schemes(lago: Client, server: Server, suffix: str) -> None:
    jwt_receiver, hmac_receiver = Receiver().start(), Receiver().start()
    endpoints = [
        lago.webhook_endpoints.create(WebhookEndpoint(webhook_url=jwt_receiver.url, signature_algo="jwt")),
        lago.webhook_endpoints.create(WebhookEndpoint(webhook_url=hmac_receiver.url, signature_algo="hmac")),
    ]
    try:
        code = f"calls_{suffix}"
        lago.billable_metrics.create(BillableMetric(name=code, code=code, aggregation_type="count_agg"))
        metric = lago.billable_metrics.find(code)
        lago.plans.create(
            Plan(
                name=f"p_{suffix}",
                code=f"p_{suffix}",
                interval="monthly",
                amount_cents=1000,
                amount_currency="USD",
                pay_in_advance=False,
                charges=Charges(
                    __root__=[
                        Charge(
                            billable_metric_id=metric.lago_id,
                            charge_model="standard",
                            properties={"amount": "0.5"},
                        )
                    ]
                ),
            )
        )
        customer_id = f"cus_{suffix}"
        lago.customers.create(
            Customer(
                external_id=customer_id,
                name="Webhook Co",
                currency="USD",
                billing_configuration=CustomerBillingConfiguration(invoice_grace_period=2),
            )
        )
        subscription_id = f"sub_{suffix}"
        lago.subscriptions.create(
            Subscription(
                external_customer_id=customer_id, plan_code=f"p_{suffix}", external_id=subscription_id
            )
        )
        for n in range(4):
            lago.events.create(
                Event(transaction_id=f"t{n}_{suffix}", external_subscription_id=subscription_id, code=code)
            )
        lago.subscriptions.destroy(subscription_id)  # the final invoice: a draft (grace period)
        wait_until(lambda: "invoice.drafted" in types_for(jwt_receiver, customer_id), "invoice.drafted")
        [draft] = lago.invoices.find_all(options={"external_customer_id": customer_id})["invoices"]
        lago.invoices.finalize(draft.lago_id)
        lago.invoices.update(Invoice(payment_status="succeeded"), draft.lago_id)
        expected = [
            "customer.created",
            "subscription.started",
            "subscription.terminated",
            "invoice.drafted",
            "invoice.created",
            "invoice.payment_status_updated",
        ]
        for receiver in (jwt_receiver, hmac_receiver):
            # The PDF's invoice.generated follows invoice.created (its task runs after that commit).
            wait_until(
                lambda r=receiver: (
                    [t for t in types_for(r, customer_id) if t != "invoice.generated"] == expected
                    and "invoice.generated" in types_for(r, customer_id)
                ),  # type: ignore[misc]
                f"{expected} and invoice.generated",
            )
            types = types_for(receiver, customer_id)
            assert types.index("invoice.generated") > types.index("invoice.created")
        generated = next(
            r.json["invoice"] for r in jwt_receiver.received if r.json["webhook_type"] == "invoice.generated"
        )
        assert generated["file_url"]
        pdf = httpx.get(generated["file_url"])
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
        created = next(
            r.json["invoice"] for r in jwt_receiver.received if r.json["webhook_type"] == "invoice.created"
        )
        # 10.00 of subscription and 4 calls at 0.50, whatever part of the month was billed: the fees add up.
        assert created["number"] and created["status"] == "finalized"
        assert created["fees_amount_cents"] == sum(f["amount_cents"] for f in created["fees"])
        assert any(f["units"] == "4.0" for f in created["fees"] if f["item"]["type"] == "charge")

        # The jwt scheme verifies with the public key of the API (as Lago's documentation says).
        public_key = lago.webhooks.public_key()
        for received in jwt_receiver.received:
            assert received.headers["x-lago-signature-algorithm"] == "jwt"
            decoded = jwt.decode(
                received.headers["x-lago-signature"],
                public_key,
                algorithms=["RS256"],
                issuer=server.base_url,
            )
            assert decoded["data"] == received.body
        # The hmac scheme with the organization's hmac_key.
        organization = httpx.get(
            f"{server.base_url}/api/v1/organizations", headers={"Authorization": f"Bearer {server.api_key}"}
        ).json()["organization"]
        key = organization["hmac_key"].encode()
        for received in hmac_receiver.received:
            assert received.headers["x-lago-signature-algorithm"] == "hmac"
            digest = hmac.new(key, received.body.encode(), hashlib.sha256).digest()
            assert received.headers["x-lago-signature"] == base64.b64encode(digest).decode()
        # The same event has one unique key per endpoint, each sent once.
        keys = [r.unique_key for r in jwt_receiver.received + hmac_receiver.received]
        assert len(keys) == len(set(keys))
    finally:
        for endpoint in endpoints:
            lago.webhook_endpoints.destroy(endpoint.lago_id)
        jwt_receiver.stop()
        hmac_receiver.stop()


# ------------------------------------------------------------------------------------------ killed


class Restartable:
    """A ``billow serve`` that can be killed (SIGKILL) and started again on the same database."""

    def __init__(self, backend: str, tmp: Path) -> None:
        self.tmp = tmp
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("BILLOW_")}
        self.env["BILLOW_DATA_DIR"] = str(tmp / "data")
        self.env["BILLOW_SECRET_KEY"] = Fernet.generate_key().decode()
        self.env["BILLOW_WEBHOOK_LEASE"] = "1"
        self.env["BILLOW_SCAN_INTERVAL"] = "0.5"
        self.drop: Callable[[], Any] | None = None
        if backend == "postgresql":
            database, self.drop = create_throwaway_database("postgresql", tmp)
            self.env["BILLOW_DATABASE_URL"] = database.url
        self.env["BILLOW_API_KEY"] = self.api_key = "kill_" + secrets.token_hex(16)
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> Client:
        port = _free_port()
        self.starts += 1
        self.log_path = self.tmp / f"serve-{self.starts}.log"
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                [*_billow_command(), "serve", "--port", str(port)],
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        base_url = f"http://127.0.0.1:{port}"
        _wait_healthy(base_url, self.process, self.log_path)
        return Client(api_key=self.api_key, api_url=base_url)

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
        if self.drop is not None:
            self.drop()


@pytest.fixture(params=_backends())
def restartable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Restartable]:
    served = Restartable(request.param, tmp_path)
    yield served
    served.stop()


def test_a_server_killed_mid_delivery_loses_nothing(restartable: Restartable) -> None:
    receiver = Receiver(delay=2.0).start()  # slow: the first delivery is in flight when the server dies
    try:
        lago = restartable.start()
        lago.webhook_endpoints.create(WebhookEndpoint(webhook_url=receiver.url, signature_algo="hmac"))
        for n in range(4):
            lago.customers.create(Customer(external_id=f"cus_{n}", name=f"n{n}", currency="USD"))
        wait_until(lambda: len(receiver.arrived) >= 1, "a delivery in flight")
        restartable.kill()
        receiver.delay = 0.0
        restartable.start()  # the dead server's lease expires; the scan resumes the endpoint
        wait_until(lambda: len({r.unique_key for r in receiver.received}) == 4, "every webhook", within=40)
        firsts: dict[str, str] = {}
        for received in receiver.received:
            external_id = received.json["customer"]["external_id"]
            assert firsts.setdefault(received.unique_key, external_id) == external_id  # a key is one webhook
        # In order (first arrivals), each webhook received at least once, any repeat under its own key.
        assert list(firsts.values()) == [f"cus_{n}" for n in range(4)]
    finally:
        receiver.stop()
