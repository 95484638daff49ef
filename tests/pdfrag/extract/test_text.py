from pdfrag.extract.text import is_cjk, is_rtl, join_lines


def test_join_lines():
    assert join_lines("the infor-", "mation age") == "the information age"
    assert join_lines("well-", "Known") == "well- Known"  # capitalised: not a broken word
    assert join_lines("偿还债务的能力很强，受不利经济", "环境的影响不大") == "偿还债务的能力很强，受不利经济环境的影响不大"
    assert join_lines("한국어 문장은", "띄어 씁니다") == "한국어 문장은 띄어 씁니다"
    assert join_lines("end of line", "next line") == "end of line next line"
    assert join_lines("", "x") == "x" and join_lines("x", "") == "x"


def test_script_helpers():
    assert is_cjk("中") and is_cjk("。") and is_cjk("カ") and not is_cjk("a")
    assert is_rtl("شرکت بورس کالای ايران") and is_rtl("שלום עולם")
    assert not is_rtl("Hello world") and not is_rtl("12345")
