"""What the Prefect UI shows of a run: the summary's Markdown."""

from __future__ import annotations

from pdfrag.flows.report import summary_markdown
from pdfrag.types import Failure, RunSummary


def test_summary_markdown_lists_warnings_and_failures() -> None:
    s = RunSummary(run_id="r1", source="/data/pdfs", files=3, indexed=2, pages=10, seconds=2.0)
    s.failed.append(Failure("/data/pdfs/bad.pdf", "extract", "/data/pdfs/bad.pdf, stage extract: empty file", False))
    s.warnings.append("1 of 2 documents indexed by this run is mostly not in Latin script (e.g. Chinese): zh.pdf.")
    md = summary_markdown(s)
    assert "| 3 | 2 | 0 | 0 | 1 | 0 | 10 |" in md
    assert "## Warnings\n\n- 1 of 2 documents indexed by this run is mostly not in Latin script (e.g. Chinese): zh.pdf." in md
    assert "| `/data/pdfs/bad.pdf` | extract | /data/pdfs/bad.pdf, stage extract: empty file |" in md
    assert md.index("## Warnings") < md.index("## Failed files")


def test_summary_markdown_without_warnings_has_no_section() -> None:
    md = summary_markdown(RunSummary(run_id="r1", source="/data/pdfs", files=1, indexed=1))
    assert "Warnings" not in md and "Failed" not in md
