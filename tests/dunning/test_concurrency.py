"""Two runs at once make one attempt: the second waits on the customer's row lock, then sees the first's
counter (PostgreSQL: row locks)."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime

import pytest
from fastapi import FastAPI

from billow.dunning.run import process_customer, step
from billow.kit.locking import lock_row
from billow.models.customers import Customer
from tests.conftest import Api
from tests.dunning.helpers import create_campaign
from tests.dunning.test_run import customer, overdue, requests_of, shown

NOW = datetime(2030, 3, 1, 9, tzinfo=UTC)


def test_concurrent_runs_make_one_attempt(app: FastAPI, api: Api) -> None:
    factory = app.state.dispatcher.session_factory
    with factory() as probe:
        if probe.get_bind().dialect.name != "postgresql":
            pytest.skip("row locks: PostgreSQL")
    create_campaign(api, applied_to_organization=True)
    customer_id = uuid.UUID(customer(api)["lago_id"])
    overdue(api, 3000)
    outcomes: dict[str, str | None] = {}

    def second() -> None:
        outcomes["second"] = process_customer(factory, api.organization.id, customer_id, NOW)

    with factory() as session, session.begin():
        lock_row(session, Customer, customer_id)  # the first run holds the customer
        waiting = threading.Thread(target=second)
        waiting.start()
        time.sleep(0.5)
        assert "second" not in outcomes  # blocked on the lock
        outcomes["first"] = step(session, api.organization.id, customer_id, NOW)
    waiting.join(timeout=30)
    assert outcomes == {"first": "attempted", "second": None}
    assert len(requests_of(api)) == 1
    assert shown(api)["last_dunning_campaign_attempt"] == 1
