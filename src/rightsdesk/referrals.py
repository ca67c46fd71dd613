"""Who can help, per country: ``bot/referrals.yaml``, read and checked.

Emergency cards name the country's emergency number; "Talk to a person" lists the legal aid,
harm-reduction services and hotlines configured for it. Every line carries its source and the
date it was checked, because a wrong number in an emergency is worse than none, and the file
says plainly what is missing rather than filling a gap.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rightsdesk.knowledge_base import KnowledgeBaseError, Problem
from rightsdesk.localized import LANGUAGES
from rightsdesk.yaml_source import YamlDocument, YamlSyntaxError, load_yaml

SERVICE_KINDS = ("legal_aid", "harm_reduction", "hotline")
NUMBER_SERVICES = ("general", "medical")


@dataclass(frozen=True)
class EmergencyNumber:
    number: str
    service: str  # "general" (one number for every emergency) or "medical"
    source: str
    checked: dt.date


@dataclass(frozen=True)
class Service:
    name: str
    kind: str
    contact: str
    source: str
    checked: dt.date
    hours: str | None = None


@dataclass(frozen=True)
class Country:
    code: str
    language: str | None  # the language most people there write to the bot in
    emergency: tuple[EmergencyNumber, ...]
    services: tuple[Service, ...]

    def numbers_for(self, call: str) -> tuple[EmergencyNumber, ...]:
        """The numbers to call for ``call`` ("medical"): a medical number where there is one,
        and the general emergency number in any case."""
        if call == "none":
            return ()
        return tuple(n for n in self.emergency if n.service in ("general", call))


@dataclass(frozen=True)
class Organisation:
    name: str | None
    hotline: str | None


@dataclass(frozen=True)
class Referrals:
    organisation: Organisation
    countries: dict[str, Country]

    def country(self, code: str | None) -> Country | None:
        return self.countries.get(code) if code else None

    def guess(self, lang: str) -> str | None:
        """The country a writer of ``lang`` most likely is in, or None (English, or several)."""
        found = [c.code for c in self.countries.values() if c.language == lang]
        return found[0] if len(found) == 1 else None


def load_referrals(path: Path) -> Referrals:
    problems, referrals = check_referrals(path)
    if problems or referrals is None:
        raise KnowledgeBaseError(problems)
    return referrals


def check_referrals(path: Path) -> tuple[list[Problem], Referrals | None]:
    try:
        doc = load_yaml(path)
    except FileNotFoundError:
        return [Problem(path, 1, "referrals file not found")], None
    except YamlSyntaxError as error:
        return [Problem(error.path, error.line, error.message)], None
    problems: list[Problem] = []
    data = doc.data if isinstance(doc.data, dict) else {}
    org = data.get("organisation") or {}
    if not isinstance(org, dict):
        problems.append(Problem(path, doc.line_of("organisation"), "expected name and hotline"))
        org = {}
    hotline = _optional_text(org.get("hotline"))
    if hotline and not (_optional_text(org.get("source")) and _date(org.get("checked"))):
        problems.append(
            Problem(path, doc.line_of("organisation"), "the hotline needs a source and a date")
        )
    organisation = Organisation(_optional_text(org.get("name")), hotline)
    countries: dict[str, Country] = {}
    block = data.get("countries")
    if not isinstance(block, dict):
        problems.append(Problem(path, doc.line_of(), "expected a block 'countries:'"))
        block = {}
    for code, spec in block.items():
        country = _country(doc, str(code), spec, problems)
        if country is not None:
            countries[country.code] = country
    if problems:
        return problems, None
    return [], Referrals(organisation, countries)


def _country(doc: YamlDocument, code: str, spec: Any, problems: list[Problem]) -> Country | None:
    where = ("countries", code)
    line = doc.line_of(*where)
    if len(code) != 2 or not code.isupper():
        problems.append(Problem(doc.path, line, f"'{code}': use the two-letter country code"))
    if not isinstance(spec, dict):
        problems.append(Problem(doc.path, line, f"'{code}' needs emergency and services lists"))
        return None
    language = spec.get("language")
    if language is not None and language not in LANGUAGES:
        problems.append(Problem(doc.path, line, f"'{code}': unknown language '{language}'"))
    numbers = []
    for i, item in enumerate(_list(doc, (*where, "emergency"), spec.get("emergency"), problems)):
        at = doc.line_of(*where, "emergency", i)
        checked = _sourced(doc, at, item, problems)
        number = str(item.get("number", "")).strip() if isinstance(item, dict) else ""
        service = item.get("service") if isinstance(item, dict) else None
        if not number or not number.replace(" ", "").isdigit():
            problems.append(Problem(doc.path, at, "an emergency number is written in digits"))
        if service not in NUMBER_SERVICES:
            problems.append(Problem(doc.path, at, f"service must be one of {NUMBER_SERVICES}"))
        if checked and isinstance(item, dict):
            numbers.append(EmergencyNumber(number, str(service), item["source"].strip(), checked))
    services = []
    for i, item in enumerate(_list(doc, (*where, "services"), spec.get("services"), problems)):
        at = doc.line_of(*where, "services", i)
        checked = _sourced(doc, at, item, problems)
        if not isinstance(item, dict):
            continue
        kind = item.get("kind")
        if kind not in SERVICE_KINDS:
            problems.append(Problem(doc.path, at, f"kind must be one of {SERVICE_KINDS}"))
        name, contact = _optional_text(item.get("name")), _optional_text(item.get("contact"))
        if not name or not contact:
            problems.append(Problem(doc.path, at, "a service needs a name and a contact"))
        if checked and name and contact:
            services.append(
                Service(
                    name,
                    str(kind),
                    contact,
                    item["source"].strip(),
                    checked,
                    _optional_text(item.get("hours")),
                )
            )
    return Country(code, language, tuple(numbers), tuple(services))


def _list(
    doc: YamlDocument, where: tuple[str, ...], value: Any, problems: list[Problem]
) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append(Problem(doc.path, doc.line_of(*where), "expected a list"))
        return []
    return value


def _sourced(doc: YamlDocument, line: int, item: Any, problems: list[Problem]) -> dt.date | None:
    if not isinstance(item, dict):
        problems.append(Problem(doc.path, line, "expected keys and values"))
        return None
    checked = _date(item.get("checked"))
    if not _optional_text(item.get("source")) or checked is None:
        problems.append(
            Problem(doc.path, line, "every line needs a source and the date it was checked")
        )
        return None
    return checked


def _date(value: Any) -> dt.date | None:
    return value if isinstance(value, dt.date) else None


def _optional_text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None
