"""`rightsdesk logs ...`: the admin commands read the anonymised log and hide rare questions."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml

from conftest import SECRET
from rightsdesk.cli import main
from rightsdesk.query_log import QueryEvent, QueryLog


def _ask(log: QueryLog, text: str, user: int, decision: str = "none", *, days_ago: int = 0) -> None:
    log.record_query(
        QueryEvent(
            text=text,
            lang="en",
            decision=decision,  # type: ignore[arg-type]
            top_id=None if decision == "none" else "ii-7-arbitrary-arrest-detention",
            top_score=20.0 if decision == "none" else 80.0,
            runner_up_ids=(),
            kb_version="kb-test",
            handling_ms=1.0,
            user_id=user,
            sender_names=(),
            at=datetime.now(UTC) - timedelta(days=days_ago),
        )
    )


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "log.db"
    with QueryLog(path, secret=SECRET, retention_days=3650) as log:
        for user in (1, 2, 3, 4):  # four people ask nearly the same unanswered question
            _ask(log, f"can the village head send my brother to a camp {'?' * user}", user)
        _ask(log, "is kratom tea allowed at the temple festival", 5)  # one person: rare
        for user in (6, 7, 8):
            _ask(log, "can police detain someone for using drugs", user, "answer")
        _ask(log, "an old question from last year", 9, days_ago=400)
    monkeypatch.setenv("RIGHTSDESK_DB", str(path))
    monkeypatch.setenv("RIGHTSDESK_RETENTION_DAYS", "30")
    return path


def test_stats_counts_every_query_by_decision(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["logs", "stats", "--since", "all", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["total"] == 9
    assert main(["logs", "stats", "--since", "30d"]) == 0
    assert "8" in capsys.readouterr().out  # the old one is outside the period


def test_gaps_groups_near_duplicates_and_withholds_rare_ones(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["logs", "gaps", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    texts = json.dumps(report["groups"])
    assert "village head" in texts and "kratom" not in texts
    assert report["groups"][0]["count"] == 4
    assert report["withheld"] >= 1
    assert main(["logs", "gaps"]) == 0
    assert "village head" in capsys.readouterr().out


def test_gaps_suggest_writes_a_file_for_an_editor(
    db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "suggestions.yaml"
    assert main(["logs", "gaps", "--suggest", str(out)]) == 0
    assert f"written to {out}" in capsys.readouterr().out
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Suggested new phrasings")
    assert "kratom" not in text  # one person asked it
    [item] = yaml.safe_load(text)["suggestions"]
    # Nothing in the base is close to the village head's camp: a stub, with the wording
    # four people sent, once (they differ only in question marks).
    assert item["new_entry"]["id"] == "TODO" and item["lang"] == "en"
    [question] = item["new_entry"]["questions"]
    assert question.rstrip(" ?") == "can the village head send my brother to a camp"


def test_export_gives_aggregates_by_default_and_redacted_rows_on_request(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["logs", "export", "--format", "csv"]) == 0
    aggregates = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert aggregates and "text" not in aggregates[0]
    assert main(["logs", "export", "--format", "json", "--rows"]) == 0
    rows = capsys.readouterr().out
    assert "village head" in rows and "kratom" not in rows and "asker" not in rows


def test_purge_deletes_what_is_older_than_the_retention(
    db: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["logs", "purge"]) == 0
    assert "Deleted 1 " in capsys.readouterr().out
    assert main(["logs", "stats", "--since", "all", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["total"] == 8


def test_a_bad_period_is_one_clear_sentence(db: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["logs", "stats", "--since", "yesterday"]) == 1
    assert "--since takes a period" in capsys.readouterr().err
