"""Issue 9, defect 6: a run bills at most ``BILLOW_MAX_PERIODS_PER_RUN`` periods per subscription (oldest
first); the other subscriptions of the run are billed, and the next runs continue the catch-up."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from billow import cli
from billow.billing.run import bill_due
from billow.billing.tasks import bill_batch, find_due_subscriptions
from billow.config import get_settings
from billow.models.invoices import InvoiceSubscription
from billow.models.subscriptions import Subscription
from tests.fixtures import factories as f
from tests.fixtures.factories import at

AS_OF = at("2024-02-01T00:00:01")


@pytest.fixture(autouse=True)
def three_per_run(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("BILLOW_MAX_PERIODS_PER_RUN", "3")
    get_settings.cache_clear()
    yield
    monkeypatch.delenv("BILLOW_MAX_PERIODS_PER_RUN")
    get_settings.cache_clear()


@pytest.fixture
def owing(session: Session) -> None:
    """``daily`` owes the 10 days of 2024-01-22..31; ``monthly`` (another organization) owes January."""
    for name, interval, start in (("daily", "daily", "2024-01-22"), ("monthly", "monthly", "2024-01-10")):
        org = f.organization(session, name=name)
        plan = f.plan(session, org, amount_cents=100, interval=interval)
        customer = f.customer(session, org, external_id=f"cus_{name}")
        f.subscription(session, org, customer, plan, external_id=name, started_at=at(start))
    session.commit()


def billed(factory: sessionmaker[Session]) -> dict[str, list[str]]:
    with factory() as session:
        rows = session.execute(
            select(Subscription.external_id, InvoiceSubscription.period_start)
            .join(InvoiceSubscription, InvoiceSubscription.subscription_id == Subscription.id)
            .order_by(InvoiceSubscription.period_start)
        ).all()
    result: dict[str, list[str]] = {}
    for external_id, start in rows:
        result.setdefault(external_id, []).append(start.date().isoformat()[5:])
    return result


def test_bounded_runs_continue_the_catch_up(factory, owing) -> None:
    first = bill_due(factory, AS_OF)
    assert (first.invoices_created, first.deferred) == (4, 1)
    assert billed(factory) == {"daily": ["01-22", "01-23", "01-24"], "monthly": ["01-01"]}
    assert "1 subscription(s) with periods left for the next run" in str(first)
    second = bill_due(factory, AS_OF)
    assert (second.invoices_created, second.deferred) == (3, 1)
    assert (bill_due(factory, AS_OF).invoices_created, bill_due(factory, AS_OF).invoices_created) == (3, 1)
    assert billed(factory)["daily"] == [f"01-{day}" for day in range(22, 32)]
    last = bill_due(factory, AS_OF)
    assert (last.invoices_created, last.deferred) == (0, 0)


def test_the_scan_lists_the_rest_again(factory, owing) -> None:
    for expected in (4, 3, 3, 1, 0):
        items = find_due_subscriptions(factory, AS_OF)
        assert sum(bill_batch(factory, str(item), AS_OF) for item in items) == expected
    assert len(billed(factory)["daily"]) == 10


def test_bill_command_runs_until_done(
    factory, owing, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "_prepare_database", lambda: engine.url.render_as_string(hide_password=False))
    result = CliRunner().invoke(cli.app, ["bill", "--as-of", "2024-02-01T00:00:01Z"])
    assert result.exit_code == 0, result.output
    assert result.output.count("invoice(s) created, 0 already billed") == 4  # 4 + 3 + 3 + 1
    assert len(billed(factory)["daily"]) == 10
