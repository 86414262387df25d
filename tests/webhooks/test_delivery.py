"""The webhook outbox and its delivery (:mod:`billow.webhooks.outbox`, :mod:`billow.webhooks.delivery`):
written with the change that caused it, delivered after the commit, signed with both schemes, in order
per endpoint, retried with backoff, every attempt recorded; ``GET /webhooks`` and the retry route."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Iterator
from datetime import timedelta

import jwt
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from billow.db import utcnow
from billow.models.webhook_endpoints import WebhookEndpoint
from billow.models.webhooks import Webhook, WebhookEvent
from billow.webhooks import delivery
from tests.conftest import Api
from tests.fixtures.receiver import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver().start()
    yield found
    found.stop()


def add_endpoint(api: Api, url: str, algo: str = "jwt", types: list[str] | None = None) -> str:
    body: dict[str, object] = {"webhook_url": url, "signature_algo": algo}
    if types is not None:
        body["event_types"] = types
    response = api.post("/webhook_endpoints", {"webhook_endpoint": body})
    assert response.status_code == 200, response.text
    return str(response.json()["webhook_endpoint"]["lago_id"])


def create_customer(api: Api, external_id: str, **fields: object) -> None:
    response = api.post("/customers", {"customer": {"external_id": external_id, **fields}})
    assert response.status_code == 200, response.text


def webhooks(app: FastAPI) -> list[Webhook]:
    with app.state.sessionmaker() as session:
        return list(session.scalars(select(Webhook).order_by(Webhook.position)))


def deliver_due(app: FastAPI, *, after: timedelta = timedelta(0)) -> None:
    factory = app.state.dispatcher.session_factory
    for item in delivery.deliver_due(factory, utcnow() + after):
        delivery.deliver_endpoint(factory, uuid.UUID(item), utcnow() + after)


class TestSignedDelivery:
    def test_a_customer_created_arrives_signed_with_jwt_and_verifies(
        self, api: Api, receiver: Receiver
    ) -> None:
        add_endpoint(api, receiver.url, "jwt")
        create_customer(api, "cus_1", name="Ada")
        [received] = receiver.received
        body = received.json
        assert body["webhook_type"] == "customer.created"
        assert body["object_type"] == "customer"
        assert body["organization_id"] == str(api.organization.id)
        assert body["customer"]["external_id"] == "cus_1"
        assert body["customer"]["name"] == "Ada"
        # The payload is the API's rendering of the object.
        shown = api.get("/customers/cus_1").json()["customer"]
        assert body["customer"] == shown
        assert received.headers["x-lago-signature-algorithm"] == "jwt"
        pem = base64.b64decode(api.get("/webhooks/json_public_key").json()["webhook"]["public_key"])
        decoded = jwt.decode(
            received.headers["x-lago-signature"], pem, algorithms=["RS256"], issuer="http://localhost:3000"
        )
        assert decoded["data"] == received.body
        [webhook] = api.get("/webhooks").json()["webhooks"]
        assert received.unique_key == webhook["lago_id"]
        assert webhook["status"] == "succeeded"
        assert webhook["http_status"] == 200
        assert webhook["attempts"] == 1 and webhook["retries"] == 0
        assert webhook["payload"] == body["customer"]

    def test_hmac_signature_verifies_with_the_organizations_hmac_key(
        self, api: Api, receiver: Receiver
    ) -> None:
        add_endpoint(api, receiver.url, "hmac")
        create_customer(api, "cus_1")
        api.post("/customers", {"customer": {"external_id": "cus_1", "name": "Renamed"}})
        assert receiver.types() == ["customer.created", "customer.updated"]
        key = api.get("/organizations").json()["organization"]["hmac_key"]
        for received in receiver.received:
            assert received.headers["x-lago-signature-algorithm"] == "hmac"
            expected = hmac.new(key.encode(), received.body.encode(), hashlib.sha256).digest()
            assert received.headers["x-lago-signature"] == base64.b64encode(expected).decode()
        assert receiver.received[1].json["customer"]["name"] == "Renamed"
        assert len({r.unique_key for r in receiver.received}) == 2

    def test_every_endpoint_gets_its_own_webhook_and_event_types_filter(
        self, api: Api, receiver: Receiver
    ) -> None:
        other = Receiver().start()
        try:
            add_endpoint(api, receiver.url)
            add_endpoint(api, other.url, types=["customer.updated"])
            create_customer(api, "cus_1")
            create_customer(api, "cus_1", name="Again")
            assert receiver.types() == ["customer.created", "customer.updated"]
            assert other.types() == ["customer.updated"]
            assert other.received[0].unique_key != receiver.received[1].unique_key
        finally:
            other.stop()

    def test_no_endpoint_writes_nothing(self, api: Api, app: FastAPI) -> None:
        create_customer(api, "cus_1")
        assert webhooks(app) == []
        with app.state.sessionmaker() as session:
            assert session.scalar(select(func.count()).select_from(WebhookEvent)) == 0

    def test_a_failed_request_announces_nothing(self, api: Api, app: FastAPI, receiver: Receiver) -> None:
        add_endpoint(api, receiver.url)
        response = api.post("/customers", {"customer": {"external_id": "cus_1", "currency": "XXX1"}})
        assert response.status_code == 422
        assert webhooks(app) == [] and receiver.received == []


class TestRetries:
    def test_a_receiver_down_gets_everything_afterwards_in_order_once(
        self, api: Api, app: FastAPI, receiver: Receiver
    ) -> None:
        add_endpoint(api, receiver.url)
        receiver.stop()  # down: connections refused
        for n in range(5):
            create_customer(api, f"cus_{n}")
        rows = webhooks(app)
        # The first was tried once and waits 10 s; the others wait behind it, untried.
        assert [(w.status, w.attempts) for w in rows] == [("retrying", 1)] + [("pending", 0)] * 4
        first = api.get(f"/webhooks/{rows[0].id}").json()["webhook"]
        assert first["http_status"] is None
        [attempt] = first["attempt_history"]
        assert attempt["number"] == 1 and attempt["error"].startswith("ConnectError")
        deliver_due(app)  # nothing is due yet: the head waits
        assert webhooks(app)[0].attempts == 1
        # An hour later, still down: the scan tries the head again (and only the head).
        deliver_due(app, after=timedelta(hours=1))
        assert [(w.status, w.attempts) for w in webhooks(app)][:2] == [("retrying", 2), ("pending", 0)]
        receiver.start()  # back on the same port
        deliver_due(app, after=timedelta(hours=2))
        assert [r.json["customer"]["external_id"] for r in receiver.received] == [
            f"cus_{n}" for n in range(5)
        ]
        assert [r.unique_key for r in receiver.received] == [str(w.id) for w in rows]
        assert {w.status for w in webhooks(app)} == {"succeeded"}
        deliver_due(app, after=timedelta(hours=3))  # nothing more
        assert len(receiver.received) == 5

    def test_backoff_doubles_up_to_the_cap(self) -> None:
        from billow.config import Settings

        settings = Settings(webhook_backoff=10, webhook_backoff_cap=3600)
        # 10, 20, 40, ... 2560, then 5120 capped at 3600.
        assert [delivery.backoff_seconds(n, settings) for n in (1, 2, 3, 9, 10, 16)] == [
            10,
            20,
            40,
            2560,
            3600,
            3600,
        ]

    def test_after_the_last_attempt_it_fails_and_the_line_moves_on_then_retry_replays_it(
        self, api: Api, app: FastAPI, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("BILLOW_WEBHOOK_MAX_ATTEMPTS", "2")
        add_endpoint(api, receiver.url)
        receiver.status = 500
        create_customer(api, "cus_a")
        receiver.status = 200
        create_customer(api, "cus_b")  # behind the failing head: not sent yet
        assert receiver.received == []
        receiver.status = 500
        deliver_due(app, after=timedelta(minutes=1))  # second and last attempt of cus_a; cus_b goes
        receiver.status = 200
        deliver_due(app, after=timedelta(minutes=2))
        [failed, _sent] = webhooks(app)
        assert (failed.status, failed.attempts, failed.http_status) == ("failed", 2, 500)
        assert failed.response == "receiver error"
        assert [r.json["customer"]["external_id"] for r in receiver.received] == ["cus_b"]
        listed = api.get("/webhooks", params={"status": "failed"}).json()
        assert [w["lago_id"] for w in listed["webhooks"]] == [str(failed.id)]
        replay = api.post(f"/webhooks/{failed.id}/retry")
        assert replay.status_code == 200, replay.text
        assert replay.json()["webhook"]["status"] == "pending"  # sent right after the commit
        assert [r.json["customer"]["external_id"] for r in receiver.received] == ["cus_b", "cus_a"]
        assert receiver.received[1].unique_key == str(failed.id)
        shown = api.get(f"/webhooks/{failed.id}").json()["webhook"]
        assert shown["status"] == "succeeded"
        assert [a["http_status"] for a in shown["attempt_history"]] == [500, 500, 200]
        again = api.post(f"/webhooks/{failed.id}/retry")
        assert again.status_code == 405
        assert again.json()["code"] == "is_succeeded"


class TestLease:
    def test_an_endpoint_held_by_a_live_deliverer_is_left_alone_then_taken_when_its_lease_expires(
        self, api: Api, app: FastAPI, receiver: Receiver
    ) -> None:
        endpoint_id = uuid.UUID(add_endpoint(api, receiver.url))
        factory = app.state.dispatcher.session_factory
        # Another deliverer holds the endpoint (e.g. a worker that was killed mid-delivery).
        with factory.begin() as session:
            session.execute(
                update(WebhookEndpoint)
                .where(WebhookEndpoint.id == endpoint_id)
                .values(delivery_lease_until=utcnow() + timedelta(seconds=30), delivery_lease_token="other")
            )
        create_customer(api, "cus_1")
        assert receiver.received == []
        assert delivery.deliver_endpoint(factory, endpoint_id, utcnow()) == 0
        with factory.begin() as session:
            session.execute(
                update(WebhookEndpoint)
                .where(WebhookEndpoint.id == endpoint_id)
                .values(delivery_lease_until=utcnow() - timedelta(seconds=1))
            )
        deliver_due(app)
        assert receiver.types() == ["customer.created"]
        with factory() as session:
            endpoint = session.get(WebhookEndpoint, endpoint_id)
            assert endpoint is not None and endpoint.delivery_lease_token is None


class TestApi:
    def test_list_filters_show_and_tenancy(self, api: Api, other_api: Api, receiver: Receiver) -> None:
        endpoint = add_endpoint(api, receiver.url)
        create_customer(api, "cus_1")
        create_customer(api, "cus_1", name="B")
        listed = api.get("/webhooks").json()
        assert listed["meta"]["total_count"] == 2
        assert [w["webhook_type"] for w in listed["webhooks"]] == ["customer.updated", "customer.created"]
        only = api.get("/webhooks", params={"webhook_type": "customer.created"}).json()["webhooks"]
        assert [w["webhook_type"] for w in only] == ["customer.created"]
        assert only[0]["lago_webhook_endpoint_id"] == endpoint
        assert only[0]["object_type"] == "customer"
        by_endpoint = api.get("/webhooks", params={"webhook_endpoint_id": endpoint}).json()
        assert by_endpoint["meta"]["total_count"] == 2
        assert api.get("/webhooks", params={"status": "pending"}).json()["webhooks"] == []
        bad = api.get("/webhooks", params={"status": "nope"})
        assert bad.status_code == 422
        assert bad.json()["error_details"] == {"status": ["value_is_invalid"]}
        lago_id = only[0]["lago_id"]
        assert api.get(f"/webhooks/{lago_id}").status_code == 200
        # Another organization sees none of it.
        assert other_api.get("/webhooks").json()["webhooks"] == []
        assert other_api.get(f"/webhooks/{lago_id}").status_code == 404
        assert other_api.post(f"/webhooks/{lago_id}/retry").status_code == 404
        assert api.get("/webhooks/not-a-uuid").json()["code"] == "webhook_not_found"

    def test_deleting_the_endpoint_deletes_its_webhooks(
        self, api: Api, app: FastAPI, receiver: Receiver
    ) -> None:
        endpoint = add_endpoint(api, receiver.url)
        create_customer(api, "cus_1")
        assert api.delete(f"/webhook_endpoints/{endpoint}").status_code == 200
        assert webhooks(app) == []
