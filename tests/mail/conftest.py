"""A local SMTP server (aiosmtpd) receiving the e-mails of the test, and the documents they are about."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from tests.conftest import Api


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class Inbox:
    host: str
    port: int
    messages: list[Received] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    """An SMTP server on 127.0.0.1 (no TLS) that Billow's settings point to."""
    inbox = Inbox("127.0.0.1", free_port())
    controller = Controller(inbox, hostname=inbox.host, port=inbox.port)
    controller.start()
    monkeypatch.setenv("BILLOW_SMTP_HOST", inbox.host)
    monkeypatch.setenv("BILLOW_SMTP_PORT", str(inbox.port))
    monkeypatch.setenv("BILLOW_SMTP_SECURITY", "none")
    monkeypatch.setenv("BILLOW_SMTP_FROM", "billing@billow.test")
    monkeypatch.setenv("BILLOW_SMTP_TIMEOUT", "5")
    try:
        yield inbox
    finally:
        controller.stop()


def enable_emails(
    api: Api, settings: tuple[str, ...] = ("invoice.finalized", "credit_note.created"), **fields: Any
) -> None:
    organization = {"email": "billing@acme.test", "email_settings": list(settings), **fields}
    response = api.put("/organizations", json={"organization": organization})
    assert response.status_code == 200, response.text


def create_customer(api: Api, external_id: str = "cus_1", **fields: Any) -> dict[str, Any]:
    body = {"external_id": external_id, "name": "Ann", "currency": "EUR", **fields}
    response = api.post("/customers", json={"customer": body})
    assert response.status_code == 200, response.text
    return response.json()["customer"]


def one_off_invoice(api: Api, amount_cents: int = 123450, customer: str = "cus_1") -> dict[str, Any]:
    """A one-off invoice of one add-on (``amount_cents``, EUR, no tax): finalized at once."""
    code = f"setup_{amount_cents}"
    if api.get(f"/add_ons/{code}").status_code == 404:
        add_on = {"name": "Setup", "code": code, "amount_cents": amount_cents, "amount_currency": "EUR"}
        assert api.post("/add_ons", json={"add_on": add_on}).status_code == 200
    body = {"external_customer_id": customer, "currency": "EUR", "fees": [{"add_on_code": code}]}
    response = api.post("/invoices", json={"invoice": body})
    assert response.status_code == 200, response.text
    return response.json()["invoice"]
