"""Tests for the PaddleOCR backend's wiring (paddleocr itself is not
installed here: a stand-in module records what the engine is given)."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest

from pdfrag.errors import ConfigError
from pdfrag.extract.ocr.paddle import PaddleOcrEngine


class _FakePaddleOCR:
    made: list[dict] = []

    def __init__(self, **kwargs) -> None:
        _FakePaddleOCR.made.append(kwargs)

    def predict(self, image):
        return [{"rec_polys": [[[1, 2], [30, 2], [30, 12], [1, 12]]], "rec_texts": [" Total 42 "], "rec_scores": [0.9]}]


@pytest.fixture
def models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "det").mkdir()
    (tmp_path / "rec").mkdir()
    monkeypatch.setitem(sys.modules, "paddleocr", types.SimpleNamespace(PaddleOCR=_FakePaddleOCR))
    _FakePaddleOCR.made.clear()
    return tmp_path


def test_local_models_and_threads_are_passed_on(models: Path) -> None:
    PaddleOcrEngine(str(models), threads=3)
    PaddleOcrEngine(str(models))
    first, second = _FakePaddleOCR.made
    assert first["text_detection_model_dir"] == str(models / "det") and first["text_recognition_model_dir"] == str(models / "rec")
    assert first["cpu_threads"] == 3
    assert "cpu_threads" not in second  # 0: PaddleOCR's own default


def test_lines_come_back_with_box_text_and_score(models: Path) -> None:
    (line,) = PaddleOcrEngine(str(models)).read(np.zeros((20, 40, 3), dtype=np.uint8))
    assert line.text == "Total 42" and line.box == (1.0, 2.0, 30.0, 12.0) and line.score == pytest.approx(0.9)


def test_a_folder_without_models_says_what_is_missing(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="has no det/ and rec/ folders"):
        PaddleOcrEngine(str(tmp_path))
