"""Issue 9, defect 1: one subscription whose billing fails never stops the others' (of its organization or
another), and is recorded as a failed invoice (visible through the API, retried until it succeeds, one per
period). The poison is written straight into the rows: the API refuses such values."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from billow.billing.run import bill_due
from billow.billing.tasks import bill_batch, find_due_subscriptions
from billow.models.invoices import Invoice, InvoiceSubscription
from billow.models.organizations import Organization
from billow.models.plans import Charge, Plan
from tests.conftest import Api
from tests.fixtures import factories as f
from tests.fixtures.factories import at

#: January 2024 is due (and billed) at this instant.
AS_OF = at("2024-02-01T00:00:01")
TRIAL_DAYS = Decimal(10**10)


class World:
    """Org A: healthy ``sub_a``, ``sub_trial`` (trial of 10^10 days), ``sub_price`` (price 1e400); org B:
    healthy ``sub_b``. All monthly, started 2024-01-10, with usage in January."""

    def __init__(self, session: Session, org_a: Organization, org_b: Organization):
        self.session = session
        self.plans: dict[str, Plan] = {}
        self.charges: dict[str, Charge] = {}
        for org, external_id in (
            (org_a, "sub_a"),
            (org_a, "sub_trial"),
            (org_a, "sub_price"),
            (org_b, "sub_b"),
        ):
            metric = f.metric(session, org, "sum_agg", code=f"calls_{external_id}")
            plan = f.plan(session, org, code=f"plan_{external_id}", amount_cents=1000, interval="monthly")
            self.charges[external_id] = f.charge(session, org, plan, metric, "standard", {"amount": "2"})
            customer = f.customer(session, org, external_id=f"cus_{external_id}")
            f.subscription(session, org, customer, plan, external_id=external_id, started_at=at("2024-01-10"))
            f.event(
                session,
                org,
                metric.code,
                "2024-01-20T00:00:00",
                {"value": 3},
                external_subscription_id=external_id,
            )
            self.plans[external_id] = plan
        session.commit()
        self.poison()

    def poison(self) -> None:
        self.session.execute(
            update(Plan).where(Plan.id == self.plans["sub_trial"].id).values(trial_period=TRIAL_DAYS)
        )
        self.session.execute(
            update(Charge)
            .where(Charge.id == self.charges["sub_price"].id)
            .values(properties={"amount": "1e400"})
        )
        self.session.commit()

    def cure(self) -> None:
        self.session.execute(
            update(Plan).where(Plan.id == self.plans["sub_trial"].id).values(trial_period=Decimal(0))
        )
        self.session.execute(
            update(Charge).where(Charge.id == self.charges["sub_price"].id).values(properties={"amount": "2"})
        )
        self.session.commit()


@pytest.fixture
def world(session: Session, api: Api, other_api: Api) -> World:
    org_a = session.get(Organization, api.organization.id)
    org_b = session.get(Organization, other_api.organization.id)
    assert org_a is not None and org_b is not None
    return World(session, org_a, org_b)


def by_subscription(factory: sessionmaker[Session]) -> dict[str, list[tuple[str, int]]]:
    """``external_id -> [(status, total_amount_cents), ...]`` of every invoice, one row per period."""
    from billow.models.subscriptions import Subscription

    with factory() as session:
        rows = session.execute(
            select(Subscription.external_id, Invoice.status, Invoice.total_amount_cents)
            .join(InvoiceSubscription, InvoiceSubscription.subscription_id == Subscription.id)
            .join(Invoice, Invoice.id == InvoiceSubscription.invoice_id)
            .order_by(Subscription.external_id, InvoiceSubscription.period_start)
        ).all()
    result: dict[str, list[tuple[str, int]]] = {}
    for external_id, status, total in rows:
        result.setdefault(external_id, []).append((status, total))
    return result


#: Jan 10-31: 22/31 x 1000 = 710 (half-up of 709.67); usage 3 x 2.00 = 600.
HEALTHY = [("finalized", 1310)]
EXPECTED_POISONED = {
    "sub_a": HEALTHY,
    "sub_b": HEALTHY,
    "sub_price": [("failed", 0)],
    "sub_trial": [("failed", 0)],
}
#: Cured: the trial of 0 days and the price of 2.00 bill as the healthy ones.
EXPECTED_CURED = {"sub_a": HEALTHY, "sub_b": HEALTHY, "sub_price": HEALTHY, "sub_trial": HEALTHY}


def failed_invoices(api: Api) -> list[dict[str, Any]]:
    response = api.get("/invoices", params={"status": "failed"})
    assert response.status_code == 200, response.text
    return response.json()["invoices"]


class TestBillDue:
    def test_the_poisoned_fail_alone_and_are_recorded(
        self, factory, world: World, api: Api, other_api: Api
    ) -> None:
        summary = bill_due(factory, AS_OF)
        assert (summary.invoices_created, len(summary.failed), summary.unrecorded) == (2, 2, [])
        assert len(summary.failed_invoice_ids) == 2
        assert by_subscription(factory) == EXPECTED_POISONED

        failed = failed_invoices(api)
        assert sorted(invoice["subscriptions"][0]["external_id"] for invoice in failed) == [
            "sub_price",
            "sub_trial",
        ]
        assert failed_invoices(other_api) == []
        # Lago's documented spelling of the filter, too.
        assert len(api.get("/invoices", params={"statuses[]": "failed"}).json()["invoices"]) == 2
        for invoice in failed:
            assert invoice["status"] == "failed"
            assert invoice["fees"] == [] and invoice["total_amount_cents"] == 0
            assert invoice["number"].endswith("-DRAFT") and invoice["sequential_id"] is None
            [period] = invoice["billing_periods"]
            assert period["invoicing_reason"] == "subscription_periodic"
            [detail] = invoice["error_details"]
            assert set(detail) == {"lago_id", "error_code", "details"}
            assert detail["error_code"] == "invoice_generation_error"
            assert detail["details"]["invoicing_reason"] == "subscription_periodic"
            shown = api.get(f"/invoices/{invoice['lago_id']}")
            assert shown.status_code == 200
            assert shown.json()["invoice"]["error_details"] == [detail]
            # Another organization does not see it.
            assert other_api.get(f"/invoices/{invoice['lago_id']}").status_code == 404
        errors = {
            invoice["subscriptions"][0]["external_id"]: invoice["error_details"][0] for invoice in failed
        }
        assert errors["sub_trial"]["details"]["error"].startswith("OverflowError")

    def test_a_price_beyond_bigint_fails_alone(self, factory, world: World, api: Api) -> None:
        world.session.execute(
            update(Charge)
            .where(Charge.id == world.charges["sub_price"].id)
            .values(properties={"amount": str(10**30)})
        )
        world.session.commit()
        summary = bill_due(factory, AS_OF)
        assert (summary.invoices_created, len(summary.failed_invoice_ids), summary.unrecorded) == (2, 2, [])
        assert by_subscription(factory) == EXPECTED_POISONED

    def test_repeated_failures_keep_one_record_per_period(self, factory, world: World, api: Api) -> None:
        bill_due(factory, AS_OF)
        first = {
            invoice["lago_id"]: invoice["error_details"][0]["lago_id"] for invoice in failed_invoices(api)
        }
        summary = bill_due(factory, AS_OF)
        assert (summary.invoices_created, len(summary.failed), summary.already_billed) == (0, 2, 0)
        assert by_subscription(factory) == EXPECTED_POISONED
        again = {
            invoice["lago_id"]: invoice["error_details"][0]["lago_id"] for invoice in failed_invoices(api)
        }
        assert again == first  # same invoices, same error detail ids (updated, not added)

    def test_the_later_periods_wait_behind_the_failed_one(self, factory, world: World) -> None:
        bill_due(factory, at("2024-03-01T00:00:01"))
        result = by_subscription(factory)
        assert result["sub_a"] == [("finalized", 1310), ("finalized", 1000)]
        assert result["sub_price"] == [("failed", 0)]  # February waits for January

    def test_cured_the_next_run_turns_the_failed_invoice_into_the_real_one(
        self, factory, world: World, api: Api
    ) -> None:
        bill_due(factory, AS_OF)
        failed_ids = {invoice["lago_id"] for invoice in failed_invoices(api)}
        world.cure()
        summary = bill_due(factory, AS_OF)
        assert (summary.invoices_created, summary.failed) == (2, [])
        assert by_subscription(factory) == EXPECTED_CURED
        assert failed_invoices(api) == []
        with factory() as session:
            assert session.scalar(select(func.count()).select_from(Invoice)) == 4
            # The failed records consumed no number: org A's three invoices are 1, 2, 3.
            numbers = session.scalars(
                select(Invoice.organization_sequential_id)
                .where(Invoice.organization_id == api.organization.id)
                .order_by(Invoice.organization_sequential_id)
            ).all()
            assert numbers == [1, 2, 3]
        for lago_id in failed_ids:  # the same ids now hold the real invoices
            invoice = api.get(f"/invoices/{lago_id}").json()["invoice"]
            assert (invoice["status"], invoice["error_details"], invoice["total_amount_cents"]) == (
                "finalized",
                [],
                1310,
            )
        assert bill_due(factory, AS_OF).invoices_created == 0


class TestRetryEndpoint:
    def test_retry(self, factory, world: World, api: Api, other_api: Api, clock) -> None:
        clock.set("2024-02-01T00:00:01Z")
        bill_due(factory, AS_OF)
        [trial] = [i for i in failed_invoices(api) if i["subscriptions"][0]["external_id"] == "sub_trial"]
        lago_id = trial["lago_id"]
        assert other_api.post(f"/invoices/{lago_id}/retry").status_code == 404

        still = api.post(f"/invoices/{lago_id}/retry")  # not cured: still failed, error updated
        assert still.status_code == 200, still.text
        body = still.json()["invoice"]
        assert (
            body["status"] == "failed"
            and body["error_details"][0]["lago_id"] == trial["error_details"][0]["lago_id"]
        )

        world.cure()
        retried = api.post(f"/invoices/{lago_id}/retry")
        assert retried.status_code == 200, retried.text
        body = retried.json()["invoice"]
        assert (body["lago_id"], body["status"], body["total_amount_cents"], body["error_details"]) == (
            lago_id,
            "finalized",
            1310,
            [],
        )
        # Only that subscription was retried; the other failed invoice waits for the next run.
        assert by_subscription(factory)["sub_price"] == [("failed", 0)]
        assert by_subscription(factory)["sub_trial"] == HEALTHY
        # Not failed any more: Lago's 405.
        again = api.post(f"/invoices/{lago_id}/retry")
        assert (again.status_code, again.json()["code"]) == (405, "invalid_status")
        assert api.post("/invoices/00000000-0000-0000-0000-000000000000/retry").status_code == 404

    def test_a_failed_invoice_cannot_be_updated(self, factory, world: World, api: Api) -> None:
        bill_due(factory, AS_OF)
        lago_id = failed_invoices(api)[0]["lago_id"]
        response = api.put(f"/invoices/{lago_id}", json={"invoice": {"payment_status": "succeeded"}})
        assert (response.status_code, response.json()["code"]) == (405, "invalid_status")


class TestWorkerScan:
    def test_the_scan_bills_the_healthy_and_records_the_poisoned(
        self, factory, world: World, api: Api
    ) -> None:
        items = find_due_subscriptions(factory, AS_OF)
        created = sum(bill_batch(factory, str(item), AS_OF) for item in items)  # no job raises
        assert created == 2
        assert by_subscription(factory) == EXPECTED_POISONED
        world.cure()
        items = find_due_subscriptions(factory, AS_OF)
        assert sum(bill_batch(factory, str(item), AS_OF) for item in items) == 2
        assert by_subscription(factory) == EXPECTED_CURED


class TestBillCommand:
    def test_exit_status_3_with_failed_invoices_then_0(self, billow, factory, world: World) -> None:
        result = billow("bill", "--as-of", "2024-02-01T00:00:01Z")
        assert result.exit_code == 3, result.output
        assert "2 invoice(s) created" in result.output and "2 failed" in result.output
        assert result.output.count("failed invoice: ") == 2
        assert by_subscription(factory) == EXPECTED_POISONED
        world.cure()
        result = billow("bill", "--as-of", "2024-02-01T00:00:01Z")
        assert result.exit_code == 0, result.output
        assert by_subscription(factory) == EXPECTED_CURED


class TestTransitions:
    def test_one_organizations_failing_transition_does_not_stop_the_others(
        self, factory, world: World, api: Api, other_api: Api, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from billow.subscriptions.service import subscription_service

        real = subscription_service.apply_due_transitions

        def failing_for_a(session, now, organization_id=None):
            if organization_id in (None, api.organization.id):
                raise OverflowError("poisoned transition")
            return real(session, now, organization_id)

        monkeypatch.setattr(subscription_service, "apply_due_transitions", failing_for_a)
        summary = bill_due(factory, AS_OF)
        assert summary.unrecorded == [f"transitions of organization {api.organization.id}"]
        assert by_subscription(factory) == EXPECTED_POISONED  # billing went on


class TestCurrentUsage:
    """A poisoned subscription's current usage is a Lago-shaped 422, never a 500."""

    @pytest.mark.parametrize("amount", ["1e400", str(10**30)])
    def test_absurd_price(self, world: World, api: Api, clock, amount: str) -> None:
        clock.set("2024-01-25T00:00:00Z")
        world.session.execute(
            update(Charge)
            .where(Charge.id == world.charges["sub_price"].id)
            .values(properties={"amount": amount})
        )
        world.session.commit()
        response = api.get(
            "/customers/cus_sub_price/current_usage", params={"external_subscription_id": "sub_price"}
        )
        assert (response.status_code, response.json()) == (
            422,
            {
                "status": 422,
                "error": "Unprocessable Entity",
                "code": "validation_errors",
                "error_details": {"charges": ["value_is_out_of_range"]},
            },
        )
        healthy = api.get("/customers/cus_sub_a/current_usage", params={"external_subscription_id": "sub_a"})
        assert healthy.status_code == 200
