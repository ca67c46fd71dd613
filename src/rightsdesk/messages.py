"""The bot's own words (welcome, help, privacy, labels, buttons), per language.

They live in ``bot/messages.yaml`` so they are reviewed and translated like content. Every
text falls back to English, so a partial translation never leaves a user with a blank.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rightsdesk.knowledge_base import DEFAULT_LANGUAGE, LANGUAGES, KnowledgeBaseError, Problem
from rightsdesk.yaml_source import YamlDocument, YamlSyntaxError, load_yaml

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
    "parts.I": frozenset(),
    "parts.II": frozenset(),
    "parts.III": frozenset(),
    "parts.IV": frozenset(),
    "parts.V": frozenset(),
    "parts.topics": frozenset(),
    **{f"commands.{name}": frozenset() for name in
       ("start", "topics", "examples", "lang", "privacy", "help", "about")},
}
LISTS = frozenset({"example_questions"})
BUTTON_MAX = 40  # longer labels are cut off on small phones


@dataclass(frozen=True)
class Messages:
    texts: Mapping[str, Mapping[str, Any]]  # language -> dotted key -> text or list

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(self.texts))

    def get(self, key: str, lang: str = DEFAULT_LANGUAGE, **values: object) -> str:
        text = self.texts.get(lang, {}).get(key) or self.texts[DEFAULT_LANGUAGE][key]
        return str(text).format(**values) if values else str(text)

    def list(self, key: str, lang: str = DEFAULT_LANGUAGE) -> tuple[str, ...]:
        items = self.texts.get(lang, {}).get(key) or self.texts[DEFAULT_LANGUAGE][key]
        return tuple(items)

    def language_for(self, code: str | None) -> str:
        """The closest language we have for a Telegram language code such as 'id' or 'en-GB'."""
        if code:
            base = code.split("-")[0].casefold()
            if base == "tl":
                base = "fil"
            if base in self.texts:
                return base
        return DEFAULT_LANGUAGE


def load_messages(path: Path) -> Messages:
    problems, messages = check_messages(path)
    if problems or messages is None:
        raise KnowledgeBaseError(problems)
    return messages


def check_messages(path: Path) -> tuple[list[Problem], Messages | None]:
    try:
        doc = load_yaml(path)
    except FileNotFoundError:
        return [Problem(path, 1, "messages file not found")], None
    except YamlSyntaxError as error:
        return [Problem(error.path, error.line, error.message)], None
    problems: list[Problem] = []
    if not isinstance(doc.data, dict) or DEFAULT_LANGUAGE not in doc.data:
        return [Problem(path, doc.line_of(), "expected a block per language, starting 'en:'")], None
    texts: dict[str, dict[str, Any]] = {}
    for lang, block in doc.data.items():
        if lang not in LANGUAGES:
            problems.append(Problem(path, doc.line_of(str(lang)), f"unknown language '{lang}'"))
            continue
        if not isinstance(block, dict):
            problems.append(Problem(path, doc.line_of(lang), f"'{lang}' must hold keys and texts"))
            continue
        texts[lang] = _flatten(block)
        for key, value in texts[lang].items():
            problems.extend(_check_text(doc, lang, key, value))
    english = texts.get(DEFAULT_LANGUAGE, {})
    for key in REQUIRED:
        if key not in english:
            problems.append(Problem(path, doc.line_of("en"), f"'en' is missing the text '{key}'"))
    if problems:
        return problems, None
    return [], Messages(texts)


def _flatten(block: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in block.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _check_text(doc: YamlDocument, lang: str, key: str, value: Any) -> list[Problem]:
    line = doc.line_of(lang, *key.split("."))
    where = f"'{key}' ({lang})"
    if key not in REQUIRED:
        return [Problem(doc.path, line, f"{where} is not a text the bot uses (a typo in the key?)")]
    if key in LISTS:
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            return [Problem(doc.path, line, f"{where} must be a list of texts")]
        return []
    if not isinstance(value, str) or not value.strip():
        return [Problem(doc.path, line, f"{where} must be a non-empty text")]
    try:
        fields = {name for _, name, _, _ in string.Formatter().parse(value) if name}
    except ValueError as error:
        return [Problem(doc.path, line, f"{where} has a broken {{placeholder}}: {error}")]
    problems = []
    wanted = REQUIRED[key]
    if fields - wanted:
        extra = ", ".join(sorted(fields - wanted))
        problems.append(Problem(doc.path, line, f"{where} has unknown placeholders: {extra}"))
    if wanted - fields:
        lost = ", ".join(sorted(wanted - fields))
        problems.append(Problem(doc.path, line, f"{where} lost its placeholders: {lost}"))
    if key.startswith("buttons.") and len(value) > BUTTON_MAX:
        problems.append(Problem(doc.path, line, f"{where} is longer than {BUTTON_MAX} characters"))
    return problems
