"""The object store: S3 objects (data files, window blobs, manifests, drift reports) through boto3.

Data files are streamed by the drift engine itself (it takes the S3 client); this adapter owns what the
glue writes: immutable window blobs, dataset manifests, HTML reports and their presigned links.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from dataclasses import dataclass
from typing import Any, Protocol


class ObjectStoreError(Exception):
    """An S3 read or write failed (missing object, no permission, unreachable)."""


class ObjectMissingError(ObjectStoreError):
    """The object does not exist (or that version of it)."""


@dataclass(frozen=True)
class S3Uri:
    bucket: str
    key: str
    version_id: str | None = None

    def __str__(self) -> str:
        q = f"?versionId={urllib.parse.quote(self.version_id, safe='')}" if self.version_id else ""
        return f"s3://{self.bucket}/{self.key}{q}"


def parse_s3_uri(uri: str) -> S3Uri:
    """``s3://bucket/key[?versionId=v]`` -> S3Uri; ValueError names the bad URI."""
    parsed = urllib.parse.urlsplit(uri)
    if parsed.scheme != "s3" or not parsed.netloc or not parsed.path.lstrip("/"):
        raise ValueError(f"not an s3:// object URI: {uri!r}")
    version = urllib.parse.parse_qs(parsed.query).get("versionId", [None])[0]
    return S3Uri(parsed.netloc, parsed.path.lstrip("/"), version)


def object_args(bucket: str, key: str, version_id: str | None = None) -> dict[str, Any]:
    """boto3's ``Bucket``/``Key``/``VersionId`` arguments naming one object version (no version: the latest)."""
    return {"Bucket": bucket, "Key": key, **({"VersionId": version_id} if version_id else {})}


def s3_client(client: Any | None = None) -> Any:
    """``client``, or a default boto3 S3 client (boto3 imported only then)."""
    if client is not None:
        return client
    import boto3

    return boto3.client("s3")


class ObjectStore(Protocol):
    def put_bytes(self, uri: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Write ``data`` at ``uri`` (overwrites)."""
        ...

    def get_bytes(self, uri: str) -> bytes:
        """The object's bytes; ObjectMissingError when it does not exist."""
        ...

    def delete(self, uri: str) -> None:
        """Delete the object (no error when it is already gone)."""
        ...

    def presign(self, uri: str, expires_in: int = 7 * 86400) -> str:
        """A time-limited GET link."""
        ...


def put_json(store: ObjectStore, uri: str, doc: Any) -> None:
    """Write ``doc`` as indented, key-sorted JSON (stable bytes for the same content)."""
    store.put_bytes(uri, json.dumps(doc, indent=1, sort_keys=True, default=str).encode(), "application/json")


class S3ObjectStore:
    """S3 through boto3; the client is injectable and built lazily."""

    def __init__(self, client: Any | None = None) -> None:
        self._client = client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = s3_client()
        return self._client

    def put_bytes(self, uri: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        u = parse_s3_uri(uri)
        try:
            self.client.put_object(Bucket=u.bucket, Key=u.key, Body=data, ContentType=content_type)
        except Exception as exc:
            raise ObjectStoreError(f"S3 put {uri} failed: {exc}") from exc

    def get_bytes(self, uri: str) -> bytes:
        u = parse_s3_uri(uri)
        try:
            body: bytes = self.client.get_object(**object_args(u.bucket, u.key, u.version_id))["Body"].read()
        except self.client.exceptions.NoSuchKey as exc:
            raise ObjectMissingError(f"S3 object {uri} does not exist") from exc
        except Exception as exc:
            raise ObjectStoreError(f"S3 get {uri} failed: {exc}") from exc
        return body

    def delete(self, uri: str) -> None:
        u = parse_s3_uri(uri)
        try:
            self.client.delete_object(Bucket=u.bucket, Key=u.key)
        except Exception as exc:
            raise ObjectStoreError(f"S3 delete {uri} failed: {exc}") from exc

    def presign(self, uri: str, expires_in: int = 7 * 86400) -> str:
        u = parse_s3_uri(uri)
        params = object_args(u.bucket, u.key, u.version_id)
        url: str = self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_in)
        return url


class MemoryObjectStore:
    """Objects in a dict; for unit tests and dry runs. Thread-safe."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.content_types: dict[str, str] = {}
        self._lock = threading.Lock()

    def put_bytes(self, uri: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        parse_s3_uri(uri)
        with self._lock:
            self.objects[uri] = bytes(data)
            self.content_types[uri] = content_type

    def get_bytes(self, uri: str) -> bytes:
        with self._lock:
            try:
                return self.objects[uri]
            except KeyError:
                raise ObjectMissingError(f"S3 object {uri} does not exist") from None

    def delete(self, uri: str) -> None:
        with self._lock:
            self.objects.pop(uri, None)

    def presign(self, uri: str, expires_in: int = 7 * 86400) -> str:
        u = parse_s3_uri(uri)
        return f"https://{u.bucket}.s3.amazonaws.com/{urllib.parse.quote(u.key)}?X-Amz-Expires={expires_in}"
