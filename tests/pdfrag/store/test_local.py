"""Tests for pdfrag.store.local.LocalStore and the shared Parquet helpers."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow as pa
import pytest

from pdfrag.errors import StoreError
from pdfrag.store import LocalStore, S3Store, open_store, stage_object_key


@pytest.fixture()
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


def test_put_get_exists_delete(store: LocalStore) -> None:
    key = "pages/ab/abcdef.parquet"
    assert not store.exists(key)
    store.put_bytes(key, b"hello \x00 world")
    assert store.exists(key)
    assert store.get_bytes(key) == b"hello \x00 world"
    assert (store.path / "pages" / "ab" / "abcdef.parquet").read_bytes() == b"hello \x00 world"
    store.put_bytes(key, b"replaced")  # overwrite
    assert store.get_bytes(key) == b"replaced"
    store.delete(key)
    assert not store.exists(key)
    store.delete(key)  # deleting a missing key is not an error
    assert not store.exists(key)


def test_put_leaves_no_temp_files(store: LocalStore) -> None:
    for i in range(3):
        store.put_bytes("a/x.bin", bytes([i]) * 10)
    assert sorted(p.name for p in (store.path / "a").iterdir()) == ["x.bin"]


def test_get_missing_raises_store_error(store: LocalStore) -> None:
    with pytest.raises(StoreError, match="not found") as ei:
        store.get_bytes("nope/missing.parquet")
    assert "nope/missing.parquet" in str(ei.value)


def test_list_sorted_with_prefix(store: LocalStore) -> None:
    assert list(store.list()) == []  # root not even created yet
    for key in ["chunks/02/b.parquet", "pages/01/a.parquet", "chunks/01/a.parquet", "runs/r1.json"]:
        store.put_bytes(key, b"x")
    # an interrupted write leaves a temp file: never listed
    (store.path / "pages" / "01" / ".tmp-abc.parquet").write_bytes(b"partial")
    assert list(store.list()) == ["chunks/01/a.parquet", "chunks/02/b.parquet", "pages/01/a.parquet", "runs/r1.json"]
    assert list(store.list("chunks/")) == ["chunks/01/a.parquet", "chunks/02/b.parquet"]
    assert list(store.list("pages")) == ["pages/01/a.parquet"]
    assert list(store.list("nothing/")) == []


def test_uri_and_root(tmp_path: Path) -> None:
    s = LocalStore(tmp_path / "st")
    assert s.root == str((tmp_path / "st").absolute())
    assert s.uri("pages/ab/k.parquet") == str(tmp_path / "st" / "pages" / "ab" / "k.parquet")
    s.put_bytes("pages/ab/k.parquet", b"1")
    assert Path(s.uri("pages/ab/k.parquet")).read_bytes() == b"1"


@pytest.mark.parametrize("key", ["../escape.bin", "a/../../escape.bin", "/etc/passwd", "a/../../../tmp/x"])
def test_refuses_keys_escaping_root(store: LocalStore, key: str) -> None:
    with pytest.raises(StoreError, match="escapes"):
        store.put_bytes(key, b"x")
    with pytest.raises(StoreError, match="escapes"):
        store.get_bytes(key)
    with pytest.raises(StoreError, match="escapes"):
        store.exists(key)
    with pytest.raises(StoreError, match="escapes"):
        store.delete(key)
    assert not (store.path.parent / "escape.bin").exists()


def test_refuses_symlink_out_of_root(store: LocalStore, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_bytes(b"s")
    store.path.mkdir(parents=True)
    os.symlink(outside, store.path / "link")
    with pytest.raises(StoreError, match="escapes"):
        store.get_bytes("link/secret")
    with pytest.raises(StoreError, match="escapes"):
        store.put_bytes("link/new", b"x")
    assert not (outside / "new").exists()


def test_dotdot_inside_root_is_allowed(store: LocalStore) -> None:
    store.put_bytes("a/../b.bin", b"ok")
    assert store.get_bytes("b.bin") == b"ok"


def test_check_creates_folder_and_fails_clearly(tmp_path: Path) -> None:
    s = LocalStore(tmp_path / "deep" / "store")
    s.check()
    assert s.path.is_dir()
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreError, match="cannot create the store folder"):
        LocalStore(blocker / "store").check()


def test_parquet_round_trip(store: LocalStore) -> None:
    table = pa.table(
        {
            "doc_id": ["a" * 64, "b" * 64, "c" * 64],
            "page": pa.array([1, 2, 3], pa.int32()),
            "text": ["hello", "东北电气发展股份有限公司，第一季度", ""],
            "score": [0.5, None, 1.25],
        }
    )
    store.put_table("pages/aa/k.parquet", table)
    raw = store.get_bytes("pages/aa/k.parquet")
    assert raw[:4] == b"PAR1"
    back = store.get_table("pages/aa/k.parquet")
    assert back.equals(table)
    assert back.schema == table.schema
    assert back.column("text").to_pylist()[1] == "东北电气发展股份有限公司，第一季度"


def test_stage_object_key() -> None:
    key = "abcdef0123"
    assert stage_object_key("pages", key) == "pages/ab/abcdef0123.parquet"
    assert stage_object_key("runs", key, "json") == "runs/ab/abcdef0123.json"


def test_open_store_dispatch(tmp_path: Path, aws_env: None) -> None:
    local = open_store(str(tmp_path / "s"))
    assert isinstance(local, LocalStore)
    assert local.root == str(tmp_path / "s")
    s3 = open_store("s3://bucket/some/prefix", endpoint_url="http://127.0.0.1:1", region="us-east-1")
    assert isinstance(s3, S3Store)
    assert (s3.bucket, s3.prefix) == ("bucket", "some/prefix")
