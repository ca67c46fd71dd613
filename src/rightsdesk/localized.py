"""Text in several languages, with one fallback rule.

Every user-facing text (knowledge base entries, the bot's own words, decline reasons) is a
:class:`Localized` value. Asking for a language it lacks gives English: the fallback is written
once, here, so a partial translation never leaves a user with a blank.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

DEFAULT_LANGUAGE = "en"
# The languages the bot speaks: English, Bahasa Indonesia, Malay, Vietnamese, Thai, Burmese,
# Filipino. Content in any other code is refused by `kb check`.
LANGUAGES: tuple[str, ...] = ("en", "id", "ms", "vi", "th", "my", "tl")

T = TypeVar("T")


@dataclass(frozen=True)
class Localized(Generic[T]):
    """A value per language code; English is always present."""

    values: Mapping[str, T] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.values and DEFAULT_LANGUAGE not in self.values:
            raise ValueError(f"a localized value needs '{DEFAULT_LANGUAGE}'")

    def get(self, lang: str) -> T:
        """The value in ``lang``, or in English when there is none."""
        value = self.values.get(lang)
        return value if value else self.values[DEFAULT_LANGUAGE]

    def has(self, lang: str) -> bool:
        return bool(self.values.get(lang))

    @property
    def languages(self) -> tuple[str, ...]:
        return tuple(sorted(self.values))

    def all(self) -> Iterator[T]:
        """Every language's value, English first: what the matcher indexes."""
        if not self.values:
            return
        yield self.values[DEFAULT_LANGUAGE]
        for lang in sorted(self.values):
            if lang != DEFAULT_LANGUAGE:
                yield self.values[lang]

    def with_value(self, lang: str, value: T) -> Localized[T]:
        return Localized({**self.values, lang: value})

    def __bool__(self) -> bool:
        return bool(self.values)
