"""``credit_note.created`` on every path that writes a credit note (manual, an invoice voided with a
credit note, a terminated pay-in-advance subscription's unused days): the note as ``GET`` renders it,
once per note; nothing for a refused request or an organization without endpoints."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI

from billow.billing.run import bill_due
from tests.conftest import Api, Clock
from tests.credit_notes import test_credit_notes as termination
from tests.credit_notes.manual_world import billed_invoice, body, items
from tests.fixtures.receiver import Receiver
from tests.webhooks.hooks import hooks, of_type, outbox_counts, the_one

__all__ = ["hooks"]

pytestmark = pytest.mark.usefixtures("bill_backdated_periods")


@pytest.fixture
def invoice(app: FastAPI, api: Api) -> dict[str, Any]:
    return billed_invoice(app, api)


def shown(api: Api, lago_id: str) -> dict[str, Any]:
    response = api.get(f"/credit_notes/{lago_id}")
    assert response.status_code == 200, response.text
    return dict(response.json()["credit_note"])


def note_types(receiver: Receiver) -> list[str]:
    return [t for t in receiver.types() if t.startswith("credit_note")]


class TestManual:
    def test_created(self, api: Api, invoice: dict[str, Any], hooks: Receiver) -> None:
        response = api.post(
            "/credit_notes",
            body(
                invoice,
                reason="other",
                credit_amount_cents=5000,
                offset_amount_cents=4413,
                items=items(invoice, 2500, 5000),
            ),
        )
        assert response.status_code == 200, response.text
        note = response.json()["credit_note"]
        announced = the_one(hooks, api, "credit_note.created", "credit_note")
        assert announced == shown(api, note["lago_id"]) == note
        assert announced["total_amount_cents"] == 9413
        # Voiding it or changing its metadata is no creation.
        assert api.put(f"/credit_notes/{note['lago_id']}/void").status_code == 200
        assert (
            api.post(f"/credit_notes/{note['lago_id']}/metadata", {"metadata": {"a": "b"}}).status_code == 200
        )
        assert note_types(hooks) == ["credit_note.created"]

    def test_refused_requests_announce_nothing(
        self, api: Api, app: FastAPI, invoice: dict[str, Any], hooks: Receiver
    ) -> None:
        too_much = body(invoice, credit_amount_cents=40000, items=items(invoice, 2500, 5000))
        assert api.post("/credit_notes", too_much).status_code == 422
        assert hooks.received == [] and outbox_counts(app) == (0, 0)

    def test_no_endpoint_writes_nothing(self, api: Api, app: FastAPI, invoice: dict[str, Any]) -> None:
        response = api.post(
            "/credit_notes", body(invoice, credit_amount_cents=9413, items=items(invoice, 2500, 5000))
        )
        assert response.status_code == 200, response.text
        assert outbox_counts(app) == (0, 0)


class TestInvoiceVoid:
    def test_each_note_is_announced(self, api: Api, invoice: dict[str, Any], hooks: Receiver) -> None:
        response = api.post(
            f"/invoices/{invoice['lago_id']}/void", {"generate_credit_note": True, "credit_amount": 10000}
        )
        assert response.status_code == 200, response.text
        # The credit (10000) and the rest, voided at once (27650): two notes, two webhooks.
        announced = [b["credit_note"] for b in of_type(hooks, "credit_note.created")]
        assert [(n["total_amount_cents"], n["credit_status"]) for n in announced] == [
            (10000, "available"),
            (27650, "voided"),
        ]
        assert announced == [shown(api, n["lago_id"]) for n in announced]

    def test_a_refused_void_announces_nothing(
        self, api: Api, invoice: dict[str, Any], hooks: Receiver
    ) -> None:
        response = api.post(
            f"/invoices/{invoice['lago_id']}/void", {"generate_credit_note": True, "credit_amount": 37651}
        )
        assert response.status_code == 422
        assert note_types(hooks) == []


class TestTermination:
    def test_the_unused_days_note_is_announced(
        self, api: Api, app: FastAPI, clock: Clock, hooks: Receiver
    ) -> None:
        termination.setup(api)
        bill_due(app.state.sessionmaker, termination.at("2024-01-01T00:00:00Z"))
        clock.set("2024-01-21T12:00:00Z")
        assert api.delete("/subscriptions/sub_1").status_code == 200
        announced = the_one(hooks, api, "credit_note.created", "credit_note")
        # Jan 22-31 unused: 10/31 x 3100 = 1000, + 20 % VAT = 1200.
        assert (announced["reason"], announced["total_amount_cents"]) == ("order_cancellation", 1200)
        assert announced == shown(api, announced["lago_id"])
