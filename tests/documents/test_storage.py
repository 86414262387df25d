"""Document storage: the local folder, and an S3-compatible bucket (moto's server, started here)."""

from __future__ import annotations

import socket
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from billow.config import Settings
from billow.documents.storage import LocalStorage, S3Storage, StoredFileMissing, storage_from_settings
from tests.conftest import Api


class TestLocal:
    def test_put_get_and_replace(self, tmp_path: Path) -> None:
        storage = LocalStorage(tmp_path)
        storage.put("org/invoices/a.pdf", b"one", "application/pdf")
        storage.put("org/invoices/a.pdf", b"two", "application/pdf")
        assert storage.get("org/invoices/a.pdf") == b"two"
        assert (tmp_path / "org" / "invoices" / "a.pdf").read_bytes() == b"two"
        assert [p.name for p in (tmp_path / "org" / "invoices").iterdir()] == ["a.pdf"]  # no temporary left
        assert storage.presigned_url("org/invoices/a.pdf", expires_in=60, filename="a.pdf") is None

    def test_missing_and_invalid_keys(self, tmp_path: Path) -> None:
        storage = LocalStorage(tmp_path)
        with pytest.raises(StoredFileMissing):
            storage.get("org/nothing.pdf")
        for key in ("../escape.pdf", "/etc/passwd", ""):
            with pytest.raises(ValueError):
                storage.put(key, b"x", "application/pdf")

    def test_settings(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.delenv("BILLOW_DOCUMENTS_DIR")  # the suite's temporary folder
        storage = storage_from_settings(Settings(documents_dir=tmp_path))
        assert isinstance(storage, LocalStorage) and storage.root == tmp_path.resolve()
        default = storage_from_settings(Settings(data_dir=tmp_path))
        assert isinstance(default, LocalStorage) and default.root == tmp_path.resolve() / "documents"
        with pytest.raises(RuntimeError, match="BILLOW_S3_BUCKET"):
            storage_from_settings(Settings(documents_storage="s3"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    server_module = pytest.importorskip("moto.server")
    pytest.importorskip("boto3")
    port = _free_port()
    server = server_module.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    import uuid

    name = f"billow-{uuid.uuid4().hex[:12]}"
    S3Storage(
        "unused", endpoint_url=s3_endpoint, access_key_id="k", secret_access_key="s"
    ).client.create_bucket(Bucket=name)
    return name


def _s3(endpoint: str, bucket: str) -> S3Storage:
    return S3Storage(bucket, endpoint_url=endpoint, access_key_id="k", secret_access_key="s")


class TestS3:
    def test_put_get_and_presigned_url(self, s3_endpoint: str, bucket: str) -> None:
        storage = _s3(s3_endpoint, bucket)
        storage.put("org/invoices/a.pdf", b"%PDF-1.4 hello", "application/pdf")
        assert storage.get("org/invoices/a.pdf") == b"%PDF-1.4 hello"
        url = storage.presigned_url("org/invoices/a.pdf", expires_in=600, filename="a.pdf")
        assert url is not None and url.startswith(s3_endpoint)
        with urllib.request.urlopen(url) as answer:  # moto's local server
            assert answer.read() == b"%PDF-1.4 hello"
        with pytest.raises(StoredFileMissing):
            storage.get("org/nothing.pdf")

    def test_the_api_answers_presigned_urls(
        self,
        api: Api,
        invoice: dict[str, Any],
        s3_endpoint: str,
        bucket: str,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        for name, value in {
            "BILLOW_DOCUMENTS_STORAGE": "s3",
            "BILLOW_S3_BUCKET": bucket,
            "BILLOW_S3_ENDPOINT_URL": s3_endpoint,
            "BILLOW_S3_ACCESS_KEY_ID": "k",
            "BILLOW_S3_SECRET_ACCESS_KEY": "s",
        }.items():
            monkeypatch.setenv(name, value)
        # The invoice of the fixture was stored locally; a new one goes to the bucket.
        from tests.documents.conftest import one_off

        created = one_off(api, "audit")
        body = api.post(f"/invoices/{created['lago_id']}/download").json()["invoice"]
        assert body["file_url"].startswith(f"{s3_endpoint}/{bucket}/")
        with urllib.request.urlopen(body["file_url"]) as answer:
            assert answer.read().startswith(b"%PDF-")
        with urllib.request.urlopen(body["xml_url"]) as answer:
            assert b"CrossIndustryInvoice" in answer.read()
