"""Tests for pdfrag.ledger.Ledger on a real Milvus Lite database in tmp_path."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from pdfrag.config import IndexSettings, MilvusSettings
from pdfrag.identity import sha256_hex
from pdfrag.index.milvus import MilvusIndex
from pdfrag.ledger import FAILED, INDEXED, Ledger, LedgerEntry, source_key

pytestmark = pytest.mark.integration

D1 = "1" * 64
D2 = "2" * 64
PIPE = "c" * 64


@pytest.fixture()
def ledger(tmp_path: Path):
    idx = MilvusIndex(MilvusSettings(), IndexSettings(), str(tmp_path / "m.db"), {"model": "m", "dimension": 8, "metric": "COSINE"})
    led = Ledger(idx)
    led.ensure()
    yield led
    idx.close()


def _entry(source: str, doc: str = D1, status: str = INDEXED, **kw) -> LedgerEntry:
    return LedgerEntry(source=source, name=source.rsplit("/", 1)[-1], doc_id=doc, pipeline=PIPE, status=status, **kw)


def test_source_key() -> None:
    assert source_key("/a.pdf") == sha256_hex("/a.pdf")[:32]
    assert len(source_key("s3://b/k.pdf")) == 32
    assert _entry("/a.pdf").key == source_key("/a.pdf")


def test_ensure_is_idempotent(ledger: Ledger) -> None:
    assert ledger.collection == "pdfrag_ledger"
    assert ledger.client.has_collection("pdfrag_ledger")
    ledger.put([_entry("/a.pdf")])
    ledger.ensure()  # re-opening keeps the data
    assert [e.source for e in ledger.all()] == ["/a.pdf"]


def test_put_get_all(ledger: Ledger) -> None:
    assert ledger.all() == []
    assert ledger.get(["/nothing.pdf"]) == {}
    entries = [
        _entry("/corpus/b.pdf", chunks=12, pages=3, size=1000, run_id="r1"),
        _entry("/corpus/a.pdf", chunks=5, pages=2, size=500, run_id="r1"),
        _entry("s3://bucket/东北/报告.pdf", doc=D2, status=FAILED, stage="extract", error="encrypted: supply a password", retryable=False),
    ]
    ledger.put(entries)
    got = ledger.get(["/corpus/a.pdf", "s3://bucket/东北/报告.pdf", "/missing.pdf"])
    assert set(got) == {"/corpus/a.pdf", "s3://bucket/东北/报告.pdf"}
    a = got["/corpus/a.pdf"]
    assert (a.doc_id, a.pipeline, a.status, a.chunks, a.pages, a.size, a.run_id) == (D1, PIPE, INDEXED, 5, 2, 500, "r1")
    assert a.name == "a.pdf"
    f = got["s3://bucket/东北/报告.pdf"]
    assert (f.status, f.stage, f.error, f.retryable, f.name) == (FAILED, "extract", "encrypted: supply a password", False, "报告.pdf")
    # updated_at is filled in, an ISO timestamp in UTC
    stamp = dt.datetime.fromisoformat(a.updated_at)
    assert stamp.tzinfo is not None
    assert abs((dt.datetime.now(dt.timezone.utc) - stamp).total_seconds()) < 120
    assert [e.source for e in ledger.all()] == ["/corpus/a.pdf", "/corpus/b.pdf", "s3://bucket/东北/报告.pdf"]
    assert ledger.put([]) is None


def test_put_replaces_by_source(ledger: Ledger) -> None:
    ledger.put([_entry("/a.pdf", status=FAILED, error="boom", retryable=True)])
    ledger.put([_entry("/a.pdf", doc=D2, chunks=7, updated_at="2024-01-01T00:00:00+00:00")])
    entries = ledger.all()
    assert len(entries) == 1
    e = entries[0]
    assert (e.status, e.doc_id, e.chunks, e.error, e.retryable) == (INDEXED, D2, 7, "", False)
    assert e.updated_at == "2024-01-01T00:00:00+00:00"  # an explicit time is kept


def test_long_error_and_name_are_truncated(ledger: Ledger) -> None:
    long_error = "错" * 3000  # 9000 UTF-8 bytes
    ledger.put([_entry("/x/" + "n" * 10, status=FAILED, error=long_error)])
    e = ledger.all()[0]
    assert len(e.error.encode("utf-8")) <= 4000
    assert e.error == "错" * (4000 // 3)  # cut on a character boundary
    long_name = LedgerEntry(source="/y.pdf", name="名" * 600, doc_id=D1, pipeline=PIPE, status=INDEXED)
    ledger.put([long_name])
    got = ledger.get(["/y.pdf"])["/y.pdf"]
    assert len(got.name.encode("utf-8")) <= 1000 and got.name == "名" * 333


def test_sources_for_doc(ledger: Ledger) -> None:
    ledger.put(
        [
            _entry("/a.pdf", D1),
            _entry("/copy-of-a.pdf", D1),
            _entry("/broken-a.pdf", D1, status=FAILED),
            _entry("/b.pdf", D2),
        ]
    )
    assert sorted(ledger.sources_for_doc(D1)) == ["/a.pdf", "/copy-of-a.pdf"]  # indexed only
    assert ledger.sources_for_doc(D2) == ["/b.pdf"]
    assert ledger.sources_for_doc("3" * 64) == []
    with pytest.raises(ValueError):
        ledger.sources_for_doc('" or status != "')


def test_delete(ledger: Ledger) -> None:
    ledger.put([_entry("/a.pdf"), _entry("/b.pdf"), _entry("/c.pdf")])
    ledger.delete(["/a.pdf", "/c.pdf", "/never-there.pdf"])
    assert [e.source for e in ledger.all()] == ["/b.pdf"]
    ledger.delete([])
    assert len(ledger.all()) == 1


def test_counts(ledger: Ledger) -> None:
    assert ledger.counts() == {"documents": 0, "failed": 0, "pages": 0, "last_indexed_at": None}
    ledger.put(
        [
            _entry("/a.pdf", pages=3, updated_at="2024-05-01T10:00:00+00:00"),
            _entry("/b.pdf", pages=4, updated_at="2024-06-01T10:00:00+00:00"),
            _entry("/c.pdf", status=FAILED, pages=9, updated_at="2025-01-01T00:00:00+00:00"),
        ]
    )
    assert ledger.counts() == {"documents": 2, "failed": 1, "pages": 7, "last_indexed_at": "2024-06-01T10:00:00+00:00"}


def test_many_entries_page_through(ledger: Ledger) -> None:
    entries = [_entry(f"/many/{i:05d}.pdf", pages=1) for i in range(1203)]
    ledger.put(entries)
    everything = ledger.all()
    assert len(everything) == 1203
    assert [e.source for e in everything] == sorted(e.source for e in entries)
    got = ledger.get([e.source for e in entries[:600]])
    assert len(got) == 600
    assert ledger.counts()["pages"] == 1203


def test_sources_for_docs(ledger: Ledger) -> None:
    ledger.put([_entry("/a.pdf", D1), _entry("/copy-of-a.pdf", D1), _entry("/broken-a.pdf", D1, status=FAILED), _entry("/b.pdf", D2)])
    got = ledger.sources_for_docs([D1, D2, "3" * 64])
    assert sorted(got[D1]) == ["/a.pdf", "/copy-of-a.pdf"] and got[D2] == ["/b.pdf"] and got["3" * 64] == []
    assert ledger.sources_for_docs([]) == {}


def test_a_ledger_opens_itself_on_first_use(tmp_path: Path) -> None:
    """A Ledger read or written without ensure() first (a script over a
    pipeline's ledger) opens its collection rather than failing with
    Milvus's 'collection released'."""
    db = str(tmp_path / "m.db")
    identity = {"model": "m", "dimension": 8, "metric": "COSINE"}
    first = MilvusIndex(MilvusSettings(), IndexSettings(), db, identity)
    Ledger(first).put([_entry("/a.pdf")])  # creates it
    first.close()
    again = MilvusIndex(MilvusSettings(), IndexSettings(), db, identity)
    try:
        assert [e.source for e in Ledger(again).all()] == ["/a.pdf"]
        assert Ledger(again).get(["/a.pdf"])["/a.pdf"].doc_id == D1
    finally:
        again.close()
