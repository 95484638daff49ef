"""Arrow schemas of the stage Parquet files, and conversions to and from the
typed records. Pure: no store, no Prefect.

- ``pages``: one row per page, with its blocks (reading-order regions with
  heading paths and boxes) and its tables nested;
- ``tables``: one row per table, flat, for users and audits
  (``document, page, table index, bounding box, header, rows``);
- ``chunks``: one row per chunk.
"""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa

from pdfrag.types import Block, Chunk, Page, Table

_BBOX = pa.list_(pa.float32(), 4)
BLOCK_TYPE = pa.struct(
    [
        ("start", pa.int32()), ("end", pa.int32()), ("kind", pa.string()), ("heading_path", pa.list_(pa.string())),
        ("level", pa.int8()), ("bbox", _BBOX), ("table_index", pa.int32()),
    ]
)
TABLE_TYPE = pa.struct(
    [
        ("index", pa.int32()), ("page", pa.int32()), ("header", pa.list_(pa.string())),
        ("rows", pa.list_(pa.list_(pa.string()))), ("markdown", pa.string()), ("bbox", _BBOX), ("method", pa.string()),
    ]
)
PAGES_SCHEMA = pa.schema(
    [
        ("doc_id", pa.string()), ("page", pa.int32()), ("text", pa.string()), ("method", pa.string()), ("note", pa.string()),
        ("blocks", pa.list_(BLOCK_TYPE)), ("tables", pa.list_(TABLE_TYPE)),
    ]
)
TABLES_SCHEMA = pa.schema(
    [
        ("doc_id", pa.string()), ("source", pa.string()), ("page", pa.int32()), ("table_index", pa.int32()),
        ("bbox", _BBOX), ("header", pa.list_(pa.string())), ("rows", pa.list_(pa.list_(pa.string()))),
        ("markdown", pa.string()), ("method", pa.string()),
    ]
)
CHUNKS_SCHEMA = pa.schema(
    [
        ("chunk_id", pa.string()), ("doc_id", pa.string()), ("chunk_index", pa.int32()), ("text", pa.string()),
        ("char_start", pa.int64()), ("char_end", pa.int64()), ("page_start", pa.int32()), ("page_end", pa.int32()),
        ("token_count", pa.int32()), ("heading_path", pa.list_(pa.string())), ("metadata", pa.string()),
    ]
)


def _bbox(b: Any) -> list[float] | None:
    return [float(x) for x in b] if b is not None else None


def _block_row(b: Block) -> dict[str, Any]:
    return {
        "start": b.start, "end": b.end, "kind": b.kind, "heading_path": list(b.heading_path), "level": b.level,
        "bbox": _bbox(b.bbox), "table_index": b.table_index,
    }


def _table_row(t: Table) -> dict[str, Any]:
    return {
        "index": t.index, "page": t.page, "header": list(t.header), "rows": [list(r) for r in t.rows],
        "markdown": t.markdown, "bbox": _bbox(t.bbox), "method": t.method,
    }


def pages_to_table(doc_id: str, pages: list[Page]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "doc_id": doc_id, "page": p.page, "text": p.text, "method": p.method, "note": p.note,
                "blocks": [_block_row(b) for b in p.blocks], "tables": [_table_row(t) for t in p.tables],
            }
            for p in pages
        ],
        schema=PAGES_SCHEMA,
    )


def _to_block(r: dict[str, Any]) -> Block:
    bbox = r.get("bbox")
    return Block(
        start=r["start"], end=r["end"], kind=r["kind"], heading_path=tuple(r.get("heading_path") or ()), level=r.get("level") or 0,
        bbox=tuple(bbox) if bbox is not None else None, table_index=r.get("table_index"),
    )


def _to_table(r: dict[str, Any]) -> Table:
    bbox = r.get("bbox")
    return Table(
        index=r["index"], page=r["page"], header=tuple(r.get("header") or ()), rows=tuple(tuple(x) for x in r.get("rows") or ()),
        markdown=r.get("markdown") or "", bbox=tuple(bbox) if bbox is not None else None, method=r.get("method") or "",
    )


def table_to_pages(t: pa.Table) -> list[Page]:
    """Read pages back; Parquet files written before blocks existed read as
    pages without blocks."""
    out = []
    for r in t.to_pylist():
        out.append(
            Page(
                r["page"], r["text"], r["method"], r["note"],
                blocks=tuple(_to_block(b) for b in r.get("blocks") or ()),
                tables=tuple(_to_table(x) for x in r.get("tables") or ()),
            )
        )
    return out


def tables_to_table(doc_id: str, source: str, pages: list[Page]) -> pa.Table:
    rows = []
    for p in pages:
        for t in p.tables:
            rows.append(
                {
                    "doc_id": doc_id, "source": source, "page": p.page, "table_index": t.index, "bbox": _bbox(t.bbox),
                    "header": list(t.header), "rows": [list(r) for r in t.rows], "markdown": t.markdown, "method": t.method,
                }
            )
    return pa.Table.from_pylist(rows, schema=TABLES_SCHEMA)


def chunks_to_table(chunks: list[Chunk]) -> pa.Table:
    return pa.Table.from_pylist(
        [
            {
                "chunk_id": c.chunk_id, "doc_id": c.doc_id, "chunk_index": c.chunk_index, "text": c.text,
                "char_start": c.char_start, "char_end": c.char_end, "page_start": c.page_start, "page_end": c.page_end,
                "token_count": c.token_count, "heading_path": list(c.heading_path),
                "metadata": json.dumps(c.metadata, ensure_ascii=False, sort_keys=True) if c.metadata else None,
            }
            for c in chunks
        ],
        schema=CHUNKS_SCHEMA,
    )
