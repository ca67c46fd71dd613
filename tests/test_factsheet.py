"""Fact sheets: one printable A4 page per item, topic, example and sector, in every language.

Each sheet is read back with pypdf, as a printer or a phone's PDF viewer would see it: its
pages counted, its text extracted, and where every piece of text sits on the page."""

from __future__ import annotations

import html
import os
import re
from pathlib import Path

import pytest
from pypdf import PdfReader

from conftest import shipped_kb, shipped_messages, shipped_sectors
from rightsdesk.cli import main
from rightsdesk.factsheet import FactSheetError, FactSheets, build_all
from rightsdesk.localized import LANGUAGES

THAI = re.compile("[\u0e00-\u0e7f]")
BURMESE = re.compile("[\u1000-\u109f]")
# A sample for the quick tests: a provision, a long example, a topic and a sector.
SAMPLE = ("ii-7-arbitrary-arrest-detention", "ex-vietnam-06-centres", "topic-drug-tests")


def comparable(text: str) -> str:
    """Text as pypdf gives it back and as it was written, made comparable: pypdf may break a
    line anywhere, and reads Thai SARA AM, drawn as two glyphs, back as SARA AA."""
    return re.sub(r"\s", "", text).replace("\u0e33", "\u0e32").replace("\u0e4d", "")


def sheets() -> FactSheets:
    return FactSheets(shipped_kb(), shipped_messages(), shipped_sectors())


def read(path: Path) -> tuple[int, str, list[tuple[float, float]], tuple[float, float]]:
    """Pages, text, where each text run starts, and the page size."""
    reader = PdfReader(path)
    spots: list[tuple[float, float]] = []

    def visit(text: str, cm: list[float], tm: list[float], *_: object) -> None:
        if text.strip():
            # The text matrix within the current transformation: page coordinates.
            x = tm[4] * cm[0] + tm[5] * cm[2] + cm[4]
            y = tm[4] * cm[1] + tm[5] * cm[3] + cm[5]
            spots.append((x, y))

    page = reader.pages[0]
    text = page.extract_text(visitor_text=visit)
    box = page.mediabox
    return len(reader.pages), text, spots, (float(box.width), float(box.height))


def check_sheet(path: Path, lang: str) -> list[str]:
    """What is wrong with one written sheet (nothing, when all is well)."""
    pages, text, spots, (width, height) = read(path)
    wrong = []
    if pages != 1:
        wrong.append(f"{path.name}: {pages} pages")
    if (round(width), round(height)) != (595, 842):
        wrong.append(f"{path.name}: not A4 ({width:.0f} x {height:.0f} pt)")
    outside = [(x, y) for x, y in spots if not (0 <= x <= width and 0 <= y <= height)]
    if outside:
        wrong.append(f"{path.name}: text outside the page at {outside[:3]}")
    script = {"th": THAI, "my": BURMESE}.get(lang)
    if script is not None and len(script.findall(text)) < 200:
        wrong.append(f"{path.name}: hardly any text in the {lang} script")
    return wrong


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize("target", [*SAMPLE, "sector-police"])
def test_a_sheet_is_one_a4_page_in_its_language_script_with_every_required_part(
    target: str, lang: str, tmp_path: Path
) -> None:
    path = sheets().write(target, lang, tmp_path / f"{target}.{lang}.pdf")
    assert check_sheet(path, lang) == []
    text = comparable(read(path)[1])
    if lang == "my":
        # pypdf reads Burmese back in glyph order (vowel signs before their consonant), so the
        # words are checked in the page the PDF was laid out from; the script check above
        # already read the PDF itself.
        text = comparable(html.unescape(sheets().html(target, lang)))
    m = shipped_messages()
    keys = ["labels.not_advice", "labels.source", "labels.guidance_only"]
    if lang != "en":
        keys.append("labels.translation_machine")  # said until a person has reviewed it
    for key in keys:
        assert comparable(m.get(key, lang))[:12] in text, key


def test_an_entry_sheet_has_title_summary_duties_steps_source_and_review_date() -> None:
    html = sheets().html("ii-7-arbitrary-arrest-detention", "en")
    entry = shipped_kb().get("ii-7-arbitrary-arrest-detention")
    assert entry is not None
    for text in (
        "II.7 Freedom from arbitrary arrest and detention",
        "States must (shall):",
        "States should:",
        "What you can do",
        f"Source: {entry.source}",
        f"last updated {entry.review.date}",
        "Legal information, not legal advice.",
        "The Guidelines are guidance, not binding law.",
    ):
        assert text in html, text
    assert entry.summary.get("en")[:40].replace("'", "&#x27;") in html


def test_editors_notes_never_reach_a_sheet() -> None:
    kb = shipped_kb()
    with_notes = [e for e in kb.entries if e.editor_notes]
    assert len(with_notes) >= 10
    for entry in with_notes[:10]:
        html = sheets().html(entry.id, "en")
        for note in entry.editor_notes:
            assert note[:50] not in html


def test_a_sheet_that_cannot_fit_says_which_and_what_to_do(tmp_path: Path) -> None:
    from dataclasses import replace

    from rightsdesk.localized import Localized

    kb = shipped_kb()
    entry = kb.get("ii-9-privacy")
    assert entry is not None
    steps = tuple(f"Step {i}: " + "a long sentence that goes on " * 12 for i in range(40))
    huge = replace(entry, what_you_can_do=Localized({"en": steps}))
    bloated = replace(kb, entries=tuple(huge if e.id == entry.id else e for e in kb.entries))
    with pytest.raises(FactSheetError, match=r"ii-9-privacy.*does not fit one page"):
        FactSheets(bloated, shipped_messages(), None).pdf("ii-9-privacy", "en")


def test_the_command_takes_a_ref_a_sector_or_an_id_and_refuses_the_unknown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ii7.pdf"
    assert main(["factsheet", "II.7", "--lang", "th", "-o", str(out)]) == 0
    assert check_sheet(out, "th") == []
    html = tmp_path / "judges.html"
    assert main(["factsheet", "judges", "--format", "html", "-o", str(html)]) == 0
    assert '<html lang="en">' in html.read_text()
    assert main(["factsheet", "nonsense-item"]) == 2
    assert "no item, topic, example or sector 'nonsense-item'" in capsys.readouterr().err


def test_every_sheet_in_every_language_builds_as_one_page_in_its_script(tmp_path: Path) -> None:
    """What `rightsdesk factsheet --all` builds on a fresh clone, every file read back."""
    built = build_all(sheets(), tmp_path, jobs=os.cpu_count() or 1)
    kb, sectors = shipped_kb(), shipped_sectors()
    assert len(built) == (len(kb.entries) + len(sectors)) * len(LANGUAGES)
    wrong = [w for path in built for w in check_sheet(path, path.name.split(".")[-2])]
    assert wrong == []
