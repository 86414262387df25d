"""Where documents are stored: a local folder (default ``data_dir/documents``, ``BILLOW_DOCUMENTS_DIR``) or
an S3-compatible bucket (``BILLOW_DOCUMENTS_STORAGE=s3``; ``boto3`` from the ``s3`` extra).

A key is a relative path (``<organization id>/invoices/<invoice id>.pdf``). Writing a key again replaces
the file: a document is rendered deterministically, so a repeated write stores the same bytes.
"""

from __future__ import annotations

import importlib
import os
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any, Protocol

from billow.config import Settings


class StoredFileMissing(LookupError):
    """The key has no file (deleted or never written)."""


class Storage(Protocol):
    def put(self, key: str, data: bytes, content_type: str) -> None: ...

    def get(self, key: str) -> bytes: ...

    def presigned_url(self, key: str, *, expires_in: int, filename: str) -> str | None:
        """A URL that serves the file without Billow (S3), or ``None``: Billow serves it (a signed route)."""
        ...


def _checked(key: str) -> PurePosixPath:
    path = PurePosixPath(key)
    if path.is_absolute() or ".." in path.parts or not path.parts:
        raise ValueError(f"invalid storage key {key!r}")
    return path


class LocalStorage:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*_checked(key).parts)

    def put(self, key: str, data: bytes, content_type: str) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written aside then renamed: a reader never sees half a file.
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError as error:
            raise StoredFileMissing(key) from error

    def presigned_url(self, key: str, *, expires_in: int, filename: str) -> str | None:
        return None


class S3Storage:
    """An S3-compatible bucket (AWS, MinIO, R2...) through ``boto3``."""

    def __init__(
        self,
        bucket: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        try:
            # Imported by name: boto3 is an optional extra without type information (its client is Any).
            boto3: Any = importlib.import_module("boto3")
        except ImportError as error:  # pragma: no cover - depends on the installation
            raise RuntimeError("S3 document storage needs boto3: pip install 'billow[s3]'") from error
        self.bucket = bucket
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=endpoint_url,
            region_name=region or "us-east-1",
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
        )

    def put(self, key: str, data: bytes, content_type: str) -> None:
        self.client.put_object(
            Bucket=self.bucket, Key=str(_checked(key)), Body=data, ContentType=content_type
        )

    def get(self, key: str) -> bytes:
        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=str(_checked(key)))
        except self.client.exceptions.NoSuchKey as error:
            raise StoredFileMissing(key) from error
        return bytes(answer["Body"].read())

    def presigned_url(self, key: str, *, expires_in: int, filename: str) -> str | None:
        return str(
            self.client.generate_presigned_url(
                "get_object",
                Params={
                    "Bucket": self.bucket,
                    "Key": str(_checked(key)),
                    "ResponseContentDisposition": f'inline; filename="{filename}"',
                },
                ExpiresIn=expires_in,
            )
        )


def storage_from_settings(settings: Settings) -> Storage:
    if settings.documents_storage == "s3":
        if not settings.s3_bucket:
            raise RuntimeError("BILLOW_DOCUMENTS_STORAGE=s3 needs BILLOW_S3_BUCKET")
        return S3Storage(
            settings.s3_bucket,
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
            access_key_id=settings.s3_access_key_id,
            secret_access_key=settings.s3_secret_access_key,
        )
    return LocalStorage(settings.resolved_documents_dir)
