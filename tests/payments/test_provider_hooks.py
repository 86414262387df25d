"""Payment providers' outcomes (:mod:`billow.payments.provider_hooks`), announced as
:mod:`billow.integrations` does: ``run_hooks`` in a transaction of the app's sessionmaker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from billow.providers.interface import (
    PAYMENT_EVENT_HOOK,
    PAYMENT_FAILED_HOOK,
    PAYMENT_RESULT_HOOK,
    CustomerData,
    InboundEvent,
    InboundEventType,
    PayableData,
    PaymentResult,
    PaymentStatus,
    ProviderError,
)
from billow.worker.dispatch import run_hooks
from tests.conftest import Api
from tests.fixtures.receiver import Receiver
from tests.payments.helpers import get_invoice, invoice, make_overdue
from tests.webhooks.test_billing_webhooks import objects, sent
from tests.webhooks.test_delivery import add_endpoint


@pytest.fixture
def receiver(api: Api) -> Iterator[Receiver]:
    found = Receiver().start()
    add_endpoint(api, found.url)
    yield found
    found.stop()


def payable(bill: dict[str, Any], kind: str = "invoice", amount_cents: int | None = None) -> PayableData:
    customer = bill["customer"]
    return PayableData(
        type=kind,
        id=bill["lago_id"],
        description=bill.get("number", "request"),
        amount_cents=bill.get("total_amount_cents", amount_cents or 0),
        currency="EUR",
        customer=CustomerData(
            id=customer["lago_id"],
            external_id=customer["external_id"],
            name=None,
            provider_customer_id="cus_X",
        ),
        invoice_ids=(bill["lago_id"],),
    )


def result(status: PaymentStatus, amount_cents: int, pid: str = "pi_1", **fields: Any) -> PaymentResult:
    return PaymentResult(
        provider_payment_id=pid, status=status, amount_cents=amount_cents, currency="eur", **fields
    )


def announce(api: Api, name: str, **details: Any) -> None:
    sessionmaker = api.client.app.state.sessionmaker  # type: ignore[attr-defined]
    with sessionmaker() as session, session.begin():
        run_hooks(
            session,
            name,
            organization_id=api.organization.id,
            integration_code="stripe_prod",
            provider="stripe",
            **details,
        )


def payments(api: Api) -> list[dict[str, Any]]:
    return list(api.get("/payments").json()["payments"])


class TestPaymentResult:
    def test_succeeded_pays_once_even_replayed(self, api: Api, receiver: Receiver) -> None:
        bill = invoice(api, 1000)
        receiver.received.clear()
        outcome = result(PaymentStatus.SUCCEEDED, 1000, provider_status="succeeded")
        announce(api, PAYMENT_RESULT_HOOK, payable=payable(bill), result=outcome)
        [payment] = payments(api)
        assert {
            k: payment[k] for k in ("type", "payment_status", "status", "amount_cents", "amount_currency")
        } == {
            "type": "provider",
            "payment_status": "succeeded",
            "status": "succeeded",
            "amount_cents": 1000,
            "amount_currency": "EUR",
        }
        assert (payment["provider_payment_id"], payment["payment_provider_code"]) == ("pi_1", "stripe_prod")
        assert (payment["payment_provider_type"], payment["provider_customer_id"]) == ("stripe", "cus_X")
        after = get_invoice(api, bill["lago_id"])
        assert (after["payment_status"], after["total_paid_amount_cents"]) == ("succeeded", 1000)
        first = sent(receiver)
        assert [t for t, _ in first] == [
            "invoice.payment_status_updated",
            "payment_receipt.created",
            "payment.succeeded",
        ]
        announce(api, PAYMENT_RESULT_HOOK, payable=payable(bill), result=outcome)  # replayed
        assert len(payments(api)) == 1
        assert len(api.get("/payment_receipts").json()["payment_receipts"]) == 1
        assert get_invoice(api, bill["lago_id"])["total_paid_amount_cents"] == 1000
        assert sent(receiver) == first

    def test_late_processing_does_not_unpay(self, api: Api) -> None:
        bill = invoice(api, 1000)
        announce(
            api, PAYMENT_RESULT_HOOK, payable=payable(bill), result=result(PaymentStatus.SUCCEEDED, 1000)
        )
        announce(
            api, PAYMENT_RESULT_HOOK, payable=payable(bill), result=result(PaymentStatus.PROCESSING, 1000)
        )
        announce(api, PAYMENT_RESULT_HOOK, payable=payable(bill), result=result(PaymentStatus.FAILED, 1000))
        [payment] = payments(api)
        assert payment["payment_status"] == "succeeded"
        after = get_invoice(api, bill["lago_id"])
        assert (after["payment_status"], after["total_paid_amount_cents"]) == ("succeeded", 1000)

    def test_failed_then_a_new_attempt_succeeds(self, api: Api, receiver: Receiver) -> None:
        bill = invoice(api, 1000)
        receiver.received.clear()
        failed = result(
            PaymentStatus.FAILED, 1000, "pi_1", error_code="card_declined", error_message="Declined"
        )
        announce(api, PAYMENT_RESULT_HOOK, payable=payable(bill), result=failed)
        assert get_invoice(api, bill["lago_id"])["payment_status"] == "failed"
        assert [r.json["webhook_type"] for r in receiver.received] == [
            "invoice.payment_status_updated",
            "invoice.payment_failure",
        ]
        [failure] = objects(receiver, "invoice.payment_failure")
        assert failure == {
            "lago_invoice_id": bill["lago_id"],
            "lago_customer_id": bill["customer"]["lago_id"],
            "external_customer_id": "cus_1",
            "provider_customer_id": "cus_X",
            "payment_provider": "stripe",
            "payment_provider_code": "stripe_prod",
            "provider_error": {"message": "Declined", "error_code": "card_declined"},
        }
        announce(api, PAYMENT_RESULT_HOOK, payable=payable(bill), result=failed)  # replayed
        assert len(objects(receiver, "invoice.payment_failure")) == 1
        announce(
            api,
            PAYMENT_RESULT_HOOK,
            payable=payable(bill),
            result=result(PaymentStatus.PROCESSING, 1000, "pi_2"),
        )
        assert get_invoice(api, bill["lago_id"])["payment_status"] == "pending"
        announce(
            api,
            PAYMENT_RESULT_HOOK,
            payable=payable(bill),
            result=result(PaymentStatus.SUCCEEDED, 1000, "pi_2"),
        )
        assert get_invoice(api, bill["lago_id"])["payment_status"] == "succeeded"
        assert [p["payment_status"] for p in payments(api)] == ["succeeded", "failed"]

    def test_requires_action(self, api: Api, receiver: Receiver) -> None:
        bill = invoice(api, 1000)
        receiver.received.clear()
        outcome = result(PaymentStatus.REQUIRES_ACTION, 1000, next_action_url="https://pay.example/3ds")
        announce(api, PAYMENT_RESULT_HOOK, payable=payable(bill), result=outcome)
        [payment] = objects(receiver, "payment.requires_action")
        assert payment["next_action"] == {
            "type": "redirect_to_url",
            "redirect_to_url": {"url": "https://pay.example/3ds"},
        }
        assert get_invoice(api, bill["lago_id"])["payment_status"] == "pending"

    def test_another_organizations_invoice_is_ignored(self, api: Api, other_api: Api) -> None:
        bill = invoice(other_api, 1000)
        announce(
            api, PAYMENT_RESULT_HOOK, payable=payable(bill), result=result(PaymentStatus.SUCCEEDED, 1000)
        )
        assert payments(api) == [] and payments(other_api) == []
        assert get_invoice(other_api, bill["lago_id"])["total_paid_amount_cents"] == 0


class TestPaymentRequests:
    def test_a_request_payment_spreads_over_its_invoices(self, api: Api) -> None:
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
        announce(api, PAYMENT_RESULT_HOOK, payable=data, result=result(PaymentStatus.SUCCEEDED, 5000))
        settled = api.get(f"/payment_requests/{created['lago_id']}").json()["payment_request"]
        assert settled["payment_status"] == "succeeded"
        assert [i["payment_status"] for i in settled["invoices"]] == ["succeeded", "succeeded"]
        [payment] = payments(api)
        assert (payment["payable_type"], payment["invoice_ids"]) == (
            "PaymentRequest",
            [one["lago_id"], two["lago_id"]],
        )
        assert get_invoice(api, one["lago_id"])["total_paid_amount_cents"] == 3000
        assert get_invoice(api, two["lago_id"])["total_paid_amount_cents"] == 2000
        assert [
            p["lago_id"]
            for p in api.get("/payments", params={"invoice_id": two["lago_id"]}).json()["payments"]
        ] == [payment["lago_id"]]

    def test_a_failure_marks_the_request_and_its_invoices(self, api: Api, receiver: Receiver) -> None:
        one = invoice(api, 3000)
        make_overdue(api, one["lago_id"])
        body = {"external_customer_id": "cus_1", "email": "a@b.example", "lago_invoice_ids": [one["lago_id"]]}
        created = api.post("/payment_requests", json={"payment_request": body}).json()["payment_request"]
        data = payable({"lago_id": created["lago_id"], "customer": one["customer"]}, "payment_request", 3000)
        receiver.received.clear()
        announce(api, PAYMENT_FAILED_HOOK, payable=data, error=ProviderError("No card", code="no_method"))
        announce(api, PAYMENT_FAILED_HOOK, payable=data, error=ProviderError("No card", code="no_method"))
        failed = api.get(f"/payment_requests/{created['lago_id']}").json()["payment_request"]
        assert failed["payment_status"] == "failed"
        assert get_invoice(api, one["lago_id"])["payment_status"] == "failed"
        [failure] = objects(receiver, "payment_request.payment_failure")
        assert failure["lago_payment_request_id"] == created["lago_id"]
        assert failure["lago_invoice_ids"] == [one["lago_id"]]
        assert failure["provider_error"] == {"message": "No card", "error_code": "no_method"}


class TestPaymentEvent:
    def test_found_by_metadata_then_by_provider_id(self, api: Api) -> None:
        bill = invoice(api, 1000)
        metadata = {"billow_payable_type": "invoice", "billow_payable_id": bill["lago_id"]}
        processing = InboundEvent(
            event_id="evt_1",
            type=InboundEventType.PAYMENT_UPDATED,
            provider_event_type="payment_intent.processing",
            payment=result(PaymentStatus.PROCESSING, 1000, "pi_9"),
            metadata=metadata,
        )
        announce(api, PAYMENT_EVENT_HOOK, event=processing)
        assert [p["payment_status"] for p in payments(api)] == ["processing"]
        succeeded = InboundEvent(
            event_id="evt_2",
            type=InboundEventType.PAYMENT_UPDATED,
            provider_event_type="payment_intent.succeeded",
            payment=result(PaymentStatus.SUCCEEDED, 1000, "pi_9"),
        )
        announce(api, PAYMENT_EVENT_HOOK, event=succeeded)
        announce(api, PAYMENT_EVENT_HOOK, event=succeeded)
        assert [p["payment_status"] for p in payments(api)] == ["succeeded"]
        assert get_invoice(api, bill["lago_id"])["total_paid_amount_cents"] == 1000
        ignored = InboundEvent(
            event_id="evt_3", type=InboundEventType.IGNORED, provider_event_type="charge.updated"
        )
        announce(api, PAYMENT_EVENT_HOOK, event=ignored)
        unknown = InboundEvent(
            event_id="evt_4",
            type=InboundEventType.PAYMENT_UPDATED,
            provider_event_type="payment_intent.succeeded",
            payment=result(PaymentStatus.SUCCEEDED, 1000, "pi_unknown"),
        )
        announce(api, PAYMENT_EVENT_HOOK, event=unknown)
        assert len(payments(api)) == 1
