from pdfrag.extract.ocr.rapid import html_to_grid


def test_html_to_grid_spans():
    html = (
        "<html><body><table><tr><td colspan=2>Name</td><td>Score</td></tr>"
        "<tr><td rowspan=2>A</td><td>x</td><td>1</td></tr><tr><td>y</td><td>2</td></tr></table></body></html>"
    )
    assert html_to_grid(html) == [["Name", None, "Score"], ["A", "x", "1"], [None, "y", "2"]]


def test_html_to_grid_empty():
    assert html_to_grid("") == []
