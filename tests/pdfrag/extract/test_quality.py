from pdfrag.extract.quality import judge_page, judge_text, spaced_block

ENGLISH = (
    "The Federal Aviation Administration proposes to supersede an airworthiness directive for certain airplanes. "
    "This proposed rule was prompted by reports of erroneous angle of attack data. "
) * 3
GERMAN = "Sei X ein topologischer Raum und die Menge der Äquivalenzklassen heißt Quotiententopologie auf dem Raum. " * 3
CHINESE = "截至2023年3月末，发行人各类授信额度总额达372.53亿元，其中已使用额度252.06亿元。" * 3


def _shift(text: str, k: int) -> str:
    out = []
    for ch in text:
        if "a" <= ch <= "z":
            out.append(chr((ord(ch) - 97 + k) % 26 + 97))
        elif "A" <= ch <= "Z":
            out.append(chr((ord(ch) - 65 + k) % 26 + 65))
        else:
            out.append(ch)
    return "".join(out)


def test_real_prose_passes_in_several_scripts():
    for text in (ENGLISH, GERMAN, CHINESE, "x = R, a ∼ b :⇔ a − b ∈ Z, π : X → X, x ↦ [x]"):
        assert judge_text(text).ok, text


def test_shifted_glyph_mapping_is_caught():
    v = judge_text(_shift(ENGLISH, -1))
    assert not v.ok and "broken font encoding" in v.reason


def test_cid_codes_and_private_use_are_caught():
    assert not judge_text("(cid:12)(cid:13)(cid:14) (cid:15)(cid:16) abc").ok
    assert not judge_text("\ue000\ue001\ue002\ue003 text").ok


def test_spaced_letters_are_caught_on_the_page_and_in_one_block():
    spaced = " ".join("brazilian journal of microbiology and more words here")
    assert not judge_text(spaced).ok
    assert spaced_block(spaced)
    v = judge_page(ENGLISH + "\n" + spaced, 0, 0.0, blocks=[ENGLISH, spaced])
    assert not v.ok and "spaced letters" in v.reason


def test_letter_spaced_heading_is_typography():
    assert not spaced_block("S U M M A R Y")
    assert judge_page(ENGLISH + "\nS U M M A R Y", 0, 0.0, blocks=[ENGLISH, "S U M M A R Y"]).ok


def test_layer_level_verdicts():
    assert not judge_page("", 120, 0.0).ok  # only invisible text
    assert not judge_page("", 0, 0.9).ok  # an image and no text: a scan
    assert not judge_page("2021 3 31", 0, 0.95).ok  # a stamp over a page-sized image
    assert judge_page("", 0, 0.0).ok  # a blank page is not garbage, just empty
    assert judge_page(ENGLISH, 0, 0.95).ok  # real text over a background image
