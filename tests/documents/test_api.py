"""The download routes, the signed links, and the generation that follows finalization (task and scan)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update

from billow.config import current_settings
from billow.db import utcnow
from billow.documents import signing
from billow.documents.tasks import find_missing, generate
from billow.models.documents import Document
from billow.models.invoices import Invoice
from billow.models.organizations import Organization
from tests.conftest import Api
from tests.documents.conftest import create_catalog, one_off


@pytest.fixture
def announced(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str, uuid.UUID]]:
    """What the documents announce (``billow.webhooks.outbox.emit``: its delivery is not merged yet)."""
    calls: list[tuple[str, str, uuid.UUID]] = []

    def emit(session: Any, organization_id: Any, webhook_type: str, object_type: str, object_id: Any) -> None:
        calls.append((webhook_type, object_type, object_id))

    monkeypatch.setattr("billow.documents.service.emit", emit)
    return calls


def documents(app: FastAPI, object_id: str) -> list[tuple[str, str, int]]:
    with app.state.sessionmaker() as session:
        rows = session.execute(
            select(Document.kind, Document.sha256, Document.size_bytes)
            .where(Document.object_id == uuid.UUID(object_id))
            .order_by(Document.kind)
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def path_of(url: str) -> str:
    return url.removeprefix("http://localhost:3000")


class TestGenerationAfterFinalization:
    def test_a_finalized_invoice_gets_its_documents_and_is_announced(
        self, app: FastAPI, api: Api, announced: list[Any]
    ) -> None:
        create_catalog(api)
        created = one_off(api, "audit")
        assert created["file_url"] is None  # answered before its commit; rendered right after
        body = api.get(f"/invoices/{created['lago_id']}").json()["invoice"]
        assert body["file_url"].startswith("http://localhost:3000/documents/")
        assert body["xml_url"].startswith("http://localhost:3000/documents/")
        assert [kind for kind, _, _ in documents(app, created["lago_id"])] == ["invoice_pdf", "invoice_xml"]
        assert announced == [("invoice.generated", "invoice", uuid.UUID(created["lago_id"]))]

    def test_an_invoice_a_task_finalizes_gets_its_documents_right_after(
        self, app: FastAPI, api: Api, announced: list[Any]
    ) -> None:
        """Terminating a subscription bills it in a task (after the API call's commit): the final invoice's
        documents follow that task's commit, not the safety-net scan minutes later."""
        create_catalog(api)
        plan = {
            "code": "p",
            "name": "P",
            "interval": "monthly",
            "amount_cents": 1000,
            "amount_currency": "EUR",
        }
        assert api.post("/plans", {"plan": plan}).status_code == 200
        subscription = {"external_customer_id": "cus_doc", "plan_code": "p", "external_id": "sub_doc"}
        assert api.post("/subscriptions", {"subscription": subscription}).status_code == 200
        assert api.delete("/subscriptions/sub_doc").status_code == 200
        [final] = api.get("/invoices", params={"external_customer_id": "cus_doc"}).json()["invoices"]
        assert final["status"] == "finalized"
        assert [kind for kind, _, _ in documents(app, final["lago_id"])] == ["invoice_pdf", "invoice_xml"]
        assert ("invoice.generated", "invoice", uuid.UUID(final["lago_id"])) in announced

    def test_a_credit_note_gets_its_documents(self, app: FastAPI, api: Api, announced: list[Any]) -> None:
        create_catalog(api)
        created = one_off(api, "audit")
        note = api.post(
            "/credit_notes",
            {
                "credit_note": {
                    "invoice_id": created["lago_id"],
                    "reason": "duplicated_charge",
                    "refund_amount_cents": 0,
                    "credit_amount_cents": 600,
                    "items": [{"fee_id": created["fees"][0]["lago_id"], "amount_cents": 500}],
                }
            },
        ).json()["credit_note"]
        body = api.get(f"/credit_notes/{note['lago_id']}").json()["credit_note"]
        assert body["file_url"] and body["xml_url"]
        assert announced[-1] == ("credit_note.generated", "credit_note", uuid.UUID(note["lago_id"]))
        listed = api.get("/credit_notes").json()["credit_notes"]
        assert listed[0]["file_url"] == body["file_url"]

    def test_regenerating_is_idempotent(self, app: FastAPI, api: Api, announced: list[Any]) -> None:
        create_catalog(api)
        created = one_off(api, "audit")
        before = documents(app, created["lago_id"])
        for suffix in ("download", "download_pdf", "download_xml"):
            assert api.post(f"/invoices/{created['lago_id']}/{suffix}").status_code == 200
        generate(app.state.sessionmaker, f"invoice|{created['lago_id']}", utcnow())
        assert documents(app, created["lago_id"]) == before
        assert len(announced) == 1

    def test_the_scan_finds_what_the_task_missed(
        self, app: FastAPI, api: Api, monkeypatch: pytest.MonkeyPatch, announced: list[Any]
    ) -> None:
        monkeypatch.setenv("BILLOW_GENERATE_DOCUMENTS", "false")  # the task does nothing: as if lost
        create_catalog(api)
        created = one_off(api, "audit")
        assert documents(app, created["lago_id"]) == []
        assert find_missing(app.state.sessionmaker, utcnow() + timedelta(hours=1)) == []  # switched off
        monkeypatch.setenv("BILLOW_GENERATE_DOCUMENTS", "true")
        # Left to its task for a few minutes, then found.
        assert find_missing(app.state.sessionmaker, utcnow()) == []
        found = find_missing(app.state.sessionmaker, utcnow() + timedelta(hours=1))
        assert found == [f"invoice|{created['lago_id']}"]
        for item in found:
            generate(app.state.sessionmaker, item, utcnow())
        assert len(documents(app, created["lago_id"])) == 2
        assert find_missing(app.state.sessionmaker, utcnow() + timedelta(hours=1)) == []


class TestDownload:
    def test_a_draft_is_refused(self, app: FastAPI, api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("BILLOW_GENERATE_DOCUMENTS", "false")
        create_catalog(api)
        created = one_off(api, "audit")
        with app.state.sessionmaker.begin() as session:
            session.execute(
                update(Invoice).where(Invoice.id == uuid.UUID(created["lago_id"])).values(status="draft")
            )
        for suffix in ("download", "download_pdf", "download_xml"):
            answer = api.post(f"/invoices/{created['lago_id']}/{suffix}")
            assert answer.status_code == 405
            assert answer.json() == {"status": 405, "error": "Method Not Allowed", "code": "is_draft"}
        assert documents(app, created["lago_id"]) == []

    def test_unknown_ids(self, api: Api) -> None:
        missing = str(uuid.uuid4())
        assert api.post(f"/invoices/{missing}/download").json()["code"] == "invoice_not_found"
        assert api.post(f"/credit_notes/{missing}/download").json()["code"] == "credit_note_not_found"
        assert api.post("/invoices/not-a-uuid/download_pdf").status_code == 404

    def test_tenancy(self, api: Api, other_api: Api, invoice: dict[str, Any]) -> None:
        [note] = api.get("/credit_notes").json()["credit_notes"]
        for suffix in ("download", "download_pdf", "download_xml"):
            answer = other_api.post(f"/invoices/{invoice['lago_id']}/{suffix}")
            assert answer.status_code == 404 and answer.json()["code"] == "invoice_not_found"
            answer = other_api.post(f"/credit_notes/{note['lago_id']}/{suffix}")
            assert answer.status_code == 404 and answer.json()["code"] == "credit_note_not_found"

    def test_needs_an_api_key(self, api: Api, invoice: dict[str, Any]) -> None:
        assert api.client.post(f"/api/v1/invoices/{invoice['lago_id']}/download").status_code == 401


class TestSignedLinks:
    def test_valid_without_an_api_key(self, api: Api, invoice: dict[str, Any]) -> None:
        body = api.post(f"/invoices/{invoice['lago_id']}/download").json()["invoice"]
        answer = api.client.get(path_of(body["file_url"]))  # no Authorization header
        assert answer.status_code == 200
        assert answer.content.startswith(b"%PDF-")
        assert answer.headers["content-disposition"] == f'inline; filename="{invoice["lago_id"]}.pdf"'

    def test_expired_tampered_and_unknown(self, app: FastAPI, api: Api, invoice: dict[str, Any]) -> None:
        body = api.post(f"/invoices/{invoice['lago_id']}/download").json()["invoice"]
        url = urlsplit(body["file_url"])
        document_id = uuid.UUID(url.path.rsplit("/", 1)[-1])
        query = {key: values[0] for key, values in parse_qs(url.query).items()}
        settings = current_settings()

        def get(path_id: object, expires: object, signature: str) -> int:
            answer = api.client.get(
                f"/documents/{path_id}", params={"expires": expires, "signature": signature}
            )
            if answer.status_code != 200:
                assert answer.json()["code"] in ("invalid_signature", "document_not_found")
            return int(answer.status_code)

        assert get(document_id, query["expires"], query["signature"]) == 200
        expired = 1_000_000
        assert get(document_id, expired, signing.sign(settings, document_id, expired)) == 403
        assert get(document_id, int(query["expires"]) + 3600, query["signature"]) == 403  # expiry changed
        tampered = query["signature"][:-1] + ("0" if query["signature"][-1] != "0" else "1")
        assert get(document_id, query["expires"], tampered) == 403
        [other] = [uuid.UUID(path_of(body["xml_url"]).split("?")[0].rsplit("/", 1)[-1])]
        assert get(other, query["expires"], query["signature"]) == 403  # another document's signature
        unknown = uuid.uuid4()
        assert get(unknown, query["expires"], signing.sign(settings, unknown, int(query["expires"]))) == 404
        assert get("not-a-uuid", query["expires"], query["signature"]) == 404

    def test_expiry_is_rounded_to_the_hour(self) -> None:
        # ttl 7,200: 7,200 + 7,200 = 14,400; 7,201 + 7,200 = 14,401 → 14,400 (the same link for an hour).
        assert signing.expiry(7200, 7200) == 14400
        assert signing.expiry(7201, 7200) == 14400
        assert signing.expiry(10800, 7200) == 18000


def test_documents_are_deleted_with_the_organization(app: FastAPI, api: Api, invoice: dict[str, Any]) -> None:
    from billow.organizations.service import organization_service

    with app.state.sessionmaker.begin() as session:
        assert (
            session.scalar(select(func.count()).select_from(Document)) == 6
        )  # PDF + XML of 2 invoices and 1 credit note
        organization = session.get(Organization, api.organization.id)
        assert organization is not None
        organization_service.delete(session, organization)
    with app.state.sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(Document)) == 0


def test_no_links_without_a_secret_key_in_production(
    api: Api, invoice: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Links cannot be signed: the invoice is answered without them, not with a 500."""
    monkeypatch.setenv("BILLOW_ENV", "production")
    monkeypatch.setenv("BILLOW_SECRET_KEY", "")
    body = api.get(f"/invoices/{invoice['lago_id']}").json()["invoice"]
    assert body["file_url"] is None and body["xml_url"] is None
