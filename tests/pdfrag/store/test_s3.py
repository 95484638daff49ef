"""Tests for pdfrag.store.s3.S3Store against a real moto server process
(fixtures ``moto_endpoint``/``s3_bucket`` in tests/pdfrag/conftest.py)."""

from __future__ import annotations

import socket

import boto3
import pyarrow as pa
import pytest
from botocore.config import Config

from pdfrag.errors import StoreError, TransientError
from pdfrag.store.s3 import S3Store, make_s3_client, parse_s3_uri


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def store(s3_bucket) -> S3Store:
    endpoint, bucket, _ = s3_bucket
    return S3Store(f"s3://{bucket}/pre/fix", endpoint_url=endpoint, region="us-east-1")


def test_parse_s3_uri() -> None:
    assert parse_s3_uri("s3://bucket") == ("bucket", "")
    assert parse_s3_uri("s3://bucket/") == ("bucket", "")
    assert parse_s3_uri("s3://bucket/a/b/") == ("bucket", "a/b")
    for bad in ("http://bucket/a", "s3:///nobucket", "bucket/a", "/local/path"):
        with pytest.raises(StoreError, match="not an S3 URI"):
            parse_s3_uri(bad)


def test_client_has_retries_configured(aws_env: None) -> None:
    c = make_s3_client("http://127.0.0.1:1", "eu-west-1")
    assert c.meta.region_name == "eu-west-1"
    assert c.meta.endpoint_url == "http://127.0.0.1:1"
    # botocore stores max_attempts=5 (retries) as 6 attempts in total
    assert c.meta.config.retries == {"mode": "adaptive", "total_max_attempts": 6}


def test_put_get_exists_delete(store: S3Store, s3_bucket) -> None:
    _, bucket, client = s3_bucket
    key = "pages/ab/abc.parquet"
    assert not store.exists(key)
    store.put_bytes(key, b"payload \x00\xff")
    assert store.exists(key)
    assert store.get_bytes(key) == b"payload \x00\xff"
    # the object lives under the store's prefix
    assert client.get_object(Bucket=bucket, Key="pre/fix/pages/ab/abc.parquet")["Body"].read() == b"payload \x00\xff"
    store.put_bytes(key, b"v2")
    assert store.get_bytes(key) == b"v2"
    store.delete(key)
    assert not store.exists(key)
    store.delete(key)  # idempotent
    assert not store.exists(key)


def test_get_missing_is_store_error(store: S3Store) -> None:
    with pytest.raises(StoreError, match="NoSuchKey") as ei:
        store.get_bytes("nope.bin")
    assert not isinstance(ei.value, TransientError)
    assert ei.value.retryable is False
    assert "get nope.bin" in str(ei.value)


def test_list_strips_prefix_and_sorts(store: S3Store, s3_bucket) -> None:
    _, bucket, client = s3_bucket
    for key in ["runs/r.json", "chunks/02/b.parquet", "chunks/01/a.parquet"]:
        store.put_bytes(key, b"x")
    client.put_object(Bucket=bucket, Key="elsewhere/z.parquet", Body=b"x")  # outside the prefix
    assert list(store.list()) == ["chunks/01/a.parquet", "chunks/02/b.parquet", "runs/r.json"]
    assert list(store.list("chunks/")) == ["chunks/01/a.parquet", "chunks/02/b.parquet"]
    assert list(store.list("none/")) == []


def test_store_without_prefix(s3_bucket) -> None:
    endpoint, bucket, client = s3_bucket
    s = S3Store(f"s3://{bucket}", endpoint_url=endpoint)
    assert s.root == f"s3://{bucket}"
    s.put_bytes("k/v.bin", b"1")
    assert client.get_object(Bucket=bucket, Key="k/v.bin")["Body"].read() == b"1"
    assert s.uri("k/v.bin") == f"s3://{bucket}/k/v.bin"
    assert list(s.list()) == ["k/v.bin"]


def test_uri_and_root(store: S3Store, s3_bucket) -> None:
    _, bucket, _ = s3_bucket
    assert store.root == f"s3://{bucket}/pre/fix"
    assert store.uri("pages/ab/k.parquet") == f"s3://{bucket}/pre/fix/pages/ab/k.parquet"


def test_parquet_round_trip(store: S3Store) -> None:
    table = pa.table({"chunk_id": ["0" * 32, "1" * 32], "text": ["alpha", "中文，全角"], "n": pa.array([3, 4], pa.int64())})
    store.put_table("chunks/00/t.parquet", table)
    back = store.get_table("chunks/00/t.parquet")
    assert back.equals(table)
    assert back.column("text").to_pylist() == ["alpha", "中文，全角"]


def test_check_ok_on_existing_bucket(store: S3Store) -> None:
    store.check()  # no exception
    assert store.bucket.startswith("test-")


def test_check_missing_bucket_is_store_error(s3_bucket) -> None:
    endpoint, _, _ = s3_bucket
    s = S3Store("s3://no-such-bucket-here/x", endpoint_url=endpoint)
    with pytest.raises(StoreError) as ei:
        s.check()
    err = ei.value
    assert not isinstance(err, TransientError)
    assert err.retryable is False
    assert err.stage == "store"
    assert "no-such-bucket-here" in str(err)
    assert err.hint and "create the bucket" in err.hint
    # operations on the missing bucket fail the same, non-retryable way
    with pytest.raises(StoreError):
        s.put_bytes("a", b"x")


def test_unreachable_endpoint_is_transient(aws_env: None) -> None:
    endpoint = f"http://127.0.0.1:{_closed_port()}"
    # The default client retries 5 times with backoff (~13 s on a refused
    # port); a one-attempt client exercises the same error translation quickly.
    client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", config=Config(retries={"total_max_attempts": 1}, connect_timeout=2))
    s = S3Store("s3://bucket/p", endpoint_url=endpoint, client=client)
    with pytest.raises(TransientError, match="cannot reach the S3 endpoint") as ei:
        s.check()
    assert ei.value.retryable is True
    assert endpoint in str(ei.value)
    for op in (lambda: s.get_bytes("k"), lambda: s.put_bytes("k", b"x"), lambda: list(s.list()), lambda: s.exists("k"), lambda: s.delete("k")):
        with pytest.raises(TransientError):
            op()
