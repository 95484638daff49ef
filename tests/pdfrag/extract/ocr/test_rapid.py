import numpy as np
import pytest

from pdfrag.extract.ocr.rapid import html_to_grid


def test_html_to_grid_spans():
    html = (
        "<html><body><table><tr><td colspan=2>Name</td><td>Score</td></tr>"
        "<tr><td rowspan=2>A</td><td>x</td><td>1</td></tr><tr><td>y</td><td>2</td></tr></table></body></html>"
    )
    assert html_to_grid(html) == [["Name", None, "Score"], ["A", "x", "1"], [None, "y", "2"]]


def test_html_to_grid_empty():
    assert html_to_grid("") == []


def test_rec_batches_cover_every_line_once_with_bounded_padding():
    from pdfrag.extract.ocr.rapid import rec_batches

    rng = np.random.default_rng(0)
    ratios = list(rng.uniform(0.5, 40, 200))
    batches = list(rec_batches(ratios, 48, floor=96, cap=32, slack=0.25))
    seen = sorted(i for b, _ in batches for i in b)
    assert seen == list(range(200))
    for batch, width in batches:
        assert len(batch) <= 32
        assert width >= 96 and all(48 * ratios[i] <= width for i in batch)
        used = sum(max(96, 48 * ratios[i]) for i in batch)
        assert len(batch) * width <= used * 1.25 + width  # padding within the slack (one line's rounding)


def test_small_print_tells_newsprint_from_body_text():
    cv2 = pytest.importorskip("cv2")

    from pdfrag.extract.ocr.rapid import _small_print, _tall_enough

    def page(size: float, step: int) -> np.ndarray:
        img = np.full((1400, 1000, 3), 255, dtype=np.uint8)
        for y in range(40, 1360, step):
            for x in range(40, 940, int(30 * size) + 4):
                cv2.putText(img, "ae", (x, y), cv2.FONT_HERSHEY_SIMPLEX, size, (0, 0, 0), 1 if size < 1 else 2)
        return img

    assert _small_print(page(0.35, 14))  # tiny type: 3-4 px glyphs at 960 px
    assert not _small_print(page(1.6, 60))  # large type
    assert not _small_print(np.full((1400, 1000, 3), 255, dtype=np.uint8))  # blank: too few blobs to say
    line = ((0.0, 0.0), (200.0, 0.0), (200.0, 30.0), (0.0, 30.0))
    assert _tall_enough([line] * 3, 0.5, 14) and not _tall_enough([line] * 3, 0.4, 14)
    assert not _tall_enough([], 1.0, 14)


def test_detector_alone_finds_the_quads_of_rapidocrs_own_call(pdfs) -> None:
    """The detector is run without RapidOCR's pipeline (which would also cut
    out every line) where that pipeline's resizing and padding change
    nothing: the quads must be the same; a strip too wide for that goes
    through RapidOCR's own call."""
    pytest.importorskip("rapidocr")
    import pymupdf

    from pdfrag.extract.ocr import get_reader

    reader = get_reader("rapidocr", 200, False, False)
    engine = reader.engine
    doc = pymupdf.open(pdfs / "scanned" / "docling_ocr_test.pdf")
    img, _ = reader.render(doc[0])
    img = img[::2, ::2].copy()  # the detector at its own size: no second pass at 1,600 px
    det = engine._detector()
    assert det.mean.dtype == np.float32 and det.std.dtype == np.float32
    own = engine._engine(img, use_det=True, use_cls=False, use_rec=False).boxes
    alone = engine._boxes(det, img)
    assert len(own) >= 3 and np.array_equal(np.asarray(own), alone)
    top = int(np.asarray(own)[0, :, 1].min())
    band = img[max(top - 20, 0) : top + 80]  # the first line of text
    strip = np.ascontiguousarray(np.concatenate([band] * 12, axis=1))  # width/height far above RapidOCR's 8: padded by its pipeline
    wide = engine._boxes(det, strip)
    assert wide is not None and len(wide) and np.array_equal(np.asarray(engine._engine(strip, use_det=True, use_cls=False, use_rec=False).boxes), wide)
