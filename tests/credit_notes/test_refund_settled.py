"""``refund_settled``: a payment provider's answer to a credit note's refund moves its ``refund_status``
(the whole path through a provider: ``tests/integrations/test_cycle_*.py``)."""

from __future__ import annotations

import uuid

from billow.credit_notes.refunds import refund_settled
from tests.conftest import Api
from tests.payments.helpers import get_invoice, invoice, paid


def refunded_note(api: Api) -> str:
    bill = invoice(api, 1000)
    paid(api, bill["lago_id"], 1000)
    fee = get_invoice(api, bill["lago_id"])["fees"][0]["lago_id"]
    body = {
        "invoice_id": bill["lago_id"],
        "refund_amount_cents": 400,
        "credit_amount_cents": 0,
        "items": [{"fee_id": fee, "amount_cents": 400}],
    }
    response = api.post("/credit_notes", {"credit_note": body})
    assert response.status_code == 200, response.text
    note = response.json()["credit_note"]
    assert note["refund_status"] == "pending"
    return str(note["lago_id"])


def settle(api: Api, organization_id: uuid.UUID, note_id: str, status: str) -> str:
    sessionmaker = api.client.app.state.sessionmaker  # type: ignore[attr-defined]
    with sessionmaker() as session, session.begin():
        refund_settled(session, organization_id, uuid.UUID(note_id), status)
    return str(api.get(f"/credit_notes/{note_id}").json()["credit_note"]["refund_status"])


def test_pending_then_failed_then_succeeded_which_stays(api: Api) -> None:
    note_id = refunded_note(api)
    assert settle(api, api.organization.id, note_id, "pending") == "pending"
    assert settle(api, api.organization.id, note_id, "failed") == "failed"
    assert settle(api, api.organization.id, note_id, "succeeded") == "succeeded"
    assert settle(api, api.organization.id, note_id, "failed") == "succeeded"


def test_another_organization_s_note_is_left_alone(api: Api, other_api: Api) -> None:
    note_id = refunded_note(api)
    assert settle(api, other_api.organization.id, note_id, "succeeded") == "pending"
