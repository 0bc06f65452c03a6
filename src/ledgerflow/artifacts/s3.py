"""Artifacts in an S3-compatible bucket (AWS, MinIO, moto), through boto3 (the ``s3`` extra).

The endpoint comes from ``ServerConfig.s3_endpoint_url``, else ``MLFLOW_S3_ENDPOINT_URL`` or
``AWS_ENDPOINT_URL``; credentials and region from boto3's usual chain (environment, shared
config, instance role). Uploads buffer at most one part (8 MiB) and switch to a multipart
upload once a file outgrows it; an object only appears when the upload completes, so an
aborted upload leaves nothing.

Failures of the object store itself (no credentials, endpoint unreachable, access denied, no
such bucket) become :class:`LedgerflowError` subclasses with a message naming the cause: 503
TEMPORARILY_UNAVAILABLE when the store cannot be reached, 500 INTERNAL_ERROR with a clear
message when it is misconfigured. Each kind of failure is logged once per repository, as one
line, instead of a traceback on every artifact call.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

from ledgerflow.artifacts import paths
from ledgerflow.artifacts.paths import invalid_path
from ledgerflow.artifacts.repository import (
    CHUNK_SIZE,
    ArtifactRepository,
    ArtifactWriter,
    FileInfo,
    FileStream,
)
from ledgerflow.errors import (
    InternalError,
    InvalidParameter,
    LedgerflowError,
    MissingExtra,
    ResourceDoesNotExist,
    ServiceUnavailable,
)

PART_SIZE = 8 * 1024 * 1024
DELETE_BATCH = 1000
_ENDPOINT_ENV = ("MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL")
_MISSING_KEY_CODES = ("NoSuchKey", "404", "NotFound")
_DENIED_CODES = frozenset(
    {
        "AccessDenied",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
        "ExpiredToken",
        "InvalidToken",
        "AllAccessDisabled",
    }
)
_BUSY_CODES = frozenset({"SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "503", "500"})

log = logging.getLogger("ledgerflow.artifacts.s3")


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` to ``("bucket", "some/prefix")``."""
    if not uri.startswith("s3://"):
        raise InvalidParameter(f"Not an S3 URI: '{uri}'.")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    if not bucket or "?" in uri or "#" in uri:
        raise InvalidParameter(f"Invalid S3 URI: '{uri}'.")
    return bucket, paths.clean_path(prefix)


def make_client(endpoint_url: str | None) -> Any:
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise MissingExtra("s3", "An s3:// artifact store") from None
    endpoint = endpoint_url or next((os.environ[k] for k in _ENDPOINT_ENV if os.environ.get(k)), None)
    # Custom endpoints (MinIO, moto, on-premises gateways) rarely resolve bucket subdomains.
    style = "path" if endpoint else "auto"
    s3_options: Any = {"addressing_style": style}
    config = Config(s3=s3_options, retries={"mode": "standard", "max_attempts": 5})
    return boto3.session.Session().client("s3", endpoint_url=endpoint, config=config)


def _error_code(error: Exception) -> str:
    response = getattr(error, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def storage_error(error: Exception, root: str) -> LedgerflowError | None:
    """The user-facing error for a failure of the object store at *root*; None if not one."""
    from botocore import exceptions as boto

    if isinstance(
        error, boto.NoCredentialsError | boto.PartialCredentialsError | boto.CredentialRetrievalError
    ):
        return InternalError(
            f"The artifact store {root} cannot be used: the server has no usable S3 credentials "
            f"({error}). Configure them for the server (environment, shared config or instance role)."
        )
    if isinstance(error, boto.ConnectionError | boto.HTTPClientError):
        return ServiceUnavailable(f"The artifact store is unreachable: {error}")
    if isinstance(error, boto.ClientError):
        code = _error_code(error)
        details = error.response.get("Error", {})
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        reason = f"{code}: {details.get('Message') or error}"
        if code == "NoSuchBucket":
            bucket = details.get("BucketName") or root
            return InternalError(f"The artifact store bucket '{bucket}' does not exist ({root}).")
        if code in _DENIED_CODES or status == 403:
            return InternalError(f"The artifact store {root} refused the server's credentials ({reason}).")
        if code in _BUSY_CODES or (isinstance(status, int) and status >= 500):
            return ServiceUnavailable(f"The artifact store {root} is unavailable ({reason}).")
        return InternalError(f"The artifact store {root} failed ({reason}).")
    if isinstance(error, boto.BotoCoreError):
        return InternalError(f"The artifact store {root} failed: {error}")
    return None


def _body_chunks(body: Any) -> Iterator[bytes]:
    try:
        yield from body.iter_chunks(CHUNK_SIZE)
    finally:
        body.close()


class S3Writer(ArtifactWriter):
    """Single PUT for small files, multipart (bounded buffer) for large ones."""

    def __init__(
        self, client: Any, bucket: str, key: str, content_type: str | None, repository: S3ArtifactRepository
    ) -> None:
        self.repository = repository
        self.client = client
        self.bucket = bucket
        self.key = key
        self.extra = {"ContentType": content_type} if content_type else {}
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict[str, Any]] = []
        self.finished = False

    def _send_part(self, data: bytes) -> None:
        if self.upload_id is None:
            created = self.client.create_multipart_upload(Bucket=self.bucket, Key=self.key, **self.extra)
            self.upload_id = created["UploadId"]
        number = len(self.parts) + 1
        sent = self.client.upload_part(
            Bucket=self.bucket, Key=self.key, UploadId=self.upload_id, PartNumber=number, Body=data
        )
        self.parts.append({"PartNumber": number, "ETag": sent["ETag"]})

    def write(self, data: bytes) -> None:
        self.buffer += data
        while len(self.buffer) >= PART_SIZE:
            part = bytes(self.buffer[:PART_SIZE])
            del self.buffer[:PART_SIZE]
            with self.repository.failures():
                self._send_part(part)

    def commit(self) -> None:
        with self.repository.failures():
            self._commit()

    def _commit(self) -> None:
        try:
            if self.upload_id is None:
                self.client.put_object(
                    Bucket=self.bucket, Key=self.key, Body=bytes(self.buffer), **self.extra
                )
            else:
                if self.buffer:
                    self._send_part(bytes(self.buffer))
                self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=self.key,
                    UploadId=self.upload_id,
                    MultipartUpload={"Parts": self.parts},
                )
        except BaseException:
            self.abort()
            raise
        self.finished = True
        self.buffer = bytearray()

    def abort(self) -> None:
        if self.finished:
            return
        self.finished = True
        self.buffer = bytearray()
        if self.upload_id is not None:
            # Best effort: a bucket lifecycle rule reaps whatever a failed abort leaves.
            with contextlib.suppress(Exception):
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=self.key, UploadId=self.upload_id)


class S3ArtifactRepository(ArtifactRepository):
    def __init__(self, root: str, *, endpoint_url: str | None = None, client: Any = None) -> None:
        self.bucket, self.prefix = parse_s3_uri(root)
        self.root = f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"
        self.client = client if client is not None else make_client(endpoint_url)
        self._reported: set[str] = set()
        self._report_lock = threading.Lock()

    @contextlib.contextmanager
    def failures(self) -> Iterator[None]:
        """Re-raise object-store failures in the block as clear errors, logging each kind once."""
        try:
            yield
        except LedgerflowError:
            raise
        except Exception as error:
            mapped = storage_error(error, self.root)
            if mapped is None:
                raise
            kind = f"{type(error).__name__}:{_error_code(error)}"
            with self._report_lock:
                first = kind not in self._reported
                self._reported.add(kind)
            if first:
                log.warning("%s (further failures of this kind are not logged)", mapped.message)
            raise mapped from None

    def _key(self, rel: str) -> str:
        return paths.join(self.prefix, rel)

    def open_writer(self, rel: str, content_type: str | None = None) -> ArtifactWriter:
        if not rel:
            raise invalid_path("the path is empty")
        return S3Writer(self.client, self.bucket, self._key(rel), content_type, self)

    def open_read(self, rel: str) -> FileStream:
        if not rel:
            raise ResourceDoesNotExist(f"Artifact '{rel}' does not exist.")
        with self.failures():
            try:
                got = self.client.get_object(Bucket=self.bucket, Key=self._key(rel))
            except Exception as error:
                if _error_code(error) in _MISSING_KEY_CODES:
                    raise ResourceDoesNotExist(f"Artifact '{rel}' does not exist.") from None
                raise
        modified = got.get("LastModified")
        return FileStream(
            size=int(got["ContentLength"]),
            chunks=_body_chunks(got["Body"]),
            modified_ms=int(modified.timestamp() * 1000) if modified is not None else None,
        )

    def _pages(self, prefix: str, delimiter: str | None) -> Iterator[dict[str, Any]]:
        kwargs: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        if delimiter:
            kwargs["Delimiter"] = delimiter
        with self.failures():
            yield from self.client.get_paginator("list_objects_v2").paginate(**kwargs)

    def list_dir(self, rel: str) -> list[FileInfo]:
        key = self._key(rel)
        prefix = f"{key}/" if key else ""
        entries: list[FileInfo] = []
        for page in self._pages(prefix, "/"):
            for common in page.get("CommonPrefixes", []):
                name = common["Prefix"][len(prefix) :].rstrip("/")
                if paths.is_safe(name):
                    entries.append(FileInfo(paths.join(rel, name), True))
            for obj in page.get("Contents", []):
                name = obj["Key"][len(prefix) :]
                # Keys ending in "/" are folder markers some tools create, not files.
                if name and not name.endswith("/") and paths.is_safe(name):
                    entries.append(FileInfo(paths.join(rel, name), False, int(obj["Size"])))
        return sorted(entries, key=lambda info: info.path)

    def delete(self, rel: str) -> None:
        if not rel:
            raise invalid_path("the artifact root cannot be deleted")
        key = self._key(rel)
        batch: list[dict[str, str]] = [{"Key": key}]
        for page in self._pages(key + "/", None):
            for obj in page.get("Contents", []):
                batch.append({"Key": obj["Key"]})
                if len(batch) == DELETE_BATCH:
                    self._delete_batch(batch)
                    batch = []
        if batch:
            self._delete_batch(batch)

    def _delete_batch(self, batch: list[dict[str, str]]) -> None:
        with self.failures():
            self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})

    def file_size(self, rel: str) -> int | None:
        if not rel:
            return None
        with self.failures():
            try:
                head = self.client.head_object(Bucket=self.bucket, Key=self._key(rel))
            except Exception as error:
                if _error_code(error) in _MISSING_KEY_CODES:
                    return None
                raise
        return int(head["ContentLength"])
