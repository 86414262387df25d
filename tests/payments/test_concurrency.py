"""Two payments of one invoice at once (PostgreSQL row locks): the second waits for the first and then
sees what it paid, so together they never overpay."""

from __future__ import annotations

import threading
import time

import pytest

from billow.errors import ValidationFailed
from billow.models.organizations import Organization
from billow.payments.schemas import PaymentInput
from billow.payments.service import payment_service
from tests.conftest import Api
from tests.payments.helpers import get_invoice, invoice


def test_concurrent_payments_never_overpay(api: Api) -> None:
    sessionmaker = api.client.app.state.sessionmaker  # type: ignore[attr-defined]
    with sessionmaker() as probe:
        if probe.get_bind().dialect.name != "postgresql":
            pytest.skip("row locks: PostgreSQL")
    bill = invoice(api, 1000)
    first_recorded = threading.Event()
    outcomes: dict[str, str] = {}

    def pay(name: str, hold: bool) -> None:
        try:
            with sessionmaker() as session, session.begin():
                organization = session.get(Organization, api.organization.id)
                assert organization is not None
                data = PaymentInput(invoice_id=bill["lago_id"], amount_cents=700, reference=name)
                payment_service.create_manual(session, organization, data)
                if hold:
                    first_recorded.set()
                    time.sleep(0.5)  # the other payment reads the invoice now, then waits on its lock
            outcomes[name] = "paid"
        except ValidationFailed as refused:
            outcomes[name] = str(refused.error_details)

    first = threading.Thread(target=pay, args=("first", True))
    first.start()
    assert first_recorded.wait(10)
    pay("second", False)
    first.join()
    # 1000 due; the first pays 700, the second finds 1000 - 700 = 300 due: 700 is refused.
    assert outcomes == {"first": "paid", "second": str({"amount_cents": ["invalid_amount"]})}
    after = get_invoice(api, bill["lago_id"])
    assert (after["total_paid_amount_cents"], after["payment_status"]) == (700, "pending")
