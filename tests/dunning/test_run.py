"""The campaign run (scan ``dunning.run``) on a clock: attempts, their delay, the end, the reset."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI

from billow.dunning.run import run_campaigns
from billow.mail.deliveries import pending_deliveries, send_item
from tests.conftest import Api
from tests.dunning.helpers import create_campaign
from tests.fixtures.receiver import Receiver
from tests.mail.conftest import Inbox, enable_emails, smtp  # noqa: F401 (fixture)
from tests.payments.helpers import invoice, make_overdue, paid
from tests.webhooks.test_billing_webhooks import objects
from tests.webhooks.test_delivery import add_endpoint, deliver_due

NOW = datetime(2030, 3, 1, 9, tzinfo=UTC)
TYPES = ["payment_request.created", "dunning_campaign.finished"]


@pytest.fixture
def receiver(api: Api) -> Iterator[Receiver]:
    found = Receiver().start()
    add_endpoint(api, found.url, types=TYPES)
    yield found
    found.stop()


def run(app: FastAPI, at: datetime) -> int:
    factory = app.state.dispatcher.session_factory
    done = run_campaigns(factory, at)
    for item in pending_deliveries(factory, at):  # the mails (the scan's session queues no task)
        send_item(factory, item, at)
    deliver_due(app)
    return done


def customer(api: Api, external_id: str = "cus_1", **fields: Any) -> dict[str, Any]:
    body = {"external_id": external_id, "name": "Ann", "email": "ann@ann.example", **fields}
    response = api.post("/customers", json={"customer": body})
    assert response.status_code == 200, response.text
    return response.json()["customer"]


def overdue(api: Api, amount_cents: int, external_id: str = "cus_1") -> dict[str, Any]:
    found = invoice(api, amount_cents, customer=external_id)
    make_overdue(api, found["lago_id"])
    return found


def requests_of(api: Api, external_id: str = "cus_1") -> list[dict[str, Any]]:
    response = api.get(f"/customers/{external_id}/payment_requests")
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["payment_requests"]))  # oldest first


def shown(api: Api, external_id: str = "cus_1") -> dict[str, Any]:
    return dict(api.get(f"/customers/{external_id}").json()["customer"])


def stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_a_campaign_from_the_threshold_to_its_end_then_reset_by_payment(
    app: FastAPI,
    api: Api,
    receiver: Receiver,
    smtp: Inbox,  # noqa: F811
) -> None:
    enable_emails(api, settings=())
    create_campaign(api, applied_to_organization=True, bcc_emails=["ar@acme.test"])  # EUR 1000, 3 days, 2
    customer(api)
    first = overdue(api, 500)
    assert first["currency"] == "EUR"

    # 500 < 1000: nothing.
    assert run(app, NOW) == 0
    assert requests_of(api) == [] and smtp.messages == []

    # 500 + 700 = 1200 >= 1000: one payment request of both, mailed (bcc), announced.
    second = overdue(api, 700)
    assert run(app, NOW) == 1
    [request] = requests_of(api)
    assert (request["amount_cents"], request["amount_currency"], request["email"]) == (
        1200,
        "EUR",
        "ann@ann.example",
    )
    assert [i["lago_id"] for i in request["invoices"]] == [first["lago_id"], second["lago_id"]]
    [mail] = smtp.messages
    assert sorted(mail.rcpt_tos) == ["ann@ann.example", "ar@acme.test"]
    assert [o["lago_id"] for o in objects(receiver, "payment_request.created")] == [request["lago_id"]]
    assert (shown(api)["last_dunning_campaign_attempt"], shown(api)["last_dunning_campaign_attempt_at"]) == (
        1,
        stamp(NOW),
    )

    # The same day (and 2 days 23 hours later): still one.
    assert run(app, NOW + timedelta(hours=5)) == 0
    assert run(app, NOW + timedelta(days=3) - timedelta(hours=1)) == 0
    assert len(requests_of(api)) == 1

    # 3 days later: the second (and last) attempt.
    assert run(app, NOW + timedelta(days=3)) == 1
    assert [r["amount_cents"] for r in requests_of(api)] == [1200, 1200]
    assert shown(api)["last_dunning_campaign_attempt"] == 2
    assert len(smtp.messages) == 2

    # No third attempt; 3 days after the last one, still overdue: finished, once.
    assert run(app, NOW + timedelta(days=5)) == 0
    assert run(app, NOW + timedelta(days=6)) == 1
    assert run(app, NOW + timedelta(days=30)) == 0
    assert len(requests_of(api)) == 2
    assert objects(receiver, "dunning_campaign.finished") == [
        {
            "external_customer_id": "cus_1",
            "dunning_campaign_code": "standard",
            "overdue_balance_cents": 1200,
            "overdue_balance_currency": "EUR",
            "overdue_balances": [{"amount_cents": 1200, "currency": "EUR"}],
        }
    ]
    [finished] = [r.json for r in receiver.received if r.json["webhook_type"] == "dunning_campaign.finished"]
    assert (finished["object_type"], finished["organization_id"]) == (
        "dunning_campaign",
        str(api.organization.id),
    )

    # Paid: the counter starts over, and a later overdue starts a new campaign run.
    paid(api, first["lago_id"], 500, "wire-1")
    assert shown(api)["last_dunning_campaign_attempt"] == 2  # 700 still overdue
    paid(api, second["lago_id"], 700, "wire-2")
    reset = shown(api)
    assert (reset["last_dunning_campaign_attempt"], reset["last_dunning_campaign_attempt_at"]) == (0, None)
    later = NOW + timedelta(days=40)
    overdue(api, 2000)
    assert run(app, later) == 1
    assert [r["amount_cents"] for r in requests_of(api)] == [1200, 1200, 2000]
    assert shown(api)["last_dunning_campaign_attempt"] == 1


def test_excluded_other_campaign_and_other_organization(app: FastAPI, api: Api, other_api: Api) -> None:
    create_campaign(api, applied_to_organization=True)  # EUR 1000
    create_campaign(api, "strict", thresholds=[{"currency": "EUR", "amount_cents": 5000}])
    customer(api, "cus_excluded", exclude_from_dunning_campaign=True)
    customer(api, "cus_strict", applied_dunning_campaign_code="strict")
    customer(api, "cus_default")
    customer(other_api, "cus_default")  # the other organization has no campaign
    for who in ("cus_excluded", "cus_strict", "cus_default"):
        overdue(api, 3000, who)
    overdue(other_api, 3000, "cus_default")

    # Only cus_default: excluded; 3000 < strict's 5000; the other organization has no campaign.
    assert run(app, NOW) == 1
    assert [len(requests_of(api, who)) for who in ("cus_excluded", "cus_strict", "cus_default")] == [0, 0, 1]
    assert requests_of(other_api, "cus_default") == []
    assert shown(other_api, "cus_default")["last_dunning_campaign_attempt"] == 0

    # cus_strict reaches 5000 (3000 + 2500 = 5500) under its own campaign; the excluded one never does.
    overdue(api, 2500, "cus_strict")
    overdue(api, 9000, "cus_excluded")
    assert run(app, NOW + timedelta(hours=1)) == 1
    [request] = requests_of(api, "cus_strict")
    assert request["amount_cents"] == 5500
    assert requests_of(api, "cus_excluded") == []


def test_changing_the_campaign_starts_over(app: FastAPI, api: Api) -> None:
    create_campaign(api, applied_to_organization=True, max_attempts=1)
    create_campaign(api, "other", max_attempts=1)
    customer(api)
    overdue(api, 3000)
    assert run(app, NOW) == 1
    assert shown(api)["last_dunning_campaign_attempt"] == 1
    moved = customer(api, applied_dunning_campaign_code="other")
    assert (moved["last_dunning_campaign_attempt"], moved["applied_dunning_campaign"]["code"]) == (
        1 - 1,
        "other",
    )
    assert run(app, NOW + timedelta(minutes=1)) == 1  # the new campaign's first attempt
    assert len(requests_of(api)) == 2


def test_finished_renderer_shows_the_customer_now(app: FastAPI, api: Api) -> None:
    from billow.models.organizations import Organization
    from billow.webhooks.payloads import load_all

    create_campaign(api, applied_to_organization=True, thresholds=[{"currency": "EUR", "amount_cents": 0}])
    found = customer(api)
    overdue(api, 1500)
    overdue(api, 250)
    render = load_all()["dunning_campaign"]
    with app.state.sessionmaker() as session:
        organization = session.get(Organization, api.organization.id)
        assert organization is not None
        rendered = render(session, organization, [uuid.UUID(found["lago_id"]), uuid.uuid4()])
    # 1500 + 250 = 1750 overdue in EUR; an unknown id is left out.
    assert rendered == {
        uuid.UUID(found["lago_id"]): {
            "external_customer_id": "cus_1",
            "dunning_campaign_code": "standard",
            "overdue_balance_cents": 1750,
            "overdue_balance_currency": "EUR",
            "overdue_balances": [{"amount_cents": 1750, "currency": "EUR"}],
        }
    }
