"""Where PDFs come from: a file, a folder (recursive), or ``s3://bucket/prefix``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from pdfrag.errors import ConfigError, InputError

PDF_SUFFIXES = (".pdf",)


@dataclass(frozen=True)
class SourceRef:
    uri: str  # absolute path or s3://bucket/key
    name: str  # file name
    size: int
    # Cheap change detector: size and mtime (files) or size and ETag (S3).
    # An unchanged fingerprint lets a refresh skip reading and hashing.
    fingerprint: str = ""


def is_pdf_name(name: str) -> bool:
    return name.lower().endswith(PDF_SUFFIXES)


def check_source(source: str) -> None:
    """Fail at once, before anything starts, on a local source that does
    not exist (a typo in the path); S3 prefixes are checked when listed."""
    if not source.startswith("s3://") and not Path(source).expanduser().exists():
        raise _not_a_source(source)


def _not_a_source(source: str) -> ConfigError:
    return ConfigError(f"source {source!r} is neither a file, a folder nor an s3:// URI", stage="list", hint="check the path")


def list_sources(source: str, *, endpoint_url: str = "", region: str = "") -> list[SourceRef]:
    """All PDFs under ``source``, sorted by URI so runs are deterministic."""
    if source.startswith("s3://"):
        return _list_s3(source, endpoint_url, region)
    path = Path(source).expanduser()
    if path.is_file():
        return [_local_ref(path.absolute())]
    if path.is_dir():
        root = path.absolute()
        refs = [
            _local_ref(p)
            for p in root.rglob("*")
            if p.is_file() and is_pdf_name(p.name) and not any(part.startswith(".") for part in p.relative_to(root).parts)
        ]
        return sorted(refs, key=lambda r: r.uri)
    raise _not_a_source(source)


def _local_ref(p: Path) -> SourceRef:
    st = p.stat()
    return SourceRef(str(p), p.name, st.st_size, f"{st.st_size}:{st.st_mtime_ns}")


def _list_s3(source: str, endpoint_url: str, region: str) -> list[SourceRef]:
    from pdfrag.store.s3 import make_s3_client

    u = urlparse(source)
    bucket, prefix = u.netloc, u.path.lstrip("/")
    if prefix and not prefix.endswith("/") and not is_pdf_name(prefix):
        prefix += "/"  # a folder: s3://b/docs must not match docs2/ or docs-old/
    client = make_s3_client(endpoint_url, region)
    refs = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if is_pdf_name(key):
                etag = str(obj.get("ETag", "")).strip('"')
                refs.append(SourceRef(f"s3://{bucket}/{key}", key.rsplit("/", 1)[-1], int(obj["Size"]), f"{obj['Size']}:{etag}"))
    if is_pdf_name(prefix):  # one object: s3://b/a.pdf must not match a.pdf.old.pdf
        refs = [r for r in refs if r.uri == source]
    return sorted(refs, key=lambda r: r.uri)


def read_source(uri: str, *, endpoint_url: str = "", region: str = "") -> bytes:
    if uri.startswith("s3://"):
        from pdfrag.store.s3 import S3Store

        u = urlparse(uri)
        key = u.path.lstrip("/")
        store = S3Store(f"s3://{u.netloc}", endpoint_url=endpoint_url, region=region)
        return store.get_bytes(key)
    try:
        return Path(uri).read_bytes()
    except OSError as e:
        raise InputError(f"cannot read file: {e.strerror or e}", source=uri, stage="read") from e
