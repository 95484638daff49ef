"""XY-cut reading order on boxes laid out like real pages."""

from pdfrag.extract.layout import CutConfig, reading_order

W = 600  # page width in points


def _col(x0, x1, heights, top=100, gap=10):
    """Paragraph boxes of a column, stacked with gaps."""
    out, y = [], top
    for h in heights:
        out.append((x0, y, x1, y + h))
        y += h + gap
    return out


def test_single_column_top_to_bottom():
    boxes = [(50, 300, 550, 350), (50, 100, 550, 150), (50, 200, 550, 250)]
    assert reading_order(boxes) == [1, 2, 0]


def test_two_columns_with_spanning_title_and_footnote():
    title = [(50, 40, 550, 70)]
    left = _col(50, 290, [60, 80, 50])
    right = _col(310, 550, [90, 40, 70])
    foot = [(50, 700, 550, 730)]
    boxes = title + left + right + foot
    assert reading_order(boxes) == [0, 1, 2, 3, 4, 5, 6, 7]


def test_paragraph_gaps_lining_up_across_columns_do_not_cut_the_columns():
    # Both columns have a gap at y 160-170: plain XY-cut would read
    # left-top, right-top, left-bottom, right-bottom.
    left = [(50, 100, 290, 160), (50, 170, 290, 400)]
    right = [(310, 104, 550, 130), (310, 140, 550, 160), (310, 170, 550, 380)]
    boxes = left + right
    order = reading_order(boxes)
    assert order == [0, 1, 2, 3, 4]


def test_three_columns():
    cols = [_col(x, x + 170, hs) for x, hs in ((45, [120, 60, 200]), (222, [40, 150, 90]), (399, [200, 30, 100]))]
    boxes = [b for c in cols for b in c]
    assert reading_order(boxes) == list(range(9))


def test_figure_spanning_columns_splits_them_into_bands():
    top_l, top_r = (50, 100, 290, 300), (310, 100, 550, 300)
    figure = (50, 320, 550, 500)
    bot_l, bot_r = (50, 520, 290, 700), (310, 520, 550, 700)
    boxes = [bot_r, figure, top_l, bot_l, top_r]
    assert [boxes[i] for i in reading_order(boxes)] == [top_l, top_r, figure, bot_l, bot_r]


def test_column_that_runs_on_below_the_other_is_read_to_its_end():
    left = [(72, 44, 312, 480), (72, 496, 312, 520)]  # a gap after the first block, right column already ended
    right = [(321, 44, 561, 400)]
    boxes = left + right
    assert reading_order(boxes) == [0, 1, 2]


def test_form_rows_are_read_row_by_row():
    labels = [(50, y, 200, y + 12) for y in (100, 130, 160, 190)]
    values = [(260, y, 500, y + 12) for y in (100, 130, 160, 190)]
    boxes = labels + values
    assert reading_order(boxes) == [0, 4, 1, 5, 2, 6, 3, 7]


def test_right_to_left_pages_read_the_right_column_first():
    left = _col(50, 290, [60, 120])
    right = _col(310, 550, [100, 50])
    boxes = left + right
    assert reading_order(boxes, CutConfig(rtl=True)) == [2, 3, 0, 1]


def test_trivial_inputs():
    assert reading_order([]) == []
    assert reading_order([(0, 0, 1, 1)]) == [0]
