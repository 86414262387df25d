from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from billow.models.events import Event
from billow.models.subscriptions import Subscription
from tests.conftest import Api

T0 = 1_720_000_000  # 2024-07-03T09:46:40Z
EVENT = {"transaction_id": "tx_1", "external_subscription_id": "sub_1", "code": "api_calls", "timestamp": T0}
EVENT_KEYS = {
    "lago_id",
    "transaction_id",
    "lago_customer_id",
    "code",
    "timestamp",
    "precise_total_amount_cents",
    "properties",
    "lago_subscription_id",
    "external_subscription_id",
    "created_at",
}
DIAGNOSTIC_KEYS = {"billable_metric_code_matched", "subscription_matched", "not_aggregated_reason"}


def unprocessable(details: dict[str, Any]) -> dict[str, Any]:
    return {
        "status": 422,
        "error": "Unprocessable Entity",
        "code": "validation_errors",
        "error_details": details,
    }


def post_event(api: Api, **fields: Any) -> Any:
    return api.post("/events", json={"event": {**EVENT, **fields}})


def create_event(api: Api, **fields: Any) -> dict[str, Any]:
    response = post_event(api, **fields)
    assert response.status_code == 200, response.text
    return response.json()["event"]


def post_batch(api: Api, events: list[Any]) -> Any:
    return api.post("/events/batch", json={"events": events})


def batch_of(count: int, prefix: str = "tx", **fields: Any) -> list[dict[str, Any]]:
    return [{**EVENT, "transaction_id": f"{prefix}_{i}", **fields} for i in range(count)]


def stored_count(app: FastAPI, organization_id: uuid.UUID | None = None) -> int:
    with app.state.sessionmaker() as session:
        stmt = select(func.count()).select_from(Event)
        if organization_id is not None:
            stmt = stmt.where(Event.organization_id == organization_id)
        return session.scalar(stmt) or 0


def create_metric(api: Api, code: str = "api_calls", **fields: Any) -> dict[str, Any]:
    body = {"name": code, "code": code, "aggregation_type": "count_agg", **fields}
    response = api.post("/billable_metrics", json={"billable_metric": body})
    assert response.status_code == 200, response.text
    return response.json()["billable_metric"]


def create_subscription(
    api: Api,
    external_id: str = "sub_1",
    *,
    started_at: datetime | None = datetime(2024, 1, 1, tzinfo=UTC),
    terminated_at: datetime | None = None,
    status: str = "active",
) -> Subscription:
    """A subscription row (customer and plan through the API, the subscription itself directly)."""
    customer = api.post("/customers", json={"customer": {"external_id": f"cus_{uuid.uuid4().hex[:8]}"}})
    assert customer.status_code == 200, customer.text
    plan_code = f"plan_{uuid.uuid4().hex[:8]}"
    plan = api.post(
        "/plans",
        json={
            "plan": {
                "name": "Starter",
                "code": plan_code,
                "interval": "monthly",
                "amount_cents": 1000,
                "amount_currency": "EUR",
            }
        },
    )
    assert plan.status_code == 200, plan.text
    subscription = Subscription(
        organization_id=api.organization.id,
        customer_id=uuid.UUID(customer.json()["customer"]["lago_id"]),
        plan_id=uuid.UUID(plan.json()["plan"]["lago_id"]),
        external_id=external_id,
        status=status,
        subscription_at=started_at or datetime(2030, 1, 1, tzinfo=UTC),
        started_at=started_at,
        terminated_at=terminated_at,
    )
    with api.client.app.state.sessionmaker.begin() as session:  # type: ignore[attr-defined]
        session.add(subscription)
    return subscription


class TestCreate:
    def test_returns_lago_shape(self, api: Api) -> None:
        event = create_event(api, properties={"region": "eu", "gb": 2.5}, precise_total_amount_cents="12.50")
        assert set(event) == EVENT_KEYS
        uuid.UUID(event["lago_id"])
        assert event["transaction_id"] == "tx_1"
        assert event["external_subscription_id"] == "sub_1"
        assert event["code"] == "api_calls"
        assert event["timestamp"] == "2024-07-03T09:46:40.000Z"
        assert event["properties"] == {"region": "eu", "gb": 2.5}
        assert event["precise_total_amount_cents"] == "12.5"
        assert event["lago_customer_id"] is None
        assert event["lago_subscription_id"] is None
        datetime.strptime(event["created_at"], "%Y-%m-%dT%H:%M:%SZ")

    def test_lago_client_payload_with_explicit_nulls(self, api: Api) -> None:
        before = datetime.now(UTC).replace(microsecond=0)
        response = api.post(
            "/events",
            json={
                "event": {
                    "transaction_id": "tx_1",
                    "external_subscription_id": "sub_1",
                    "code": "api_calls",
                    "timestamp": None,
                    "precise_total_amount_cents": None,
                    "properties": None,
                }
            },
        )
        assert response.status_code == 200, response.text
        event = response.json()["event"]
        assert event["properties"] == {}
        assert event["precise_total_amount_cents"] is None
        received = datetime.strptime(event["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
        assert before <= received <= datetime.now(UTC)

    @pytest.mark.parametrize(
        ("timestamp", "expected"),
        [
            (T0, "2024-07-03T09:46:40.000Z"),
            (str(T0), "2024-07-03T09:46:40.000Z"),
            ("1720000000.123", "2024-07-03T09:46:40.123Z"),
            (1720000000.5, "2024-07-03T09:46:40.500Z"),
            ("1720000000.9999", "2024-07-03T09:46:40.999Z"),
            (" 1720000000 ", "2024-07-03T09:46:40.000Z"),
            ("1.72e9", "2024-07-03T09:46:40.000Z"),
            ("1720000000.5e0", "2024-07-03T09:46:40.500Z"),
            (0, "1970-01-01T00:00:00.000Z"),
            (-1.5, "1969-12-31T23:59:58.500Z"),
            ("2024-07-03T09:46:40Z", "2024-07-03T09:46:40.000Z"),
            ("2024-07-03T11:46:40.25+02:00", "2024-07-03T09:46:40.250Z"),
            ("2024-07-03T09:46:40", "2024-07-03T09:46:40.000Z"),
            ("2024-07-03", "2024-07-03T00:00:00.000Z"),
        ],
    )
    def test_timestamp_formats(self, api: Api, timestamp: Any, expected: str) -> None:
        assert create_event(api, timestamp=timestamp)["timestamp"] == expected

    def test_timestamp_kept_to_the_microsecond(self, api: Api) -> None:
        create_event(api, timestamp="1720000000.123456789")
        with api.client.app.state.sessionmaker() as session:  # type: ignore[attr-defined]
            stored = session.scalars(select(Event.timestamp)).one()
        assert stored == datetime(2024, 7, 3, 9, 46, 40, 123456, tzinfo=UTC)

    @pytest.mark.parametrize(
        ("timestamp", "code"),
        [
            ("abc", "invalid_format"),
            ("", "invalid_format"),
            ("NaN", "invalid_format"),
            ("Infinity", "invalid_format"),
            ("2024-13-45T00:00:00Z", "invalid_format"),
            (True, "invalid_format"),
            ({"seconds": 1}, "invalid_format"),
            ([T0], "invalid_format"),
            (10**20, "value_is_out_of_range"),
            ("-1e15", "value_is_out_of_range"),
        ],
    )
    def test_invalid_timestamp(self, api: Api, timestamp: Any, code: str) -> None:
        response = post_event(api, timestamp=timestamp)
        assert response.status_code == 422
        assert response.json() == unprocessable({"timestamp": [code]})
        assert stored_count(api.client.app) == 0  # type: ignore[arg-type]

    def test_missing_mandatory_fields(self, api: Api) -> None:
        response = api.post("/events", json={"event": {"timestamp": T0, "properties": {"a": 1}}})
        assert response.status_code == 422
        assert response.json() == unprocessable(
            {
                "transaction_id": ["value_is_mandatory"],
                "external_subscription_id": ["value_is_mandatory"],
                "code": ["value_is_mandatory"],
            }
        )

    def test_null_and_blank_are_missing(self, api: Api) -> None:
        response = post_event(api, transaction_id=None, code="  ", external_subscription_id="")
        assert response.json() == unprocessable(
            {
                "transaction_id": ["value_is_mandatory"],
                "external_subscription_id": ["value_is_mandatory"],
                "code": ["value_is_mandatory"],
            }
        )

    def test_integer_identifiers_are_text(self, api: Api) -> None:
        event = create_event(api, transaction_id=123, external_subscription_id=7)
        assert (event["transaction_id"], event["external_subscription_id"]) == ("123", "7")

    def test_identifier_types_and_lengths(self, api: Api) -> None:
        response = post_event(api, transaction_id={"id": 1}, code=["a"], external_subscription_id="x" * 256)
        assert response.json() == unprocessable(
            {
                "transaction_id": ["value_is_invalid"],
                "external_subscription_id": ["value_is_too_long"],
                "code": ["value_is_invalid"],
            }
        )
        assert create_event(api, transaction_id="x" * 255)["transaction_id"] == "x" * 255

    @pytest.mark.parametrize("properties", [[1, 2], "gb=1", 5, True])
    def test_properties_must_be_an_object(self, api: Api, properties: Any) -> None:
        response = post_event(api, properties=properties)
        assert response.json() == unprocessable({"properties": ["value_is_invalid"]})

    def test_nested_and_unicode_properties_are_kept(self, api: Api) -> None:
        properties = {"tags": ["a", "b"], "meta": {"k": 1}, "city": "Zürich ☃", "flag": True, "none": None}
        assert create_event(api, properties=properties)["properties"] == properties
        event = api.get("/events/tx_1").json()["event"]
        assert event["properties"] == properties

    def test_characters_the_database_refuses(self, api: Api) -> None:
        response = post_event(api, properties={"a": "x\u0000y"})
        assert response.json() == unprocessable({"properties": ["value_is_invalid"]})
        response = post_event(api, transaction_id="tx\u0000")
        assert response.json() == unprocessable({"transaction_id": ["value_is_invalid"]})
        body = b'{"event": {"transaction_id": "tx_\\ud800", "external_subscription_id": "s", "code": "c"}}'
        response = api.client.post(
            "/api/v1/events", content=body, headers={**api.headers, "Content-Type": "application/json"}
        )
        assert response.json() == unprocessable({"transaction_id": ["value_is_invalid"]})

    @pytest.mark.parametrize(
        ("amount", "expected"),
        [
            ("12.345", "12.345"),
            (100, "100.0"),
            ("0", "0.0"),
            ("-3.50", "-3.5"),
            (2.25, "2.25"),
            ("1e3", "1000.0"),
        ],
    )
    def test_precise_total_amount_cents(self, api: Api, amount: Any, expected: str) -> None:
        assert create_event(api, precise_total_amount_cents=amount)["precise_total_amount_cents"] == expected
        assert api.get("/events/tx_1").json()["event"]["precise_total_amount_cents"] == expected

    @pytest.mark.parametrize(
        ("amount", "code"),
        [
            ("abc", "invalid_format"),
            ("NaN", "invalid_format"),
            (True, "value_is_invalid"),
            ({"v": 1}, "value_is_invalid"),
            ("1e30", "value_is_out_of_range"),
        ],
    )
    def test_invalid_precise_total_amount_cents(self, api: Api, amount: Any, code: str) -> None:
        response = post_event(api, precise_total_amount_cents=amount)
        assert response.json() == unprocessable({"precise_total_amount_cents": [code]})

    def test_missing_or_empty_root_key(self, api: Api) -> None:
        for body in ({"transaction_id": "tx"}, {"event": {}}, {"event": "tx"}, [1]):
            response = api.post("/events", json=body)
            assert response.status_code == 400
            assert response.json() == {
                "status": 400,
                "error": "BadRequest: param is missing or the value is empty or invalid: event",
            }

    @pytest.mark.parametrize("body", [b'{"event": {', b'{"event": {"timestamp": NaN}}', b"", b"\xff\xfe"])
    def test_malformed_json(self, api: Api, body: bytes) -> None:
        response = api.client.post(
            "/api/v1/events", content=body, headers={**api.headers, "Content-Type": "application/json"}
        )
        assert response.status_code == 400
        assert response.json()["status"] == 400

    def test_authentication_comes_first(self, api: Api) -> None:
        for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic abc"}):
            for path in ("/api/v1/events", "/api/v1/events/batch"):
                response = api.client.post(path, content=b"{not json", headers=headers)
                assert response.status_code == 401
                assert response.json() == {"status": 401, "error": "Unauthorized"}

    def test_oversized_body(self, api: Api) -> None:
        limit = api.client.app.state.settings.max_body_bytes  # type: ignore[attr-defined]
        response = api.client.post(
            "/api/v1/events/batch",
            content=b" " * (limit + 1),
            headers={**api.headers, "Content-Type": "application/json"},
        )
        assert response.status_code == 413
        assert response.json() == {"status": 413, "error": "Payload Too Large", "code": "payload_too_large"}


class TestDeduplication:
    def test_repeat_is_refused_and_changes_nothing(self, api: Api) -> None:
        first = create_event(api, properties={"v": 1})
        response = post_event(api, properties={"v": 2}, timestamp=T0 + 60)
        assert response.status_code == 422
        assert response.json() == unprocessable({"transaction_id": ["value_already_exist"]})
        stored = api.get("/events/tx_1").json()["event"]
        assert (stored["lago_id"], stored["properties"], stored["timestamp"]) == (
            first["lago_id"],
            {"v": 1},
            first["timestamp"],
        )
        assert stored_count(api.client.app) == 1  # type: ignore[arg-type]

    def test_same_transaction_id_on_another_subscription_is_another_event(self, api: Api) -> None:
        create_event(api)
        create_event(api, external_subscription_id="sub_2")
        assert stored_count(api.client.app) == 2  # type: ignore[arg-type]

    def test_same_transaction_id_in_another_organization(self, api: Api, other_api: Api) -> None:
        create_event(api)
        create_event(other_api)
        assert stored_count(api.client.app, api.organization.id) == 1  # type: ignore[arg-type]
        assert stored_count(api.client.app, other_api.organization.id) == 1  # type: ignore[arg-type]


class TestBatch:
    def test_creates_all(self, api: Api) -> None:
        events = batch_of(3, properties={"gb": "1"})
        events[1]["timestamp"] = None
        response = post_batch(api, events)
        assert response.status_code == 200, response.text
        created = response.json()["events"]
        assert [e["transaction_id"] for e in created] == ["tx_0", "tx_1", "tx_2"]
        assert all(set(e) == EVENT_KEYS for e in created)
        assert len({e["lago_id"] for e in created}) == 3
        assert stored_count(api.client.app) == 3  # type: ignore[arg-type]

    def test_lago_client_payload_and_response_models(self, api: Api) -> None:
        from lago_python_client.models.event import BatchEvent, EventResponse
        from lago_python_client.models.event import Event as LagoEvent

        events = [
            LagoEvent(transaction_id=f"lago_{i}", external_subscription_id="sub_1", code="api_calls")
            for i in range(3)
        ]
        payload = BatchEvent(events=events).dict()
        assert payload["events"][0]["timestamp"] is None  # the client sends explicit nulls
        response = api.post("/events/batch", json=payload)
        assert response.status_code == 200, response.text
        for event in response.json()["events"]:
            EventResponse.parse_obj(event)
        EventResponse.parse_obj(api.get("/events/lago_0").json()["event"])

    @pytest.mark.parametrize("body", [{"events": []}, {"events": None}, {}, {"event": EVENT}])
    def test_no_events(self, api: Api, body: dict[str, Any]) -> None:
        response = api.post("/events/batch", json=body)
        assert response.status_code == 422
        assert response.json() == unprocessable({"events": ["no_events"]})

    def test_events_not_a_list(self, api: Api) -> None:
        response = api.post("/events/batch", json={"events": EVENT})
        assert response.json() == unprocessable({"events": ["value_is_invalid"]})

    def test_too_many_events(self, api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(api.client.app.state.settings, "max_batch_events", 2)  # type: ignore[attr-defined]
        response = post_batch(api, batch_of(3))
        assert response.status_code == 422
        assert response.json() == unprocessable({"events": ["too_many_events"]})
        assert post_batch(api, batch_of(2)).status_code == 200

    def test_default_limit_is_1000(self, api: Api) -> None:
        assert post_batch(api, batch_of(1001)).json() == unprocessable({"events": ["too_many_events"]})
        response = post_batch(api, batch_of(1000))
        assert response.status_code == 200, response.text
        assert stored_count(api.client.app) == 1000  # type: ignore[arg-type]

    def test_validation_errors_by_index_and_nothing_stored(self, api: Api) -> None:
        events: list[Any] = batch_of(5)
        events[0]["transaction_id"] = None
        events[2]["timestamp"] = "yesterday"
        events[2]["properties"] = "x"
        events[4] = "not an event"
        response = post_batch(api, events)
        assert response.status_code == 422
        assert response.json() == unprocessable(
            {
                "0": {"transaction_id": ["value_is_mandatory"]},
                "2": {"timestamp": ["invalid_format"], "properties": ["value_is_invalid"]},
                "4": {"event": ["value_is_invalid"]},
            }
        )
        assert stored_count(api.client.app) == 0  # type: ignore[arg-type]

    def test_duplicates_of_stored_events_fail_the_whole_batch(self, api: Api) -> None:
        create_event(api, transaction_id="tx_1")
        create_event(api, transaction_id="tx_3")
        response = post_batch(api, batch_of(5))
        assert response.status_code == 422
        assert response.json() == unprocessable(
            {
                "1": {"transaction_id": ["value_already_exist"]},
                "3": {"transaction_id": ["value_already_exist"]},
            }
        )
        assert stored_count(api.client.app) == 2  # type: ignore[arg-type]

    def test_duplicates_within_the_batch(self, api: Api) -> None:
        events = batch_of(3)
        events.append({**events[0], "properties": {"other": True}})
        events.append({**events[1], "external_subscription_id": "sub_2"})  # not a duplicate
        response = post_batch(api, events)
        assert response.status_code == 422
        assert response.json() == unprocessable({"3": {"transaction_id": ["value_already_exist"]}})
        assert stored_count(api.client.app) == 0  # type: ignore[arg-type]
        assert post_batch(api, events[:3] + events[4:]).status_code == 200


def _fire(app: FastAPI, key: str, path: str, bodies: list[Any], statuses: list[int]) -> None:
    """Send ``bodies`` at once from one thread per body, each with its own test client."""
    barrier = threading.Barrier(len(bodies))
    lock = threading.Lock()
    errors: list[BaseException] = []

    def send(body: Any) -> None:
        try:
            with TestClient(app) as client:
                barrier.wait(timeout=30)
                response = client.post(
                    f"/api/v1{path}", json=body, headers={"Authorization": f"Bearer {key}"}
                )
            with lock:
                statuses.append(response.status_code)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=send, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors


class TestConcurrentDuplicates:
    THREADS = 8

    def test_same_event_from_several_clients_is_stored_once(self, app: FastAPI, api: Api) -> None:
        statuses: list[int] = []
        _fire(app, api.key, "/events", [{"event": EVENT}] * self.THREADS, statuses)
        assert sorted(statuses) == [200] + [422] * (self.THREADS - 1)
        assert stored_count(app) == 1

    def test_same_batch_from_several_clients_is_stored_once(self, app: FastAPI, api: Api) -> None:
        statuses: list[int] = []
        _fire(app, api.key, "/events/batch", [{"events": batch_of(50)}] * self.THREADS, statuses)
        assert sorted(statuses) == [200] + [422] * (self.THREADS - 1)
        assert stored_count(app) == 50

    def test_overlapping_batches_store_each_event_at_most_once(self, app: FastAPI, api: Api) -> None:
        events = batch_of(40)
        bodies = [{"events": events[i * 5 : i * 5 + 10]} for i in range(self.THREADS - 1)]
        statuses: list[int] = []
        _fire(app, api.key, "/events/batch", bodies, statuses)
        assert 200 in statuses
        with app.state.sessionmaker() as session:
            ids = list(session.scalars(select(Event.transaction_id)))
        assert len(ids) == len(set(ids)) == 10 * statuses.count(200)


class TestExpressions:
    def test_computed_property_at_ingestion(self, api: Api) -> None:
        create_metric(
            api,
            "compute",
            aggregation_type="sum_agg",
            field_name="total",
            expression="round(event.properties.units * event.properties.price, 1)",
        )
        event = create_event(api, code="compute", properties={"units": "3", "price": 1.25})
        assert event["properties"] == {"units": "3", "price": 1.25, "total": "3.8"}
        assert api.get("/events/tx_1").json()["event"]["properties"]["total"] == "3.8"

    def test_timestamp_and_strings(self, api: Api) -> None:
        create_metric(
            api, "stamp", aggregation_type="unique_count_agg", field_name="t", expression="event.timestamp"
        )
        create_metric(
            api,
            "label",
            aggregation_type="unique_count_agg",
            field_name="l",
            expression="concat(event.code, '-', event.properties.region)",
        )
        response = post_batch(
            api,
            [
                {**EVENT, "transaction_id": "a", "code": "stamp", "timestamp": "1720000000.9"},
                {**EVENT, "transaction_id": "b", "code": "label", "properties": {"region": "eu"}},
                {**EVENT, "transaction_id": "c", "code": "other", "properties": {"region": "eu"}},
            ],
        )
        assert response.status_code == 200, response.text
        properties = [e["properties"] for e in response.json()["events"]]
        assert properties == [{"t": "1720000000.0"}, {"region": "eu", "l": "label-eu"}, {"region": "eu"}]

    def test_failed_evaluation_stores_the_event_without_the_property(self, api: Api) -> None:
        create_metric(
            api,
            "compute",
            aggregation_type="sum_agg",
            field_name="total",
            expression="event.properties.a / 2",
        )
        create_subscription(api)
        for transaction_id, properties in (("missing", {}), ("text", {"a": "abc"})):
            event = create_event(api, transaction_id=transaction_id, code="compute", properties=properties)
            assert event["properties"] == properties
            found = api.get(f"/events/{transaction_id}").json()["event"]
            assert found["not_aggregated_reason"] == "missing_aggregation_property"

    def test_metric_without_expression_leaves_properties_alone(self, api: Api) -> None:
        create_metric(api, "plain", aggregation_type="sum_agg", field_name="total")
        assert create_event(api, code="plain", properties={"total": "2"})["properties"] == {"total": "2"}


class TestEvaluateExpression:
    def evaluate(self, api: Api, body: Any = None) -> Any:
        return api.post("/billable_metrics/evaluate_expression", json=body)

    def test_evaluates(self, api: Api) -> None:
        body = {
            "expression": "round(event.properties.value)",
            "event": {"code": "bm_code", "timestamp": T0, "properties": {"value": "2.4"}},
        }
        response = self.evaluate(api, body)
        assert response.status_code == 200, response.text
        assert response.json() == {"expression_result": {"value": "2.0"}}

    def test_values(self, api: Api) -> None:
        cases = {
            "round(event.properties.value * event.properties.units)": "21.0",
            "concat(event.code, '/', event.properties.units)": "test_code/2",
            "event.timestamp": str(T0) + ".0",
        }
        event = {"code": "test_code", "timestamp": T0, "properties": {"value": 10.4, "units": 2}}
        for expression, value in cases.items():
            response = self.evaluate(api, {"expression": expression, "event": event})
            assert response.json() == {"expression_result": {"value": value}}, expression

    def test_timestamp_defaults_to_now(self, api: Api) -> None:
        before = int(datetime.now(UTC).timestamp())
        response = self.evaluate(api, {"expression": "event.timestamp", "event": {"code": "c"}})
        assert before <= float(response.json()["expression_result"]["value"]) <= before + 5

    @pytest.mark.parametrize("body", [None, {}, {"expression": ""}, {"expression": None, "event": {}}])
    def test_missing_expression(self, api: Api, body: Any) -> None:
        response = self.evaluate(api, body)
        assert response.status_code == 422
        assert response.json() == unprocessable({"expression": ["value_is_mandatory"]})

    def test_invalid_expression(self, api: Api) -> None:
        response = self.evaluate(api, {"expression": "invalid_expression", "event": {}})
        assert response.json() == unprocessable({"expression": ["invalid_expression"]})

    @pytest.mark.parametrize(
        "event",
        [
            None,
            {"code": "c", "properties": {"value": "invalid_value", "units": 2}},
            {"code": "c", "timestamp": "soon", "properties": {"value": 1, "units": 2}},
        ],
    )
    def test_event_it_cannot_be_evaluated_against(self, api: Api, event: Any) -> None:
        body = {"expression": "round(event.properties.value * event.properties.units)", "event": event}
        response = self.evaluate(api, body)
        assert response.json() == unprocessable({"event": ["invalid_event"]})

    def test_requires_authentication(self, api: Api) -> None:
        response = api.client.post("/api/v1/billable_metrics/evaluate_expression", json={"expression": "1"})
        assert response.status_code == 401

    def test_billable_metric_routes_still_work(self, api: Api) -> None:
        create_metric(api, "evaluate_expression")
        assert api.get("/billable_metrics/evaluate_expression").json()["billable_metric"]["code"] == (
            "evaluate_expression"
        )


class TestFind:
    def test_find_with_diagnostics(self, api: Api) -> None:
        created = create_event(api)
        response = api.get("/events/tx_1")
        assert response.status_code == 200
        found = response.json()["event"]
        assert set(found) == EVENT_KEYS | DIAGNOSTIC_KEYS
        assert {k: found[k] for k in EVENT_KEYS} == created

    def test_not_found(self, api: Api) -> None:
        response = api.get("/events/nope")
        assert response.status_code == 404
        assert response.json() == {"status": 404, "error": "Not Found", "code": "event_not_found"}

    def test_transaction_ids_with_special_characters(self, api: Api) -> None:
        for transaction_id in ("a b", "ü.ß", "x:y@z", "a+b%"):
            create_event(api, transaction_id=transaction_id)
            from urllib.parse import quote

            found = api.get(f"/events/{quote(transaction_id, safe='')}").json()["event"]
            assert found["transaction_id"] == transaction_id

    def test_same_transaction_id_on_several_subscriptions(self, api: Api) -> None:
        create_event(api, external_subscription_id="sub_1", properties={"n": 1})
        create_event(api, external_subscription_id="sub_2", properties={"n": 2})
        assert api.get("/events/tx_1").json()["event"]["external_subscription_id"] == "sub_2"
        chosen = api.get("/events/tx_1", params={"external_subscription_id": "sub_1"}).json()["event"]
        assert chosen["properties"] == {"n": 1}
        assert api.get("/events/tx_1", params={"external_subscription_id": "sub_9"}).status_code == 404


class TestList:
    def test_newest_first_and_paginated(self, api: Api) -> None:
        post_batch(api, [{**EVENT, "transaction_id": f"tx_{i}", "timestamp": T0 + i} for i in range(5)])
        response = api.get("/events", params={"per_page": 2})
        assert response.status_code == 200
        body = response.json()
        assert [e["transaction_id"] for e in body["events"]] == ["tx_4", "tx_3"]
        assert all(set(e) == EVENT_KEYS | DIAGNOSTIC_KEYS for e in body["events"])
        assert body["meta"] == {
            "current_page": 1,
            "next_page": 2,
            "prev_page": None,
            "total_pages": 3,
            "total_count": 5,
        }
        last = api.get("/events", params={"per_page": 2, "page": 3}).json()
        assert [e["transaction_id"] for e in last["events"]] == ["tx_0"]

    def test_empty(self, api: Api) -> None:
        assert api.get("/events").json() == {
            "events": [],
            "meta": {
                "current_page": 0,
                "next_page": None,
                "prev_page": None,
                "total_pages": 0,
                "total_count": 0,
            },
        }

    def test_filters(self, api: Api) -> None:
        post_batch(
            api,
            [
                {**EVENT, "transaction_id": "a", "code": "x", "timestamp": T0},
                {**EVENT, "transaction_id": "b", "code": "y", "timestamp": T0 + 3600},
                {
                    **EVENT,
                    "transaction_id": "c",
                    "code": "x",
                    "external_subscription_id": "sub_2",
                    "timestamp": T0,
                },
            ],
        )

        def ids(**params: Any) -> list[str]:
            response = api.get("/events", params=params)
            assert response.status_code == 200, response.text
            return sorted(e["transaction_id"] for e in response.json()["events"])

        assert ids(code="x") == ["a", "c"]
        assert ids(external_subscription_id="sub_1") == ["a", "b"]
        assert ids(timestamp_from="2024-07-03T10:00:00Z") == ["b"]
        assert ids(timestamp_to="2024-07-03T10:00:00Z") == ["a", "c"]
        assert ids(timestamp_from="2024-07-03T09:46:40Z", timestamp_to="2024-07-03T09:46:40Z") == ["a", "c"]
        assert ids(code="x", external_subscription_id="sub_2") == ["c"]

    def test_timestamp_from_started_at(self, api: Api) -> None:
        create_subscription(api, started_at=datetime(2024, 7, 3, 10, tzinfo=UTC))
        post_batch(
            api, [{**EVENT, "transaction_id": f"tx_{i}", "timestamp": T0 + 3600 * i} for i in range(2)]
        )
        response = api.get(
            "/events", params={"external_subscription_id": "sub_1", "timestamp_from_started_at": True}
        )
        assert [e["transaction_id"] for e in response.json()["events"]] == ["tx_1"]
        response = api.get("/events", params={"timestamp_from_started_at": True})
        assert response.json() == unprocessable({"external_subscription_id": ["value_is_mandatory"]})

    def test_invalid_dates(self, api: Api) -> None:
        response = api.get("/events", params={"timestamp_from": "yesterday"})
        assert response.status_code == 422
        assert response.json() == unprocessable({"timestamp_from": ["invalid_date"]})
        response = api.get("/events", params={"timestamp_to": "2024-02-30"})
        assert response.json() == unprocessable({"timestamp_to": ["invalid_date"]})


class TestDiagnostics:
    def diagnostics(self, api: Api, transaction_id: str = "tx_1") -> dict[str, Any]:
        event = api.get(f"/events/{transaction_id}").json()["event"]
        return {k: event[k] for k in (*DIAGNOSTIC_KEYS, "lago_subscription_id", "lago_customer_id")}

    def test_unknown_metric_then_metric_created_later(self, api: Api) -> None:
        create_event(api)
        assert self.diagnostics(api) == {
            "billable_metric_code_matched": False,
            "subscription_matched": False,
            "not_aggregated_reason": "unknown_billable_metric",
            "lago_subscription_id": None,
            "lago_customer_id": None,
        }
        create_metric(api)
        assert self.diagnostics(api)["not_aggregated_reason"] == "unknown_subscription"
        subscription = create_subscription(api)
        assert self.diagnostics(api) == {
            "billable_metric_code_matched": True,
            "subscription_matched": True,
            "not_aggregated_reason": None,
            "lago_subscription_id": str(subscription.id),
            "lago_customer_id": str(subscription.customer_id),
        }

    def test_deleted_metric_no_longer_matches(self, api: Api) -> None:
        create_metric(api)
        create_event(api)
        assert api.delete("/billable_metrics/api_calls").status_code == 200
        assert self.diagnostics(api)["billable_metric_code_matched"] is False

    def test_outside_subscription_period(self, api: Api) -> None:
        create_metric(api)
        create_subscription(
            api,
            started_at=datetime(2024, 7, 3, 10, tzinfo=UTC),
            terminated_at=datetime(2024, 7, 3, 12, tzinfo=UTC),
            status="terminated",
        )
        create_event(api, transaction_id="before", timestamp=T0)
        create_event(api, transaction_id="during", timestamp=T0 + 3600)
        create_event(api, transaction_id="after", timestamp=T0 + 3 * 3600)
        assert self.diagnostics(api, "before")["not_aggregated_reason"] == "outside_subscription_period"
        assert self.diagnostics(api, "during")["not_aggregated_reason"] is None
        assert self.diagnostics(api, "after")["not_aggregated_reason"] == "outside_subscription_period"
        # Still named: the subscription of that external id.
        assert self.diagnostics(api, "before")["lago_subscription_id"] is not None

    def test_pending_subscription(self, api: Api) -> None:
        create_metric(api)
        create_subscription(api, started_at=None, status="pending")
        create_event(api)
        assert self.diagnostics(api)["subscription_matched"] is True
        assert self.diagnostics(api)["not_aggregated_reason"] == "outside_subscription_period"

    def test_plan_change_picks_the_subscription_of_the_event(self, api: Api) -> None:
        create_metric(api)
        old = create_subscription(
            api, terminated_at=datetime(2024, 7, 3, 10, tzinfo=UTC), status="terminated"
        )
        new = create_subscription(api, started_at=datetime(2024, 7, 3, 10, tzinfo=UTC))
        create_event(api, transaction_id="old", timestamp=T0)
        create_event(api, transaction_id="new", timestamp=T0 + 3600)
        assert self.diagnostics(api, "old")["lago_subscription_id"] == str(old.id)
        assert self.diagnostics(api, "new")["lago_subscription_id"] == str(new.id)

    @pytest.mark.parametrize(
        ("aggregation", "properties", "reason"),
        [
            ("sum_agg", {}, "missing_aggregation_property"),
            ("sum_agg", {"gb": None}, "missing_aggregation_property"),
            ("sum_agg", {"gb": "1e3"}, "non_numeric_aggregation_property"),
            ("max_agg", {"gb": "+5"}, "non_numeric_aggregation_property"),
            ("latest_agg", {"gb": ".5"}, "non_numeric_aggregation_property"),
            ("weighted_sum_agg", {"gb": "abc"}, "non_numeric_aggregation_property"),
            ("sum_agg", {"gb": True}, "non_numeric_aggregation_property"),
            ("sum_agg", {"gb": "-1.5"}, None),
            ("sum_agg", {"gb": "12"}, None),
            ("sum_agg", {"gb": 2.5}, None),
            ("sum_agg", {"gb": -3}, None),
            ("unique_count_agg", {"gb": "abc"}, None),
            ("unique_count_agg", {}, "missing_aggregation_property"),
        ],
    )
    def test_aggregation_property(
        self, api: Api, aggregation: str, properties: dict[str, Any], reason: str | None
    ) -> None:
        fields = {"aggregation_type": aggregation, "field_name": "gb"}
        if aggregation == "weighted_sum_agg":
            fields["weighted_interval"] = "seconds"
        create_metric(api, **fields)
        create_subscription(api)
        create_event(api, properties=properties)
        assert self.diagnostics(api)["not_aggregated_reason"] == reason

    def test_count_metric_needs_no_property(self, api: Api) -> None:
        create_metric(api)
        create_subscription(api)
        create_event(api, properties={})
        assert self.diagnostics(api)["not_aggregated_reason"] is None

    def test_listing_diagnoses_every_event(self, api: Api) -> None:
        create_metric(api, "storage", aggregation_type="sum_agg", field_name="gb")
        create_subscription(api)
        post_batch(
            api,
            [
                {
                    **EVENT,
                    "transaction_id": "ok",
                    "code": "storage",
                    "properties": {"gb": "1"},
                    "timestamp": T0 + 4,
                },
                {
                    **EVENT,
                    "transaction_id": "text",
                    "code": "storage",
                    "properties": {"gb": "x"},
                    "timestamp": T0 + 3,
                },
                {**EVENT, "transaction_id": "code", "code": "nope", "timestamp": T0 + 2},
                {
                    **EVENT,
                    "transaction_id": "sub",
                    "code": "storage",
                    "external_subscription_id": "s9",
                    "timestamp": T0,
                },
            ],
        )
        events = api.get("/events").json()["events"]
        assert [(e["transaction_id"], e["not_aggregated_reason"]) for e in events] == [
            ("ok", None),
            ("text", "non_numeric_aggregation_property"),
            ("code", "unknown_billable_metric"),
            ("sub", "unknown_subscription"),
        ]


class TestTenancy:
    def test_other_organization_sees_nothing(self, api: Api, other_api: Api) -> None:
        create_event(api)
        assert other_api.get("/events/tx_1").status_code == 404
        assert other_api.get("/events").json()["events"] == []
        assert api.get("/events").json()["meta"]["total_count"] == 1

    def test_diagnostics_use_own_catalog(self, api: Api, other_api: Api) -> None:
        create_metric(other_api)
        create_subscription(other_api)
        create_event(api)
        event = api.get("/events/tx_1").json()["event"]
        assert (event["billable_metric_code_matched"], event["subscription_matched"]) == (False, False)

    def test_expressions_use_own_catalog(self, api: Api, other_api: Api) -> None:
        create_metric(other_api, aggregation_type="sum_agg", field_name="total", expression="1 + 1")
        assert create_event(api, properties={})["properties"] == {}
        assert create_event(other_api, properties={})["properties"] == {"total": "2.0"}
