"""OCR interfaces: an engine reads lines of text from an image; a layout
model finds regions (title, text, table, figure, ...); a table model turns a
table image plus its OCR lines into a grid. Boxes are in image pixels."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

PixelBox = tuple[float, float, float, float]  # x0, y0, x1, y1
Quad = tuple[tuple[float, float], ...]  # four corners: top-left, top-right, bottom-right, bottom-left


@dataclass(frozen=True)
class OcrLine:
    box: PixelBox
    text: str
    score: float
    quad: tuple[tuple[float, float], ...] = ()  # the detector's 4 corners, when it gives them


@dataclass(frozen=True)
class LayoutRegion:
    box: PixelBox
    label: str  # text | title | figure | figure_caption | table | table_caption | header | footer | reference | equation
    score: float


class OcrEngine(ABC):
    name: ClassVar[str]
    max_side: ClassVar[int | None] = None  # the engine shrinks larger images to this: render no larger

    @abstractmethod
    def read(self, image: np.ndarray) -> list[OcrLine]:
        """Lines of text in an RGB uint8 image."""

    def detect(self, image: np.ndarray) -> list[Quad] | None:
        """Line boxes without reading them (None: this engine only reads
        whole images). With it a page's orientation is decided before any
        line is read, and a turned page is detected once, not twice."""
        return None

    def recognize(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """Text and confidence of images that each hold one line (no
        detection): how a page's orientation is tried cheaply. This default
        reads each crop as a whole image."""
        out = []
        for crop in crops:
            lines = self.read(crop)
            out.append((" ".join(ln.text for ln in lines), min((ln.score for ln in lines), default=0.0)))
        return out

    def config(self) -> dict[str, Any]:
        return {"engine": self.name}


class LayoutModel(ABC):
    name: ClassVar[str]

    @abstractmethod
    def regions(self, image: np.ndarray) -> list[LayoutRegion]: ...


class TableModel(ABC):
    name: ClassVar[str]

    @abstractmethod
    def grid(self, image: np.ndarray, lines: list[OcrLine]) -> list[list[str | None]]:
        """Rows of cell texts of the table in ``image`` (``lines`` are the OCR
        lines inside it, in its coordinates)."""


def crop_line(image: np.ndarray, quad: Quad) -> np.ndarray:
    """The line inside ``quad``, straightened (a perspective warp of its four
    corners); a line standing upright is laid on its side, as PP-OCR's
    recognizers expect."""
    import cv2

    pts = np.asarray(quad, dtype=np.float32)
    w = int(max(np.linalg.norm(pts[0] - pts[1]), np.linalg.norm(pts[2] - pts[3])))
    h = int(max(np.linalg.norm(pts[0] - pts[3]), np.linalg.norm(pts[1] - pts[2])))
    if w < 1 or h < 1:
        return np.zeros((0, 0, 3), dtype=image.dtype)
    target = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    out = cv2.warpPerspective(image, cv2.getPerspectiveTransform(pts, target), (w, h), borderMode=cv2.BORDER_REPLICATE, flags=cv2.INTER_CUBIC)
    return np.rot90(out) if h >= 1.5 * w else out


def turn_quad(quad: Quad, k: int, width: int, height: int) -> Quad:
    """``quad`` of an image ``width`` x ``height`` as it lies in
    ``np.rot90(image, k)`` (turned k quarter turns counter-clockwise),
    corners again starting at the top left."""
    pts = list(quad)
    for _ in range(k % 4):
        pts = [(y, width - x) for x, y in pts]
        pts = pts[1:] + pts[:1]  # the old top-right corner is the new top-left
        width, height = height, width
    return tuple(pts)


def quad_box(quad: Quad) -> PixelBox:
    xs = [p[0] for p in quad]
    ys = [p[1] for p in quad]
    return (min(xs), min(ys), max(xs), max(ys))


@contextmanager
def quiet_loading() -> Iterator[None]:
    """The Rapid* packages set up their loggers at INFO while loading models
    and log every file they open: silence logging while they load."""
    import logging

    logging.disable(logging.INFO)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)
        quiet_logs()


def quiet_logs() -> None:
    """The Rapid* packages log every model load at INFO; keep our output clean."""
    import logging

    prefixes = ("RapidOCR", "rapidocr", "rapid_layout", "rapid_table", "onnxruntime")
    names = [n for n in list(logging.root.manager.loggerDict) if n.startswith(prefixes)]
    for name in (*prefixes, *names):
        logging.getLogger(name).setLevel(logging.ERROR)
