"""What admins see, and what they are never shown.

The rules throughout: a theme appears only once at least k different people asked it, and
a question's words only once at least k different people sent those same words. People are
counted by weekly pseudonym, so across weeks the count is a lower bound.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conftest import SECRET
from rightsdesk.admin_reports import Rating, export, format_gaps, format_stats, gaps, stats
from rightsdesk.query_log import QueryEvent, QueryLog

NOW = datetime(2026, 11, 26, 15, 0, tzinfo=UTC)  # Thursday of 2026-W48
LAST_WEEK = NOW - timedelta(days=7)


def _gaps(path: Path, **kwargs: object) -> tuple[list[dict[str, object]], int]:
    """gaps() as plain data, so a test can compare whole groups."""
    report = gaps(path, **kwargs).to_dict()  # type: ignore[arg-type]
    return report["groups"], report["withheld"]


class Log:
    """Records events the way the bot does, with the details a test cares about."""

    def __init__(self, path: Path) -> None:
        self.log = QueryLog(path, secret=SECRET, retention_days=3650).open()

    def ask(
        self,
        text: str,
        *,
        user: int,
        decision: str = "answer",
        top_id: str | None = "ii-5-search-seizure",
        score: float | None = 90.0,
        lang: str = "en",
        at: datetime = NOW,
        helpful: bool | None = None,
    ) -> str:
        key = self.log.record_query(
            QueryEvent(
                text=text,
                lang=lang,
                decision=decision,  # type: ignore[arg-type]
                top_id=top_id,
                top_score=score,
                runner_up_ids=(),
                kb_version="2026.11.1",
                handling_ms=3.0,
                user_id=user,
                sender_names=(),
                at=at,
            )
        )
        if helpful is not None:
            self.log.record_feedback(key, helpful, at)
        return key

    def close(self) -> None:
        self.log.close()


@pytest.fixture
def db(tmp_path: Path):
    path = tmp_path / "rightsdesk.db"
    log = Log(path)
    yield path, log
    log.close()


def phone_questions(log: Log, users: range, at: datetime = NOW) -> None:
    phrasings = [
        "can police take my phone",
        "cops took my phone can they",
        "police took my phone, can they do that?",
        "Can the police take my phone?",
    ]
    for n, user in enumerate(users):
        log.ask(phrasings[n % len(phrasings)], user=user, decision="none", top_id=None, at=at)


# --- stats --------------------------------------------------------------------------------------


def test_stats_counts_decisions_languages_entries_feedback_and_people(db) -> None:
    path, log = db
    for user in (1, 2, 3):
        log.ask("can police search my bag", user=user, helpful=user != 3)
        log.ask("bisakah polisi menggeledah tas saya", user=user, lang="id")
    log.ask("which guideline covers detention?", user=4, decision="clarify")
    log.ask("ขอถามเรื่องยาบ้า", user=5, lang="th", decision="none", top_id=None, score=None)
    log.ask("can police search my bag", user=1, at=LAST_WEEK)
    log.close()

    d = stats(path, since=timedelta(days=3), now=NOW)

    assert d.total == 8
    assert d.by_decision == {"answer": 6, "clarify": 1, "none": 1}
    # Thai was asked by one person: it is folded into "(other)", not named.
    assert d.by_language == {"en": 4, "id": 3, "(other)": 1}
    assert d.by_entry == {"ii-5-search-seizure": 6}
    assert d.helpful == {"ii-5-search-seizure": Rating(helpful=2, rated=3, share=0.67)}
    assert d.askers_per_week == {"2026-W48": 5}
    assert (d.folded_languages, d.folded_entries) == (1, 0)
    assert d.to_dict()["folded"] == {"languages": 1, "entries": 0}

    everything = stats(path, since=None, now=NOW)
    assert everything.askers_per_week == {"2026-W47": 1, "2026-W48": 5}


def test_format_stats_fits_a_phone_screen(db) -> None:
    path, log = db
    for user in (1, 2, 3):
        log.ask("can police search my bag", user=user, helpful=True)
    log.close()

    text = format_stats(stats(path, now=NOW))
    assert "Queries: 3" in text
    assert "ii-5-search-seizure: 3 (helpful 3/3)" in text
    assert max(len(line) for line in text.splitlines()) <= 60


# --- gaps --------------------------------------------------------------------------------------


def test_gaps_groups_near_duplicates_asked_by_enough_people(db) -> None:
    path, log = db
    phone_questions(log, range(1, 5))  # four people, four phrasings
    log.close()

    groups, withheld = _gaps(path, now=NOW)

    assert withheld == 0
    [group] = groups
    assert group["kind"] == "unanswered"
    assert group["count"] == 4 and group["askers"] == 4
    assert group["closest_entry"] is None
    # Four people, but each wording was sent by one of them: the theme shows, no wording.
    assert list(group["examples"]) == []


def test_a_wording_is_shown_only_once_k_people_sent_it(db) -> None:
    path, log = db
    phone_questions(log, range(1, 5))
    for user in (5, 6):
        log.ask("can police take my phone", user=user, decision="none", top_id=None)
    log.close()

    [group] = _gaps(path, now=NOW)[0]
    assert group["count"] == 6
    assert list(group["examples"]) == ["can police take my phone"]  # users 1, 5 and 6


def test_a_question_asked_by_fewer_than_k_people_is_withheld(db) -> None:
    path, log = db
    phone_questions(log, range(1, 4))
    # One person asks three times about their own rare situation: never shown.
    for _ in range(3):
        log.ask("my uncle in Aceh was caught with ganja, can he be caned", user=99,
                decision="none", top_id=None)  # fmt: skip
    log.close()

    groups, withheld = _gaps(path, now=NOW)

    assert [g["count"] for g in groups] == [3]
    assert withheld == 1
    assert not any(g["examples"] for g in groups)  # three wordings, one person each
    assert "1 smaller group(s) withheld" in format_gaps(gaps(path, now=NOW))


def test_people_are_not_added_up_across_weeks(db) -> None:
    # Pseudonyms rotate weekly, so three askers in three weeks may be one person.
    path, log = db
    for week, user in enumerate((1, 2, 3)):
        at = NOW - timedelta(weeks=week)
        log.ask("can police take my phone", user=user, decision="none", top_id=None, at=at)
    log.close()

    assert _gaps(path, now=NOW) == ([], 1)


def test_gaps_include_low_scores_and_answers_rated_not_helpful(db) -> None:
    path, log = db
    for user in (1, 2, 3):
        log.ask("is methadone allowed in prison", user=user, top_id="ii-1-2-treatment",
                score=35.0)  # fmt: skip
        log.ask("can I refuse a urine test at work", user=user, top_id="ii-2-privacy",
                helpful=False)  # fmt: skip
        log.ask("what are my rights when arrested", user=user, helpful=True)  # fine: not a gap
    log.close()

    groups, _ = _gaps(path, now=NOW, low_score=50)

    by_kind = {g["kind"]: g for g in groups}
    assert set(by_kind) == {"low score", "not helpful"}
    assert by_kind["low score"]["closest_entry"] == "ii-1-2-treatment"
    assert by_kind["not helpful"]["closest_entry"] == "ii-2-privacy"


def test_thai_questions_are_not_lumped_together(db) -> None:
    # rapidfuzz's default processor strips Thai vowel and tone marks; ours does not.
    path, log = db
    for user in (1, 2, 3):
        log.ask("ตำรวจค้นโทรศัพท์ได้ไหม", user=user, lang="th", decision="none", top_id=None)
        log.ask("ยาบ้ามีโทษอะไร", user=user, lang="th", decision="none", top_id=None)
    log.close()

    groups, _ = _gaps(path, now=NOW)
    assert sorted(g["count"] for g in groups) == [3, 3]


def test_format_gaps_is_plain_short_text(db) -> None:
    path, log = db
    phone_questions(log, range(1, 5))
    log.close()

    text = format_gaps(gaps(path, now=NOW))
    assert text.startswith("Gaps: 1 group(s)")
    assert "1. unanswered: 4 queries, 4+ people" in text
    assert "(no wording sent by enough people to show)" in text
    assert max(len(line) for line in text.splitlines()) <= 80


# --- export ------------------------------------------------------------------------------------


def test_export_aggregates_only_cells_with_k_askers(db) -> None:
    path, log = db
    phone_questions(log, range(1, 4))  # three people: shown
    log.ask("can police take my phone", user=7, lang="id", decision="none", top_id=None)
    log.close()

    table = list(csv.DictReader(io.StringIO(export(path, fmt="csv", now=NOW))))
    assert table == [
        {"week": "2026-W48", "lang": "en", "decision": "none", "top_id": "",
         "queries": "3", "askers": "3"},
    ]  # fmt: skip

    document = json.loads(export(path, fmt="json", now=NOW))
    assert document["kind"] == "aggregates" and document["withheld"] == 1
    assert document["data"][0]["queries"] == 3


def test_aggregates_cover_whole_weeks(db) -> None:
    # Asking for "the last day" still returns the whole week, so two exports cannot be
    # subtracted to isolate what one person asked yesterday.
    path, log = db
    phone_questions(log, range(1, 4), at=NOW - timedelta(days=2))
    log.close()

    document = json.loads(export(path, fmt="json", since=timedelta(days=1), now=NOW))
    assert document["since"] == "2026-11-23T00:00:00+00:00"  # Monday of 2026-W48
    assert [cell["queries"] for cell in document["data"]] == [3]


def test_row_export_drops_key_and_pseudonym_and_rare_texts(db) -> None:
    path, log = db
    for user in (1, 2, 3):
        log.ask("can police take my phone", user=user, decision="none", top_id=None)
    log.ask("police took my phone, can they do that?", user=4, decision="none", top_id=None)
    log.ask("my uncle in Aceh was caught with ganja", user=99, decision="none", top_id=None)
    log.close()

    table = list(csv.DictReader(io.StringIO(export(path, fmt="csv", rows=True, now=NOW))))
    assert [row["text"] for row in table] == ["can police take my phone"] * 3
    assert "key" not in table[0] and "asker" not in table[0]
    assert table[0]["hour"] == "2026-11-26T15:00:00+00:00"
    assert not any("Aceh" in row["text"] for row in table)

    document = json.loads(export(path, fmt="json", rows=True, now=NOW))
    assert document["kind"] == "rows" and document["withheld"] == 2
    assert document["data"][0]["runner_up_ids"] == []


def test_export_rejects_unknown_formats(db) -> None:
    path, log = db
    log.close()
    with pytest.raises(ValueError, match="csv"):
        export(path, fmt="xml")  # type: ignore[arg-type]
