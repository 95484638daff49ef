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


def test_rec_batches_cover_every_line_once_within_the_bounds():
    from pdfrag.extract.ocr.rapid import rec_batches

    rng = np.random.default_rng(0)
    ratios = list(rng.uniform(0.5, 40, 200))
    batches = rec_batches(ratios, 48, floor=96, cap=32, overhead=40)
    seen = sorted(i for b, _ in batches for i in b)
    assert seen == list(range(200))
    for batch, width in batches:
        assert 1 <= len(batch) <= 32
        assert width >= 96 and all(48 * ratios[i] <= width for i in batch)
    assert rec_batches([], 48) == []


def _cost(batches, overhead):
    return sum(overhead + len(b) * w for b, w in batches)


def test_rec_batches_cut_where_the_recognizer_costs_least():
    """No way of cutting the lines (sorted by width) into batches of at most
    ``cap`` costs less than the cuts chosen: checked against every cut."""
    import itertools
    import math

    from pdfrag.extract.ocr.rapid import rec_batches

    rng = np.random.default_rng(1)
    for _ in range(20):
        ratios = list(rng.uniform(0.5, 30, 9))
        widths = sorted(max(96, math.ceil(48 * r)) for r in ratios)
        least = math.inf
        for cuts in itertools.product((0, 1), repeat=len(widths) - 1):
            ends = [i + 1 for i, c in enumerate(cuts) if c] + [len(widths)]
            starts = [0] + ends[:-1]
            if all(e - s <= 4 for s, e in zip(starts, ends, strict=True)):
                least = min(least, sum(40 + (e - s) * widths[e - 1] for s, e in zip(starts, ends, strict=True)))
        chosen = rec_batches(ratios, 48, floor=96, cap=4, overhead=40)
        assert _cost(chosen, 40) == least


def test_rec_batches_pad_less_than_fixed_groups_on_mixed_lines():
    """Against RapidOCR's own batching (16 lines by width, padded to the
    widest and to 320 px), the cost-cut batches of mixed line widths cost
    less and pad less."""
    import math

    from pdfrag.extract.ocr.rapid import rec_batches

    rng = np.random.default_rng(2)
    ratios = list(np.concatenate([rng.uniform(0.8, 4, 60), rng.uniform(8, 35, 140)]))
    order = sorted(range(len(ratios)), key=ratios.__getitem__)
    fixed = [(order[i : i + 16], max(320, math.ceil(48 * ratios[order[min(i + 15, len(order) - 1)]]))) for i in range(0, len(order), 16)]
    ours = rec_batches(ratios, 48, floor=96, cap=32, overhead=40)
    assert _cost(ours, 40) < _cost(fixed, 40)
    actual = sum(max(96, math.ceil(48 * r)) for r in ratios)
    assert sum(len(b) * w for b, w in ours) <= 1.05 * actual < sum(len(b) * w for b, w in fixed)


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


def test_released_arenas_read_the_same_lines_and_shrink_with_a_tiny_run(pdfs) -> None:
    """Releasing the models' memory after each page changes nothing that is
    read; the release is a tiny run of each model with ONNX Runtime's arena
    shrinkage turned on."""
    pytest.importorskip("rapidocr")
    import pymupdf

    from pdfrag.extract.ocr import get_reader
    from pdfrag.extract.ocr import rapid

    doc = pymupdf.open(pdfs / "scanned" / "docling_ocr_test.pdf")
    kept, released = (get_reader("rapidocr", 200, False, False, release_memory=r) for r in (False, True))
    assert not kept.engine.release_memory and released.engine.release_memory
    img, _ = kept.render(doc[0])
    for reader in (kept, released):  # a page each way, twice: the second read runs on the arenas the first left
        first = reader.engine.detect(img)
        assert reader.engine.detect(img) == first and len(first) >= 3
    assert released.engine.detect(img) == kept.engine.detect(img)
    crops = [np.ascontiguousarray(img[int(q[0][1]) : int(q[2][1]) + 1, int(q[0][0]) : int(q[2][0]) + 1]) for q in first[:5]]
    assert released.engine.recognize(crops) == kept.engine.recognize(crops)
    assert [ln.text for ln in released.engine.read(img)] == [ln.text for ln in kept.engine.read(img)]

    calls = []

    class Session:  # stands for ONNX Runtime's session inside RapidOCR's wrapper
        def get_inputs(self):
            return [type("Input", (), {"name": "x"})()]

        def run(self, outputs, feed, options):
            calls.append((feed["x"].shape, options.get_run_config_entry("memory.enable_memory_arena_shrinkage")))

    rapid.release_arena(type("Wrapper", (), {"session": Session()})(), (1, 3, 48, 96))
    rapid.release_arena(None, (1, 3, 32, 32))  # no session: nothing to do
    assert calls == [((1, 3, 48, 96), "cpu:0")]
