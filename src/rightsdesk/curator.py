"""The curator loop: from what people could not find to new phrasings in the knowledge base.

``rightsdesk logs gaps --suggest FILE`` turns the gaps report into a YAML file an editor
reviews: per group and language, the entry the matcher ranks closest with the group's
wordings as new alternate questions (``accept: false`` until the editor says otherwise), or
a stub for a new entry when nothing is close enough to answer. ``rightsdesk kb apply FILE``
then adds the accepted phrasings to the entries' question lists, one line each, leaving every
other line of those files as it was written.

Privacy: the file holds no more than :func:`rightsdesk.admin_reports.gaps` shows (groups at
least k people asked, wordings at least k people sent) and often less: a wording that still
holds a placeholder (``[name]``) or a mask (``…``) is not proposed as a phrasing, since it
would not read as a question; it is listed as a comment for the editor to retype.
"""

from __future__ import annotations

import json
import re
import textwrap
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rightsdesk.admin_reports import GapReport
from rightsdesk.anonymise import PLACEHOLDERS
from rightsdesk.knowledge_base import (
    TRANSLATIONS_DIR,
    Entry,
    KnowledgeBase,
    KnowledgeBaseError,
    Problem,
    load_knowledge_base,
    normalise_question,
)
from rightsdesk.localized import DEFAULT_LANGUAGE, LANGUAGES
from rightsdesk.log_words import MASK
from rightsdesk.matching import Matcher, normalise
from rightsdesk.yaml_source import PathKey, YamlDocument, YamlSyntaxError, load_yaml

__all__ = ["Applied", "Suggestion", "apply", "format_suggestions", "suggest"]

_FIELDS = frozenset({"gap", "entry", "title", "score", "lang", "accept", "phrasings", "new_entry"})
_LIST_ITEM = re.compile(r"[ \t]*-[ \t]+")
_UNMASK = re.compile("|".join(re.escape(p) for p in (*PLACEHOLDERS, MASK)))


@dataclass(frozen=True)
class Suggestion:
    """New phrasings for one entry in one language, or a stub when nothing is close.

    ``score`` is the matcher's score for ``entry`` (the mean over the phrasings); for a stub,
    ``entry`` is the nearest one, too far to add to, or None when nothing matched at all.
    """

    gap: str
    lang: str
    phrasings: tuple[str, ...]
    entry: Entry | None
    score: float
    stub: bool
    left_out: tuple[str, ...] = ()  # wordings with a placeholder or mask
    present: tuple[str, ...] = ()  # wordings the entry already has as questions


def suggest(report: GapReport, matcher: Matcher) -> list[Suggestion]:
    """One suggestion per group of ``report`` and language of its example wordings."""
    found: list[Suggestion] = []
    for group in report.groups:
        by_lang: dict[str, list[str]] = defaultdict(list)
        for text in group.examples:
            lang = group.example_languages.get(text, DEFAULT_LANGUAGE)
            by_lang[lang if lang in LANGUAGES else DEFAULT_LANGUAGE].append(text)
        gap = f"{group.kind}: {group.count} queries, {group.askers}+ people"
        for lang, texts in sorted(by_lang.items()):
            clean, left_out = _clean(texts)
            found.append(_suggestion(gap, lang, clean, tuple(left_out), matcher))
    return found


def _clean(texts: Iterable[str]) -> tuple[list[str], list[str]]:
    """Wordings that read as questions, de-duplicated as the matcher compares them, and the
    ones left out. A placeholder is not removed from a wording: "can police search [name]"
    without it is a different question, and a wording whose words were masked is a
    fragment; the editor, who sees them as comments, can retype what helps."""
    clean: list[str] = []
    left_out: list[str] = []
    seen: set[str] = set()
    for text in texts:
        text = " ".join(text.split())
        if MASK in text or any(p in text for p in PLACEHOLDERS):
            left_out.append(text)
            continue
        key = normalise(text)
        if key and key not in seen:
            seen.add(key)
            clean.append(text)
    return clean, left_out


def _suggestion(
    gap: str, lang: str, phrasings: list[str], left_out: tuple[str, ...], matcher: Matcher
) -> Suggestion:
    # The closest entry over all the group's wordings: the best mean score, among entries
    # that have questions in the wordings' language to add them to. With no clean wording,
    # the others rank the entries (the editor still sees them), without their gaps.
    asked = phrasings or [_UNMASK.sub(" ", text) for text in left_out]
    totals: dict[str, float] = defaultdict(float)
    for text in asked:
        for match in matcher.match(text).matches:
            totals[match.id] += match.score
    ranked = sorted(
        (i for i in totals if _has_questions(matcher.kb.get(i), lang)),
        key=lambda i: (-totals[i], i),
    )
    if not ranked:
        return Suggestion(gap, lang, tuple(phrasings), None, 0.0, True, left_out)
    entry = matcher.kb.get(ranked[0])
    assert entry is not None
    score = round(totals[entry.id] / len(asked), 1)
    if score < matcher.thresholds.answer:
        return Suggestion(gap, lang, tuple(phrasings), entry, score, True, left_out)
    have = _keys(entry.questions.values.get(lang, ()))
    new = tuple(p for p in phrasings if not _keys([p]) & have)
    present = tuple(p for p in phrasings if p not in new)
    return Suggestion(gap, lang, new, entry, score, False, left_out, present)


def _has_questions(entry: Entry | None, lang: str) -> bool:
    return entry is not None and (lang == DEFAULT_LANGUAGE or entry.translation(lang) is not None)


def _keys(questions: Iterable[str]) -> set[str]:
    """How questions are told apart: by the matcher, and by `kb check`'s duplicate rule."""
    keys: set[str] = set()
    for question in questions:
        keys.add("m:" + normalise(question))
        keys.add("q:" + normalise_question(question))
    return keys


# --- the file an editor reviews -------------------------------------------------------------

_HEADER = """\
# Suggested new phrasings for the knowledge base, from questions people could not find.
# Made by `rightsdesk logs gaps --suggest`.
#
# How to review this file (no programming needed):
#  1. Each item is a group of similar questions that at least {k} different people asked.
#     `entry` and `title` name the knowledge base entry closest to them; `score` says how
#     close (the bot answers from {answer:g}). `lang` says which language's questions the
#     phrasings join: leave it as it is.
#  2. If the phrasings belong to that entry, change `accept: false` to `accept: true`.
#     Edit a phrasing freely or delete its line. Keep them as people type them: short.
#  3. An item with `new_entry` is a STUB: nothing in the knowledge base is close. It is
#     never added by itself; someone has to write the entry (see knowledge_base/README.md).
#     If its questions belong to an existing entry after all, replace the whole `new_entry`
#     block with `entry: THE-ENTRY-ID`, `accept: true` and `phrasings:` holding them.
#  4. Save the file and run:  rightsdesk kb apply {file}
#     It adds the accepted phrasings, skips those already there, checks the knowledge base
#     and says what it did. `git diff` then shows every line it changed.
#
# Wordings with a placeholder such as [name] or [phone], or a … where the bot masked a word
# it did not know, are not proposed: they do not read as questions. They are listed under
# their item as comments, to retype if they help.
"""


def format_suggestions(
    suggestions: Sequence[Suggestion], report: GapReport, *, k: int, answer: float, file: str
) -> str:
    """The YAML file for an editor: a header on how to review it, then the suggestions."""
    lines = _HEADER.format(k=k, answer=answer, file=file).splitlines()
    silent = sum(1 for g in report.groups if not g.examples)
    if silent:
        lines.append(
            f"# {silent} more group(s) were asked by enough people, but no wording of theirs"
            " was sent by enough people to show."
        )
    if report.withheld:
        lines.append(f"# {report.withheld} smaller group(s) are left out: fewer than {k} asked.")
    lines += ["", "suggestions:" if suggestions else "suggestions: []"]
    for s in suggestions:
        lines.append(f"  - gap: {_scalar(s.gap)}")
        if s.stub:
            lines += _stub_lines(s, answer)
        else:
            assert s.entry is not None
            lines += [
                f"    entry: {s.entry.id}",
                f"    title: {_scalar(s.entry.title.get(s.lang))}",
                f"    score: {s.score}",
                f"    lang: {s.lang}",
                "    accept: false",
                "    phrasings:" if s.phrasings else "    phrasings: []",
                *(f"      - {_scalar(p)}" for p in s.phrasings),
            ]
            if s.present:
                lines.append(
                    "    # Already questions of this entry (if its answer did not help, the"
                    " answer itself may need work):"
                )
                lines += [f"    #   {p}" for p in s.present]
        if s.left_out:
            lines.append("    # Left out (a placeholder or a masked word):")
            lines += [f"    #   {p}" for p in s.left_out]
        lines.append("")
    return "\n".join(lines).rstrip("\n") + "\n"


def _stub_lines(s: Suggestion, answer: float) -> list[str]:
    if s.entry is None:
        nearest = "no entry shares a word with these questions"
    else:
        nearest = (
            f"the nearest, {s.entry.id} ({s.entry.title.get(s.lang)}), scores {s.score}"
            f" and the bot answers from {answer:g}"
        )
    note = f"STUB for a new entry: nothing is close ({nearest}). `kb apply` never adds a stub:"
    return [
        f"    lang: {s.lang}",
        *(
            f"    # {line}"
            for line in textwrap.wrap(
                note + " an editor has to write it.", 84, break_on_hyphens=False
            )
        ),
        "    new_entry:",
        "      id: TODO",
        "      title: TODO",
        "      questions:" if s.phrasings else "      questions: []",
        *(f"        - {_scalar(p)}" for p in s.phrasings),
    ]


def _scalar(text: str) -> str:
    """``text`` as a YAML value: plain when it reads back the same, else double-quoted
    (a JSON string is a valid YAML one)."""
    try:
        plain = yaml.safe_load(text) == text
    except yaml.YAMLError:
        plain = False
    if (
        plain
        and text == text.strip()
        and "\n" not in text
        and text[:1] not in "-?:,[]{}#&*!|>'\"%@`"
    ):
        return text
    return json.dumps(text, ensure_ascii=False)


# --- applying an edited file ----------------------------------------------------------------


@dataclass
class Applied:
    """What :func:`apply` did, for the editor to read."""

    phrasings: int = 0
    entries: set[str] = field(default_factory=set)
    skipped: list[str] = field(default_factory=list)  # one line per phrasing not added
    stubs: list[str] = field(default_factory=list)  # one line per stub left for an editor
    not_accepted: int = 0
    files: list[Path] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"Applied {self.phrasings} phrasing(s) to {len(self.entries)} entr"
            f"{'y' if len(self.entries) == 1 else 'ies'}; skipped {len(self.skipped)}"
            f" already present; {self.not_accepted} suggestion(s) not accepted;"
            f" {len(self.stubs)} stub(s) left for an editor."
        )


@dataclass(frozen=True)
class _Accepted:
    entry: Entry
    lang: str
    phrasings: tuple[str, ...]
    line: int


def apply(path: Path, kb_root: Path) -> Applied:
    """Add the accepted phrasings of the suggestion file ``path`` to the knowledge base.

    Checks the whole file first, and changes nothing when any of it is malformed (raising
    :class:`~rightsdesk.knowledge_base.KnowledgeBaseError` with the file and line of each
    problem). Phrasings an entry already has, in the matcher's eyes or in `kb check`'s, are
    skipped, as are those on another entry in the same language.
    """
    doc = _load(path)  # before the knowledge base: a typo in the file is reported at once
    kb = load_knowledge_base(kb_root)
    result = Applied()
    accepted = _read(doc, kb, result)
    taken = _taken(kb)
    additions: dict[tuple[Path, PathKey], list[str]] = defaultdict(list)
    for item in accepted:
        target = _target(kb, item.entry, item.lang)
        if target is None:
            raise KnowledgeBaseError(
                [
                    Problem(
                        path,
                        item.line,
                        f"entry '{item.entry.id}' has no {item.lang} translation to add"
                        f" questions to ({TRANSLATIONS_DIR}/{item.lang}/{item.entry.id}.yaml)",
                    )
                ]
            )
        for phrasing in item.phrasings:
            owners = {
                taken[(item.lang, key)] for key in _keys([phrasing]) if (item.lang, key) in taken
            }
            if owners:
                owner = sorted(owners)[0]
                where = "this entry" if owner == item.entry.id else f"entry '{owner}'"
                result.skipped.append(
                    f"skipped '{phrasing}' ({item.lang}): already a question of {where}"
                )
                continue
            for key in _keys([phrasing]):
                taken[(item.lang, key)] = item.entry.id
            additions[target].append(phrasing)
            result.phrasings += 1
            result.entries.add(item.entry.id)
    by_file: dict[Path, list[tuple[PathKey, list[str]]]] = defaultdict(list)
    for (file, list_key), items in additions.items():
        by_file[file].append((list_key, items))
    updated = {file: _insert_all(file, changes) for file, changes in by_file.items()}
    for file, text in updated.items():  # only once every file could be changed safely
        with file.open("w", encoding="utf-8", newline="") as out:
            out.write(text)
        result.files.append(file)
    return result


def _load(path: Path) -> YamlDocument:
    try:
        return load_yaml(path)
    except FileNotFoundError:
        raise KnowledgeBaseError([Problem(path, 1, "suggestion file not found")]) from None
    except YamlSyntaxError as error:
        raise KnowledgeBaseError([Problem(error.path, error.line, error.message)]) from None


def _read(doc: YamlDocument, kb: KnowledgeBase, result: Applied) -> list[_Accepted]:
    path = doc.path
    problems: list[Problem] = []

    def problem(key: PathKey, message: str) -> None:
        problems.append(Problem(path, doc.line_of(*key), message))

    data = doc.data
    items = data.get("suggestions") if isinstance(data, dict) else None
    if not isinstance(data, dict) or not isinstance(items, list | None):
        problem((), "expected 'suggestions:' with a list of items (made by `logs gaps --suggest`)")
        raise KnowledgeBaseError(problems)
    accepted: list[_Accepted] = []
    for i, item in enumerate(items or []):
        key: PathKey = ("suggestions", i)
        if not isinstance(item, dict):
            problem(key, "each suggestion must be a block of fields (entry:, lang:, accept: ...)")
            continue
        for name in sorted(set(map(str, item)) - _FIELDS):
            problem((*key, name), f"unknown field '{name}' (a typo?)")
        if "new_entry" in item:
            if "entry" in item:
                problem(key, "a suggestion has either 'entry' or 'new_entry', not both")
            else:
                result.stubs.append(
                    f"{path}:{doc.line_of(*key, 'new_entry')}: a stub for a new entry is never"
                    " applied: an editor needs to write the entry"
                )
            continue
        start = len(problems)
        accept = item.get("accept")
        if not isinstance(accept, bool):
            problem((*key, "accept") if "accept" in item else key, "'accept' must be true or false")
        entry_id = item.get("entry")
        entry = kb.get(str(entry_id)) if isinstance(entry_id, str) else None
        if entry is None:
            what = f"no entry '{entry_id}' in the knowledge base" if entry_id else "missing 'entry'"
            problem((*key, "entry") if "entry" in item else key, what)
        lang = item.get("lang")
        if lang not in LANGUAGES:
            problem(
                (*key, "lang") if "lang" in item else key,
                f"'lang' must be one of {', '.join(LANGUAGES)}",
            )
        phrasings = _phrasings(item.get("phrasings"), (*key, "phrasings"), problem)
        if len(problems) > start or entry is None:
            continue
        if accept:
            accepted.append(_Accepted(entry, str(lang), phrasings, doc.line_of(*key)))
        else:
            result.not_accepted += 1
    if problems:
        raise KnowledgeBaseError(problems)
    return accepted


def _phrasings(
    value: Any, key: PathKey, problem: Callable[[PathKey, str], None]
) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        problem(key, "'phrasings' must be a list, one phrasing a line starting with '- '")
        return ()
    found: list[str] = []
    for j, item in enumerate(value):
        if isinstance(item, bool) or not isinstance(item, str | int | float):
            problem((*key, j), f"phrasing {j + 1} must be a text")
        elif not str(item).strip():
            problem((*key, j), f"phrasing {j + 1} is empty")
        else:
            found.append(" ".join(str(item).split()))
    return tuple(found)


def _taken(kb: KnowledgeBase) -> dict[tuple[str, str], str]:
    """(language, question key) -> the entry that has that question."""
    taken: dict[tuple[str, str], str] = {}
    for entry in kb.entries:
        for lang, questions in entry.questions.values.items():
            for key in _keys(questions):
                taken.setdefault((lang, key), entry.id)
    return taken


def _target(kb: KnowledgeBase, entry: Entry, lang: str) -> tuple[Path, PathKey] | None:
    """The file and list where ``entry``'s ``lang`` alternates live: the English file's
    ``questions: en:``, the translation file's ``questions:``, or (when an entry has no
    translation file) its English file's ``questions: LANG:`` list."""
    if lang == DEFAULT_LANGUAGE:
        return entry.path, ("questions", lang)
    translated = kb.root / TRANSLATIONS_DIR / lang / f"{entry.id}.yaml"
    if translated.is_file():
        return translated, ("questions",)
    english = load_yaml(entry.path).data
    if isinstance(english.get("questions"), dict) and lang in english["questions"]:
        return entry.path, ("questions", lang)
    return None


def _insert_all(path: Path, changes: list[tuple[PathKey, list[str]]]) -> str:
    with path.open(encoding="utf-8", newline="") as source:
        text = source.read()
    for key, items in changes:
        text = _append(text, path, key, items)
    return text


def _append(text: str, path: Path, key: PathKey, items: list[str]) -> str:
    """``text`` with ``items`` added to the end of the block list at ``key``, as new lines
    indented like its first item; nothing else in the text changes."""
    node = _node(yaml.compose(text, Loader=yaml.SafeLoader), key)
    where = "questions: " + ": ".join(map(str, key[1:])) if len(key) > 1 else "questions:"
    if not isinstance(node, yaml.SequenceNode) or node.flow_style or not node.value:
        raise KnowledgeBaseError(
            [Problem(path, 1, f"'{where}' is not a list written one item a line; add by hand")]
        )
    lines = text.splitlines(keepends=True)
    first = node.value[0].start_mark
    indent = lines[first.line][: first.column]
    if not _LIST_ITEM.fullmatch(indent):
        raise KnowledgeBaseError(
            [Problem(path, first.line + 1, f"'{where}' items do not start with '- '; add by hand")]
        )
    end = node.value[-1].end_mark
    # A block scalar (>-) ends at the start of the line after it; a plain one on its line.
    at = end.line if end.column == 0 else end.line + 1
    newline = "\r\n" if "\r\n" in text else "\n"
    if at > 0 and at <= len(lines) and not lines[at - 1].endswith(("\n", "\r")):
        lines[at - 1] += newline
    lines[at:at] = [f"{indent}{_scalar(item)}{newline}" for item in items]
    updated = "".join(lines)
    before = _value(yaml.safe_load(text), key)
    after = _value(yaml.safe_load(updated), key)
    if after != [*before, *items]:
        raise KnowledgeBaseError(
            [Problem(path, first.line + 1, f"could not add to '{where}' safely; add by hand")]
        )
    return updated


def _node(root: yaml.Node | None, key: PathKey) -> yaml.Node | None:
    node = root
    for part in key:
        if not isinstance(node, yaml.MappingNode):
            return None
        node = next((v for k, v in node.value if k.value == part), None)
    return node


def _value(data: Any, key: PathKey) -> list[str]:
    for part in key:
        data = data.get(part) if isinstance(data, dict) else None
    return [" ".join(str(q).split()) for q in data] if isinstance(data, list) else []
