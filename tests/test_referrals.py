"""Referrals: who can help in each country, with a source and a date for every line."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from conftest import ROOT, make_desk, shipped_referrals
from rightsdesk.desk import Asker
from rightsdesk.referrals import check_referrals, load_referrals

REFERRALS = ROOT / "bot" / "referrals.yaml"


def test_every_shipped_number_has_a_source_and_a_check_date() -> None:
    referrals = shipped_referrals()
    numbers = [n for c in referrals.countries.values() for n in c.emergency]
    assert numbers, "the countries' public emergency numbers are shipped"
    for n in numbers:
        assert n.source and n.checked <= date.today() and n.number.isdigit()
    # Shipped with public numbers only: no organisation, no service is invented.
    assert referrals.organisation.hotline is None
    assert all(not c.services for c in referrals.countries.values())


def test_a_number_without_a_source_is_refused_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "referrals.yaml"
    text = REFERRALS.read_text()
    path.write_text(text.replace("        checked: 2026-12-01\n", "", 1))
    problems, referrals = check_referrals(path)
    assert referrals is None
    [problem] = problems
    assert "source and the date" in problem.message
    assert problem.line == text[: text.index('      - number: "112"')].count("\n") + 1


def test_talk_to_a_person_says_plainly_when_nothing_is_configured() -> None:
    desk = make_desk()
    someone = Asker(id=11)
    desk.press("k:MM", someone)  # Myanmar: no number could be confirmed, no service set up
    reply = desk.press("h", someone)
    text = " ".join(b.text for b in reply.blocks)
    assert "Myanmar" in text and "No legal aid" in text


ORGANISATION_FILE = """
organisation:
  name: Example Network
  hotline: "@example_helpdesk"
  source: the network's own staff
  checked: 2026-12-01
countries:
  PH:
    language: tl
    emergency:
      - {number: "911", service: general, source: a test, checked: 2026-12-01}
    services:
      - name: Example legal aid desk
        kind: legal_aid
        contact: "@example_legal_aid"
        source: a letter from the desk
        checked: 2026-11-30
"""


def test_talk_to_a_person_lists_what_the_organisation_added(tmp_path: Path) -> None:
    path = tmp_path / "referrals.yaml"
    path.write_text(ORGANISATION_FILE)
    desk = make_desk(referrals=load_referrals(path))
    someone = Asker(id=12, language_code="en")
    desk.press("k:PH", someone)
    reply = desk.press("h", someone)
    items = [i for b in reply.blocks for i in b.items]
    assert "Example Network: @example_helpdesk" in items
    assert any(i.startswith("Example legal aid desk: @example_legal_aid") for i in items)
    # The organisation's hotline is on every emergency card too, with the country's number.
    card = " ".join(
        b.text for b in desk.ask("my friend is not breathing after using", someone).blocks
    )
    assert "@example_helpdesk" in card and "911" in card


def test_the_country_is_asked_once_and_kept_in_memory_only() -> None:
    desk = make_desk()
    someone = Asker(id=13)
    picker = desk.command("country", someone)
    assert [b.data for row in picker.buttons for b in row][-1] == "k:-"
    assert desk.country(someone, "en") is None  # English says nothing about a country
    assert desk.country(someone, "th") == "TH"  # a Thai writer: Thailand, until told otherwise
    desk.press("k:VN", someone)
    assert desk.country(someone, "th") == "VN"
    desk.press("k:-", someone)  # "another country / rather not say"
    assert desk.country(someone, "th") is None
