"""The bot's own words (welcome, help, privacy, labels, buttons), per language.

English lives in ``bot/messages.yaml``; each translation in ``bot/translations/<lang>.yaml``,
with its review status. They are reviewed and translated like content. Every text is a
:class:`~rightsdesk.localized.Localized` value, so a missing translation falls back to English.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rightsdesk.knowledge_base import (
    KnowledgeBaseError,
    Problem,
    Translation,
    broken_script,
    read_translation_status,
)
from rightsdesk.localized import DEFAULT_LANGUAGE, LANGUAGES, Localized
from rightsdesk.yaml_source import YamlDocument, YamlSyntaxError, load_yaml

TRANSLATIONS_DIR = "translations"
# Every key the program looks up, with the placeholders its text must keep.
REQUIRED: Mapping[str, frozenset[str]] = {
    "welcome": frozenset(),
    "disclaimer": frozenset(),
    "privacy_line": frozenset(),
    "how_to_ask": frozenset(),
    "example_questions": frozenset(),
    "help": frozenset(),
    "privacy": frozenset({"retention_days", "k"}),
    "about": frozenset({"version", "entries", "reviewed"}),
    "about_overdue": frozenset({"count"}),
    "none_found": frozenset(),
    "rephrase_hint": frozenset(),
    "did_you_mean": frozenset(),
    "choose_topic": frozenset(),
    "choose_item": frozenset({"part"}),
    "choose_country": frozenset(),
    "choose_example": frozenset({"country"}),
    "feedback_thanks": frozenset(),
    "feedback_sorry": frozenset(),
    "flood": frozenset(),
    "unsupported_media": frozenset(),
    "edited_message": frozenset(),
    "unknown_command": frozenset(),
    "error": frozenset(),
    "not_found": frozenset(),
    "choose_language": frozenset(),
    "language_set": frozenset(),
    "choose_your_country": frozenset(),
    "country_set": frozenset({"country"}),
    "country_cleared": frozenset(),
    "people_heading": frozenset({"country"}),
    "people_emergency": frozenset({"numbers"}),
    "people_none": frozenset({"country"}),
    "people_no_country": frozenset(),
    "people_checked": frozenset({"date"}),
    "discreet_choose": frozenset(),
    "discreet_on": frozenset({"minutes"}),
    "discreet_off": frozenset(),
    "discreet_console": frozenset(),
    "wipe_done": frozenset({"count"}),
    "choose_sector": frozenset(),
    "factsheet_caption": frozenset(),
    "factsheet_failed": frozenset(),
    "factsheet_saved": frozenset({"path"}),
    "log_health": frozenset({"waiting", "lost", "restarts"}),
    "log_unwritable": frozenset({"error"}),
    "reloaded": frozenset({"version", "entries"}),
    "reload_failed": frozenset({"version", "problems"}),
    "kb_update_installed": frozenset({"version"}),
    "kb_update_failed": frozenset({"reason"}),
    "labels.what_you_can_do": frozenset(),
    "labels.source": frozenset(),
    "labels.details": frozenset(),
    "labels.shall": frozenset(),
    "labels.should": frozenset(),
    "labels.may": frozenset(),
    "labels.notes": frozenset(),
    "labels.legal_basis": frozenset(),
    "labels.basis_named": frozenset(),
    "labels.basis_background": frozenset(),
    "labels.lessons": frozenset(),
    "labels.country": frozenset(),
    "labels.period": frozenset(),
    "labels.provisions": frozenset(),
    "labels.reviewed": frozenset({"status", "date"}),
    "labels.status_draft": frozenset(),
    "labels.status_reviewed": frozenset(),
    "labels.not_advice": frozenset(),
    "labels.guidance_only": frozenset(),
    "labels.guidelines_ref": frozenset({"ref"}),
    "labels.translation_machine": frozenset(),
    "labels.translation_community": frozenset(),
    "buttons.more": frozenset(),
    "buttons.helpful": frozenset(),
    "buttons.not_helpful": frozenset(),
    "buttons.topics": frozenset(),
    "buttons.examples": frozenset(),
    "buttons.back": frozenset(),
    "buttons.related": frozenset({"title"}),
    "buttons.themes": frozenset(),
    "buttons.original": frozenset(),
    "buttons.language": frozenset(),
    "buttons.talk_to_person": frozenset(),
    "buttons.country": frozenset(),
    "buttons.other_country": frozenset(),
    "buttons.discreet_quick": frozenset(),
    "buttons.minutes": frozenset({"minutes"}),
    "buttons.off": frozenset(),
    "buttons.factsheet": frozenset(),
    "buttons.sectors": frozenset(),
    "parts.I": frozenset(),
    "parts.II": frozenset(),
    "parts.III": frozenset(),
    "parts.IV": frozenset(),
    "parts.V": frozenset(),
    "parts.topics": frozenset(),
    **{
        f"commands.{name}": frozenset()
        for name in (
            "start",
            "topics",
            "for",
            "examples",
            "lang",
            "privacy",
            "help",
            "about",
            "country",
            "contacts",
            "discreet",
            "wipe",
        )
    },
}
LISTS = frozenset({"example_questions"})
BUTTON_MAX = 40  # longer labels are cut off on small phones


@dataclass(frozen=True)
class Messages:
    """Every text the bot says of its own, by dotted key (``labels.source``)."""

    texts: Mapping[str, Localized[Any]]
    translations: Mapping[str, Translation] = field(default_factory=dict)

    @property
    def languages(self) -> tuple[str, ...]:
        return (DEFAULT_LANGUAGE, *sorted(self.translations))

    def get(self, key: str, lang: str = DEFAULT_LANGUAGE, **values: object) -> str:
        text = str(self.texts[key].get(lang))
        return text.format(**values) if values else text

    def list(self, key: str, lang: str = DEFAULT_LANGUAGE) -> tuple[str, ...]:
        return tuple(self.texts[key].get(lang))

    def translation(self, lang: str) -> Translation | None:
        return self.translations.get(lang)


def load_messages(path: Path) -> Messages:
    problems, messages = check_messages(path)
    if problems or messages is None:
        raise KnowledgeBaseError(problems)
    return messages


def check_messages(path: Path) -> tuple[list[Problem], Messages | None]:
    """Problems in ``path`` and its translations (empty when all is well), and the messages."""
    try:
        doc = load_yaml(path)
    except FileNotFoundError:
        return [Problem(path, 1, "messages file not found")], None
    except YamlSyntaxError as error:
        return [Problem(error.path, error.line, error.message)], None
    if not isinstance(doc.data, dict) or not isinstance(doc.data.get(DEFAULT_LANGUAGE), dict):
        return [Problem(path, doc.line_of(), "expected a block 'en:' of keys and texts")], None
    problems: list[Problem] = []
    for lang in doc.data:
        if lang != DEFAULT_LANGUAGE:
            problems.append(
                Problem(path, doc.line_of(str(lang)), f"'{lang}' belongs in {TRANSLATIONS_DIR}/")
            )
    english = _flatten(doc.data[DEFAULT_LANGUAGE])
    problems.extend(_check_block(doc, (DEFAULT_LANGUAGE,), DEFAULT_LANGUAGE, english))
    for key in REQUIRED:
        if key not in english:
            problems.append(Problem(path, doc.line_of("en"), f"'en' is missing the text '{key}'"))
    texts: dict[str, dict[str, Any]] = {key: {DEFAULT_LANGUAGE: v} for key, v in english.items()}
    translations: dict[str, Translation] = {}
    folder = path.parent / TRANSLATIONS_DIR
    for tpath in sorted(folder.glob("*.yaml")) if folder.is_dir() else ():
        translated = _read_translation(tpath, english, problems)
        if translated is not None:
            lang, status, block = translated
            translations[lang] = status
            for key, value in block.items():
                texts[key][lang] = value
    if problems:
        return problems, None
    localized = {key: Localized(values) for key, values in texts.items()}
    return [], Messages(localized, translations)


def _read_translation(
    path: Path, english: Mapping[str, Any], problems: list[Problem]
) -> tuple[str, Translation, dict[str, Any]] | None:
    try:
        doc = load_yaml(path)
    except YamlSyntaxError as error:
        problems.append(Problem(error.path, error.line, error.message))
        return None
    data = doc.data
    lang = path.stem
    start = len(problems)
    if lang not in LANGUAGES or lang == DEFAULT_LANGUAGE:
        problems.append(Problem(path, 1, f"unknown language code '{lang}'"))
        return None
    if not isinstance(data, dict) or not isinstance(data.get("texts"), dict):
        problems.append(Problem(path, 1, "expected 'lang:', 'translation:' and 'texts:'"))
        return None
    status = read_translation_status(doc, problems, lang)
    block = _flatten(data["texts"])
    problems.extend(_check_block(doc, ("texts",), lang, block, english))
    for key in english:
        if key not in block:
            problems.append(
                Problem(path, doc.line_of("texts"), f"'{lang}' is missing the text '{key}'")
            )
    if len(problems) > start or status is None:
        return None
    return lang, status, block


def _flatten(block: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in block.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _check_block(
    doc: YamlDocument,
    prefix: tuple[str, ...],
    lang: str,
    block: Mapping[str, Any],
    english: Mapping[str, Any] | None = None,
) -> list[Problem]:
    problems: list[Problem] = []
    for key, value in block.items():
        line = doc.line_of(*prefix, *key.split("."))
        problems.extend(_check_text(doc.path, line, lang, key, value, english))
    return problems


def _check_text(
    path: Path,
    line: int,
    lang: str,
    key: str,
    value: Any,
    english: Mapping[str, Any] | None,
) -> list[Problem]:
    where = f"'{key}' ({lang})"
    if key not in REQUIRED:
        return [Problem(path, line, f"{where} is not a text the bot uses (a typo in the key?)")]
    if key in LISTS:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            return [Problem(path, line, f"{where} must be a list of texts")]
        if english is not None and len(value) != len(english.get(key, [])):
            return [Problem(path, line, f"{where} must have as many items as the English")]
        return []
    if not isinstance(value, str) or not value.strip():
        return [Problem(path, line, f"{where} must be a non-empty text")]
    broken = broken_script(value)
    if broken:
        return [Problem(path, line, f"{where} {broken}")]
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(value) if name}
    except ValueError as error:
        return [Problem(path, line, f"{where} has a broken {{placeholder}}: {error}")]
    problems = []
    wanted = REQUIRED[key]
    if fields - wanted:
        extra = ", ".join(sorted(fields - wanted))
        problems.append(Problem(path, line, f"{where} has unknown placeholders: {extra}"))
    if wanted - fields:
        lost = ", ".join(sorted(wanted - fields))
        problems.append(Problem(path, line, f"{where} lost its placeholders: {lost}"))
    if key.startswith("buttons.") and len(value) > BUTTON_MAX:
        problems.append(Problem(path, line, f"{where} is longer than {BUTTON_MAX} characters"))
    return problems
