"""A provider's lost dispute (:mod:`billow.payments.disputes`), announced as :mod:`billow.integrations`
does: the disputed payment found by its provider id, its invoice (or each invoice of its payment request)
marked lost once; an unknown payment, another organization's or a voided invoice left alone."""

from __future__ import annotations

from datetime import UTC, datetime

from billow.providers.interface import (
    PAYMENT_EVENT_HOOK,
    PAYMENT_RESULT_HOOK,
    DisputeData,
    InboundEvent,
    InboundEventType,
    PaymentStatus,
)
from tests.conftest import Api
from tests.payments.helpers import get_invoice, invoice, make_overdue
from tests.payments.test_provider_hooks import announce, payable, result

CLOSED_AT = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)


def lost(payment_id: str, event_id: str = "evt_d1") -> InboundEvent:
    return InboundEvent(
        event_id=event_id,
        type=InboundEventType.DISPUTE_LOST,
        provider_event_type="charge.dispute.closed",
        occurred_at=CLOSED_AT,
        dispute=DisputeData("du_1", payment_id, "lost", "fraudulent"),
    )


class TestDisputeLost:
    def test_the_disputed_invoice_is_marked_once(self, api: Api) -> None:
        bill = invoice(api, 3000)
        other = invoice(api, 2000)
        announce(
            api, PAYMENT_RESULT_HOOK, payable=payable(bill), result=result(PaymentStatus.SUCCEEDED, 3000)
        )
        announce(api, PAYMENT_EVENT_HOOK, event=lost("pi_1"))
        assert get_invoice(api, bill["lago_id"])["payment_dispute_lost_at"] == "2026-12-01T09:30:00Z"
        assert get_invoice(api, other["lago_id"])["payment_dispute_lost_at"] is None
        later = InboundEvent(
            event_id="evt_d2",
            type=InboundEventType.DISPUTE_LOST,
            provider_event_type="charge.dispute.closed",
            occurred_at=datetime(2026, 12, 5, tzinfo=UTC),
            dispute=DisputeData("du_1", "pi_1", "lost"),
        )
        announce(api, PAYMENT_EVENT_HOOK, event=later)
        assert get_invoice(api, bill["lago_id"])["payment_dispute_lost_at"] == "2026-12-01T09:30:00Z"

    def test_a_payment_requests_invoices(self, api: Api) -> None:
        one = invoice(api, 3000)
        two = invoice(api, 2000)
        make_overdue(api, one["lago_id"], two["lago_id"])
        body = {
            "external_customer_id": "cus_1",
            "email": "a@b.example",
            "lago_invoice_ids": [one["lago_id"], two["lago_id"]],
        }
        created = api.post("/payment_requests", json={"payment_request": body}).json()["payment_request"]
        data = payable({"lago_id": created["lago_id"], "customer": one["customer"]}, "payment_request", 5000)
        announce(api, PAYMENT_RESULT_HOOK, payable=data, result=result(PaymentStatus.SUCCEEDED, 5000, "pi_r"))
        announce(api, PAYMENT_EVENT_HOOK, event=lost("pi_r"))
        assert get_invoice(api, one["lago_id"])["payment_dispute_lost_at"] == "2026-12-01T09:30:00Z"
        assert get_invoice(api, two["lago_id"])["payment_dispute_lost_at"] == "2026-12-01T09:30:00Z"

    def test_unknown_payment_or_other_organization(self, api: Api, other_api: Api) -> None:
        bill = invoice(api, 3000)
        announce(
            api, PAYMENT_RESULT_HOOK, payable=payable(bill), result=result(PaymentStatus.SUCCEEDED, 3000)
        )
        announce(api, PAYMENT_EVENT_HOOK, event=lost("pi_unknown"))
        announce(other_api, PAYMENT_EVENT_HOOK, event=lost("pi_1"))  # the other organization's event
        assert get_invoice(api, bill["lago_id"])["payment_dispute_lost_at"] is None

    def test_a_voided_invoice_is_left_alone(self, api: Api) -> None:
        bill = invoice(api, 3000)
        announce(api, PAYMENT_RESULT_HOOK, payable=payable(bill), result=result(PaymentStatus.PENDING, 3000))
        assert api.post(f"/invoices/{bill['lago_id']}/void").status_code == 200
        announce(api, PAYMENT_EVENT_HOOK, event=lost("pi_1"))
        shown = get_invoice(api, bill["lago_id"])
        assert (shown["status"], shown["payment_dispute_lost_at"]) == ("voided", None)
