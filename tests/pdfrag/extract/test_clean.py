from pdfrag.extract.clean import (
    clean_text,
    furniture_key,
    is_page_number,
    repeated_furniture,
)


def test_clean_text_strips_tags_and_expands_ligatures():
    assert clean_text("<b>Bold</b> and a <span class='x'>span</span>") == "Bold and a span"
    assert clean_text("a < b and c > d") == "a < b and c > d"  # not tags
    assert clean_text("\ufb01nal e\ufb00ect") == "final effect"
    assert clean_text("中文，全角标点。") == "中文，全角标点。"


def test_page_numbers():
    for s in ("12", "Page 3", "page 3 of 10", "- 7 -", "iv", "3 / 12", "第 5 页", "7-45", "A-3"):
        assert is_page_number(s), s
    for s in ("12 Angry Men", "Chapter 3", "2021 annual report"):
        assert not is_page_number(s), s


def test_running_headers_need_repetition():
    keys = [{furniture_key(f"Federal Register / Vol. 85, No. 152 / page {i}"), furniture_key(f"unique {c}")} for i, c in zip(range(5), "abcde", strict=True)]
    running = repeated_furniture(keys)
    assert running == {furniture_key("Federal Register / Vol. 85, No. 152 / page 1")}
    assert repeated_furniture([{"x"}]) == set()  # one page: nothing repeats


def test_ascii_fast_path_gives_what_the_rules_give():
    """Clean ASCII text skips the rules; random ASCII made of the characters
    the rules act on must come out the same either way."""
    import random

    from pdfrag.extract.clean import _clean

    rng = random.Random(7)
    alphabet = "ab <>/\n\t\r\x01\x7fX1  "
    for _ in range(20000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
        assert clean_text(text) == _clean(text), repr(text)
