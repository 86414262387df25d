"""Webhook pages: endpoints (manage), deliveries list and detail, replay to a local receiver, roles and
tenancy."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from fastapi import FastAPI
from sqlalchemy import select

from billow.models.webhooks import Webhook
from tests.conftest import Api
from tests.dashboard.test_catalog_pages import error
from tests.fixtures.pages import Pages
from tests.fixtures.receiver import Receiver

PagesAs = Callable[..., Pages]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver().start()
    yield found
    found.stop()


def endpoint_id(api: Api) -> str:
    [endpoint] = api.get("/webhook_endpoints").json()["webhook_endpoints"]
    return str(endpoint["lago_id"])


def the_webhook(app: FastAPI) -> Webhook:
    with app.state.sessionmaker() as session:
        [webhook] = session.scalars(select(Webhook))
        return webhook


class TestEndpoints:
    def test_create_edit_delete(self, api: Api, pages_as: PagesAs) -> None:
        pages = pages_as("admin")
        created = pages.post(
            "/app/webhooks", {"webhook_url": "https://example.com/hooks", "signature_algo": "hmac"}
        )
        assert created.status_code == 303, created.text
        lago_id = endpoint_id(api)
        assert created.headers["location"].startswith(f"/app/webhooks/{lago_id}?")
        shown = pages.get(f"/app/webhooks/{lago_id}").text
        assert f'<a href="/app/webhooks/{lago_id}/deliveries">Deliveries</a>' in shown
        assert '<option value="hmac" selected>' in shown
        saved = pages.post(
            f"/app/webhooks/{lago_id}", {"webhook_url": "https://example.com/v2", "signature_algo": "jwt"}
        )
        assert saved.status_code == 303
        body = api.get(f"/webhook_endpoints/{lago_id}").json()["webhook_endpoint"]
        assert (body["webhook_url"], body["signature_algo"]) == ("https://example.com/v2", "jwt")
        assert '<a href="/app/webhooks/' in pages.get("/app/webhooks").text
        assert pages.post(f"/app/webhooks/{lago_id}/delete").status_code == 303
        assert api.get("/webhook_endpoints").json()["webhook_endpoints"] == []

    def test_event_types_are_chosen_shown_and_cleared(self, api: Api, pages_as: PagesAs) -> None:
        pages = pages_as("admin")
        form = {
            "webhook_url": "https://example.com/hooks",
            "signature_algo": "jwt",
            "event_types": ["invoice.created", "customer.created"],
        }
        assert pages.post("/app/webhooks", form).status_code == 303
        lago_id = endpoint_id(api)
        body = api.get(f"/webhook_endpoints/{lago_id}").json()["webhook_endpoint"]
        assert body["event_types"] == ["invoice.created", "customer.created"]
        shown = pages.get(f"/app/webhooks/{lago_id}").text
        assert '<option value="invoice.created" selected>' in shown
        assert '<option value="customer.created" selected>' in shown
        assert '<option value="invoice.voided">' in shown
        assert "<td>invoice.created, customer.created</td>" in pages.get("/app/webhooks").text
        # None selected: every type again (Lago's ["*"], stored as null)
        cleared = {"webhook_url": "https://example.com/hooks", "signature_algo": "jwt"}
        assert pages.post(f"/app/webhooks/{lago_id}", cleared).status_code == 303
        assert api.get(f"/webhook_endpoints/{lago_id}").json()["webhook_endpoint"]["event_types"] is None
        assert "<td>all</td>" in pages.get("/app/webhooks").text
        forged = pages.post(f"/app/webhooks/{lago_id}", {**cleared, "event_types": ["invoice.nope"]})
        assert forged.status_code == 422
        assert 'id="event_types-error"' in forged.text and "invoice.nope" in forged.text
        assert api.get(f"/webhook_endpoints/{lago_id}").json()["webhook_endpoint"]["event_types"] is None
        viewer = pages_as("viewer")
        assert viewer.post(f"/app/webhooks/{lago_id}", form).status_code == 403

    def test_invalid_url_is_422_and_nothing_written(self, api: Api, pages_as: PagesAs) -> None:
        response = pages_as("admin").post(
            "/app/webhooks", {"webhook_url": "ftp://x", "signature_algo": "rsa"}
        )
        assert response.status_code == 422
        assert error("webhook_url", "url_is_invalid") in response.text
        assert error("signature_algo", "value_is_invalid") in response.text
        assert api.get("/webhook_endpoints").json()["webhook_endpoints"] == []

    def test_manager_and_viewer_cannot_change_them(self, api: Api, pages_as: PagesAs) -> None:
        assert (
            pages_as("admin").post("/app/webhooks", {"webhook_url": "https://example.com/h"}).status_code
            == 303
        )
        lago_id = endpoint_id(api)
        for role in ("viewer", "manager"):  # both have webhooks:view only
            pages = pages_as(role)
            assert pages.get(f"/app/webhooks/{lago_id}").status_code == 200
            assert pages.get(f"/app/webhooks/{lago_id}/deliveries").status_code == 200
            assert pages.get("/app/webhooks/new").status_code == 403
            assert pages.post("/app/webhooks", {"webhook_url": "https://example.com/x"}).status_code == 403
            assert (
                pages.post(f"/app/webhooks/{lago_id}", {"webhook_url": "https://e.com/y"}).status_code == 403
            )
            assert pages.post(f"/app/webhooks/{lago_id}/delete").status_code == 403
            assert pages.post(f"/app/webhooks/{lago_id}/deliveries/{lago_id}/replay").status_code == 403
        assert len(api.get("/webhook_endpoints").json()["webhook_endpoints"]) == 1


class TestDeliveries:
    def test_a_failed_delivery_is_listed_shown_and_replayed(
        self, api: Api, app: FastAPI, pages_as: PagesAs, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("BILLOW_WEBHOOK_MAX_ATTEMPTS", "1")
        body = {"webhook_endpoint": {"webhook_url": receiver.url, "signature_algo": "hmac"}}
        assert api.post("/webhook_endpoints", body).status_code == 200
        lago_id = endpoint_id(api)
        receiver.status = 500
        assert api.post("/customers", {"customer": {"external_id": "cus_1"}}).status_code == 200
        failed = the_webhook(app)
        assert (failed.status, failed.attempts) == ("failed", 1)
        assert receiver.received == []

        pages = pages_as("admin")
        listed = pages.get(f"/app/webhooks/{lago_id}/deliveries").text
        assert f'<a href="/app/webhooks/{lago_id}/deliveries/{failed.id}">customer.created</a>' in listed
        assert '<span class="badge bad">failed</span>' in listed
        assert "<td>HTTP 500</td>" in listed
        detail = pages.get(f"/app/webhooks/{lago_id}/deliveries/{failed.id}").text
        assert "&#34;external_id&#34;: &#34;cus_1&#34;" in detail  # the payload as sent (escaped)
        assert "<td>receiver error</td>" in detail  # the receiver's answer
        assert "Replay now" in detail

        receiver.status = 200
        replayed = pages.post(f"/app/webhooks/{lago_id}/deliveries/{failed.id}/replay")
        assert replayed.status_code == 303
        [received] = receiver.received  # sent again after the commit
        assert received.unique_key == str(failed.id)
        assert received.json["customer"]["external_id"] == "cus_1"
        detail = pages.get(f"/app/webhooks/{lago_id}/deliveries/{failed.id}").text
        assert '<dd id="delivery-status">succeeded</dd>' in detail
        assert "Replay now" not in detail

        again = pages.post(f"/app/webhooks/{lago_id}/deliveries/{failed.id}/replay")
        assert again.status_code == 422
        assert "<code>is_succeeded</code>" in again.text
        assert len(receiver.received) == 1

    def test_another_organization_gets_404(
        self, api: Api, other_api: Api, app: FastAPI, pages_as: PagesAs, receiver: Receiver
    ) -> None:
        body = {"webhook_endpoint": {"webhook_url": receiver.url, "signature_algo": "hmac"}}
        assert api.post("/webhook_endpoints", body).status_code == 200
        lago_id = endpoint_id(api)
        assert api.post("/customers", {"customer": {"external_id": "cus_1"}}).status_code == 200
        webhook = the_webhook(app)
        other = pages_as("admin", other_api.organization)
        assert other.get(f"/app/webhooks/{lago_id}").status_code == 404
        assert other.get(f"/app/webhooks/{lago_id}/deliveries").status_code == 404
        assert other.get(f"/app/webhooks/{lago_id}/deliveries/{webhook.id}").status_code == 404
        assert other.post(f"/app/webhooks/{lago_id}/deliveries/{webhook.id}/replay").status_code == 404
        assert other.post(f"/app/webhooks/{lago_id}/delete").status_code == 404
        assert other.get("/app/webhooks/not-a-uuid").status_code == 404
        assert len(api.get("/webhook_endpoints").json()["webhook_endpoints"]) == 1
