"""The indexed lattice finds exactly the cells and tables that pdfplumber's
own functions find from the same rules."""

from __future__ import annotations

from pathlib import Path

import pymupdf
import pytest
from pdfplumber import table as plumber

from pdfrag.extract import lattice
from pdfrag.extract.tables import _rules


def _plumber_tables(h, v):
    def edge(x0, top, x1, bottom, o):
        return {"x0": x0, "x1": x1, "top": top, "bottom": bottom, "width": x1 - x0, "height": bottom - top, "orientation": o}

    edges = [edge(x0, y, x1, y, "h") for y, x0, x1 in h] + [edge(x, t, x, b, "v") for x, t, b in v]
    merged = plumber.merge_edges(edges, 3, 3, 3, 3)
    return plumber.cells_to_tables(plumber.intersections_to_cells(plumber.edges_to_intersections(merged, 3, 3)))


def _ours(h, v):
    return lattice.tables(lattice.cells(lattice.intersections(lattice.merge(h), lattice.merge(v))))


def _same(a, b) -> bool:
    return [sorted(t) for t in a] == [sorted(t) for t in b]


def test_a_drawn_grid_with_a_merged_cell_and_a_second_table() -> None:
    # 3 x 2 grid whose rules were drawn in pieces and slightly off, the
    # middle rule missing on the right (a merged cell), and a 1 x 2 table below.
    h = [(100.0, 50, 120), (100.8, 118, 200), (130.0, 50, 200), (160.4, 50, 200), (300, 50, 150), (330, 50, 150)]
    v = [(50.0, 100, 160), (120.0, 100, 130), (121.5, 130, 160), (200, 100, 160), (50, 300, 330), (100, 300, 330), (150, 300, 330)]
    ours = _ours(h, v)
    assert _same(ours, _plumber_tables(h, v))
    assert [len(t) for t in ours] == [4, 2]
    assert ours[0][0][:2] == (50.0, 100.4)  # rules snapped to their cluster's mean


def test_a_single_box_is_not_a_table() -> None:
    h, v = [(10, 10, 100), (50, 10, 100)], [(10, 10, 50), (100, 10, 50)]
    assert _ours(h, v) == [] == _plumber_tables(h, v)


@pytest.mark.parametrize("name", ["forms/pdfminer_f1040nr.pdf", "tables/pdfplumber_senate-expenditures.pdf", "tables/pymupdf_test-styled-table.pdf", "cjk/pymupdf_chinese-tables.pdf"])
def test_same_tables_as_pdfplumber_on_corpus_pages(pdfs: Path, name: str) -> None:
    compared = 0
    with pymupdf.open(pdfs / name) as doc:
        for page in doc:
            rules = _rules(page, 3000)
            assert rules is not None
            h, v = rules
            if len(h) < 3 or len(v) < 2:
                continue
            assert _same(_ours(h, v), _plumber_tables(h, v)), f"{name} page {page.number + 1}"
            compared += 1
    assert compared
