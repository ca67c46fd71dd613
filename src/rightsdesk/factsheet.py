"""Fact sheets: one printable A4 page per Guidelines item, topic, example and sector, in each
language, as the 2020 regional dialogue asked ("in a simpler format, such as fact sheets").

A sheet is HTML laid out by WeasyPrint with Debian's Noto fonts, which cover Thai and Burmese.
It always fits one page: when the text is long (Burmese runs about twice the length of
English) the type is set smaller, step by step, down to a size that still prints legibly.
"""

from __future__ import annotations

import html
import multiprocessing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rightsdesk.knowledge_base import (
    Entry,
    KnowledgeBase,
    Review,
    Translation,
    load_knowledge_base,
)
from rightsdesk.localized import DEFAULT_LANGUAGE, LANGUAGES
from rightsdesk.messages import Messages, load_messages
from rightsdesk.sectors import Sector, Sectors, load_sectors

if TYPE_CHECKING:
    from weasyprint import Document

# Sizes in points, largest first; 7.5 pt is still readable on an office print-out.
FONT_SIZES = (11.0, 10.5, 10.0, 9.5, 9.0, 8.5, 8.0, 7.5)
# Noto Sans for Latin and Vietnamese, then the scripts the region needs. Fontconfig picks,
# for each character, the first family in this list that has it.
FONT_FAMILIES = '"Noto Sans", "Noto Sans Thai", "Noto Sans Myanmar", sans-serif'
SCRIPT_FONTS = {"th": "Noto Sans Thai", "my": "Noto Sans Myanmar"}


class FactSheetError(Exception):
    """A sheet could not be made (unknown item, or no PDF library or fonts installed)."""


@dataclass(frozen=True)
class Sheet:
    """What one sheet is about: an entry's id, or ``sector-<id>``."""

    target: str
    lang: str

    @property
    def file_name(self) -> str:
        return f"{self.target}.{self.lang}"


class FactSheets:
    """Makes fact sheets from the loaded content. Holds no state of its own but the content."""

    def __init__(self, kb: KnowledgeBase, messages: Messages, sectors: Sectors | None) -> None:
        self.kb = kb
        self.messages = messages
        self.sectors = sectors

    # -- what exists ----------------------------------------------------------------------

    def targets(self) -> list[str]:
        """Every sheet's target: each entry's id, then ``sector-<id>`` for each sector."""
        out = [e.id for e in self.kb.entries]
        if self.sectors is not None:
            out += [f"sector-{s.id}" for s in self.sectors]
        return out

    def exists(self, target: str) -> bool:
        return self._entry(target) is not None or self._sector(target) is not None

    def resolve(self, name: str) -> str | None:
        """The target ``name`` means: an entry id, a Guidelines ref ("II.7"), a sector id
        ("police") or ``sector-<id>``; None when it is none of these."""
        if self.exists(name):
            return name
        entry = self.kb.by_ref(name.upper())
        if entry is not None:
            return entry.id
        if self.exists(f"sector-{name}"):
            return f"sector-{name}"
        return None

    def all_sheets(self) -> Iterator[Sheet]:
        for target in self.targets():
            for lang in LANGUAGES:
                yield Sheet(target, lang)

    # -- making ---------------------------------------------------------------------------

    def html(
        self, target: str, lang: str, font_size: float = FONT_SIZES[0], *, notes: bool = True
    ) -> str:
        """The sheet as a complete HTML page (what the PDF is made from). Without ``notes``
        the background notes are left out: everything a sheet must say stays."""
        entry, sector = self._entry(target), self._sector(target)
        if entry is not None:
            lang = lang if entry.summary.has(lang) else DEFAULT_LANGUAGE
            body = self._entry_body(entry, lang, notes)
        elif sector is not None:
            body = self._sector_body(sector, lang)
        else:
            raise FactSheetError(f"no item, topic, example or sector '{target}'")
        return _page(body, lang, font_size)

    def pdf(self, target: str, lang: str) -> bytes:
        """The sheet as a one-page PDF."""
        document = self.layout(target, lang)
        return bytes(document.write_pdf())

    def layout(self, target: str, lang: str) -> Document:
        """The laid-out sheet at the largest type size that fits one page."""
        return self._fitted(target, lang)[1]

    def _fitted(self, target: str, lang: str) -> tuple[str, Document]:
        """The sheet's HTML and its layout, at the largest type size that fits one page."""
        weasyprint = _weasyprint()
        for size, notes in self._attempts():
            html = self.html(target, lang, size, notes=notes)
            document = weasyprint.HTML(string=html).render()
            if len(document.pages) == 1:
                return html, document
        raise FactSheetError(
            f"'{target}' in {lang} does not fit one page even at {FONT_SIZES[-1]} pt: shorten it"
        )

    @staticmethod
    def _attempts() -> list[tuple[float, bool]]:
        # Smaller type first; only when even the smallest is too long do the background
        # notes give way (a long Burmese or Indonesian topic), never a duty or a step.
        return [(size, True) for size in FONT_SIZES] + [(size, False) for size in FONT_SIZES]

    def write(self, target: str, lang: str, path: Path, fmt: str = "pdf") -> Path:
        if fmt == "html":
            # The HTML at the size the PDF would use, so both look alike.
            path.write_text(self._fitted(target, lang)[0], "utf-8")
        else:
            path.write_bytes(self.pdf(target, lang))
        return path

    # -- inside ---------------------------------------------------------------------------

    def _entry(self, target: str) -> Entry | None:
        return self.kb.get(target)

    def _sector(self, target: str) -> Sector | None:
        if self.sectors is None or not target.startswith("sector-"):
            return None
        return self.sectors.get(target.removeprefix("sector-"))

    def _label(self, key: str, lang: str, **values: object) -> str:
        return html.escape(self.messages.get(f"labels.{key}", lang, **values))

    def _entry_body(self, entry: Entry, lang: str, notes: bool = True) -> str:
        m = self._label
        parts = [f"<h1>{html.escape(entry.heading(lang))}</h1>"]
        if entry.kind == "example" and entry.country:
            when = f" · {html.escape(entry.period.get(lang))}" if entry.period else ""
            parts.append(f'<p class="meta">{html.escape(entry.country.get(lang))}{when}</p>')
        parts.append(f'<p class="summary">{html.escape(entry.summary.get(lang))}</p>')
        parts.append(f'<h2 class="act">{m("what_you_can_do", lang)}</h2>')
        parts.append(_list(entry.what_you_can_do.get(lang), "act"))
        levels = entry.details.get(lang) if entry.details else {}
        for level in ("shall", "should", "may", "notes") if notes else ("shall", "should", "may"):
            if levels.get(level):
                parts.append(f"<h2>{m(level, lang)}</h2>")
                parts.append(_list(levels[level]))
        if entry.kind == "example":
            parts.append(f"<h2>{m('lessons', lang)}</h2>")
            parts.append(_list(entry.lessons.get(lang)))
            if entry.provisions:
                refs = ", ".join(
                    self.messages.get("labels.guidelines_ref", lang, ref=r)
                    for r in entry.provisions
                )
                parts.append(f"<p>{m('provisions', lang)}: {html.escape(refs)}</p>")
        parts.append(f'<p class="source">{m("source", lang)}: {html.escape(entry.source)}</p>')
        return "\n".join(parts) + self._footer(entry.review, entry.translation(lang), lang)

    def _sector_body(self, sector: Sector, lang: str) -> str:
        m = self._label
        parts = [f"<h1>{html.escape(sector.name.get(lang))}</h1>"]
        parts.append(f'<p class="summary">{html.escape(sector.intro.get(lang))}</p>')
        for item in sector.items:
            entry = self.kb.get(item.entry_id)
            if entry is None:
                continue
            heading = entry.heading(lang if entry.summary.has(lang) else DEFAULT_LANGUAGE)
            cite = (
                self.messages.get("labels.guidelines_ref", lang, ref=entry.ref)
                if entry.ref
                else entry.source
            )
            parts.append(f"<h2>{html.escape(heading)}</h2>")
            parts.append(
                f"<p>{html.escape(item.asks.get(lang))} "
                f'<span class="cite">({m("source", lang)}: {html.escape(cite)})</span></p>'
            )
        assert self.sectors is not None
        footer = self._footer(self.sectors.review, self.sectors.translation(lang), lang)
        return "\n".join(parts) + footer

    def _footer(self, review: Review, translation: Translation | None, lang: str) -> str:
        """Review status and date, the machine-translation line until a person has checked
        the text, that the Guidelines do not bind, and that this is not legal advice."""
        m = self.messages
        status = m.get(f"labels.status_{review.status}", lang)
        lines = [m.get("labels.reviewed", lang, status=status, date=review.date)]
        if translation is not None and not translation.reviewed:
            lines.append(m.get(f"labels.translation_{translation.status}", lang))
        lines += [
            self.messages.get("labels.guidance_only", lang),
            self.messages.get("labels.not_advice", lang),
        ]
        text = " ".join(html.escape(line) for line in lines)
        return (
            f'\n<footer><p>{text}</p><p class="brand">Rights Desk · {self.kb.version}</p></footer>'
        )


def fact_sheets(kb_dir: Path, messages_path: Path) -> FactSheets:
    """Fact sheets over the content in ``kb_dir`` and the bot's words in ``messages_path``."""
    kb = load_knowledge_base(kb_dir)
    return FactSheets(
        kb, load_messages(messages_path), load_sectors(kb_dir, (e.id for e in kb.entries))
    )


def build_all(sheets: FactSheets, out: Path, fmt: str = "pdf", *, jobs: int = 1) -> list[Path]:
    """Every sheet in every language, written to ``out`` as ``<target>.<lang>.<fmt>``.
    Raises :class:`FactSheetError` naming the first sheet that does not fit one page."""
    todo = [(s.target, s.lang, out / f"{s.file_name}.{fmt}") for s in sheets.all_sheets()]
    if jobs <= 1:
        return [sheets.write(target, lang, path, fmt) for target, lang, path in todo]
    # Laying out a page takes about half a second of one core: spread the set over processes,
    # each with its own copy of the content (the fork shares what is already loaded).
    context = multiprocessing.get_context("fork")
    global _worker_sheets
    _worker_sheets = sheets
    with context.Pool(jobs) as pool:
        return pool.starmap(_write_one, [(t, lang, path, fmt) for t, lang, path in todo])


_worker_sheets: FactSheets | None = None


def _write_one(target: str, lang: str, path: Path, fmt: str) -> Path:
    assert _worker_sheets is not None
    return _worker_sheets.write(target, lang, path, fmt)


def _list(items: tuple[str, ...], css: str = "") -> str:
    cls = f' class="{css}"' if css else ""
    return f"<ul{cls}>" + "".join(f"<li>{html.escape(i)}</li>" for i in items) + "</ul>"


def _page(body: str, lang: str, font_size: float) -> str:
    font = f'"{SCRIPT_FONTS[lang]}", {FONT_FAMILIES}' if lang in SCRIPT_FONTS else FONT_FAMILIES
    # Burmese and Thai stack marks above and below the line: they need more line height.
    line_height = 1.55 if lang in SCRIPT_FONTS else 1.35
    return f"""<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><style>
@page {{ size: A4; margin: 16mm 16mm 18mm 16mm; }}
html {{ font-family: {font}; font-size: {font_size}pt; line-height: {line_height};
        color: #111; }}
body {{ margin: 0; }}
* {{ overflow-wrap: anywhere; }}
h1 {{ font-size: 1.7em; line-height: 1.25; margin: 0 0 0.4em; }}
h2 {{ font-size: 1.1em; margin: 0.9em 0 0.25em; }}
h2.act {{ color: #0b5; }}
p {{ margin: 0 0 0.45em; }}
p.summary {{ font-size: 1.12em; }}
p.meta, span.cite, p.source {{ color: #444; }}
ul {{ margin: 0; padding-left: 1.3em; }}
li {{ margin: 0 0 0.25em; }}
ul.act li {{ font-weight: 600; }}
footer {{ margin-top: 1em; border-top: 1px solid #999; padding-top: 0.4em;
          font-size: 0.85em; color: #333; }}
p.brand {{ color: #777; }}
</style></head><body>
{body}
</body></html>
"""


def _weasyprint() -> Any:
    try:
        import weasyprint
    except (ImportError, OSError) as error:  # OSError: Pango missing from the system
        raise FactSheetError(
            "fact sheets need WeasyPrint and Pango: run ./scripts/setup (it installs them)"
        ) from error
    return weasyprint
