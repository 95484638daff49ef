"""Lines left as blocks of their own, joined back into paragraphs."""

from __future__ import annotations

from pdfrag.config import ExtractSettings
from pdfrag.extract.headings import Region
from pdfrag.extract.paragraphs import join_paragraph_lines

LEFT, RIGHT = 57.0, 539.0


def line(text: str, top: float, x0: float = LEFT, x1: float = RIGHT, size: float = 14.0, bold: bool = False) -> Region:
    """A block of one line, as MuPDF leaves each line of double-spaced text."""
    box = (x0, top, x1, top + size)
    return Region(box, text, size=size, bold=bold, first=box, last=box)


def para(lines: list[tuple[str, float, float, float]], size: float = 10.0) -> Region:
    """A block of several lines (text, top, x0, x1)."""
    boxes = [(x0, top, x1, top + size) for _, top, x0, x1 in lines]
    bbox = (min(b[0] for b in boxes), boxes[0][1], max(b[2] for b in boxes), boxes[-1][3])
    return Region(bbox, " ".join(t for t, *_ in lines), size=size, lines=len(lines), first=boxes[0], last=boxes[-1])


def texts(regions: list[Region]) -> list[str]:
    return [r.text for r in regions]


def test_chinese_lines_join_into_paragraphs_without_spaces() -> None:
    # Indented first lines, full lines, a short last line: two paragraphs at a 31 pt pitch.
    regions = [
        line("公司董事会、监事会及董事、监事、高级管理人员保证季度报告内容的真", 152, x0=85),
        line("实、准确、完整，不存在虚假记载、误导性陈述或者重大遗漏，并承担个别和", 183),
        line("连带的法律责任。", 214, x1=169),
        line("所有董事均已出席了审议本次季报的董事会会议。", 245, x0=85, x1=394),
    ]
    out = join_paragraph_lines(regions)
    assert texts(out) == [
        "公司董事会、监事会及董事、监事、高级管理人员保证季度报告内容的真实、准确、完整，不存在虚假记载、误导性陈述或者重大遗漏，并承担个别和连带的法律责任。",
        "所有董事均已出席了审议本次季报的董事会会议。",
    ]
    assert out[0].lines == 3 and out[0].bbox == (57, 152, 539, 228)


def test_english_double_spaced_lines_join_with_spaces_and_hyphens() -> None:
    regions = [
        line("The committee met on Monday and agreed that the new budget would be", 100, size=12),
        line("published in full before the end of the year, together with the infor-", 128, size=12),
        line("mation on how it was drawn up.", 156, size=12, x1=230),
        line("A second paragraph starts here, after a short line, with no indent at", 184, size=12),
        line("all, as block paragraphs do.", 212, size=12, x1=200),
    ]
    assert texts(join_paragraph_lines(regions)) == [
        "The committee met on Monday and agreed that the new budget would be published in full before the end of the year, "
        "together with the information on how it was drawn up.",
        "A second paragraph starts here, after a short line, with no indent at all, as block paragraphs do.",
    ]


def test_a_full_line_followed_by_an_indented_line_ends_a_paragraph() -> None:
    regions = [
        line("第一段第一行写满了整个版心的宽度一直到右边", 100),
        line("第二段首行缩进两个字符开始", 131, x0=85),
        line("第二段的第二行也写满了版心", 162),
        line("第二段结束。", 193, x1=150),
    ]
    assert texts(join_paragraph_lines(regions)) == ["第一段第一行写满了整个版心的宽度一直到右边", "第二段首行缩进两个字符开始第二段的第二行也写满了版心第二段结束。"]


def test_list_items_and_numbered_clauses_stay_apart() -> None:
    for first in ("• second item", "2. second item", "（2）第二项", "(b) second item", "二、第二项", "第7.9 条 第二条"):
        regions = [line("the first item runs the whole width of the column to the right edge", 100), line(first, 131), line("x", 162, x1=80)]
        assert len(join_paragraph_lines(regions)) == 3, first


def test_other_sizes_weights_and_narrow_columns_stay_apart() -> None:
    full = "a line of body text that runs the whole width of its column"
    # Four body lines at a 31 pt pitch join; the line after them, at the same pitch, does not when it is another size or weight.
    body = [line(full, 7 + 31 * i) for i in range(4)]
    for other in (line("A Heading", 131, size=14.0 * 1.3), line("bold words", 131, bold=True)):
        assert texts(join_paragraph_lines([*(line(r.text, r.bbox[1]) for r in body), other])) == [" ".join([full] * 4), other.text]
    # Form fields and labels: a column a few words wide.
    labels = [line(t, 100 + 31 * i, x0=400, x1=460) for i, t in enumerate(("40 41", "42 43", "44 45", "46"))]
    assert len(join_paragraph_lines(labels)) == 4


def test_lines_join_only_at_the_pitch_the_page_or_paragraph_sets() -> None:
    full = "a line of body text that runs the whole width of its column right"
    # Single-line blocks at no common step: headings, captions, statements. Never joined.
    irregular = [line(full, 100), line(full, 140), line(full, 165), line(full, 230)]
    assert len(join_paragraph_lines(irregular)) == 4
    # A paragraph of several lines (pitch 12) and a block 16 below its last line: paragraph spacing.
    p = para([(full, 100, LEFT, RIGHT), (full, 112, LEFT, RIGHT), (full, 124, LEFT, RIGHT)])
    spaced = Region((LEFT, 140, RIGHT, 150), "Next paragraph", size=10.0, first=(LEFT, 140, RIGHT, 150), last=(LEFT, 140, RIGHT, 150))
    assert len(join_paragraph_lines([p, spaced])) == 2
    # The same block at the paragraph's pitch continues it.
    close = Region((LEFT, 136, 300, 146), "and ends here.", size=10.0, first=(LEFT, 136, 300, 146), last=(LEFT, 136, 300, 146))
    assert texts(join_paragraph_lines([p, close])) == [f"{full} {full} {full} and ends here."]


def test_rows_of_side_by_side_lines_and_right_to_left_pages_are_left_alone() -> None:
    full = "a line of body text that runs the whole width of its column right"
    # A page at a 28 pt pitch; a row of three lines side by side (a table
    # row without rules) is not a paragraph for the next line to continue.
    above = [line(full, 100 - 28 * i, size=12) for i in range(4, 0, -1)]
    row = Region((LEFT, 100, RIGHT, 112), "Name Date Amount", size=12.0, lines=3, first=(LEFT, 100, 150, 112), last=(400, 100, RIGHT, 112))
    below = line(full, 128, size=12)
    out = join_paragraph_lines([*above, row, below])
    assert texts(out) == [" ".join([full] * 4), "Name Date Amount", full]
    # Right-to-left lines that would join were the page left to right.
    rtl = [line("سطر كامل من النص يمتد على عرض العمود كله حتى الحافة", 100 + 31 * i) for i in range(5)]
    assert len(join_paragraph_lines([Region(r.bbox, r.text, size=r.size, first=r.first, last=r.last) for r in rtl])) == 1
    assert len(join_paragraph_lines(rtl, rtl=True)) == 5


def test_a_chinese_report_reads_in_paragraphs(pdfs) -> None:
    """A real PDF whose every line is a block of its own (a Word export at
    generous line spacing): a word cut by a line end is whole again."""
    from pdfrag.extract.pymupdf import PyMuPDFExtractor

    data = (pdfs / "cjk" / "pdfplumber_issue-67-example.pdf").read_bytes()
    joined = PyMuPDFExtractor(ExtractSettings(ocr="off")).extract(data, source="issue-67.pdf", doc_id="x")
    apart = PyMuPDFExtractor(ExtractSettings(ocr="off", join_lines=False)).extract(data, source="issue-67.pdf", doc_id="x")
    text = "\n".join(p.text for p in joined.pages)
    assert "保证季度报告内容的真实、准确、完整，不存在虚假记载、误导性陈述或者重大遗漏，并承担个别和连带的法律责任。" in text
    assert "真\n\n实" in "\n".join(p.text for p in apart.pages)
    assert sum(len(p.blocks) for p in joined.pages) < sum(len(p.blocks) for p in apart.pages)
    # Nothing is lost: the same characters, less the paragraph breaks.
    assert "".join(text.split()) == "".join("\n".join(p.text for p in apart.pages).split())


def test_pages_of_hundreds_of_blocks_are_drawings_or_forms_and_left_alone() -> None:
    full = "a line of body text that runs the whole width of its column right"
    few = [line(full, 100 + 28 * i, size=12) for i in range(20)]
    assert len(join_paragraph_lines(few)) == 1
    many = [line(full, 100 + 28 * i, size=12) for i in range(401)]
    assert len(join_paragraph_lines(many)) == 401


def test_the_lines_of_a_list_item_may_hang_under_its_text() -> None:
    regions = [
        line("1) 손해보험의 표준약관 규정에 따르면, 보험기간 중에 발생한 급격하고도", 100, size=10),
        line("우연한 외래의 사고로 신체에 입은 상해라고 규정하고 있는데, 즉, 급", 116, x0=70, size=10),
        line("격성, 우연성, 외래성을 충족하는 사고를 상해로 정의함", 132, x0=70, x1=300, size=10),
        line("2) 생명보험은 표준약관 재해분류표에서 우발적인 외래의 사고를 재", 148, size=10),
        line("해라고 정의함", 164, x0=70, x1=140, size=10),
    ]
    out = join_paragraph_lines(regions)
    assert len(out) == 2 and out[0].text.startswith("1) ") and out[0].text.endswith("정의함") and out[1].text.startswith("2) ")
