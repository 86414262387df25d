"""Providers' webhooks: verified by the provider, each event applied once, a bad signature refused."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI
from sqlalchemy import func, select

from billow.models.integrations import IntegrationInboundEvent
from billow.models.payment_methods import PaymentMethod
from billow.providers.interface import PAYMENT_EVENT_HOOK
from billow.worker.dispatch import HOOKS
from tests.conftest import Api
from tests.integrations.conftest import add_integration
from tests.integrations.providers import FakeProvider, sign
from tests.integrations.test_jobs import paying_customer


def post_event(api: Api, event: dict[str, Any], secret: str = "whsec_1", code: str | None = None) -> Any:
    body = json.dumps(event).encode()
    path = f"/webhooks/testpay/{api.organization.id}"
    return api.client.post(
        path,
        content=body,
        params={"code": code} if code else None,
        headers={"Content-Type": "application/json", "X-Testpay-Signature": sign(secret, body)},
    )


def method_event(customer_id: str, event_id: str = "evt_1") -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "customer.method_attached",
        "data": {"id": "pm_9", "type": "sepa_debit", "customer": customer_id},
    }


class TestInbound:
    def test_applied_once(self, app: FastAPI, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        paying_customer(api)
        provider_id = api.get("/customers/cus_1").json()["customer"]["billing_configuration"][
            "provider_customer_id"
        ]
        heard: list[Any] = []

        def listener(session: Any, **details: Any) -> None:
            heard.append(details["event"].event_id)

        HOOKS.setdefault(PAYMENT_EVENT_HOOK, []).append(listener)
        try:
            first = post_event(api, method_event(provider_id))
            replay = post_event(api, method_event(provider_id))
        finally:
            HOOKS[PAYMENT_EVENT_HOOK].remove(listener)
        assert (first.status_code, first.json()) == (200, {"applied": 1})
        assert (replay.status_code, replay.json()) == (200, {"applied": 0})
        assert heard == ["evt_1"]
        # The method is stored (the customer's default: its first), once; the method *types* the
        # customer may use (``provider_payment_methods``) are not touched.
        shown = api.get("/customers/cus_1").json()["customer"]["billing_configuration"]
        assert shown["provider_payment_methods"] is None
        with app.state.sessionmaker() as session:
            assert session.scalar(select(func.count()).select_from(IntegrationInboundEvent)) == 1
            [stored] = session.scalars(select(PaymentMethod)).all()
            assert (stored.provider_method_id, stored.provider_method_type, stored.is_default) == (
                "pm_9",
                "sepa_debit",
                True,
            )
            assert stored.organization_id == api.organization.id

    def test_bad_signature_is_refused(self, app: FastAPI, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        response = post_event(api, method_event("cus_x"), secret="wrong")
        assert response.status_code == 400
        assert response.json() == {"status": 400, "error": "BadRequest: webhook signature is invalid"}
        with app.state.sessionmaker() as session:
            assert session.scalar(select(func.count()).select_from(IntegrationInboundEvent)) == 0

    def test_the_code_picks_the_integration(self, api: Api, other_api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        add_integration(api, "testpay", "pay_eu", fake)
        assert post_event(api, method_event("c", "e1")).status_code == 404  # two of that type: say which
        assert post_event(api, method_event("c", "e1"), code="pay_eu").json() == {"applied": 1}
        assert post_event(api, method_event("c", "e1"), code="nope").json()["code"] == "integration_not_found"
        # Another organization's id in the path does not reach these integrations.
        path = f"/webhooks/testpay/{other_api.organization.id}"
        assert api.client.post(path, params={"code": "pay"}, content=b"{}").status_code == 404
        assert api.client.post("/webhooks/testpay/not-a-uuid", content=b"{}").status_code == 404

    def test_ignored_events_are_recorded_not_applied(self, api: Api, fake: FakeProvider) -> None:
        add_integration(api, "testpay", "pay", fake)
        response = post_event(api, {"id": "evt_x", "type": "balance.available"})
        assert response.json() == {"applied": 0}


def test_an_unreadable_body_is_refused(api: Api, fake: FakeProvider) -> None:
    add_integration(api, "testpay", "pay", fake)
    body = b"not json"
    response = api.client.post(
        f"/webhooks/testpay/{api.organization.id}",
        content=body,
        headers={"X-Testpay-Signature": sign("whsec_1", body)},
    )
    assert response.json() == {"status": 400, "error": "BadRequest: webhook body is invalid"}
