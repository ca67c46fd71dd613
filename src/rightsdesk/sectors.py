"""Sector views: for each group of people (police, judges, prison staff, health workers,
ministries, paralegals), the Guidelines items that matter most to their work, each with one or
two plain sentences on what it asks of them.

The English lives in ``knowledge_base/sectors.yaml``; each language's text in
``knowledge_base/translations/<lang>/sectors.yaml``, with its translation status. Items point to
knowledge base entries by id, so a sector view never says more than the entry it opens.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rightsdesk.knowledge_base import (
    REVIEW_STATUSES,
    SECTORS_FILE,
    TRANSLATIONS_DIR,
    KnowledgeBaseError,
    Problem,
    Review,
    Translation,
    read_translation_status,
)
from rightsdesk.localized import DEFAULT_LANGUAGE, LANGUAGES, Localized
from rightsdesk.yaml_source import YamlDocument, YamlSyntaxError, load_yaml

# The dialogue's sectors (seed report, sections 4.1-4.7), in the order they are offered.
SECTOR_IDS = ("paralegals", "police", "judges", "prison", "health", "ministries")
ITEMS_MIN, ITEMS_MAX = 3, 8
ASKS_MAX = 260  # one or two short sentences


@dataclass(frozen=True)
class SectorItem:
    entry_id: str
    asks: Localized[str]


@dataclass(frozen=True)
class Sector:
    id: str
    name: Localized[str]
    intro: Localized[str]
    items: tuple[SectorItem, ...]


@dataclass(frozen=True)
class Sectors:
    sectors: tuple[Sector, ...]
    review: Review
    translations: dict[str, Translation]

    def get(self, sector_id: str) -> Sector | None:
        return next((s for s in self.sectors if s.id == sector_id), None)

    def translation(self, lang: str) -> Translation | None:
        """How ``lang``'s sector texts were made; None for English, the source."""
        return self.translations.get(lang)

    def __iter__(self) -> Iterator[Sector]:
        return iter(self.sectors)

    def __len__(self) -> int:
        return len(self.sectors)


def load_sectors(root: Path, entry_ids: Iterable[str]) -> Sectors:
    problems, sectors = check_sectors(root, entry_ids)
    if problems or sectors is None:
        raise KnowledgeBaseError(problems)
    return sectors


def check_sectors(
    root: Path, entry_ids: Iterable[str] | None
) -> tuple[list[Problem], Sectors | None]:
    """Problems in the sector files (empty when all is well), and the sectors."""
    path = root / SECTORS_FILE
    problems: list[Problem] = []
    if not path.exists():
        return [Problem(path, 1, "sector views file not found")], None
    doc = _load(path, problems)
    if doc is None:
        return problems, None
    reader = _Reader(doc, problems, None if entry_ids is None else set(entry_ids))
    found = reader.english()
    if found is None:
        return problems, None
    sectors, review = found
    translations: dict[str, Translation] = {}
    for lang in LANGUAGES:
        if lang == DEFAULT_LANGUAGE:
            continue
        lang_path = root / TRANSLATIONS_DIR / lang / SECTORS_FILE
        if not lang_path.exists():
            problems.append(Problem(lang_path, 1, f"no {lang} translation of the sector views"))
            continue
        lang_doc = _load(lang_path, problems)
        if lang_doc is None:
            continue
        status = read_translation_status(lang_doc, problems, lang)
        merged = _Reader(lang_doc, problems, None).translated(sectors, lang)
        if status is not None and merged is not None:
            sectors = merged
            translations[lang] = status
    if problems:
        return problems, None
    return [], Sectors(sectors, review, translations)


def _load(path: Path, problems: list[Problem]) -> YamlDocument | None:
    try:
        doc = load_yaml(path)
    except YamlSyntaxError as error:
        problems.append(Problem(error.path, error.line, error.message))
        return None
    if not isinstance(doc.data, dict):
        problems.append(Problem(path, 1, "the sector views must be a mapping of fields"))
        return None
    return doc


class _Reader:
    def __init__(
        self, doc: YamlDocument, problems: list[Problem], entry_ids: set[str] | None
    ) -> None:
        self.doc = doc
        self.problems = problems
        self.entry_ids = entry_ids
        self.start = len(problems)

    def problem(self, key: tuple[str | int, ...], message: str) -> None:
        self.problems.append(Problem(self.doc.path, self.doc.line_of(*key), message))

    def text(self, value: Any, key: tuple[str | int, ...], what: str, limit: int = 0) -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.problem(key, f"{what} must be a text")
            return None
        text = " ".join(value.split())
        if limit and len(text) > limit:
            self.problem(key, f"{what} is {len(text)} characters; keep it under {limit}")
        return text

    def english(self) -> tuple[tuple[Sector, ...], Review] | None:
        data = self.doc.data
        review = self._review(data.get("review"))
        raw = data.get("sectors")
        if not isinstance(raw, list):
            self.problem(("sectors",), "'sectors' must list the sectors")
            return None
        sectors = [s for i, item in enumerate(raw) if (s := self._sector(item, i)) is not None]
        ids = [s.id for s in sectors]
        if len(self.problems) == self.start and ids != list(SECTOR_IDS):
            self.problem(
                ("sectors",), f"the sectors must be, in this order: {', '.join(SECTOR_IDS)}"
            )
        if len(self.problems) > self.start or review is None:
            return None
        return tuple(sectors), review

    def _review(self, value: Any) -> Review | None:
        if not isinstance(value, dict):
            self.problem(("review",), "'review' needs status, by, date")
            return None
        status, by, when = (value.get(k) for k in ("status", "by", "date"))
        if status not in REVIEW_STATUSES or not by or not when:
            self.problem(
                ("review",),
                f"review status must be one of {', '.join(REVIEW_STATUSES)}, with by and date",
            )
            return None
        return Review(str(status), str(by), str(when))

    def _sector(self, item: Any, i: int) -> Sector | None:
        key: tuple[str | int, ...] = ("sectors", i)
        if not isinstance(item, dict):
            self.problem(key, "each sector needs id, name, intro and items")
            return None
        sector_id = item.get("id")
        if sector_id not in SECTOR_IDS:
            self.problem((*key, "id"), f"sector id must be one of {', '.join(SECTOR_IDS)}")
        name = self.text(item.get("name"), (*key, "name"), "'name'", 60)
        intro = self.text(item.get("intro"), (*key, "intro"), "'intro'", ASKS_MAX)
        raw_items = item.get("items")
        if not isinstance(raw_items, list) or not ITEMS_MIN <= len(raw_items) <= ITEMS_MAX:
            self.problem((*key, "items"), f"'items' must list {ITEMS_MIN} to {ITEMS_MAX} entries")
            return None
        items = []
        seen: set[str] = set()
        for j, raw in enumerate(raw_items):
            item_key = (*key, "items", j)
            if not isinstance(raw, dict):
                self.problem(item_key, "each item needs 'entry' and 'asks'")
                continue
            entry_id = raw.get("entry")
            if not isinstance(entry_id, str) or (
                self.entry_ids is not None and entry_id not in self.entry_ids
            ):
                self.problem((*item_key, "entry"), f"no knowledge base entry '{entry_id}'")
                continue
            if entry_id in seen:
                self.problem((*item_key, "entry"), f"'{entry_id}' is listed twice")
            seen.add(entry_id)
            asks = self.text(raw.get("asks"), (*item_key, "asks"), "'asks'", ASKS_MAX)
            if asks:
                items.append(SectorItem(entry_id, Localized({DEFAULT_LANGUAGE: asks})))
        if not (isinstance(sector_id, str) and name and intro) or len(items) != len(raw_items):
            return None
        return Sector(
            sector_id,
            Localized({DEFAULT_LANGUAGE: name}),
            Localized({DEFAULT_LANGUAGE: intro}),
            tuple(items),
        )

    def translated(self, sectors: tuple[Sector, ...], lang: str) -> tuple[Sector, ...] | None:
        """``sectors`` with ``lang``'s texts added. The file maps each sector id to its name,
        intro and, per entry id, what the item asks: the list itself stays in English's file."""
        raw = self.doc.data.get("sectors")
        if not isinstance(raw, dict):
            self.problem(("sectors",), "'sectors' must map each sector id to name, intro, items")
            return None
        out = []
        for sector in sectors:
            key: tuple[str | int, ...] = ("sectors", sector.id)
            item = raw.get(sector.id)
            if not isinstance(item, dict):
                self.problem(("sectors",), f"no {lang} translation of sector '{sector.id}'")
                continue
            name = self.text(item.get("name"), (*key, "name"), f"'name' ({lang})", 60)
            intro = self.text(item.get("intro"), (*key, "intro"), f"'intro' ({lang})", ASKS_MAX)
            asks = item.get("items")
            if not isinstance(asks, dict):
                self.problem((*key, "items"), "'items' must map each entry id to what it asks")
                continue
            extra = set(map(str, asks)) - {i.entry_id for i in sector.items}
            for entry_id in sorted(extra):
                self.problem(
                    (*key, "items", entry_id), f"'{entry_id}' is not in sector '{sector.id}'"
                )
            items = []
            for si in sector.items:
                text = self.text(
                    asks.get(si.entry_id),
                    (*key, "items", si.entry_id),
                    f"'{si.entry_id}' ({lang})",
                    ASKS_MAX,
                )
                if text:
                    items.append(SectorItem(si.entry_id, si.asks.with_value(lang, text)))
            if name and intro and len(items) == len(sector.items):
                out.append(
                    Sector(
                        sector.id,
                        sector.name.with_value(lang, name),
                        sector.intro.with_value(lang, intro),
                        tuple(items),
                    )
                )
        if len(self.problems) > self.start:
            return None
        return tuple(out)
