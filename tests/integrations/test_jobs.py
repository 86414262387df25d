"""Jobs: run after the commit, retried with backoff on 5xx and timeouts, failed on 4xx (with Lago's error
webhooks), every attempt recorded, one idempotency key per job, secrets a provider rotated stored."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from billow.config import current_settings
from billow.db import utcnow
from billow.integrations import jobs
from billow.kit.secrets import open_sealed
from billow.models.integrations import Integration, IntegrationJob
from tests.conftest import Api
from tests.fixtures.receiver import Receiver
from tests.integrations.conftest import add_integration
from tests.integrations.providers import FakeProvider
from tests.mail.conftest import one_off_invoice
from tests.webhooks.test_delivery import add_endpoint


@pytest.fixture
def receiver(api: Api) -> Iterator[Receiver]:
    found = Receiver().start()
    add_endpoint(api, found.url)
    yield found
    found.stop()


def paying_customer(api: Api, external_id: str = "cus_1", sync: bool = True) -> dict[str, Any]:
    body = {
        "external_id": external_id,
        "name": "Ann",
        "email": "ann@example.com",
        "currency": "EUR",
        "billing_configuration": {
            "payment_provider": "testpay",
            "payment_provider_code": "pay",
            "sync_with_provider": sync,
        },
    }
    response = api.post("/customers", {"customer": body})
    assert response.status_code == 200, response.text
    return dict(response.json()["customer"])


def job_list(api: Api, code: str = "pay", **filters: str) -> list[dict[str, Any]]:
    response = api.get(f"/integrations/{code}/jobs", params=filters)
    assert response.status_code == 200, response.text
    return list(response.json()["integration_jobs"])


def job(api: Api, lago_id: str) -> dict[str, Any]:
    response = api.get(f"/integration_jobs/{lago_id}")
    assert response.status_code == 200, response.text
    return dict(response.json()["integration_job"])


def run_due_later(app: FastAPI, seconds: float = 3600) -> None:
    """The scan, as if ``seconds`` had passed (the retries are due)."""
    factory = app.state.dispatcher.session_factory
    for item in jobs.run_due(factory, utcnow() + timedelta(seconds=seconds)):
        jobs._run_item(factory, item, utcnow() + timedelta(seconds=seconds))


def webhooks_of(receiver: Receiver, prefix: str) -> list[dict[str, Any]]:
    return [r.json for r in receiver.received if r.json["webhook_type"].startswith(prefix)]


class TestCustomerSync:
    def test_a_customer_is_created_at_its_payment_provider(self, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        customer = paying_customer(api)
        [created] = fake.of_kind("customers")
        assert created["billow_id"] == customer["lago_id"]
        shown = api.get("/customers/cus_1").json()["customer"]
        assert shown["billing_configuration"]["provider_customer_id"] == created["id"]
        [done] = job_list(api)
        assert (done["operation"], done["status"], done["attempts_count"]) == (
            "sync_customer",
            "succeeded",
            1,
        )
        assert done["result"]["external_id"] == created["id"]
        detail = job(api, done["lago_id"])
        assert [(a["number"], a["outcome"], a["http_status"]) for a in detail["attempts"]] == [
            (1, "succeeded", None)
        ]
        # An update syncs the same provider customer (no second one).
        api.post("/customers", {"customer": {"external_id": "cus_1", "name": "Ann B"}})
        assert len(fake.of_kind("customers")) == 1
        assert fake.of_kind("customers")[0]["name"] == "Ann B"

    def test_without_sync_with_provider_nothing_is_sent(self, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        paying_customer(api, sync=False)
        assert fake.requests == [] and job_list(api) == []

    def test_500_is_retried_with_backoff(self, app: FastAPI, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        fake.fail_next(1, status=500)
        paying_customer(api)
        [waiting] = job_list(api)
        assert (waiting["status"], waiting["attempts_count"]) == ("pending", 1)
        assert waiting["last_error"] == {"code": "http_500", "message": "injected fault", "http_status": 500}
        assert waiting["next_attempt_at"] is not None
        run_due_later(app, 0)  # not due yet: the backoff (1 s) has not passed
        assert job(api, waiting["lago_id"])["attempts_count"] == 1
        run_due_later(app)
        detail = job(api, waiting["lago_id"])
        assert (detail["status"], detail["attempts_count"]) == ("succeeded", 2)
        assert [a["outcome"] for a in detail["attempts"]] == ["retrying", "succeeded"]
        assert len(fake.of_kind("customers")) == 1

    def test_a_timeout_is_retried(self, app: FastAPI, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        fake.fail_next(1, status=None, delay=1.0)  # the client gives up after 0.5 s
        paying_customer(api)
        [waiting] = job_list(api)
        assert (waiting["status"], waiting["last_error"]["code"]) == ("pending", "timeout")
        run_due_later(app)
        assert job(api, waiting["lago_id"])["status"] == "succeeded"

    def test_retries_end_after_the_last_attempt(
        self, app: FastAPI, api: Api, fake: FakeProvider, receiver: Receiver
    ) -> None:
        add_integration(api, "testpay", "pay", fake)
        fake.fail_next(3, status=503)
        paying_customer(api)
        run_due_later(app, 3600)
        run_due_later(app, 7200)  # retries are due after the scan's instant plus the backoff
        [failed] = job_list(api, status="failed")
        assert failed["attempts_count"] == 3  # BILLOW_INTEGRATION_MAX_ATTEMPTS
        assert [a["outcome"] for a in job(api, failed["lago_id"])["attempts"]] == [
            "retrying",
            "retrying",
            "failed",
        ]
        run_due_later(app, 10800)
        assert len(fake.calls("POST", "/customers")) == 3

    def test_4xx_fails_at_once_with_lago_webhook(
        self, api: Api, fake: FakeProvider, receiver: Receiver
    ) -> None:
        add_integration(api, "testpay", "pay", fake)
        fake.fail_next(1, status=400)
        customer = paying_customer(api)
        [failed] = job_list(api)
        assert (failed["status"], failed["attempts_count"]) == ("failed", 1)
        [webhook] = webhooks_of(receiver, "customer.payment_provider_error")
        assert webhook["object_type"] == "payment_provider_customer_error"
        assert webhook["payment_provider_customer_error"] == {
            "lago_customer_id": customer["lago_id"],
            "external_customer_id": "cus_1",
            "payment_provider": "testpay",
            "payment_provider_code": "pay",
            "provider_error": {"message": "injected fault", "error_code": "http_400", "http_status": 400},
        }

    def test_a_failed_job_is_retried_through_the_api(
        self, api: Api, other_api: Api, fake: FakeProvider
    ) -> None:
        add_integration(api, "testpay", "pay", fake)
        fake.fail_next(1, status=400)
        paying_customer(api)
        [failed] = job_list(api)
        assert other_api.post(f"/integration_jobs/{failed['lago_id']}/retry").status_code == 404
        assert other_api.get(f"/integration_jobs/{failed['lago_id']}").status_code == 404
        response = api.post(f"/integration_jobs/{failed['lago_id']}/retry")
        assert response.status_code == 200, response.text
        assert job(api, failed["lago_id"])["status"] == "succeeded"
        again = api.post(f"/integration_jobs/{failed['lago_id']}/retry")
        assert (again.status_code, again.json()["code"]) == (405, "invalid_status")

    def test_rotated_secrets_are_stored_sealed(self, app: FastAPI, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        fake.rotate_to = "sk_rotated"
        paying_customer(api)
        with app.state.sessionmaker() as session:
            row = session.scalars(
                select(Integration).where(Integration.organization_id == api.organization.id)
            ).one()
            assert row.secrets_sealed is not None and "sk_rotated" not in row.secrets_sealed
            assert json.loads(open_sealed(row.secrets_sealed, current_settings()))["api_key"] == "sk_rotated"
        fake.rotate_to = None
        api.post("/customers", {"customer": {"external_id": "cus_1", "name": "Again"}})
        assert fake.requests[-1].headers["authorization"] == "Bearer sk_rotated"

    def test_job_filters(self, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        customer = paying_customer(api)
        assert len(job_list(api, operation="sync_customer", object_id=customer["lago_id"])) == 1
        assert job_list(api, operation="create_payment") == []
        assert job_list(api, status="failed") == []
        bad = api.get("/integrations/pay/jobs", params={"status": "nope"})
        assert bad.json()["error_details"] == {"status": ["value_is_invalid"]}


class TestPayments:
    def test_a_finalized_invoice_is_collected_once(self, app: FastAPI, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        paying_customer(api)
        invoice = one_off_invoice(api, 12345)
        [payment_job] = job_list(api, operation="create_payment")
        assert (payment_job["status"], payment_job["object_id"]) == ("succeeded", invoice["lago_id"])
        [payment] = fake.of_kind("payments")
        assert (payment["amount"], payment["currency"], payment["customer"]) == (12345, "EUR", "cus_1")
        [request] = fake.calls("POST", "/payments")
        assert request.headers["idempotency-key"] == payment_job["idempotency_key"]
        assert payment_job["result"]["provider_payment_id"] == payment["id"]

    def test_a_crash_after_the_call_creates_no_second_payment(
        self, app: FastAPI, api: Api, fake: FakeProvider, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        add_integration(api, "testpay", "pay", fake)
        paying_customer(api)
        original = jobs._record
        crashes = []

        def crash(*args: Any, **kwargs: Any) -> Any:
            prepared = args[3]
            if prepared is not None and prepared.operation == "create_payment" and not crashes:
                crashes.append(1)
                raise RuntimeError("the worker died")
            return original(*args, **kwargs)

        monkeypatch.setattr(jobs, "_record", crash)
        invoice = one_off_invoice(api, 5000)
        [running] = job_list(api, operation="create_payment")
        assert running["status"] == "running"
        with app.state.sessionmaker.begin() as session:  # the dead worker's lease expires
            session.execute(update(IntegrationJob).values(lease_until=utcnow() - timedelta(seconds=1)))
        run_due_later(app, 0)
        assert job(api, running["lago_id"])["status"] == "succeeded"
        requests = fake.calls("POST", "/payments")
        assert len(requests) == 2
        assert {r.headers["idempotency-key"] for r in requests} == {running["idempotency_key"]}
        assert [p["metadata"]["billow_payable_id"] for p in fake.of_kind("payments")] == [invoice["lago_id"]]

    def test_a_declined_payment_fails_with_a_webhook(
        self, api: Api, fake: FakeProvider, receiver: Receiver
    ) -> None:
        add_integration(api, "testpay", "pay", fake)
        paying_customer(api)
        one_off_invoice(api, 666)  # the stand-in declines 666
        [failed] = job_list(api, operation="create_payment")
        assert (failed["status"], failed["last_error"]["code"]) == ("failed", "card_declined")
        [webhook] = webhooks_of(receiver, "integration.provider_error")
        assert webhook["provider_error"]["provider_code"] == "pay"
        assert webhook["provider_error"]["provider_error"]["error_code"] == "card_declined"

    def test_nothing_due_nothing_collected(self, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        paying_customer(api, sync=False)
        api.post("/customers", {"customer": {"external_id": "cus_2", "currency": "EUR"}})
        one_off_invoice(api, 100, customer="cus_2")  # no provider
        assert job_list(api, operation="create_payment") == []
