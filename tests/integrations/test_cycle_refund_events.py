"""A credit note's refund settled later by the provider's refund events (Stripe's ``refund.updated`` /
``charge.refund.updated``, GoCardless's ``refunds`` events): ``refund_status`` moves pending → succeeded or
failed, never back from succeeded; a failure announces ``credit_note.refund_failure`` once; a replay
changes nothing; another organization's note is never touched."""

from __future__ import annotations

from typing import Any

from billow.credit_notes.refunds import on_refund_updated
from billow.providers.interface import InboundEvent, InboundEventType, RefundResult
from tests.conftest import Api
from tests.fixtures.receiver import Receiver
from tests.fixtures.standins.gocardless import FakeGoCardless
from tests.fixtures.standins.stripe import FakeStripe
from tests.integrations import test_cycle_gocardless as gc
from tests.integrations import test_cycle_stripe as st
from tests.integrations.payment_cycle import CUSTOMER, invoice, one_off, receiver
from tests.webhooks.test_billing_webhooks import objects

__all__ = ["receiver"]
stripe_api = st.stripe_api
gc_api = gc.gc_api


def refund_note(api: Api, bill: dict[str, Any], cents: int) -> str:
    fee = invoice(api, bill["lago_id"])["fees"][0]["lago_id"]
    body = {
        "invoice_id": bill["lago_id"],
        "reason": "other",
        "refund_amount_cents": cents,
        "credit_amount_cents": 0,
        "items": [{"fee_id": fee, "amount_cents": cents}],
    }
    created = api.post("/credit_notes", {"credit_note": body})
    assert created.status_code == 200, created.text
    return str(created.json()["credit_note"]["lago_id"])


def refund_status(api: Api, note_id: str) -> str | None:
    return api.get(f"/credit_notes/{note_id}").json()["credit_note"]["refund_status"]


def stripe_pending_refund(api: Api, stripe_api: FakeStripe) -> tuple[str, dict[str, Any]]:
    stripe_id = st.setup(api, stripe_api)
    stripe_api.attach_card(stripe_id, default=True)
    stripe_api.refund_status = "pending"
    bill = one_off(api, 5000)
    note_id = refund_note(api, bill, 1200)
    assert refund_status(api, note_id) == "pending"
    [refund] = stripe_api.refunds.values()
    return note_id, refund


class TestStripe:
    def test_a_failed_refund_is_announced_once(
        self, api: Api, stripe_api: FakeStripe, receiver: Receiver
    ) -> None:
        note_id, refund = stripe_pending_refund(api, stripe_api)
        still = stripe_api.event("refund.updated", {**refund, "status": "requires_action"})
        assert st.deliver(api, stripe_api, still).json() == {"applied": 1}
        assert refund_status(api, note_id) == "pending"
        refund["status"] = "failed"
        failed = stripe_api.event("charge.refund.updated", refund)
        assert st.deliver(api, stripe_api, failed).json() == {"applied": 1}
        assert refund_status(api, note_id) == "failed"
        [error] = objects(receiver, "credit_note.refund_failure")
        customer = api.get(f"/customers/{CUSTOMER}").json()["customer"]
        assert error == {
            "lago_credit_note_id": note_id,
            "lago_customer_id": customer["lago_id"],
            "external_customer_id": CUSTOMER,
            "provider_customer_id": customer["billing_configuration"]["provider_customer_id"],
            "payment_provider": "stripe",
            "payment_provider_code": st.CODE,
            "provider_error": {
                "message": f"refund {refund['id']} failed",
                "error_code": "charge.refund.updated",
                "provider_refund_id": refund["id"],
            },
        }
        body = receiver.received[-1].json
        assert body["object_type"] == "credit_note_payment_provider_refund_error"
        # Replayed: recorded once, nothing applied; the same failure under a new event id: no new webhook.
        assert st.deliver(api, stripe_api, failed).json() == {"applied": 0}
        again = stripe_api.event("refund.failed", refund)
        assert st.deliver(api, stripe_api, again).json() == {"applied": 1}
        assert refund_status(api, note_id) == "failed"
        assert len(objects(receiver, "credit_note.refund_failure")) == 1

    def test_a_succeeded_refund_never_goes_back(
        self, api: Api, stripe_api: FakeStripe, receiver: Receiver
    ) -> None:
        note_id, refund = stripe_pending_refund(api, stripe_api)
        refund["status"] = "succeeded"
        assert st.deliver(api, stripe_api, stripe_api.event("refund.updated", refund)).json() == {
            "applied": 1
        }
        shown = api.get(f"/credit_notes/{note_id}").json()["credit_note"]
        assert shown["refund_status"] == "succeeded"
        late = stripe_api.event("refund.updated", {**refund, "status": "failed"})
        assert st.deliver(api, stripe_api, late).json() == {"applied": 1}
        assert refund_status(api, note_id) == "succeeded"
        assert objects(receiver, "credit_note.refund_failure") == []

    def test_found_by_metadata_when_the_refund_id_is_unknown(self, api: Api, stripe_api: FakeStripe) -> None:
        note_id, refund = stripe_pending_refund(api, stripe_api)
        # A refund made at Stripe for the note (e.g. retried by hand): unknown id, Billow's metadata.
        other = {**refund, "id": "re_by_hand", "status": "succeeded"}
        assert st.deliver(api, stripe_api, stripe_api.event("refund.updated", other)).json() == {"applied": 1}
        assert refund_status(api, note_id) == "succeeded"

    def test_another_organization_s_note_is_left_alone(
        self, api: Api, other_api: Api, stripe_api: FakeStripe
    ) -> None:
        note_id, refund = stripe_pending_refund(api, stripe_api)
        event = InboundEvent(
            event_id="evt_other",
            type=InboundEventType.REFUND_UPDATED,
            provider_event_type="refund.updated",
            refund=RefundResult(refund["id"], "failed", 1200, "EUR"),
            metadata={"billow_credit_note_id": note_id},
        )
        sessionmaker = api.client.app.state.sessionmaker  # type: ignore[attr-defined]
        with sessionmaker() as session, session.begin():
            changed = on_refund_updated(
                session,
                organization_id=other_api.organization.id,
                integration_code=st.CODE,
                provider="stripe",
                event=event,
            )
            assert changed == 0
            assert (
                on_refund_updated(
                    session,
                    organization_id=api.organization.id,
                    integration_code=st.CODE,
                    provider="stripe",
                    event=event,
                )
                == 1
            )
            session.rollback()
        assert refund_status(api, note_id) == "pending"


class TestGoCardless:
    def test_refund_paid_then_a_bounce_changes_nothing(
        self, api: Api, gc_api: FakeGoCardless, receiver: Receiver
    ) -> None:
        gc_id = gc.setup(api, gc_api)
        gc_api.add_mandate(gc_id)
        bill = one_off(api, 5000)
        [payment] = gc_api.payments.values()
        gc.deliver(api, gc_api, gc.payment_event(gc_api, payment["id"], "confirmed"))
        note_id = refund_note(api, bill, 1250)
        assert refund_status(api, note_id) == "pending"
        [refund] = gc_api.refunds.values()
        refund["status"] = "paid"
        paid = gc_api.event("refunds", "paid", {"refund": refund["id"]})
        answer, headers, body = gc.deliver(api, gc_api, paid)
        assert answer.json() == {"applied": 1}
        assert refund_status(api, note_id) == "succeeded"
        replay = gc.post_webhook(api, "gocardless", gc.CODE, headers, body)
        assert replay.json() == {"applied": 0}
        refund["status"] = "bounced"
        gc.deliver(api, gc_api, gc_api.event("refunds", "bounced", {"refund": refund["id"]}))
        assert refund_status(api, note_id) == "succeeded"
        assert objects(receiver, "credit_note.refund_failure") == []

    def test_a_bounced_refund_fails(self, api: Api, gc_api: FakeGoCardless, receiver: Receiver) -> None:
        gc_id = gc.setup(api, gc_api)
        gc_api.add_mandate(gc_id)
        bill = one_off(api, 5000)
        [payment] = gc_api.payments.values()
        gc.deliver(api, gc_api, gc.payment_event(gc_api, payment["id"], "confirmed"))
        note_id = refund_note(api, bill, 1250)
        [refund] = gc_api.refunds.values()
        refund["status"] = "bounced"
        gc.deliver(api, gc_api, gc_api.event("refunds", "bounced", {"refund": refund["id"]}))
        assert refund_status(api, note_id) == "failed"
        [error] = objects(receiver, "credit_note.refund_failure")
        assert (error["lago_credit_note_id"], error["payment_provider"]) == (note_id, "gocardless")
        assert error["payment_provider_code"] == gc.CODE


class TestRefusedRefund:
    def test_a_refund_the_provider_refuses_fails_the_note(
        self, api: Api, stripe_api: FakeStripe, receiver: Receiver
    ) -> None:
        stripe_id = st.setup(api, stripe_api)
        stripe_api.attach_card(stripe_id, default=True)
        bill = one_off(api, 5000)
        stripe_api.fail_next(status=400)  # the refund's creation is refused (not retried)
        note_id = refund_note(api, bill, 1200)
        assert refund_status(api, note_id) == "failed"
        assert stripe_api.refunds == {}
        [error] = objects(receiver, "credit_note.refund_failure")
        assert (error["lago_credit_note_id"], error["payment_provider"]) == (note_id, "stripe")
        assert error["provider_error"]["http_status"] == 400
        assert [t for t, _ in objects_types(receiver)].count("integration.provider_error") == 1


def objects_types(receiver: Receiver) -> list[tuple[str, str]]:
    return [(r.json["webhook_type"], r.json["object_type"]) for r in receiver.received]
