"""Line geometry shared by the OCR engines: crops, turned boxes."""

from __future__ import annotations

import numpy as np
import pytest

from pdfrag.extract.ocr.base import crop_line, quad_box, turn_quad


def _image(h: int = 60, w: int = 100) -> np.ndarray:
    return np.arange(h * w * 3, dtype=np.uint32).reshape(h, w, 3).astype(np.uint8)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_turn_quad_follows_np_rot90(k: int) -> None:
    h, w = 60, 100
    img = np.zeros((h, w), dtype=np.uint8)
    img[10:20, 30:70] = 1  # a line 40 wide, 10 tall
    quad = ((30.0, 10.0), (70.0, 10.0), (70.0, 20.0), (30.0, 20.0))
    turned = np.rot90(img, k)
    ys, xs = np.nonzero(turned)
    assert quad_box(turn_quad(quad, k, w, h)) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
    # corners again start at the top left and go clockwise
    (x0, y0), (x1, _), (_, y2), _ = turn_quad(quad, k, w, h)
    assert x0 < x1 and y0 < y2


def test_turn_quad_four_quarter_turns_is_identity() -> None:
    quad = ((30.0, 10.0), (70.0, 12.0), (69.0, 22.0), (29.0, 20.0))
    assert turn_quad(quad, 4, 100, 60) == quad


def test_crop_line_straightens_and_lays_standing_lines_down() -> None:
    pytest.importorskip("cv2")
    img = _image()
    flat = crop_line(img, ((10, 5), (50, 5), (50, 15), (10, 15)))
    assert flat.shape[:2] == (10, 40)
    assert np.array_equal(flat[0, 0], img[5, 10])
    standing = crop_line(img, ((10, 5), (20, 5), (20, 45), (10, 45)))
    assert standing.shape[:2] == (10, 40)  # 10 wide, 40 tall: turned on its side
    assert crop_line(img, ((10, 5), (10, 5), (10, 5), (10, 5))).size == 0
