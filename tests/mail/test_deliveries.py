"""Exactly-once deliveries: the billing run's invoices, an SMTP server down then back (the scan retries),
a crash after the commit (the scan catches up), two senders racing (one claim wins), attachments."""

from __future__ import annotations

import io
import threading
import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from pypdf import PdfReader
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from billow.billing.run import bill_due
from billow.db import make_sessionmaker, utcnow
from billow.mail import deliveries as mail
from billow.models.mail import DeliveryStatus, DocumentKind, EmailDelivery
from billow.models.organizations import Organization
from billow.worker.dispatch import HOOKS, hook
from tests.conftest import Api
from tests.fixtures import factories as f
from tests.fixtures.factories import at
from tests.mail.conftest import Inbox, create_customer, enable_emails, free_port, one_off_invoice

pytestmark = pytest.mark.usefixtures("bill_backdated_periods")


def all_deliveries(app: FastAPI) -> list[EmailDelivery]:
    with app.state.sessionmaker() as session:
        return list(session.scalars(select(EmailDelivery).order_by(EmailDelivery.created_at)))


def task_sessions(app: FastAPI) -> sessionmaker[Session]:
    """Sessions without dispatcher, as the tasks and scans get them."""
    return make_sessionmaker(app.state.engine)


def run_scan(app: FastAPI, now: Any) -> list[str]:
    factory = task_sessions(app)
    items = mail.pending_deliveries(factory, now)
    for item in items:
        mail.send_item(factory, item, now)
    return items


def pending_delivery(app: FastAPI, api: Api) -> EmailDelivery:
    """A finalized invoice whose delivery was written but never sent (the process stopped after the
    commit): the invoice is made with e-mails off, then its delivery row is written as the hook does."""
    enable_emails(api, settings=())
    create_customer(api, email="ann@example.com")
    invoice = one_off_invoice(api)
    with app.state.sessionmaker.begin() as session:
        row = EmailDelivery(
            organization_id=api.organization.id,
            document_kind=DocumentKind.INVOICE,
            document_id=uuid.UUID(invoice["lago_id"]),
            recipients={},
        )
        session.add(row)
    enable_emails(api)
    return row


class TestBillingRun:
    def test_subscription_invoice_of_the_billing_run(self, app: FastAPI, api: Api, smtp: Inbox) -> None:
        """The run's invoice (written with Core inserts by billing.assembly) announces its finalization:
        January's plan fee 100.00 EUR, mailed in Spanish."""
        enable_emails(api)
        with app.state.sessionmaker.begin() as session:
            org = session.get(Organization, api.organization.id)
            assert org is not None
            plan = f.plan(session, org, code="pro", name="Pro", amount_cents=10000, amount_currency="EUR")
            customer = f.customer(
                session, org, external_id="cus_1", email="ann@example.com", document_locale="es"
            )
            f.subscription(session, org, customer, plan, external_id="sub_1", started_at=at("2024-01-01"))
        bill_due(app.state.sessionmaker, at("2024-02-01T12:00:00"))
        [invoice] = api.get("/invoices").json()["invoices"]
        assert invoice["status"] == "finalized"
        [received] = smtp.messages
        assert received.message["Subject"] == f"Factura {invoice['number']} de Acme"
        assert "por 100,00\u00a0€" in received.message.get_body(preferencelist=("plain",)).get_content()
        [delivery] = all_deliveries(app)
        assert delivery.status == DeliveryStatus.SENT


class TestRetries:
    def test_server_down_then_back(
        self, app: FastAPI, api: Api, smtp: Inbox, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("BILLOW_SMTP_PORT", str(free_port()))  # nobody listens there
        enable_emails(api)
        create_customer(api, email="ann@example.com")
        one_off_invoice(api)
        [delivery] = all_deliveries(app)
        assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 1
        assert delivery.last_error is not None and "ConnectionRefusedError" in delivery.last_error
        assert delivery.next_attempt_at is not None
        # 1 minute of backoff after the first attempt: a scan before that takes nothing.
        assert run_scan(app, delivery.next_attempt_at - timedelta(seconds=1)) == []
        monkeypatch.setenv("BILLOW_SMTP_PORT", str(smtp.port))
        assert len(run_scan(app, delivery.next_attempt_at)) == 1
        [received] = smtp.messages
        assert received.rcpt_tos == ["ann@example.com"]
        [delivery] = all_deliveries(app)
        assert (delivery.status, delivery.attempts, delivery.last_error) == ("sent", 2, None)
        assert run_scan(app, utcnow() + timedelta(days=1)) == []  # sent once, never again

    def test_gives_up_after_the_last_attempt(
        self, app: FastAPI, api: Api, smtp: Inbox, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("BILLOW_SMTP_PORT", str(free_port()))
        enable_emails(api)
        create_customer(api, email="ann@example.com")
        one_off_invoice(api)
        now = utcnow()
        for attempt in range(2, mail.MAX_ATTEMPTS + 1):
            now += timedelta(days=1)
            assert len(run_scan(app, now)) == 1, attempt
        [delivery] = all_deliveries(app)
        assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 5, None)
        monkeypatch.setenv("BILLOW_SMTP_PORT", str(smtp.port))
        assert run_scan(app, now + timedelta(days=30)) == []
        assert smtp.messages == []

    def test_backoff(self) -> None:
        # 4^(n-1) minutes: 1, 4, 16, 64, 256; capped at 6 hours (4^5 = 1024 minutes > 360).
        assert [mail.backoff(n) for n in (1, 2, 3, 4, 5)] == [
            timedelta(minutes=m) for m in (1, 4, 16, 64, 256)
        ]
        assert mail.backoff(6) == timedelta(hours=6)


class TestExactlyOnce:
    def test_scan_sends_what_a_crash_left_pending(self, app: FastAPI, api: Api, smtp: Inbox) -> None:
        row = pending_delivery(app, api)
        assert smtp.messages == []
        assert run_scan(app, utcnow()) == [f"{api.organization.id}|{row.id}"]
        assert len(smtp.messages) == 1
        assert run_scan(app, utcnow() + timedelta(days=1)) == []
        assert len(smtp.messages) == 1

    def test_task_and_scan_race(self, app: FastAPI, api: Api, smtp: Inbox) -> None:
        row = pending_delivery(app, api)
        factory = task_sessions(app)
        now = utcnow()
        barrier = threading.Barrier(2)
        outcomes: list[str | None] = []
        errors: list[BaseException] = []

        def sender() -> None:
            try:
                barrier.wait(10)
                outcomes.append(mail.deliver(factory, api.organization.id, row.id, now))
            except BaseException as error:  # surfaced below
                errors.append(error)

        threads = [threading.Thread(target=sender) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        assert errors == []
        assert sorted(outcomes, key=str) == [None, "sent"]
        assert len(smtp.messages) == 1
        # Sequentially too: the task claimed it, the scan's claim then finds nothing.
        assert mail.deliver(factory, api.organization.id, row.id, now) is None
        assert all_deliveries(app)[0].attempts == 1

    def test_leased_delivery_is_not_taken(self, app: FastAPI, api: Api, smtp: Inbox) -> None:
        """A sender that died holding its claim: the delivery waits for the lease to pass."""
        row = pending_delivery(app, api)
        now = utcnow()
        with app.state.sessionmaker.begin() as session:
            session.execute(
                update(EmailDelivery)
                .where(EmailDelivery.id == row.id)
                .values(attempts=1, next_attempt_at=now + mail.LEASE)
            )
        assert run_scan(app, now) == []
        assert len(run_scan(app, now + mail.LEASE)) == 1
        assert len(smtp.messages) == 1


class TestAttachments:
    def test_hook_attaches_files(self, app: FastAPI, api: Api, smtp: Inbox) -> None:
        seen: list[tuple[str, str]] = []

        def attach_pdf(session: Session, *, kind: str, document: Any, attachments: list[Any]) -> None:
            seen.append((kind, document.number))
            attachments.append((f"invoice-{document.number}.pdf", b"%PDF-1.7 test", "application/pdf"))

        hook(mail.ATTACHMENTS_HOOK)(attach_pdf)
        try:
            enable_emails(api)
            create_customer(api, email="ann@example.com")
            invoice = one_off_invoice(api)
        finally:
            HOOKS[mail.ATTACHMENTS_HOOK].remove(attach_pdf)
        assert seen == [("invoice", invoice["number"])]
        [received] = smtp.messages
        # The invoice's own PDF (billow.documents) first, then the test's file.
        real, extra = list(received.message.iter_attachments())
        assert extra.get_filename() == f"invoice-{invoice['number']}.pdf"
        assert extra.get_content_type() == "application/pdf"
        assert extra.get_content() == b"%PDF-1.7 test"
        assert real.get_filename() == f"{invoice['number']}.pdf"
        assert real.get_content_type() == "application/pdf"
        text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(real.get_content())).pages)
        assert invoice["number"] in text

    def test_failing_hook_is_retried(self, app: FastAPI, api: Api, smtp: Inbox) -> None:
        """A hook that raises (the PDF not ready) fails the attempt; the scan retries after the backoff."""
        calls: list[int] = []

        def flaky(session: Session, *, kind: str, document: Any, attachments: list[Any]) -> None:
            calls.append(1)
            if len(calls) == 1:
                raise RuntimeError("PDF not ready")

        hook(mail.ATTACHMENTS_HOOK)(flaky)
        try:
            enable_emails(api)
            create_customer(api, email="ann@example.com")
            one_off_invoice(api)
            [delivery] = all_deliveries(app)
            assert (delivery.status, delivery.last_error) == ("failed", "RuntimeError: PDF not ready")
            assert smtp.messages == []
            assert delivery.next_attempt_at is not None
            assert len(run_scan(app, delivery.next_attempt_at)) == 1
        finally:
            HOOKS[mail.ATTACHMENTS_HOOK].remove(flaky)
        assert len(smtp.messages) == 1
        assert all_deliveries(app)[0].status == "sent"
