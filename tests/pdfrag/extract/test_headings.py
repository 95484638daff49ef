from pdfrag.extract.headings import Region, assign_heading_paths, mark_headings


def _r(text, size, bold=False, lines=1):
    return Region((0, 0, 100, 10), text, size=size, bold=bold, lines=lines)


BODY = "Body text of a paragraph that goes on long enough to set the body size of the document. " * 3


def test_levels_from_size_numbering_and_weight_and_paths():
    pages = [
        [_r("A Study of Things", 20), _r(BODY, 10, lines=4), _r("1 Introduction", 14), _r(BODY, 10, lines=4)],
        [_r("1.1 Background", 12), _r(BODY, 10, lines=4), _r("Bold run-in title", 10, bold=True), _r(BODY, 10, lines=4), _r("2 Methods", 14), _r(BODY, 10, lines=4)],
    ]
    mark_headings(pages)
    assign_heading_paths(pages)
    heads = [(r.text, r.level) for p in pages for r in p if r.kind == "heading"]
    assert heads == [("A Study of Things", 1), ("1 Introduction", 1), ("1.1 Background", 2), ("Bold run-in title", 4), ("2 Methods", 1)]
    assert pages[1][1].heading_path == ("1 Introduction", "1.1 Background")
    assert pages[1][3].heading_path == ("1 Introduction", "1.1 Background", "Bold run-in title")
    assert pages[1][5].heading_path == ("2 Methods",)


def test_sentences_and_long_blocks_are_not_headings():
    pages = [[_r(BODY, 10, lines=4), _r("This large sentence ends with a period.", 16), _r("x" * 200, 16)]]
    mark_headings(pages)
    assert all(r.kind == "text" for r in pages[0])
