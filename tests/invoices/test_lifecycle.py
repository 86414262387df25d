"""The invoice lifecycle: grace-period drafts, refresh, finalize, void, delete, payment status and
metadata, zero-amount invoices, the invoice scans, list filters, and fee updates.

Setup: a monthly plan (1000 cents) with a standard charge of 2 per unit on a sum metric, a 20 % tax, a
subscription started 2024-01-01; an event of 3 units on 2024-01-20. The January invoice is due
2024-02-01: fees 1000 + 600 = 1600, taxes 320, total 1920.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from lago_python_client.models.invoice import InvoiceResponse
from lago_python_client.services.response import prepare_object_response
from sqlalchemy import select, update

from billow.billing import tasks as billing_tasks
from billow.billing.run import bill_due
from billow.customers.settings import grace_period_days
from billow.invoices import finalization, tasks
from billow.models.customers import Customer
from billow.models.invoices import Fee, Invoice, InvoiceSubscription
from billow.models.organizations import Organization
from tests.conftest import Api
from tests.fixtures import factories as f
from tests.fixtures.factories import at

# These tests subscribe in the past and bill the periods since (off by default, as Lago).
pytestmark = pytest.mark.usefixtures("bill_backdated_periods")

JANUARY_DUE = at("2024-02-01T01:00:00")
UNKNOWN = "6d5bcd09-4a4e-4d9c-a4f3-1e0a8c0b9f11"

Setup = Callable[..., dict[str, Any]]


@pytest.fixture
def setup(app: FastAPI, api: Api) -> Setup:
    """Create the catalog and a customer; ``customer`` fields (e.g. ``invoice_grace_period``) and
    ``organization`` fields are passed through."""

    def make(
        *,
        external_id: str = "cus_1",
        subscription_id: str = "sub_1",
        amount_cents: int = 1000,
        event_units: int | None = 3,
        organization: dict[str, Any] | None = None,
        **customer: Any,
    ) -> dict[str, Any]:
        with app.state.sessionmaker.begin() as session:
            session.execute(
                update(Organization)
                .where(Organization.id == api.organization.id)
                .values(document_number_prefix="ACM", **(organization or {}))
            )
            org = session.get(Organization, api.organization.id)
            assert org is not None
            metric = f.metric(session, org, "sum_agg", code=f"calls_{external_id}", name="API calls")
            plan = f.plan(session, org, code=f"pro_{external_id}", name="Pro", amount_cents=amount_cents)
            f.charge(session, org, plan, metric, "standard", {"amount": "2"})
            tax = f.tax(session, org, f"vat_{external_id}", "20")
            f.link_plan_tax(session, plan, tax)
            row = f.customer(session, org, external_id=external_id, name=f"Name of {external_id}", **customer)
            f.subscription(session, org, row, plan, external_id=subscription_id, started_at=at("2024-01-01"))
            if event_units is not None:
                f.event(
                    session,
                    org,
                    metric.code,
                    "2024-01-20T00:00:00",
                    {"value": event_units},
                    external_subscription_id=subscription_id,
                )
            return {"sequential_id": row.sequential_id, "metric": metric.code}

    return make


def bill(app: FastAPI, as_of: datetime = JANUARY_DUE) -> Any:
    return bill_due(app.state.sessionmaker, as_of)


def only_invoice(api: Api, **params: Any) -> dict[str, Any]:
    [invoice] = api.get("/invoices", params=params).json()["invoices"]
    return dict(invoice)


def send_event(api: Api, code: str, when: str, value: int, subscription: str = "sub_1") -> None:
    timestamp = int(at(when).timestamp())
    event = {
        "transaction_id": f"tr_{code}_{when}_{value}",
        "external_subscription_id": subscription,
        "code": code,
        "timestamp": timestamp,
        "properties": {"value": value},
    }
    response = api.post("/events", {"event": event})
    assert response.status_code == 200, response.text


def amounts(invoice: dict[str, Any]) -> tuple[int, int, int]:
    return invoice["fees_amount_cents"], invoice["taxes_amount_cents"], invoice["total_amount_cents"]


def today_utc() -> date:
    return datetime.now(UTC).date()


class TestDraftCreation:
    def test_grace_period_makes_a_draft(self, app: FastAPI, api: Api, setup: Setup) -> None:
        setup(invoice_grace_period=3)
        assert bill(app).invoices_created == 1
        invoice = only_invoice(api)
        assert {
            k: invoice[k]
            for k in (
                "number",
                "sequential_id",
                "status",
                "payment_status",
                "issuing_date",
                "payment_due_date",
                "total_due_amount_cents",
            )
        } == {
            "number": "ACM-DRAFT",
            "sequential_id": None,
            "status": "draft",
            "payment_status": "pending",
            "issuing_date": "2024-02-04",  # next_period_start + align_with_finalization_date: + grace
            "payment_due_date": "2024-02-04",
            "total_due_amount_cents": 1920,
        }
        assert amounts(invoice) == (1600, 320, 1920)
        assert api.get("/invoices", params={"status": "draft"}).json()["meta"]["total_count"] == 1
        assert api.get("/invoices", params={"status": "finalized"}).json()["invoices"] == []
        parsed = prepare_object_response(
            InvoiceResponse, api.get(f"/invoices/{invoice['lago_id']}").json()["invoice"]
        )
        assert parsed.sequential_id is None and parsed.status == "draft"

    def test_organization_grace_period_is_inherited(self, app: FastAPI, api: Api, setup: Setup) -> None:
        setup(organization={"invoice_grace_period": 2})
        bill(app)
        invoice = only_invoice(api)
        assert (invoice["status"], invoice["issuing_date"]) == ("draft", "2024-02-03")

    def test_customer_zero_grace_overrides_organization(self, app: FastAPI, api: Api, setup: Setup) -> None:
        seq = setup(invoice_grace_period=0, organization={"invoice_grace_period": 2})["sequential_id"]
        bill(app)
        invoice = only_invoice(api)
        assert (invoice["status"], invoice["number"]) == ("finalized", f"ACM-{seq:03d}-001")

    def test_keep_anchor_issuing_date(self, app: FastAPI, api: Api, setup: Setup) -> None:
        setup(invoice_grace_period=3, subscription_invoice_issuing_date_adjustment="keep_anchor")
        bill(app)
        assert only_invoice(api)["issuing_date"] == "2024-02-01"

    def test_current_period_end_anchor(self, app: FastAPI, api: Api, setup: Setup) -> None:
        setup(
            invoice_grace_period=3,
            subscription_invoice_issuing_date_anchor="current_period_end",
            subscription_invoice_issuing_date_adjustment="keep_anchor",
        )
        bill(app)
        assert only_invoice(api)["issuing_date"] == "2024-01-31"

    def test_net_payment_term(self, app: FastAPI, api: Api, setup: Setup) -> None:
        setup(invoice_grace_period=3, net_payment_term=10)
        bill(app)
        invoice = only_invoice(api)
        assert (invoice["issuing_date"], invoice["payment_due_date"], invoice["net_payment_term"]) == (
            "2024-02-04",
            "2024-02-14",
            10,
        )


class TestRefresh:
    def test_late_event_is_included(self, app: FastAPI, api: Api, setup: Setup) -> None:
        metric = setup(invoice_grace_period=3)["metric"]
        bill(app)
        draft = only_invoice(api)
        send_event(api, metric, "2024-01-25T00:00:00", 2)  # late, inside January
        send_event(api, metric, "2024-02-02T00:00:00", 50)  # February: not this invoice's
        response = api.put(f"/invoices/{draft['lago_id']}/refresh")
        assert response.status_code == 200
        refreshed = response.json()["invoice"]
        assert refreshed["lago_id"] == draft["lago_id"]
        assert (refreshed["status"], refreshed["number"]) == ("draft", "ACM-DRAFT")
        assert amounts(refreshed) == (2000, 400, 2400)
        charge = next(fee for fee in refreshed["fees"] if fee["item"]["type"] == "charge")
        assert (charge["units"], charge["events_count"], charge["amount_cents"]) == ("5.0", 2, 1000)
        assert refreshed["billing_periods"] == draft["billing_periods"]
        [applied] = refreshed["applied_taxes"]
        assert (applied["amount_cents"], applied["fees_amount_cents"]) == (400, 2000)
        # The period's key is kept: one row, and the billing run does not bill January again.
        with app.state.sessionmaker() as session:
            links = session.scalars(select(InvoiceSubscription)).all()
            assert [str(link.invoice_id) for link in links] == [draft["lago_id"]]
            assert len(session.scalars(select(Fee)).all()) == 2
        assert bill(app, at("2024-02-10T00:00:00")).invoices_created == 0

    def test_fees_keep_their_creation_instant(self, app: FastAPI, api: Api, setup: Setup) -> None:
        setup(invoice_grace_period=3)
        bill(app)
        draft = only_invoice(api)
        refreshed = api.put(f"/invoices/{draft['lago_id']}/refresh").json()["invoice"]
        assert {fee["created_at"] for fee in refreshed["fees"]} == {draft["created_at"]}

    def test_deleted_draft_cannot_be_refreshed(self, app: FastAPI, api: Api, setup: Setup) -> None:
        setup(invoice_grace_period=3)
        bill(app)
        draft = only_invoice(api)
        api.delete(f"/invoices/{draft['lago_id']}")
        for response in (
            api.put(f"/invoices/{draft['lago_id']}/refresh"),
            api.put(f"/invoices/{draft['lago_id']}/finalize"),
        ):
            assert (response.status_code, response.json()["code"]) == (404, "invoice_not_found")

    def test_refresh_of_finalized_invoice_returns_it_unchanged(
        self, app: FastAPI, api: Api, setup: Setup
    ) -> None:
        metric = setup()["metric"]
        bill(app)
        invoice = only_invoice(api)
        send_event(api, metric, "2024-01-25T00:00:00", 2)
        response = api.put(f"/invoices/{invoice['lago_id']}/refresh")
        assert response.status_code == 200
        assert amounts(response.json()["invoice"]) == (1600, 320, 1920)

    def test_not_found(self, api: Api) -> None:
        assert api.put(f"/invoices/{UNKNOWN}/refresh").json()["code"] == "invoice_not_found"


class TestFinalize:
    def test_finalize_refreshes_then_numbers(self, app: FastAPI, api: Api, setup: Setup) -> None:
        data = setup(invoice_grace_period=3, net_payment_term=5)
        bill(app)
        draft = only_invoice(api)
        send_event(api, data["metric"], "2024-01-31T23:59:59", 1)
        response = api.put(f"/invoices/{draft['lago_id']}/finalize")
        assert response.status_code == 200
        invoice = response.json()["invoice"]
        today = today_utc()
        assert {
            k: invoice[k]
            for k in (
                "number",
                "sequential_id",
                "status",
                "payment_status",
                "issuing_date",
                "payment_due_date",
            )
        } == {
            "number": f"ACM-{data['sequential_id']:03d}-001",
            "sequential_id": 1,
            "status": "finalized",
            "payment_status": "pending",
            # align_with_finalization_date: the finalization day
            "issuing_date": today.isoformat(),
            "payment_due_date": (today + timedelta(days=5)).isoformat(),
        }
        assert amounts(invoice) == (1800, 360, 2160)
        assert {fee["payment_status"] for fee in invoice["fees"]} == {"pending"}

    def test_keep_anchor_keeps_issuing_date(self, app: FastAPI, api: Api, setup: Setup) -> None:
        setup(invoice_grace_period=3, subscription_invoice_issuing_date_adjustment="keep_anchor")
        bill(app)
        draft = only_invoice(api)
        invoice = api.put(f"/invoices/{draft['lago_id']}/finalize").json()["invoice"]
        assert (invoice["status"], invoice["issuing_date"], invoice["payment_due_date"]) == (
            "finalized",
            "2024-02-01",
            "2024-02-01",
        )

    def test_finalizing_a_finalized_invoice_is_not_found(self, app: FastAPI, api: Api, setup: Setup) -> None:
        setup()
        bill(app)
        invoice = only_invoice(api)
        response = api.put(f"/invoices/{invoice['lago_id']}/finalize")
        # Lago looks the invoice up among drafts.
        assert (response.status_code, response.json()["code"]) == (404, "invoice_not_found")

    def test_draft_consumes_no_number(self, app: FastAPI, api: Api, setup: Setup) -> None:
        organization = {"document_numbering": "per_organization"}
        setup(
            invoice_grace_period=3,
            subscription_invoice_issuing_date_adjustment="keep_anchor",
            organization=organization,
        )
        setup(external_id="cus_2", subscription_id="sub_2", organization=organization)
        bill(app)
        immediate = only_invoice(api, external_customer_id="cus_2")
        draft = only_invoice(api, external_customer_id="cus_1")
        assert (immediate["number"], draft["number"]) == ("ACM-202402-001", "ACM-DRAFT")
        finalized = api.put(f"/invoices/{draft['lago_id']}/finalize").json()["invoice"]
        assert finalized["number"] == "ACM-202402-002"

    def test_payment_succeeded_when_total_is_zero(self, app: FastAPI, api: Api, setup: Setup) -> None:
        setup(invoice_grace_period=1, amount_cents=0, event_units=None)
        bill(app)
        draft = only_invoice(api)
        invoice = api.put(f"/invoices/{draft['lago_id']}/finalize").json()["invoice"]
        assert (invoice["status"], invoice["payment_status"], invoice["total_amount_cents"]) == (
            "finalized",
            "succeeded",
            0,
        )


class TestScans:
    def test_refresh_scan_picks_drafts_with_late_events(self, app: FastAPI, api: Api, setup: Setup) -> None:
        metric = setup(invoice_grace_period=3)["metric"]
        bill(app)
        factory, now = app.state.sessionmaker, datetime.now(UTC)
        assert billing_tasks.drafts_to_refresh(factory, now) == []  # nothing new since the draft was written
        send_event(api, metric, "2024-02-05T00:00:00", 7)  # outside the period: no refresh needed
        assert billing_tasks.drafts_to_refresh(factory, now) == []
        send_event(api, metric, "2024-01-10T00:00:00", 4)
        items = billing_tasks.drafts_to_refresh(factory, now)
        assert len(items) == 1
        assert (
            billing_tasks.run_fan_out(
                billing_tasks.drafts_to_refresh, billing_tasks.refresh_draft, factory, now
            )
            == items
        )
        assert amounts(only_invoice(api)) == (2400, 480, 2880)
        assert billing_tasks.drafts_to_refresh(factory, datetime.now(UTC)) == []

    def test_finalize_scan_after_grace_period(self, app: FastAPI, api: Api, setup: Setup) -> None:
        data = setup(invoice_grace_period=3)
        bill(app)
        factory = app.state.sessionmaker
        assert billing_tasks.drafts_to_finalize(factory, at("2024-02-03T23:00:00")) == []
        send_event(api, data["metric"], "2024-01-25T00:00:00", 2)  # refreshed by the finalization
        done = billing_tasks.run_fan_out(
            billing_tasks.drafts_to_finalize, billing_tasks.finalize_draft, factory, at("2024-02-04T00:20:00")
        )
        assert len(done) == 1
        invoice = only_invoice(api)
        assert {k: invoice[k] for k in ("status", "number", "issuing_date", "payment_status")} == {
            "status": "finalized",
            "number": f"ACM-{data['sequential_id']:03d}-001",
            "issuing_date": "2024-02-04",
            "payment_status": "pending",
        }
        assert amounts(invoice) == (2000, 400, 2400)
        # Idempotent: a second run finds nothing, and a draft item already finalized is skipped.
        assert billing_tasks.drafts_to_finalize(factory, at("2024-02-05T00:00:00")) == []
        item = f"{api.organization.id}:{invoice['lago_id']}"
        assert billing_tasks.finalize_draft(factory, item, at("2024-02-05T00:00:00")) is False

    def test_mark_overdue(self, app: FastAPI, api: Api, setup: Setup) -> None:
        setup(net_payment_term=5)
        bill(app)
        factory = app.state.sessionmaker
        assert tasks.mark_overdue(factory, at("2024-02-06T12:00:00")) == 0  # due 2024-02-06
        assert tasks.mark_overdue(factory, at("2024-02-07T00:10:00")) == 1
        invoice = only_invoice(api, payment_overdue="true")
        assert invoice["payment_overdue"] is True
        assert api.get("/invoices", params={"payment_overdue": "false"}).json()["invoices"] == []
        paid = api.put(f"/invoices/{invoice['lago_id']}", {"invoice": {"payment_status": "succeeded"}})
        assert paid.json()["invoice"]["payment_overdue"] is False
        assert tasks.mark_overdue(factory, at("2024-02-08T00:00:00")) == 0

    def test_scans_are_registered(self) -> None:
        from billow.worker.scans import SCANS

        assert SCANS["invoices.finalize_drafts"].each is billing_tasks.finalize_draft
        assert SCANS["invoices.refresh_drafts"].each is billing_tasks.refresh_draft
        assert SCANS["invoices.mark_overdue"].run is tasks.mark_overdue


class TestZeroAmount:
    def test_skip_closes_the_invoice(self, app: FastAPI, api: Api, setup: Setup) -> None:
        seq = setup(amount_cents=0, event_units=None, finalize_zero_amount_invoice="skip")["sequential_id"]
        assert bill(app).invoices_created == 1
        assert api.get("/invoices").json()["invoices"] == []
        with app.state.sessionmaker() as session:
            closed = session.scalars(select(Invoice)).one()
            assert (closed.status, closed.number, closed.sequential_id) == ("closed", "ACM-DRAFT", None)
            invoice_id = closed.id
        assert api.get(f"/invoices/{invoice_id}").status_code == 404
        assert api.get("/fees").json()["fees"] == []
        # Not billed again; the next invoice with an amount takes the first number.
        assert bill(app).invoices_created == 0
        with app.state.sessionmaker.begin() as session:
            org = session.get(Organization, api.organization.id)
            f.event(session, org, "calls_cus_1", "2024-02-10T00:00:00", {"value": 1})
        assert bill(app, at("2024-03-01T01:00:00")).invoices_created == 1
        assert only_invoice(api)["number"] == f"ACM-{seq:03d}-001"

    def test_organization_setting_is_inherited(self, app: FastAPI, api: Api, setup: Setup) -> None:
        setup(amount_cents=0, event_units=None, organization={"finalize_zero_amount_invoice": False})
        bill(app)
        assert api.get("/invoices").json()["invoices"] == []

    def test_customer_finalize_overrides_organization(self, app: FastAPI, api: Api, setup: Setup) -> None:
        setup(
            amount_cents=0,
            event_units=None,
            finalize_zero_amount_invoice="finalize",
            organization={"finalize_zero_amount_invoice": False},
        )
        bill(app)
        assert only_invoice(api)["status"] == "finalized"

    def test_draft_is_closed_at_finalization(self, app: FastAPI, api: Api, setup: Setup) -> None:
        setup(invoice_grace_period=2, amount_cents=0, event_units=None, finalize_zero_amount_invoice="skip")
        bill(app)
        draft = only_invoice(api)
        assert draft["status"] == "draft"  # a zero-amount draft stays listed until finalized
        response = api.put(f"/invoices/{draft['lago_id']}/finalize")
        assert (response.status_code, response.json()["invoice"]["status"]) == (200, "closed")
        assert api.get("/invoices").json()["invoices"] == []


class TestVoid:
    def test_void_finalized(self, app: FastAPI, api: Api, setup: Setup) -> None:
        setup()
        bill(app)
        invoice = only_invoice(api)
        response = api.post(f"/invoices/{invoice['lago_id']}/void")
        assert response.status_code == 200
        voided = response.json()["invoice"]
        assert (voided["status"], voided["total_due_amount_cents"]) == ("voided", 0)
        assert voided["voided_at"] is not None
        again = api.post(f"/invoices/{invoice['lago_id']}/void")
        assert (again.status_code, again.json()["code"]) == (405, "not_voidable")
        # Voided invoices cannot be updated.
        update_response = api.put(
            f"/invoices/{invoice['lago_id']}", {"invoice": {"payment_status": "succeeded"}}
        )
        assert (update_response.status_code, update_response.json()["code"]) == (
            405,
            "update_on_voided_invoice",
        )

    def test_draft_is_not_voidable(self, app: FastAPI, api: Api, setup: Setup) -> None:
        setup(invoice_grace_period=3)
        bill(app)
        draft = only_invoice(api)
        response = api.post(f"/invoices/{draft['lago_id']}/void", json={"generate_credit_note": False})
        assert (response.status_code, response.json()["code"]) == (405, "not_voidable")

    def test_credit_note_on_void(self, app: FastAPI, api: Api, setup: Setup) -> None:
        """The credit note itself: ``tests/credit_notes/test_manual_api.py``."""
        setup()
        bill(app)
        invoice = only_invoice(api)
        response = api.post(f"/invoices/{invoice['lago_id']}/void", json={"generate_credit_note": True})
        assert (response.status_code, response.json()["invoice"]["status"]) == (200, "voided")
        [note] = api.get("/credit_notes").json()["credit_notes"]
        assert (note["lago_invoice_id"], note["credit_status"]) == (invoice["lago_id"], "voided")


class TestDelete:
    def test_delete_draft_keeps_the_period_billed(self, app: FastAPI, api: Api, setup: Setup) -> None:
        setup(invoice_grace_period=3)
        bill(app)
        draft = only_invoice(api)
        response = api.delete(f"/invoices/{draft['lago_id']}")
        assert (response.status_code, response.json()["invoice"]["status"]) == (200, "deleted")
        assert api.get(f"/invoices/{draft['lago_id']}").status_code == 404
        assert api.get("/invoices").json()["invoices"] == []
        assert api.get("/fees").json()["fees"] == []
        factory = app.state.sessionmaker
        assert billing_tasks.drafts_to_finalize(factory, at("2024-03-01T00:00:00")) == []
        # January is not billed again; February is.
        summary = bill(app, at("2024-03-01T01:00:00"))
        assert summary.invoices_created == 1
        [february] = api.get("/invoices").json()["invoices"]
        assert february["billing_periods"][0]["charges_from_datetime"] == "2024-02-01T00:00:00Z"

    def test_finalized_is_not_deletable(self, app: FastAPI, api: Api, setup: Setup) -> None:
        setup()
        bill(app)
        invoice = only_invoice(api)
        response = api.delete(f"/invoices/{invoice['lago_id']}")
        assert (response.status_code, response.json()["code"]) == (405, "not_deletable")


class TestUpdate:
    def test_payment_status_and_metadata(self, app: FastAPI, api: Api, setup: Setup) -> None:
        setup()
        bill(app)
        invoice = only_invoice(api)
        path = f"/invoices/{invoice['lago_id']}"
        body = {
            "invoice": {
                "payment_status": "succeeded",
                "metadata": [{"key": "po", "value": "123"}, {"key": "team", "value": "ops"}],
            }
        }
        updated = api.put(path, body).json()["invoice"]
        assert updated["payment_status"] == "succeeded"
        assert {fee["payment_status"] for fee in updated["fees"]} == {"succeeded"}
        assert [(m["key"], m["value"]) for m in updated["metadata"]] == [("po", "123"), ("team", "ops")]
        po = updated["metadata"][0]
        # Known ids are updated, new entries created, missing ones deleted.
        body = {
            "invoice": {
                "metadata": [{"id": po["lago_id"], "key": "po", "value": "456"}, {"key": "x", "value": "y"}]
            }
        }
        again = api.put(path, body).json()["invoice"]
        assert [(m["key"], m["value"]) for m in again["metadata"]] == [("po", "456"), ("x", "y")]
        assert again["metadata"][0]["lago_id"] == po["lago_id"]
        assert again["payment_status"] == "succeeded"
        assert only_invoice(api, **{"metadata[po]": "456"})["lago_id"] == invoice["lago_id"]
        assert api.get("/invoices", params={"metadata[po]": "123"}).json()["invoices"] == []
        parsed = prepare_object_response(InvoiceResponse, again)
        assert parsed.metadata is not None

    def test_validation(self, app: FastAPI, api: Api, setup: Setup) -> None:
        setup()
        bill(app)
        path = f"/invoices/{only_invoice(api)['lago_id']}"
        bad = api.put(path, {"invoice": {"payment_status": "paid"}})
        assert (bad.status_code, bad.json()["error_details"]) == (
            422,
            {"payment_status": ["value_is_invalid"]},
        )
        many = [{"key": f"k{i}", "value": "v"} for i in range(6)]
        too_many = api.put(path, {"invoice": {"metadata": many}})
        assert (too_many.status_code, too_many.json()["error_details"]["metadata"]) == (
            422,
            ["invalid_count"],
        )
        long_key = api.put(path, {"invoice": {"metadata": [{"key": "k" * 21, "value": "v"}]}})
        assert long_key.json()["error_details"] == {"key": ["value_is_too_long"]}
        assert only_invoice(api)["metadata"] == []

    def test_draft_rules(self, app: FastAPI, api: Api, setup: Setup) -> None:
        setup(invoice_grace_period=3)
        bill(app)
        path = f"/invoices/{only_invoice(api)['lago_id']}"
        metadata = api.put(path, {"invoice": {"metadata": [{"key": "a", "value": "b"}]}})
        assert (metadata.status_code, metadata.json()["code"]) == (405, "metadata_on_draft_invoice")
        status = api.put(path, {"invoice": {"payment_status": "succeeded"}})
        assert (status.status_code, status.json()["code"]) == (405, "payment_status_update_on_draft_invoice")
        same = api.put(path, {"invoice": {"payment_status": "pending"}})
        assert same.status_code == 200


class TestListFilters:
    def test_filters(self, app: FastAPI, api: Api, setup: Setup) -> None:
        setup()
        setup(external_id="cus_2", subscription_id="sub_2", event_units=10)
        bill(app)
        first = only_invoice(api, external_customer_id="cus_1")
        assert api.get("/invoices", params={"currency": "USD"}).json()["meta"]["total_count"] == 2
        assert api.get("/invoices", params={"currency": "EUR"}).json()["invoices"] == []
        # cus_1: 1920; cus_2: (1000 + 2000) * 1.2 = 3600
        assert only_invoice(api, amount_from=2000)["customer"]["external_id"] == "cus_2"
        assert only_invoice(api, amount_to=1920)["customer"]["external_id"] == "cus_1"
        assert only_invoice(api, search_term=first["number"])["lago_id"] == first["lago_id"]
        assert only_invoice(api, search_term="of cus_2")["customer"]["external_id"] == "cus_2"
        assert only_invoice(api, search_term="CUS_1")["lago_id"] == first["lago_id"]
        assert only_invoice(api, search_term=first["lago_id"])["lago_id"] == first["lago_id"]
        assert api.get("/invoices", params={"search_term": "nothing"}).json()["invoices"] == []
        assert api.get("/invoices", params={"invoice_type": "one_off"}).json()["invoices"] == []
        both = api.get("/invoices", params=[("status[]", "finalized"), ("status[]", "draft")]).json()
        assert both["meta"]["total_count"] == 2
        assert api.get("/invoices", params={"payment_dispute_lost": "true"}).json()["invoices"] == []
        assert (
            api.get("/invoices", params={"issuing_date_from": "not-a-date"}).json()["meta"]["total_count"]
            == 2
        )

    def test_customer_invoices_take_the_same_filters(self, app: FastAPI, api: Api, setup: Setup) -> None:
        setup(invoice_grace_period=3)
        setup(external_id="cus_2", subscription_id="sub_2")
        bill(app)
        assert (
            api.get("/customers/cus_1/invoices", params={"status": "draft"}).json()["meta"]["total_count"]
            == 1
        )
        assert api.get("/customers/cus_1/invoices", params={"status": "finalized"}).json()["invoices"] == []
        assert (
            api.get("/customers/cus_2/invoices", params={"status": "finalized"}).json()["meta"]["total_count"]
            == 1
        )
        bad = api.get("/customers/cus_1/invoices", params={"status": "nope"})
        assert bad.status_code == 422

    def test_invalid_filters(self, api: Api) -> None:
        response = api.get("/invoices", params={"status": "closed"})
        assert (response.status_code, response.json()["error_details"]) == (
            422,
            {"status": ["value_is_invalid"]},
        )
        response = api.get("/invoices", params={"payment_status": "paid"})
        assert response.json()["error_details"] == {"payment_status": ["value_is_invalid"]}
        response = api.get("/invoices", params={"payment_overdue": "maybe"})
        assert response.json()["error_details"] == {"payment_overdue": ["value_is_invalid"]}


def _loose_fee(app: FastAPI, api: Api) -> str:
    """A fee attached to no invoice (as pay-in-advance, non-invoiceable fees are)."""
    with app.state.sessionmaker.begin() as session:
        invoiced = session.scalars(select(Fee).where(Fee.fee_type == "subscription")).first()
        assert invoiced is not None
        fee = Fee(
            organization_id=invoiced.organization_id,
            customer_id=invoiced.customer_id,
            subscription_id=invoiced.subscription_id,
            fee_type="subscription",
            amount_cents=100,
            amount_currency="USD",
            invoiceable=False,
            pay_in_advance=True,
            created_at=at("2024-02-10T00:00:00"),
        )
        session.add(fee)
        session.flush()
        return str(fee.id)


class TestFees:
    def test_update_payment_status_of_a_fee_without_invoice(
        self, app: FastAPI, api: Api, setup: Setup
    ) -> None:
        setup()
        bill(app)
        fee_id = _loose_fee(app, api)
        response = api.put(f"/fees/{fee_id}", {"fee": {"payment_status": "succeeded"}})
        assert response.status_code == 200
        fee = response.json()["fee"]
        assert fee["payment_status"] == "succeeded" and fee["succeeded_at"] is not None
        failed = api.put(f"/fees/{fee_id}", {"fee": {"payment_status": "failed"}}).json()["fee"]
        assert (failed["succeeded_at"], failed["failed_at"] is not None) == (None, True)
        bad = api.put(f"/fees/{fee_id}", {"fee": {"payment_status": "paid"}})
        assert (bad.status_code, bad.json()["error_details"]) == (
            422,
            {"payment_status": ["value_is_invalid"]},
        )
        assert only_fee(api, payment_status="failed")["lago_id"] == fee_id

    def test_invoiced_fee_cannot_change(self, app: FastAPI, api: Api, setup: Setup) -> None:
        setup()
        bill(app)
        fee = only_invoice(api)["fees"][0]
        update_response = api.put(f"/fees/{fee['lago_id']}", {"fee": {"payment_status": "succeeded"}})
        assert (update_response.status_code, update_response.json()["code"]) == (405, "invoiced_fee")
        delete_response = api.delete(f"/fees/{fee['lago_id']}")
        assert (delete_response.status_code, delete_response.json()["code"]) == (405, "invoiced_fee")

    def test_delete_fee_without_invoice(self, app: FastAPI, api: Api, setup: Setup) -> None:
        setup()
        bill(app)
        fee_id = _loose_fee(app, api)
        response = api.delete(f"/fees/{fee_id}")
        assert (response.status_code, response.json()["fee"]["lago_id"]) == (200, fee_id)
        assert api.get(f"/fees/{fee_id}").json()["code"] == "fee_not_found"
        assert api.delete(f"/fees/{fee_id}").status_code == 404

    def test_filters(self, app: FastAPI, api: Api, setup: Setup) -> None:
        data = setup()
        bill(app)
        fee_id = _loose_fee(app, api)
        assert only_fee(api, billable_metric_code=data["metric"])["item"]["type"] == "charge"
        assert api.get("/fees", params={"currency": "usd"}).json()["meta"]["total_count"] == 3
        assert api.get("/fees", params={"currency": "EUR"}).json()["fees"] == []
        assert only_fee(api, created_at_to="2024-03-01T00:00:00Z")["lago_id"] == fee_id
        assert api.get("/fees", params={"created_at_from": "2024-03-01"}).json()["meta"]["total_count"] == 2
        bad = api.get("/fees", params={"fee_type": "nonsense"})
        assert (bad.status_code, bad.json()["error_details"]) == (422, {"fee_type": ["value_is_invalid"]})
        assert api.get("/fees", params={"payment_status": "x"}).status_code == 422


def only_fee(api: Api, **params: Any) -> dict[str, Any]:
    [fee] = api.get("/fees", params=params).json()["fees"]
    return dict(fee)


class TestTenancy:
    def test_other_organization_cannot_touch(
        self, app: FastAPI, api: Api, other_api: Api, setup: Setup
    ) -> None:
        setup(invoice_grace_period=3)
        bill(app)
        draft = only_invoice(api)
        path = f"/invoices/{draft['lago_id']}"
        for call in (
            lambda: other_api.put(f"{path}/refresh"),
            lambda: other_api.put(f"{path}/finalize"),
            lambda: other_api.post(f"{path}/void"),
            lambda: other_api.delete(path),
            lambda: other_api.put(path, {"invoice": {"payment_status": "succeeded"}}),
        ):
            response = call()
            assert (response.status_code, response.json()["code"]) == (404, "invoice_not_found")
        fee_id = draft["fees"][0]["lago_id"]
        assert other_api.put(f"/fees/{fee_id}", {"fee": {"payment_status": "succeeded"}}).status_code == 404
        assert other_api.delete(f"/fees/{fee_id}").status_code == 404
        assert other_api.get("/invoices", params={"search_term": "ACM"}).json()["invoices"] == []
        assert only_invoice(api)["status"] == "draft"


class TestIssuingDateRules:
    """Lago's ``Invoices::IssuingDateService`` table (days added to the local due date)."""

    @pytest.mark.parametrize(
        ("anchor", "adjustment", "grace", "reason", "shift"),
        [
            (None, None, 3, "subscription_periodic", 3),  # next_period_start + align_with_finalization_date
            (None, None, 0, "subscription_periodic", 0),
            ("next_period_start", "keep_anchor", 3, "subscription_periodic", 0),
            ("current_period_end", "keep_anchor", 3, "subscription_periodic", -1),
            ("current_period_end", "keep_anchor", 0, "subscription_periodic", -1),
            ("current_period_end", "align_with_finalization_date", 3, "subscription_periodic", 3),
            ("current_period_end", "align_with_finalization_date", 0, "subscription_periodic", -1),
            ("current_period_end", "keep_anchor", 2, "subscription_terminating", 2),
            (None, None, 2, "subscription_starting", 2),
        ],
    )
    def test_shift(
        self, anchor: str | None, adjustment: str | None, grace: int, reason: str, shift: int
    ) -> None:
        customer = Customer(
            subscription_invoice_issuing_date_anchor=anchor,
            subscription_invoice_issuing_date_adjustment=adjustment,
        )
        assert finalization.issuing_date_shift(customer, grace, invoicing_reason=reason) == shift
        keeps = reason == "subscription_periodic" and adjustment == "keep_anchor"
        assert finalization.keeps_anchor(customer, invoicing_reason=reason) is keeps

    @pytest.mark.parametrize(
        ("customer_setting", "organization_setting", "finalizes"),
        [
            ("inherit", True, True),
            ("inherit", False, False),
            ("skip", True, False),
            ("finalize", False, True),
        ],
    )
    def test_zero_amount_setting(
        self, customer_setting: str, organization_setting: bool, finalizes: bool
    ) -> None:
        customer = Customer(finalize_zero_amount_invoice=customer_setting)
        organization = Organization(finalize_zero_amount_invoice=organization_setting)
        assert finalization.finalizes_zero_amount(customer, organization) is finalizes

    def test_grace_period_inheritance(self) -> None:
        organization = Organization(invoice_grace_period=4)
        assert grace_period_days(Customer(invoice_grace_period=None), organization) == 4
        assert grace_period_days(Customer(invoice_grace_period=0), organization) == 0
        assert grace_period_days(Customer(invoice_grace_period=1), organization) == 1
