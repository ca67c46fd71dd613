"""A content file built to explode when loaded is refused at once, naming the file and line.

The "billion laughs": each line refers nine times to the one before, so nine short lines
stand for 9**9 (387 million) strings. Expanded, it took start-up to 4 GB.
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest

from conftest import ROOT
from rightsdesk.cli import main
from rightsdesk.config import Settings
from rightsdesk.desk import Desk
from rightsdesk.knowledge_base import KnowledgeBaseError, load_knowledge_base
from rightsdesk.yaml_source import MAX_DEPTH, YamlSyntaxError, load_yaml

FIRST_BOMB_LINE = 37  # the bomb goes just below "synonyms:" (line 36)


def _bomb_lines() -> list[str]:
    lines = ["  lol0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, 9):
        refs = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"  lol{level}: &a{level} [{refs}]")
    return lines


@pytest.fixture
def bombed_kb(tmp_path: Path) -> Path:
    kb = tmp_path / "knowledge_base"
    shutil.copytree(ROOT / "knowledge_base", kb)
    synonyms = kb / "synonyms.yaml"
    lines = synonyms.read_text(encoding="utf-8").splitlines()
    assert lines[FIRST_BOMB_LINE - 2] == "synonyms:"  # the fixture still fits the file
    lines[FIRST_BOMB_LINE - 1 : FIRST_BOMB_LINE - 1] = _bomb_lines()
    synonyms.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return kb


def _bomb_line(message: str) -> int:
    found = re.search(r"synonyms\.yaml:(\d+): anchors and aliases", message)
    assert found, message
    return int(found.group(1))


def test_kb_check_refuses_a_billion_laughs_in_well_under_a_second(
    bombed_kb: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.perf_counter()
    code = main(["kb", "check", "--kb", str(bombed_kb)])
    elapsed = time.perf_counter() - started
    assert code == 1
    line = _bomb_line(capsys.readouterr().out)
    assert FIRST_BOMB_LINE <= line < FIRST_BOMB_LINE + 9
    # kb check also reads and checks the rest of the content (about 5 s); expanded, the
    # bomb alone took minutes and 4 GB.
    assert elapsed < 15


def test_loading_the_knowledge_base_or_the_desk_fails_fast_on_it(bombed_kb: Path) -> None:
    # Every other file is still read, so that all problems are listed at once: the bomb
    # itself must add well under a second to that.
    started = time.perf_counter()
    load_knowledge_base(ROOT / "knowledge_base")
    clean = time.perf_counter() - started
    started = time.perf_counter()
    with pytest.raises(KnowledgeBaseError) as raised:
        load_knowledge_base(bombed_kb)
    assert time.perf_counter() - started < clean + 0.5
    _bomb_line(str(raised.value))
    settings = Settings.from_env({"RIGHTSDESK_KB": str(bombed_kb)}, root=ROOT)
    started = time.perf_counter()
    with pytest.raises(KnowledgeBaseError):
        Desk.load(settings)
    # The desk checks every content file (messages, emergency cards, sectors too), so it takes
    # longer than the knowledge base alone; an expanding bomb would take minutes and gigabytes.
    assert time.perf_counter() - started < 3 * clean + 5


def test_the_synonyms_file_alone_is_refused_in_milliseconds(bombed_kb: Path) -> None:
    started = time.perf_counter()
    with pytest.raises(YamlSyntaxError) as raised:
        load_yaml(bombed_kb / "synonyms.yaml")
    assert time.perf_counter() - started < 0.5
    assert FIRST_BOMB_LINE <= raised.value.line < FIRST_BOMB_LINE + 9


def test_a_single_alias_is_refused_too_and_plain_content_is_not(tmp_path: Path) -> None:
    aliased = tmp_path / "aliased.yaml"
    aliased.write_text("a: &x [one]\nb: *x\n", encoding="utf-8")
    with pytest.raises(YamlSyntaxError, match=r"aliased\.yaml:1: anchors and aliases"):
        load_yaml(aliased)
    plain = tmp_path / "plain.yaml"
    plain.write_text("a: [one]\nb: [one]\n", encoding="utf-8")  # equal values, no alias
    assert load_yaml(plain).data == {"a": ["one"], "b": ["one"]}


def test_absurd_nesting_is_refused_with_its_line(tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("a: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n")
    with pytest.raises(YamlSyntaxError, match=r"deep\.yaml:1: nested more than"):
        load_yaml(deep)
