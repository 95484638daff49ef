"""Tests for pdfrag.identity: document ids, configuration hashes, stage keys, chunk ids."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from pydantic import BaseModel

from pdfrag import PIPELINE_VERSION
from pdfrag.identity import chunk_id, config_hash, doc_id_of_bytes, doc_id_of_stream, sha256_hex, stage_key


def test_doc_id_is_sha256_of_bytes() -> None:
    data = b"%PDF-1.4 some bytes \x00\xff"
    assert doc_id_of_bytes(data) == hashlib.sha256(data).hexdigest()
    assert len(doc_id_of_bytes(data)) == 64
    assert doc_id_of_bytes(b"") == hashlib.sha256(b"").hexdigest()
    assert doc_id_of_bytes(data) != doc_id_of_bytes(data + b" ")


def test_doc_id_stream_and_bytes_agree(pdfs: Path) -> None:
    # Bigger than the 1 MiB read buffer, so the stream is read in several blocks.
    big = bytes(range(256)) * 5000 + b"tail"
    assert len(big) > 1 << 20
    assert doc_id_of_stream(io.BytesIO(big)) == doc_id_of_bytes(big) == hashlib.sha256(big).hexdigest()
    assert doc_id_of_stream(io.BytesIO(b"")) == doc_id_of_bytes(b"")
    pdf = pdfs / "prose" / "docling_multi_page.pdf"
    with pdf.open("rb") as f:
        assert doc_id_of_stream(f) == doc_id_of_bytes(pdf.read_bytes())


def test_sha256_hex_of_str_is_utf8() -> None:
    assert sha256_hex("东北") == hashlib.sha256("东北".encode()).hexdigest()
    assert sha256_hex("abc") == sha256_hex(b"abc")


def test_config_hash_independent_of_key_order() -> None:
    a = {"size": 200, "overlap": 32, "nested": {"x": 1, "y": [1, 2]}}
    b = {"nested": {"y": [1, 2], "x": 1}, "overlap": 32, "size": 200}
    assert config_hash(a) == config_hash(b)


def test_config_hash_sensitive_to_values() -> None:
    base = {"size": 200, "overlap": 32, "nested": {"x": 1}}
    h = config_hash(base)
    assert config_hash({**base, "size": 201}) != h
    assert config_hash({**base, "nested": {"x": 2}}) != h
    assert config_hash({**base, "extra": None}) != h
    # list order is meaningful (separators are tried in order)
    assert config_hash({"s": ["a", "b"]}) != config_hash({"s": ["b", "a"]})
    # types matter: 1 vs "1"
    assert config_hash({"x": 1}) != config_hash({"x": "1"})


def test_config_hash_of_pydantic_models_sets_and_paths() -> None:
    class M(BaseModel):
        a: int = 1
        b: str = "x"

    assert config_hash({"m": M()}) == config_hash({"m": {"b": "x", "a": 1}})
    assert config_hash({"m": M(a=2)}) != config_hash({"m": M()})
    assert config_hash({"s": {3, 1, 2}}) == config_hash({"s": [1, 2, 3]})
    assert config_hash({"p": Path("/a/b")}) == config_hash({"p": "/a/b"})


def test_config_hash_refuses_unhashable_objects() -> None:
    with pytest.raises(TypeError, match="cannot hash object"):
        config_hash({"o": object()})


def test_stage_key_varies_with_stage_config_and_input() -> None:
    k = stage_key("doc1", "extract", {"a": 1})
    assert len(k) == 64
    assert stage_key("doc1", "extract", {"a": 1}) == k
    assert stage_key("doc2", "extract", {"a": 1}) != k
    assert stage_key("doc1", "chunk", {"a": 1}) != k
    assert stage_key("doc1", "extract", {"a": 2}) != k
    assert stage_key("doc1", "extract", {"a": 1, "b": 0}) != k
    # key order of the configuration does not matter
    assert stage_key("d", "s", {"a": 1, "b": 2}) == stage_key("d", "s", {"b": 2, "a": 1})


def test_stage_key_includes_pipeline_version(monkeypatch: pytest.MonkeyPatch) -> None:
    import pdfrag.identity as identity

    k = stage_key("doc1", "extract", {"a": 1})
    monkeypatch.setattr(identity, "PIPELINE_VERSION", PIPELINE_VERSION + "-next")
    assert identity.stage_key("doc1", "extract", {"a": 1}) != k


def test_chunk_id_deterministic_and_distinct() -> None:
    d = "ab" * 32
    c = chunk_id(d, "p1", 0)
    assert c == chunk_id(d, "p1", 0)
    assert len(c) == 32
    int(c, 16)  # hex
    ids = {chunk_id(d, "p1", i) for i in range(500)}
    assert len(ids) == 500  # distinct per position
    assert chunk_id(d, "p2", 0) != c  # distinct per pipeline
    assert chunk_id("cd" * 32, "p1", 0) != c  # distinct per document
