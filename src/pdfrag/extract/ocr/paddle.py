"""PaddleOCR backend, for users who have the PP-OCR models on disk.

PaddleOCR downloads its models on first use, which fails offline; this
backend therefore requires ``extract.paddle_model_dir`` holding the
detection and recognition model folders (``det/`` and ``rec/``)."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from pdfrag.errors import ConfigError
from pdfrag.extract.ocr.base import OcrEngine, OcrLine


class PaddleOcrEngine(OcrEngine):
    name: ClassVar[str] = "paddle"

    def __init__(self, model_dir: str, threads: int = 0) -> None:
        root = Path(model_dir).expanduser() if model_dir else None
        if root is None or not (root / "det").is_dir() or not (root / "rec").is_dir():
            raise ConfigError(
                f"the PaddleOCR backend needs local models: {model_dir or '(extract.paddle_model_dir not set)'} has no det/ and rec/ folders",
                stage="extract",
                hint="set PDFRAG_EXTRACT__PADDLE_MODEL_DIR to a folder with det/ and rec/ PP-OCR models, or use extract.ocr=rapidocr",
            )
        try:
            from paddleocr import PaddleOCR
        except ImportError as e:
            raise ConfigError("the PaddleOCR backend needs the paddleocr package", stage="extract", hint="pip install paddleocr paddlepaddle") from e
        self.root = root
        options: dict[str, Any] = {"cpu_threads": threads} if threads else {}
        self._engine = PaddleOCR(
            text_detection_model_dir=str(root / "det"),
            text_recognition_model_dir=str(root / "rec"),
            use_doc_orientation_classify=False,
            use_doc_unwarping=False,
            use_textline_orientation=False,
            **options,
        )
        self._lock = threading.Lock()

    def read(self, image: np.ndarray) -> list[OcrLine]:
        with self._lock:
            results = self._engine.predict(image)
        lines = []
        for res in results or []:
            data = res.json.get("res", res) if hasattr(res, "json") else res
            for quad, text, score in zip(data.get("rec_polys", []), data.get("rec_texts", []), data.get("rec_scores", []), strict=False):
                q = np.asarray(quad, dtype=float)
                if text and text.strip():
                    box = (float(q[:, 0].min()), float(q[:, 1].min()), float(q[:, 0].max()), float(q[:, 1].max()))
                    lines.append(OcrLine(box, text.strip(), float(score), tuple((float(x), float(y)) for x, y in q)))
        return lines

    def config(self) -> dict[str, Any]:
        return {"engine": self.name, "models": str(self.root)}
