"""Tests for pdfrag.sources: listing PDFs in a file, a folder or an S3 prefix,
and reading their bytes (S3 through the moto server in tests/pdfrag/conftest.py)."""

from __future__ import annotations

import os

from pathlib import Path

import pytest

from pdfrag.errors import ConfigError, InputError, StoreError
from pdfrag.sources import SourceRef, is_pdf_name, list_sources, read_source


def _tree(root: Path) -> None:
    files = {
        "b.pdf": b"%PDF-b",
        "a.pdf": b"%PDF-a-longer",
        "notes.txt": b"text",
        "UPPER.PDF": b"%PDF-U",
        "sub/c.pdf": b"%PDF-c",
        "sub/deeper/d.pdf": b"%PDF-d",
        "sub/deeper/readme.md": b"#",
        "sub/e.pdf.bak": b"x",
        ".hidden/h.pdf": b"%PDF-h",
        "sub/.cache/x.pdf": b"%PDF-x",
    }
    for rel, data in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)


def test_is_pdf_name() -> None:
    assert is_pdf_name("a.pdf") and is_pdf_name("A.PDF") and is_pdf_name("x/y.Pdf")
    assert not is_pdf_name("a.pdf.bak") and not is_pdf_name("pdf") and not is_pdf_name("a.txt")


def test_list_folder_recursive_only_pdfs_sorted(tmp_path: Path) -> None:
    root = tmp_path / "src"
    _tree(root)
    refs = list_sources(str(root))
    assert all(isinstance(r, SourceRef) for r in refs)
    rel = [Path(r.uri).relative_to(root).as_posix() for r in refs]
    assert rel == ["UPPER.PDF", "a.pdf", "b.pdf", "sub/c.pdf", "sub/deeper/d.pdf"]
    assert [r.uri for r in refs] == sorted(r.uri for r in refs)
    by_name = {r.name: r for r in refs}
    assert by_name["a.pdf"].size == len(b"%PDF-a-longer")
    assert by_name["d.pdf"].uri == str((root / "sub" / "deeper" / "d.pdf").absolute())
    assert all(Path(r.uri).is_absolute() for r in refs)
    # deterministic
    assert list_sources(str(root)) == refs


def test_list_folder_sorted_by_uri_string(tmp_path: Path) -> None:
    for rel in ("a/y.pdf", "a-b/x.pdf"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"%PDF")
    uris = [r.uri for r in list_sources(str(tmp_path))]
    assert uris == sorted(uris)


def test_list_single_file_and_missing(tmp_path: Path) -> None:
    f = tmp_path / "one.pdf"
    f.write_bytes(b"%PDF-1")
    st = f.stat()
    assert list_sources(str(f)) == [SourceRef(str(f.absolute()), "one.pdf", 6, f"6:{st.st_mtime_ns}")]
    with pytest.raises(ConfigError, match="neither a file, a folder"):
        list_sources(str(tmp_path / "missing"))


def test_fingerprint_changes_with_the_file(tmp_path: Path) -> None:
    f = tmp_path / "one.pdf"
    f.write_bytes(b"%PDF-1")
    before = list_sources(str(f))[0].fingerprint
    os.utime(f, ns=(1, 1))
    assert list_sources(str(f))[0].fingerprint != before
    f.write_bytes(b"%PDF-12")
    assert list_sources(str(f))[0].fingerprint.startswith("7:")


def test_list_real_corpus_folder(pdfs: Path) -> None:
    refs = list_sources(str(pdfs / "bad_input"))
    expected = sorted(p.name for p in (pdfs / "bad_input").glob("*.pdf"))
    assert [r.name for r in refs] == expected
    assert "docling_encrypted_README.md" not in [r.name for r in refs]
    empty = next(r for r in refs if r.name == "pdfplumber_empty.pdf")
    assert empty.size == 0


def test_read_source_local(tmp_path: Path, pdfs: Path) -> None:
    pdf = pdfs / "prose" / "docling_multi_page.pdf"
    assert read_source(str(pdf)) == pdf.read_bytes()
    with pytest.raises(InputError) as ei:
        read_source(str(tmp_path / "gone.pdf"))
    assert ei.value.stage == "read"
    assert str(tmp_path / "gone.pdf") in str(ei.value)
    assert "cannot read file" in str(ei.value)
    with pytest.raises(InputError):
        read_source(str(tmp_path))  # a folder


def test_list_and_read_s3(s3_bucket) -> None:
    endpoint, bucket, client = s3_bucket
    objects = {
        "docs/b.pdf": b"%PDF-bb",
        "docs/a.pdf": b"%PDF-a",
        "docs/sub/C.PDF": b"%PDF-ccc",
        "docs/notes.txt": b"no",
        "other/z.pdf": b"%PDF-z",
    }
    for key, data in objects.items():
        client.put_object(Bucket=bucket, Key=key, Body=data)
    refs = list_sources(f"s3://{bucket}/docs/", endpoint_url=endpoint, region="us-east-1")
    assert [r.uri for r in refs] == [f"s3://{bucket}/docs/a.pdf", f"s3://{bucket}/docs/b.pdf", f"s3://{bucket}/docs/sub/C.PDF"]
    assert [r.name for r in refs] == ["a.pdf", "b.pdf", "C.PDF"]
    assert [r.size for r in refs] == [6, 7, 8]
    # the whole bucket
    all_refs = list_sources(f"s3://{bucket}", endpoint_url=endpoint)
    assert len(all_refs) == 4 and all_refs[-1].uri == f"s3://{bucket}/other/z.pdf"
    assert [r.uri for r in all_refs] == sorted(r.uri for r in all_refs)
    # read back each listed object
    for r in refs:
        key = r.uri.split(f"s3://{bucket}/", 1)[1]
        assert read_source(r.uri, endpoint_url=endpoint, region="us-east-1") == objects[key]
    with pytest.raises(StoreError):
        read_source(f"s3://{bucket}/docs/missing.pdf", endpoint_url=endpoint)


def test_check_source_fails_fast_on_a_missing_local_path(tmp_path) -> None:
    from pdfrag.errors import ConfigError
    from pdfrag.sources import check_source

    check_source(str(tmp_path))  # a folder
    (tmp_path / "a.pdf").write_bytes(b"%PDF-1.4")
    check_source(str(tmp_path / "a.pdf"))  # a file
    check_source("s3://bucket/prefix")  # checked when listed
    with pytest.raises(ConfigError, match="neither a file, a folder nor an s3:// URI"):
        check_source(str(tmp_path / "typo"))
