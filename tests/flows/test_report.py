"""What the Prefect UI shows of a run: the progress artifact's updates and the summary's Markdown."""

from __future__ import annotations

from pdfrag.flows.report import ProgressArtifact, summary_markdown
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


def test_progress_updates_are_spaced_but_the_last_file_and_finish_get_through(monkeypatch) -> None:
    import prefect.artifacts

    sent: list[tuple[float, str | None]] = []
    monkeypatch.setattr(prefect.artifacts, "create_progress_artifact", lambda *a, **k: "artifact-id")
    monkeypatch.setattr(prefect.artifacts, "update_progress_artifact", lambda _id, progress, description=None: sent.append((progress, description)))
    now = [0.0]
    bar = ProgressArtifact(total=10, min_interval=2.0, clock=lambda: now[0])
    for i in range(10):
        now[0] += 0.5  # a file every half second
        bar.advance(f"{i + 1} indexed")
    # At 2.0 s, 4.0 s: files 4 and 8; file 10 is the last one.
    assert [d for _, d in sent] == ["4 indexed", "8 indexed", "10 indexed"]
    assert sent[-1][0] == 100.0
    bar.finish()
    assert sent[-1] == (100.0, "done")
