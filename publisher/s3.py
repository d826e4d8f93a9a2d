"""The S3-compatible sink: pages as objects under ``<prefix>c/<token>/`` in a bucket."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from publisher.sinks import ALLOWED_NAMES, Sink, check_name, check_token

CONTENT_TYPES = {
    "index.html": "text/html; charset=utf-8",
    "balance.json": "application/json",
    "log.csv": "text/csv; charset=utf-8",
}
# The page links to its downloads, so they go up before it does.
WRITE_ORDER = ("log.csv", "balance.json", "index.html")


class S3Sink(Sink):
    """Each object is replaced whole by one PUT (atomic in S3); unchanged bytes are not re-sent.

    Objects carry the headers the built-in server would send that a bucket can store
    (content type, no caching); the rest (referrer policy, CSP) belong to the CDN or proxy
    in front of the bucket, and the page's own meta tags carry them too.
    """

    def __init__(self, bucket: str, *, prefix: str = "", client: Any = None, **client_options: Any) -> None:
        if client is None:
            import boto3  # the s3 extra; only needed when this target is chosen

            client = boto3.client("s3", **client_options)
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.client = client

    def key(self, token: str, name: str) -> str:
        """The object key of one published file."""
        return f"{self.prefix}c/{check_token(token)}/{check_name(name)}"

    def write(self, token: str, files: Mapping[str, bytes]) -> bool:
        unknown = set(files) - ALLOWED_NAMES
        if unknown:
            raise ValueError(f"not publishable file names: {sorted(unknown)}")
        changed = False
        for name in sorted(files, key=WRITE_ORDER.index):
            body = files[name]
            key = self.key(token, name)
            if self._etag(key) == f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"':
                continue
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType=CONTENT_TYPES[name],
                                   CacheControl="private, no-store")
            changed = True
        return changed

    def read(self, token: str, name: str) -> bytes | None:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.key(token, name))
        except self.client.exceptions.NoSuchKey:
            return None
        return bytes(response["Body"].read())

    def remove(self, token: str) -> None:
        self.client.delete_objects(Bucket=self.bucket, Delete={
            "Objects": [{"Key": self.key(token, name)} for name in WRITE_ORDER], "Quiet": True})

    def _etag(self, key: str) -> str | None:
        # A single-part PUT's ETag is the MD5 of the body: enough to skip re-sending
        # unchanged bytes without keeping our own index.
        try:
            return str(self.client.head_object(Bucket=self.bucket, Key=key)["ETag"])
        except self.client.exceptions.ClientError as err:
            if err.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
