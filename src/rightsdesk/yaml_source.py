"""Safe YAML loading that remembers where every value came from.

Editors of the knowledge base are not programmers: a problem report is only useful when it
names the file and the line to fix, so every loaded document carries a map from the path of
each value (``("details", "en", "shall", 0)``) to its line number.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PathKey = tuple[str | int, ...]
# Far deeper than any content file, far shallower than Python's recursion limit.
MAX_DEPTH = 50
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlSyntaxError(Exception):
    """A file that is not valid YAML, or that uses tags a safe loader refuses."""

    def __init__(self, path: Path, line: int, message: str) -> None:
        super().__init__(f"{path}:{line}: {message}")
        self.path = path
        self.line = line
        self.message = message


@dataclass(frozen=True)
class YamlDocument:
    """The parsed content of one file, plus the line of every value in it."""

    path: Path
    data: Any
    lines: dict[PathKey, int] = field(default_factory=dict)

    def line_of(self, *key: str | int) -> int:
        """The line of the value at ``key``, or of its nearest parent that has one."""
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), 1)


def load_yaml(path: Path) -> YamlDocument:
    """Load one YAML file with the safe loader, keeping line numbers (1-based)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise YamlSyntaxError(path, 1, f"not UTF-8 text ({error.reason})") from error
    # libyaml's loader where the wheel has it: about ten times faster on eight thousand
    # phrasings, with the same safe constructors and the same node marks.
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _refuse_aliases(path, node)
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        problem = error.problem or str(error)
        if error.context:
            problem = f"{error.context}: {problem}"
        if error.context_mark is not None and "end of stream" in problem:
            # An unclosed quote or bracket is found only at the end of the file; the line
            # where it was opened is the one an editor needs.
            mark = error.context_mark
            problem += " (opened here and never closed)"
        line = mark.line + 1 if mark is not None else 1
        raise YamlSyntaxError(path, line, f"invalid YAML: {problem}") from error
    except yaml.YAMLError as error:
        raise YamlSyntaxError(path, 1, f"invalid YAML: {error}") from error
    finally:
        loader.dispose()
    lines: dict[PathKey, int] = {}
    if node is not None:
        _record_lines(node, (), lines)
    return YamlDocument(path=path, data=data, lines=lines)


def load_texts_by_language(path: Path) -> list[str]:
    """The texts of a training file that maps each language code to a list of texts (the
    emergency model's everyday chat, the scope model's unanswered questions), in order."""
    document = load_yaml(path)
    if not isinstance(document.data, dict):
        raise YamlSyntaxError(path, 1, "expected languages, each with a list of texts")
    out: list[str] = []
    for lang, texts in document.data.items():
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
            raise YamlSyntaxError(path, document.line_of(lang), f"{lang}: expected a list of texts")
        out.extend(texts)
    return out


def _refuse_aliases(path: Path, root: yaml.Node) -> None:
    """Refuse anchors and aliases, before anything is built from them.

    The content uses none, and an alias is how a small file becomes a huge value (the
    "billion laughs": nine lines that expand to a billion strings and gigabytes of memory).
    An alias is the same node met twice, so a walk that remembers what it met finds it in
    the size of the file, not of its expansion."""
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, int]] = [(root, 1)]
    while stack:
        node, depth = stack.pop()
        if id(node) in seen:
            raise YamlSyntaxError(
                path,
                node.start_mark.line + 1,
                "anchors and aliases (&name, *name) are not allowed: write the value out",
            )
        seen.add(id(node))
        if depth > MAX_DEPTH:
            raise YamlSyntaxError(
                path, node.start_mark.line + 1, f"nested more than {MAX_DEPTH} levels deep"
            )
        if isinstance(node, yaml.MappingNode):
            stack.extend((n, depth + 1) for pair in node.value for n in pair)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((n, depth + 1) for n in node.value)


def _record_lines(node: yaml.Node, key: PathKey, lines: dict[PathKey, int]) -> None:
    lines[key] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, yaml.ScalarNode):
                child = (*key, key_node.value)
                _record_lines(value_node, child, lines)
                # A mapping's value often starts on the line after its key: point at the key.
                lines[child] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record_lines(item, (*key, index), lines)
