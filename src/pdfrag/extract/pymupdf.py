"""PyMuPDF extraction with per-page routing.

Each page goes one of three ways, recorded in ``Page.method`` with the
reason in ``Page.note``:

- ``text``: the text layer read block by block (a single column needs no
  more);
- ``layout``: the text layer put in reading order by XY-cut (columns,
  sidebars, spanning titles) and/or with ruled tables kept as data and
  placed as Markdown where they stand;
- ``ocr``: scanned pages, image-only pages and text layers that decode to
  garbage (see ``quality.py``), read by OCR with layout regions.

Then, over the whole document: running headers, footers and page numbers
are dropped, headings are found from type size and weight, and each block
gets its heading path.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import pymupdf

from pdfrag.config import ExtractSettings
from pdfrag.errors import InputError
from pdfrag.extract.base import Extractor
from pdfrag.extract.clean import (
    clean_text,
    furniture_key,
    is_page_number,
    repeated_furniture,
)
from pdfrag.extract.headings import Region, assign_heading_paths, mark_headings
from pdfrag.extract.identity import PYMUPDF_TEXT_FLAGS, extractor_config
from pdfrag.extract.layout import CutConfig, reading_order
from pdfrag.extract.paragraphs import join_paragraph_lines
from pdfrag.extract.quality import judge_page
from pdfrag.extract.tables import TableConfig, TableFinder
from pdfrag.extract.text import is_rtl, join_lines
from pdfrag.types import Block, ExtractedDocument, Page, Table

pymupdf.TOOLS.mupdf_display_errors(False)
pymupdf.TOOLS.mupdf_display_warnings(False)

_FLAGS = PYMUPDF_TEXT_FLAGS  # TEXT_PRESERVE_WHITESPACE | TEXT_MEDIABOX_CLIP (tests check it against PyMuPDF)
_BULLET = ("•", "◦", "▪", "‣", "●", "○", "■", "□", "–", "- ", "* ", "·")
_MARGIN = 0.12  # top and bottom share of the page where running headers and page numbers live


@dataclass
class _RawPage:
    number: int
    width: float
    height: float
    regions: list[Region]
    tables: list[Table]
    method: str
    note: str = ""
    seconds: float = 0.0
    rtl: bool = False
    ordered: bool = False  # regions already in reading order (OCR pages)


@contextmanager
def _gc_paused() -> Iterator[None]:
    """``get_text("dict")`` makes thousands of small dicts per page, which
    set off Python's cyclic garbage collector for nothing (they hold no
    cycles and are freed by reference counting): paused while a page is
    read, it cost 10–15 % of the time of text-layer pages."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _bold(span: dict) -> bool:
    return bool(span.get("flags", 0) & 16) or "bold" in span.get("font", "").lower() or "black" in span.get("font", "").lower()


def _center_in(b: tuple, boxes: list[tuple]) -> bool:
    cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
    return any(x0 - 1 <= cx <= x1 + 1 and y0 - 1 <= cy <= y1 + 1 for x0, y0, x1, y1 in boxes)


class PyMuPDFExtractor(Extractor):
    name: ClassVar[str] = "pymupdf"

    def __init__(self, settings: ExtractSettings | None = None) -> None:
        self.settings = settings or ExtractSettings()
        self._reader: Any = False  # resolved on first use
        self._bold_font: dict[tuple[str, int], bool] = {}

    @property
    def reader(self):
        """The OCR page reader, or None when OCR is off or not installed."""
        if self._reader is False:
            from pdfrag.extract.ocr import get_reader

            s = self.settings
            self._reader = get_reader(s.ocr, s.ocr_dpi, s.ocr_layout, s.ocr_tables, s.paddle_model_dir, s.ocr_threads, s.ocr_release_memory)
        return self._reader

    def config(self) -> dict[str, Any]:
        return extractor_config(self.settings)  # pdfrag.extract.identity: known without PyMuPDF

    def _passwords_for(self, source: str) -> list[str]:
        s = self.settings
        name = source.rsplit("/", 1)[-1]
        specific = [s.password_map[k] for k in (source, name) if k in s.password_map]
        return specific + [p for p in s.passwords if p not in specific]

    # Opening ------------------------------------------------------------------
    def open(self, data: bytes, source: str) -> pymupdf.Document:
        if not data:
            raise InputError("empty file (0 bytes)", source=source, stage="extract", hint="re-export or re-upload the file")
        try:
            doc = pymupdf.open(stream=data, filetype="pdf")
        except Exception as e:
            raise InputError(
                f"not a readable PDF: {e}", source=source, stage="extract", hint="the file is corrupt or not a PDF; repair or re-export it"
            ) from e
        if doc.needs_pass:
            for pw in self._passwords_for(source):
                if doc.authenticate(pw):
                    break
            else:
                doc.close()
                tried = len(self._passwords_for(source))
                raise InputError(
                    "encrypted: supply a password" + (f" ({tried} configured password(s) did not open it)" if tried else ""),
                    source=source,
                    stage="extract",
                    hint="set PDFRAG_EXTRACT__PASSWORDS or extract.password_map in the config file",
                )
        return doc

    # Document -----------------------------------------------------------------
    def extract(self, data: bytes, *, source: str, doc_id: str) -> ExtractedDocument:
        doc = self.open(data, source)
        if doc.page_count == 0:
            doc.close()
            fallback = self._fallback(data, source, doc_id)
            if fallback is not None:
                return fallback
            raise InputError("the PDF has 0 pages", source=source, stage="extract", hint="the page tree is broken; repair the file (e.g. qpdf) and retry")
        if self.on_pages is not None:
            self.on_pages(doc.page_count)
        raws: list[_RawPage] = []
        finder = TableFinder(TableConfig(enabled=self.settings.tables))
        try:
            for i in range(doc.page_count):
                t0 = time.perf_counter()
                with _gc_paused():
                    raw = self._page(doc, i, finder, source)
                raw.seconds = time.perf_counter() - t0
                raws.append(raw)
                if self.on_page is not None:
                    self.on_page(i + 1)
            metadata = {k: v for k, v in (doc.metadata or {}).items() if isinstance(v, str) and v}
        finally:
            doc.close()
        t0 = time.perf_counter()
        with _gc_paused():
            pages = self._finish(raws)
        finish = time.perf_counter() - t0
        ocr = [r for r in raws if r.method == "ocr"]
        text = [r for r in raws if r.method != "ocr"]
        stats = {
            "ocr_pages": len(ocr), "ocr_seconds": sum(r.seconds for r in ocr),
            "text_pages": len(text), "text_seconds": sum(r.seconds for r in text) + finish,
        }
        if not any(p.text for p in pages):
            reason, hint = self._why_empty(pages)
            raise InputError(reason, source=source, stage="extract", hint=hint)
        return ExtractedDocument(doc_id=doc_id, source=source, pages=pages, metadata=metadata, stats=stats)

    def _why_empty(self, pages: list[Page]) -> tuple[str, str]:
        if all(p.method == "error" for p in pages):
            return f"every page failed to parse ({pages[0].note})", "the file is damaged; repair or re-export it"
        needs = [p for p in pages if p.method == "empty" and "OCR" in p.note]
        if needs:
            why = needs[0].note.removesuffix(": needs OCR")
            if self.reader is None:
                return (
                    f"no usable text layer on any page ({why}): needs OCR",
                    "install the OCR extra (pip install 'pdfrag[ocr]') or set extract.ocr=rapidocr",
                )
            if "time limit" in why:
                return f"no usable text layer, and OCR did not run ({why})", "raise extract.page_timeout (seconds per page)"
            if "OCR failed" in why:
                return f"no usable text layer, and OCR failed ({why})", "check the OCR installation (pip install 'pdfrag[ocr]')"
            return f"OCR found no text on any page ({why})", "the scan may be blank, too small or too faint"
        return "no extractable text on any page", "the PDF holds no text; nothing to index"

    def _fallback(self, data: bytes, source: str, doc_id: str) -> ExtractedDocument | None:
        """MuPDF sees no pages in some damaged files that pdfminer still reads."""
        import io

        try:
            import pdfplumber

            pages = []
            with pdfplumber.open(io.BytesIO(data)) as pdf:
                for i, p in enumerate(pdf.pages):
                    text = clean_text(p.extract_text() or "")
                    blocks = (Block(0, len(text), "text"),) if text else ()
                    pages.append(Page(i + 1, text, "text" if text else "empty", "PyMuPDF found no pages; read with pdfplumber", blocks=blocks))
        except Exception:  # noqa: BLE001 - the fallback is best effort
            return None
        if not any(p.text for p in pages):
            return None
        return ExtractedDocument(doc_id=doc_id, source=source, pages=pages, metadata={"fallback": "pdfplumber"})

    # Page ---------------------------------------------------------------------
    def _page(self, doc: pymupdf.Document, i: int, finder: TableFinder, source: str) -> _RawPage:
        number = i + 1
        start = time.monotonic()
        try:
            page = doc.load_page(i)
            rect = page.rect
            tp = page.get_textpage(flags=_FLAGS)
            d = page.get_text("dict", flags=_FLAGS, textpage=tp)
        except Exception as e:  # noqa: BLE001 - one bad page must not sink the file
            return _RawPage(number, 0, 0, [], [], "error", f"page {number}: {e}")
        per_block, invisible = self._blocks(d)
        blocks = [r for r in per_block if r is not None]
        visible = "\n".join(r.text for r in blocks)
        images = _Images(page)
        cover = self._image_cover(page, images.info()) if len("".join(visible.split())) < 200 else 0.0
        # A letter-spaced running header ("b r a z i l i a n  j o u r n a l")
        # is typography, not a broken layer: only blocks of the body can
        # send a page that otherwise reads well to OCR.
        body = [r.text for r in blocks if not _in_margin(r.bbox, rect.height)]
        verdict = judge_page(visible, invisible, cover, blocks=body)
        if not verdict.ok:
            raw = self._ocr_page(page, number, verdict.reason, finder, start)
            if raw.method == "empty" and verdict.keep_layer and blocks:
                raw.regions, raw.method = blocks, "text"  # no OCR: the little text there is beats none
            return raw
        if not blocks or len("".join(visible.split())) < self.settings.min_page_chars:
            return _RawPage(number, rect.width, rect.height, [], [], "empty", "no text on this page")
        blocks = self._drop_figure_labels(page, blocks, images)
        tables: list[Table] = []
        notes = []
        if self.settings.tables and time.monotonic() - start < self.settings.page_timeout:
            tables = finder.find(page, tp)
            if tables:
                blocks = self._drop_figure_labels(page, self._without(d, per_block, [t.bbox for t in tables if t.bbox]), images)
                notes.append(f"{len(tables)} table(s)")
        regions = blocks + [
            Region(t.bbox or (0, 0, 0, 0), t.markdown, kind="table", table_index=k, lines=len(t.rows) + 1) for k, t in enumerate(tables)
        ]
        return _RawPage(number, rect.width, rect.height, regions, tables, "layout" if notes else "text", "; ".join(notes), rtl=is_rtl(visible))

    def _blocks(self, d: dict) -> tuple[list[Region | None], int]:
        """The region of each text block of a ``get_text("dict")`` page (None
        where nothing visible is left), and the number of invisible
        characters. The hot loop of text-layer pages."""
        out: list[Region | None] = []
        invisible = 0
        for b in d.get("blocks", ()):
            if b.get("type") == 0:
                region, hidden = self._block(b, ())
                out.append(region)
                invisible += hidden
        return out, invisible

    def _without(self, d: dict, per_block: list[Region | None], boxes: list[tuple]) -> list[Region]:
        """The page's regions with the spans centred in ``boxes`` (its
        tables) left out: only the blocks that reach a box are read again."""
        out: list[Region] = []
        text_blocks = [b for b in d.get("blocks", ()) if b.get("type") == 0]
        for b, region in zip(text_blocks, per_block, strict=True):
            x0, y0, x1, y1 = b["bbox"]
            if any(x0 - 2 <= bx1 and bx0 <= x1 + 2 and y0 - 2 <= by1 and by0 <= y1 + 2 for bx0, by0, bx1, by1 in boxes):
                region = self._block(b, boxes)[0]
            if region is not None:
                out.append(region)
        return out

    def _block(self, b: dict, exclude: list[tuple] | tuple) -> tuple[Region | None, int]:
        """One text block as a region (invisible spans and spans centred in
        ``exclude`` boxes left out; None when nothing is left), and its
        number of invisible characters."""
        invisible = 0
        bold_font = self._bold_font
        text = ""
        sizes: dict[float, int] = {}
        bold = chars = nlines = 0
        sideways = 0
        x0 = y0 = float("inf")
        x1 = y1 = float("-inf")
        first = last = None
        for line in b.get("lines", ()):
            parts = []
            for s in line.get("spans", ()):
                t = s["text"]
                n = len(t.strip())
                if not n:
                    parts.append(t)
                    continue
                if s.get("alpha") == 0 or not s.get("char_flags", 24) & 24:  # invisible: transparent, or render mode 3 (neither filled nor stroked)
                    invisible += n
                    continue
                bbox = s["bbox"]
                if exclude and _center_in(bbox, exclude):
                    continue
                parts.append(t)
                size = s["size"]
                sizes[size] = sizes.get(size, 0) + n
                chars += n
                key = (s["font"], s["flags"] & 16)
                is_bold = bold_font.get(key)
                if is_bold is None:
                    is_bold = bold_font[key] = _bold(s)
                if is_bold:
                    bold += n
                bx0, by0, bx1, by1 = bbox
                if bx0 < x0:  # comparisons, not min()/max(): the hot loop of text-layer pages
                    x0 = bx0
                if by0 < y0:
                    y0 = by0
                if bx1 > x1:
                    x1 = bx1
                if by1 > y1:
                    y1 = by1
            line_text = " ".join("".join(parts).split())
            if not line_text:
                continue
            nlines += 1
            if first is None:
                first = line["bbox"]
            last = line["bbox"]
            if abs(line["dir"][0]) < 0.7:
                sideways += 1
            if not text:
                text = line_text
            elif line_text.startswith(_BULLET):
                text += "\n" + line_text
            else:
                text = join_lines(text, line_text)
        text = clean_text(text)
        if not text:
            return None, invisible
        rounded: dict[float, int] = {}
        for size, n in sizes.items():
            size = round(size, 1)
            rounded[size] = rounded.get(size, 0) + n
        region = Region(
            (x0, y0, x1, y1), text, kind="text", size=max(rounded, key=rounded.__getitem__) if rounded else 0.0, bold=bold > 0.6 * chars,
            lines=nlines, rotated=sideways > nlines / 2, first=tuple(first) if first else None, last=tuple(last) if last else None,
        )
        return region, invisible

    @staticmethod
    def _drop_figure_labels(page: pymupdf.Page, blocks: list[Region], images: _Images) -> list[Region]:
        """Short labels printed over a picture (callouts, axis names) are part
        of the figure, not of the text: they would land mid-paragraph."""
        if not any(len(r.text) <= 80 and r.lines <= 2 for r in blocks) or not images.any():
            return blocks  # nothing that could be a label, or no pictures: their positions are not needed
        area = abs(page.rect) or 1.0
        pictures = [pymupdf.Rect(x["bbox"]) for x in images.info()]
        pictures = [r for r in pictures if 0.01 * area < abs(r) < 0.8 * area]
        if not pictures:
            return blocks

        def label(r: Region) -> bool:
            if len(r.text) > 80 or r.lines > 2:
                return False
            c = pymupdf.Point((r.bbox[0] + r.bbox[2]) / 2, (r.bbox[1] + r.bbox[3]) / 2)
            h = max(r.bbox[3] - r.bbox[1], 1.0)
            box = max((r.bbox[2] - r.bbox[0]) * h, 1.0)
            # A label is small inside its picture; text on a banner or a
            # coloured bar (a heading drawn over an image) fills it.
            return any(p.contains(c) and abs(p) > 8 * box and p.height > 3 * h for p in pictures)

        return [r for r in blocks if not label(r)]

    @staticmethod
    def _image_cover(page: pymupdf.Page, infos: list[dict]) -> float:
        area = abs(page.rect) or 1.0
        covered = sum(abs(pymupdf.Rect(x["bbox"]) & page.rect) for x in infos)
        return min(covered / area, 1.0)

    def _ocr_page(self, page: pymupdf.Page, number: int, reason: str, finder: TableFinder, start: float) -> _RawPage:
        rect = page.rect
        reader = self.reader
        if reader is None:
            note = f"{reason}: needs OCR"
            return _RawPage(number, rect.width, rect.height, [], [], "empty", note)
        if time.monotonic() - start > self.settings.page_timeout:
            return _RawPage(number, rect.width, rect.height, [], [], "empty", f"{reason}: needs OCR, but the page's time limit ran out")
        try:
            res = reader.read(page, first_table_index=finder.count, table_config=TableConfig(enabled=self.settings.tables))
        except Exception as e:  # noqa: BLE001 - an OCR failure degrades this page only
            return _RawPage(number, rect.width, rect.height, [], [], "empty", f"{reason}: OCR failed ({type(e).__name__}: {e})")
        finder.count += len(res.tables)
        note = reason + f"; OCR read {res.lines} lines (mean confidence {res.score:.2f})"
        if res.rotation:
            note += f", page turned {res.rotation}°"
        if not res.regions:
            return _RawPage(number, res.width, res.height, [], [], "empty", reason + "; OCR found no text: needs OCR")
        for r in res.regions:
            r.text = clean_text(r.text)
        regions = [r for r in res.regions if r.text]
        return _RawPage(number, res.width, res.height, regions, res.tables, "ocr", note, ordered=True)

    # Whole document -----------------------------------------------------------
    def _finish(self, raws: list[_RawPage]) -> list[Page]:
        s = self.settings
        if s.drop_furniture:
            _drop_furniture(raws)
        for raw in raws:
            if s.layout and not raw.ordered:
                _order(raw)
            raw.regions = _join_broken_words(raw.regions)
            if s.join_lines:
                raw.regions = join_paragraph_lines(raw.regions, rtl=raw.rtl)
        region_lists = [r.regions for r in raws]
        if s.headings:
            mark_headings(region_lists)
        assign_heading_paths(region_lists)
        return [_assemble(r) for r in raws]


class _Images:
    """A page's pictures, looked up once: ``get_image_info`` reads the whole
    page again, and both the image cover and the figure labels need it."""

    def __init__(self, page: pymupdf.Page) -> None:
        self.page = page
        self._info: list[dict] | None = None

    def any(self) -> bool:
        """Whether the page's resources name any image (cheap; inline
        images are not counted)."""
        try:
            return bool(self.page.get_images(full=False))
        except Exception:  # noqa: BLE001 - damaged resources: no pictures to place
            return False

    def info(self) -> list[dict]:
        if self._info is None:
            try:
                self._info = self.page.get_image_info()
            except Exception:  # noqa: BLE001
                self._info = []
        return self._info


def _in_margin(bbox: tuple, height: float) -> bool:
    """In the top or bottom margin, where running headers and footers live."""
    if height <= 0:
        return False
    cy = (bbox[1] + bbox[3]) / 2
    return cy < height * _MARGIN or cy > height * (1 - _MARGIN)


def _drop_furniture(raws: list[_RawPage]) -> None:
    keys = [{furniture_key(r.text) for r in raw.regions if r.kind == "text" and len(r.text) <= 120 and _in_margin(r.bbox, raw.height)} for raw in raws]
    running = repeated_furniture(keys)
    for raw in raws:
        regions = [r for r in raw.regions if not (r.kind == "text" and _in_margin(r.bbox, raw.height) and furniture_key(r.text) in running)]
        # A page number sits above or below everything else on its page,
        # wherever the margin is.
        ys = [r.bbox[1] for r in regions if r.kind == "text"]
        if ys:
            top, bottom = min(ys), max(ys)
            regions = [r for r in regions if not (r.kind == "text" and r.bbox[1] in (top, bottom) and is_page_number(r.text))]
        raw.regions = regions


def _order(raw: _RawPage) -> None:
    """Reading order by XY-cut (after running headers and footers are gone,
    so they cannot bridge a gutter); sideways text goes last."""
    upright = [r for r in raw.regions if not r.rotated]
    sideways = [r for r in raw.regions if r.rotated]
    if len(upright) > 1:
        order = reading_order([r.bbox for r in upright], CutConfig(rtl=raw.rtl))
        naive = sorted(range(len(upright)), key=lambda k: (upright[k].bbox[1], upright[k].bbox[0]))
        if order != naive and raw.method in ("text", "layout"):
            raw.method = "layout"
            raw.note = "; ".join(x for x in ("reading order by XY-cut", raw.note) if x)
        upright = [upright[k] for k in order]
    raw.regions = upright + sideways


def _join_broken_words(regions: list[Region]) -> list[Region]:
    """A paragraph cut by a column break in the middle of a hyphenated word
    ("arti-" | "cles") is one paragraph."""
    out: list[Region] = []
    for r in regions:
        prev = out[-1] if out else None
        if (
            prev is not None and prev.kind == "text" and r.kind == "text" and r.text[:1].islower()
            and len(prev.text) > 1 and prev.text[-1] == "-" and prev.text[-2].isalpha()
        ):
            prev.text = join_lines(prev.text, r.text)
            prev.lines += r.lines
            prev.bbox = (min(prev.bbox[0], r.bbox[0]), min(prev.bbox[1], r.bbox[1]), max(prev.bbox[2], r.bbox[2]), max(prev.bbox[3], r.bbox[3]))
            continue
        out.append(r)
    return out


def _assemble(raw: _RawPage) -> Page:
    parts: list[str] = []
    blocks: list[Block] = []
    pos = 0
    for r in raw.regions:
        if parts:
            parts.append("\n\n")
            pos += 2
        blocks.append(
            Block(
                pos, pos + len(r.text), r.kind, r.heading_path, level=r.level if r.kind == "heading" else 0,
                bbox=tuple(round(float(v), 2) for v in r.bbox) if r.bbox else None,  # type: ignore[arg-type]
                table_index=r.table_index,
            )
        )
        parts.append(r.text)
        pos += len(r.text)
    text = "".join(parts)
    method = raw.method
    if not text and method in ("text", "layout"):
        method = "empty"
    return Page(raw.number, text, method, raw.note, blocks=tuple(blocks), tables=tuple(raw.tables))
