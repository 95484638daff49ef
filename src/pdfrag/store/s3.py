"""Object store on S3 or any S3-compatible server (MinIO, Ceph RGW) via boto3."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlparse

from pdfrag.errors import StoreError, TransientError
from pdfrag.store.base import ObjectStore

_TRANSIENT_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "InternalError", "ServiceUnavailable", "503", "500"}


def parse_s3_uri(uri: str) -> tuple[str, str]:
    u = urlparse(uri)
    if u.scheme != "s3" or not u.netloc:
        raise StoreError(f"not an S3 URI: {uri!r}", hint="use s3://bucket/prefix")
    return u.netloc, u.path.lstrip("/").rstrip("/")


def make_s3_client(endpoint_url: str = "", region: str = ""):
    import boto3
    from botocore.config import Config

    config = Config(
        retries={"max_attempts": 5, "mode": "adaptive"},
        connect_timeout=10,
        read_timeout=60,
        # S3-compatible servers (Ceph RGW, older MinIO) refuse the streaming
        # checksums newer SDKs send by default (HTTP 411).
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        s3={"addressing_style": "path"} if endpoint_url else {},
    )
    return boto3.client("s3", endpoint_url=endpoint_url or None, region_name=region or None, config=config)


class S3Store(ObjectStore):
    def __init__(self, uri: str, endpoint_url: str = "", region: str = "", client=None) -> None:
        self.bucket, self.prefix = parse_s3_uri(uri)
        self.root = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        self.endpoint_url = endpoint_url
        self._client = client or make_s3_client(endpoint_url, region)

    def _k(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def _wrap(self, e: Exception, what: str) -> Exception:
        from botocore.exceptions import ClientError, ConnectionError as BotoConnectionError, EndpointConnectionError

        where = f"{what} on {self.root}" + (f" at {self.endpoint_url}" if self.endpoint_url else "")
        if isinstance(e, (EndpointConnectionError, BotoConnectionError)):
            return TransientError(f"{where}: cannot reach the S3 endpoint: {e}", stage="store", hint="check PDFRAG_STORE__ENDPOINT_URL")
        if isinstance(e, ClientError):
            code = str(e.response.get("Error", {}).get("Code", ""))
            if code in _TRANSIENT_CODES:
                return TransientError(f"{where}: {code}", stage="store")
            return StoreError(f"{where}: {code}: {e}", stage="store")
        return e

    def get_bytes(self, key: str) -> bytes:
        try:
            return self._client.get_object(Bucket=self.bucket, Key=self._k(key))["Body"].read()
        except Exception as e:  # noqa: BLE001 - translated below
            raise self._wrap(e, f"get {key}") from e

    def put_bytes(self, key: str, data: bytes) -> None:
        # A single PUT is atomic on S3: readers see the old or the new object.
        try:
            self._client.put_object(Bucket=self.bucket, Key=self._k(key), Body=data)
        except Exception as e:  # noqa: BLE001
            raise self._wrap(e, f"put {key}") from e

    def exists(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self._client.head_object(Bucket=self.bucket, Key=self._k(key))
            return True
        except ClientError as e:
            if str(e.response.get("Error", {}).get("Code")) in {"404", "NoSuchKey", "NotFound"}:
                return False
            raise self._wrap(e, f"head {key}") from e
        except Exception as e:  # noqa: BLE001
            raise self._wrap(e, f"head {key}") from e

    def delete(self, key: str) -> None:
        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._k(key))
        except Exception as e:  # noqa: BLE001
            raise self._wrap(e, f"delete {key}") from e

    def list(self, prefix: str = "") -> Iterator[str]:
        full = self._k(prefix)
        strip = len(self.prefix) + 1 if self.prefix else 0
        try:
            paginator = self._client.get_paginator("list_objects_v2")
            keys = [
                obj["Key"][strip:]
                for page in paginator.paginate(Bucket=self.bucket, Prefix=full)
                for obj in page.get("Contents", [])
            ]
        except Exception as e:  # noqa: BLE001
            raise self._wrap(e, f"list {prefix}") from e
        return iter(sorted(keys))

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self._k(key)}"

    def check(self) -> None:
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except Exception as e:  # noqa: BLE001
            err = self._wrap(e, "head bucket")
            if isinstance(err, StoreError):
                err.hint = f"create the bucket {self.bucket!r} or fix the credentials"
            raise err from e
