"""A billing run's figures on ``/metrics`` (:mod:`billow.billing.observed`): its duration and invoices."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from billow.billing.run import bill_due, bill_subscriptions
from billow.kit.metrics import REGISTRY
from tests.fixtures.catalogs import setup_catalog
from tests.fixtures.factories import at


def sample(name: str, kind: str) -> float:
    return REGISTRY.get_sample_value(name, {"kind": kind}) or 0.0


def figures(kind: str) -> tuple[float, float]:
    """(runs observed, invoices created by them)."""
    return (
        sample("billow_billing_run_duration_seconds_count", kind),
        sample("billow_billing_run_invoices_sum", kind),
    )


def test_a_run_observes_its_duration_and_invoices(factory: sessionmaker[Session], session: Session) -> None:
    _, _, subscription = setup_catalog(session)
    session.commit()
    runs, invoices = figures("scan")
    summary = bill_due(factory, at("2024-04-10T00:00:00"))
    assert summary.invoices_created == 3  # tests/billing/test_run.py: February, March, April
    assert figures("scan") == (runs + 1, invoices + 3)
    # Run again: nothing more to bill, one more run with no invoice.
    bill_due(factory, at("2024-04-10T00:00:00"))
    assert figures("scan") == (runs + 2, invoices + 3)
    before = figures("subscriptions")
    bill_subscriptions(factory, [subscription.id], at("2024-04-10T00:00:00"))
    assert figures("subscriptions") == (before[0] + 1, before[1])
    # The duration is a histogram: its sum grew by the runs' positive durations.
    assert sample("billow_billing_run_duration_seconds_sum", "scan") > 0
