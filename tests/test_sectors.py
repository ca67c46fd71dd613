"""Sector views: the Guidelines items that matter most to each group of people, with what
each asks of them, in every language; `kb check` names the file and line of a broken one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, make_desk, shipped_kb, shipped_sectors
from rightsdesk.conversation import Reply
from rightsdesk.desk import Asker
from rightsdesk.localized import LANGUAGES
from rightsdesk.sectors import SECTOR_IDS, check_sectors


def data(reply: Reply) -> list[str]:
    return [b.data for row in reply.buttons for b in row]


def test_the_shipped_views_cover_the_six_sectors_and_point_to_real_entries() -> None:
    sectors = shipped_sectors()
    assert [s.id for s in sectors] == list(SECTOR_IDS)
    kb = shipped_kb()
    for sector in sectors:
        assert 3 <= len(sector.items) <= 8
        assert all(kb.get(i.entry_id) is not None for i in sector.items)
        for lang in LANGUAGES:
            assert sector.name.has(lang) and all(i.asks.has(lang) for i in sector.items)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_for_lists_the_sectors_and_each_opens_its_items_in_the_language(lang: str) -> None:
    desk = make_desk()
    asker = Asker(11)
    desk.press(f"l:{lang}", asker)
    menu = desk.command("for", asker)
    assert data(menu) == [f"s:{s}" for s in SECTOR_IDS]
    police = desk.press("s:police", asker)
    sector = shipped_sectors().get("police")
    assert sector is not None
    assert police.blocks[0].text == sector.name.get(lang)
    bullets = police.blocks[2].items
    assert len(bullets) == len(sector.items)
    assert all(
        item.asks.get(lang) in line for item, line in zip(sector.items, bullets, strict=True)
    )
    assert f"e:{sector.items[0].entry_id}" in data(police)
    assert "g:sector-police" in data(police)
    if lang != "en":
        assert "Translated by machine" not in police.blocks[-1].text  # said in the language
        assert desk.messages.get("labels.translation_machine", lang) in police.blocks[-1].text
    opened = desk.press(f"e:{sector.items[0].entry_id}", asker)
    assert opened.blocks[0].style == "title" and any(b.style == "source" for b in opened.blocks)


def test_welcome_and_help_offer_the_sectors_and_the_topics() -> None:
    desk = make_desk()
    for command in ("start", "help"):
        reply = desk.command(command, Asker(12))
        assert "s" in data(reply) and "t" in data(reply)


def copy_kb(tmp_path: Path) -> Path:
    root = tmp_path / "kb"
    shutil.copytree(ROOT / "knowledge_base", root)
    return root


def test_an_item_pointing_nowhere_is_named_with_file_and_line(tmp_path: Path) -> None:
    root = copy_kb(tmp_path)
    path = root / "sectors.yaml"
    text = path.read_text()
    path.write_text(text.replace("entry: ii-8-fair-trial", "entry: ii-8-fair-trail", 1))
    problems, sectors = check_sectors(root, [e.id for e in shipped_kb().entries])
    assert sectors is None
    [problem] = problems
    line = text.splitlines().index(
        next(row for row in text.splitlines() if "entry: ii-8-fair-trial" in row)
    )
    assert problem.path == path and problem.line == line + 1
    assert "no knowledge base entry 'ii-8-fair-trail'" in problem.message


def test_a_translation_that_lacks_an_item_is_reported(tmp_path: Path) -> None:
    root = copy_kb(tmp_path)
    path = root / "translations" / "vi" / "sectors.yaml"
    data = yaml.safe_load(path.read_text())
    del data["sectors"]["police"]["items"]["ii-7-arbitrary-arrest-detention"]
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    problems, _ = check_sectors(root, None)
    assert any(
        "vi" in str(p.path) and "ii-7-arbitrary-arrest-detention" in p.message for p in problems
    )
