"""BEIR files: ``queries.jsonl`` (one ``{"_id", "text"}`` object a line) and
``qrels.tsv`` (``query-id``, ``corpus-id``, ``score``, tab-separated, with a
header line)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from pdfrag.errors import ConfigError


def load_queries(path: str | Path) -> dict[str, str]:
    """Query id → text, in file order. Blank lines are skipped."""
    path = Path(path)
    queries: dict[str, str] = {}
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise ConfigError(f"cannot read queries file {path}: {e}", stage="eval") from e
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            qid, text = str(obj["_id"]), str(obj["text"])
        except (ValueError, KeyError, TypeError) as e:
            raise ConfigError(f"{path}, line {n}: not a BEIR query (a JSON object with \"_id\" and \"text\")", stage="eval") from e
        if qid in queries:
            raise ConfigError(f"{path}, line {n}: query id {qid!r} appears twice", stage="eval")
        queries[qid] = text
    return queries


def load_qrels(path: str | Path) -> dict[str, dict[str, int]]:
    """Query id → {corpus id → graded relevance}. The first line is a header
    (BEIR's ``query-id corpus-id score``); a second judgement of the same
    pair is an error."""
    path = Path(path)
    qrels: dict[str, dict[str, int]] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ConfigError(f"cannot read qrels file {path}: {e}", stage="eval") from e
    rows = list(csv.reader(text.splitlines(), delimiter="\t"))
    if not rows:
        raise ConfigError(f"{path} is empty: expected a header and query-id, corpus-id, score rows", stage="eval")
    header = [c.strip().lower() for c in rows[0]]
    if len(header) < 3 or _is_int(header[2]):
        raise ConfigError(f"{path}: the first line must be a header (query-id, corpus-id, score)", stage="eval")
    for n, row in enumerate(rows[1:], 2):
        if not row or not "".join(row).strip():
            continue
        if len(row) < 3 or not _is_int(row[2]):
            raise ConfigError(f"{path}, line {n}: expected query-id<TAB>corpus-id<TAB>integer score, got {row!r}", stage="eval")
        qid, did, score = row[0].strip(), row[1].strip(), int(row[2])
        judged = qrels.setdefault(qid, {})
        if did in judged:
            raise ConfigError(f"{path}, line {n}: ({qid}, {did}) is judged twice", stage="eval")
        judged[did] = score
    return qrels


def _is_int(s: str) -> bool:
    try:
        int(s)
    except ValueError:
        return False
    return True
