"""Blobs in an S3 bucket (AWS, MinIO, Ceph, moto): ``<prefix>objects/ab/cdef...``.

Uploads stream to a temporary key while hashing, then are copied to the content address and the temporary key
deleted, so a reader never sees a partial blob (S3 PUTs are atomic per key). Small blobs (< 8 MiB) are hashed
in memory and PUT directly at their address.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

from vigil.errors import NotFoundError, StoreError
from vigil.store.objects import CHUNK, check_oid, verified

SMALL = 8 << 20


class S3ObjectStore:
    """An :class:`~vigil.store.objects.ObjectStore` over boto3 (install the ``s3`` extra)."""

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None,
                 region: str | None = None, client: Any = None) -> None:
        try:
            import boto3
            from botocore.exceptions import BotoCoreError, ClientError
        except ImportError as exc:  # pragma: no cover - depends on the install
            raise StoreError("S3 storage needs boto3", "pip install 'vigil[s3]'") from exc
        self._errors = (BotoCoreError, ClientError)
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = client or boto3.client("s3", endpoint_url=endpoint_url, region_name=region)
        try:
            self.client.head_bucket(Bucket=bucket)
        except self._errors as exc:
            raise StoreError(f"cannot reach S3 bucket {bucket!r}: {exc}",
                             "check the bucket name, endpoint_url and credentials (AWS_* variables)") from exc

    def _key(self, oid: str) -> str:
        return f"{self.prefix}objects/{oid[:2]}/{oid[2:]}"

    def sync(self) -> None:
        """Nothing to do: an S3 PUT is durable when it returns."""

    def put_bytes(self, data: bytes) -> str:
        oid = hashlib.sha256(data).hexdigest()
        if self._stored_size(oid) != len(data):  # absent, or a damaged (truncated) copy that this heals
            self._call(self.client.put_object, Bucket=self.bucket, Key=self._key(oid), Body=data)
        return oid

    def put_stream(self, stream: BinaryIO) -> tuple[str, int]:
        head = stream.read(SMALL)
        if len(head) < SMALL:
            return self.put_bytes(head), len(head)
        digest = hashlib.sha256(head)
        size = len(head)
        with tempfile.TemporaryFile() as spool:  # bounded memory: spool to disk while hashing
            spool.write(head)
            while chunk := stream.read(CHUNK):
                digest.update(chunk)
                spool.write(chunk)
                size += len(chunk)
            oid = digest.hexdigest()
            if self._stored_size(oid) != size:
                spool.seek(0)
                tmp_key = f"{self.prefix}tmp/{uuid.uuid4().hex}"
                self._call(self.client.upload_fileobj, spool, self.bucket, tmp_key)
                self._call(self.client.copy, {"Bucket": self.bucket, "Key": tmp_key}, self.bucket, self._key(oid))
                self._call(self.client.delete_object, Bucket=self.bucket, Key=tmp_key)
        return oid, size

    def open(self, oid: str) -> BinaryIO:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(check_oid(oid)))["Body"]
        except self._errors as exc:
            if "NoSuchKey" in str(exc) or "404" in str(exc):
                raise NotFoundError(f"object {oid[:12]} is missing from s3://{self.bucket}/{self.prefix}",
                                    "run `vigil fsck` to find damaged commits") from exc
            raise StoreError(f"S3 read of {oid[:12]} failed: {exc}", "retry; check the S3 endpoint") from exc
        return verified(cast(BinaryIO, body), oid)  # botocore's StreamingBody: a readable, closable stream

    def exists(self, oid: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(oid))
            return True
        except self._errors:
            return False

    def _stored_size(self, oid: str) -> int | None:
        try:
            return int(self.client.head_object(Bucket=self.bucket, Key=self._key(oid))["ContentLength"])
        except self._errors:
            return None

    def delete(self, oid: str) -> None:
        self._call(self.client.delete_object, Bucket=self.bucket, Key=self._key(check_oid(oid)))

    def iter_oids(self) -> Iterator[tuple[str, float]]:
        for item in self._list(f"{self.prefix}objects/"):
            rel = item["Key"][len(self.prefix) + len("objects/"):]
            yield rel.replace("/", ""), item["LastModified"].timestamp()

    def local_path(self, oid: str) -> Path | None:
        return None

    def clean_temporaries(self, older_than: float) -> int:
        removed = 0
        for item in self._list(f"{self.prefix}tmp/"):
            if item["LastModified"].timestamp() < older_than:
                self._call(self.client.delete_object, Bucket=self.bucket, Key=item["Key"])
                removed += 1
        return removed

    def _list(self, prefix: str) -> Iterator[dict[str, Any]]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            yield from page.get("Contents", [])

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        for attempt in range(3):
            try:
                return fn(*args, **kwargs)
            except self._errors as exc:
                if attempt == 2:
                    raise StoreError(f"S3 request failed: {exc}", "retry; check the S3 endpoint") from exc
                time.sleep(0.2 * (attempt + 1))
        return None
