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

    @abstractmethod
    def read(self, image: np.ndarray) -> list[OcrLine]:
        """Lines of text in an RGB uint8 image."""

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
