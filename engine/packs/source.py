"""Reading pack files with their line numbers: YAML through PyYAML's node tree, CSV row by row.

Every value read from a YAML file keeps the line it was written on (:class:`LineMap`), so that a
problem found later — by JSON Schema, by the metadata checks, by the record service — can be
reported as ``file:line: message``. Nothing here raises on a bad file: problems are collected as
:class:`Problem` s and the caller decides.
"""
from __future__ import annotations

import csv
import datetime as _dt
import io
import re
from dataclasses import dataclass, field

import yaml


@dataclass(frozen=True, order=True)
class Problem:
    """One problem of a pack: where (file relative to the pack, line) and what."""

    file: str
    line: int | None
    message: str

    def __str__(self):
        return f"{self.file}:{self.line}: {self.message}" if self.line else f"{self.file}: {self.message}"


@dataclass
class LineMap:
    """Line numbers of the values of one YAML document, by path (a tuple of keys and indexes)."""

    file: str
    lines: dict = field(default_factory=dict)

    def line_of(self, path):
        """The line of ``path``, or of its nearest ancestor that has one (1 for the document)."""
        path = tuple(path)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return self.lines.get((), 1)


class _PyLoader(yaml.SafeLoader):
    """PyYAML's safe loader; YAML 1.1 dates stay text (the metadata speaks ISO strings). Its syntax
    errors say more than libyaml's ("expected ',' or ']', but got '<stream end>'")."""


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):
    """The same with libyaml's parser when PyYAML was built with it (several times faster: packs are
    read on every install and catalogue change); a file it refuses is read again by ``_PyLoader``."""


_PyLoader.yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers = {
    k: [(tag, regexp) for tag, regexp in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def _single_node(loader_class, text):
    loader = loader_class(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


def load_yaml(text, file):
    """``(value, LineMap, problems)`` of a YAML document; ``value`` is None when it cannot be read."""
    lines = LineMap(file)
    try:
        try:
            node = _single_node(_Loader, text)
        except yaml.YAMLError:
            node = _single_node(_PyLoader, text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "cannot be read"
        return None, lines, [Problem(file, mark.line + 1 if mark else None, f"YAML syntax error: {what}")]
    except yaml.YAMLError as exc:
        return None, lines, [Problem(file, None, f"YAML syntax error: {exc}")]
    if node is None:
        return None, lines, [Problem(file, 1, "the file is empty")]
    problems = []
    value = _build(node, (), lines, problems, _Loader(""))
    return value, lines, problems


def _build(node, path, lines, problems, loader):
    lines.lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        out = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                problems.append(Problem(lines.file, key_node.start_mark.line + 1, "a key must be plain text"))
                continue
            key = loader.construct_object(key_node)
            if not isinstance(key, str):
                key = str(key) if not isinstance(key, bool) else ("true" if key else "false")
            if key in out:
                problems.append(Problem(lines.file, key_node.start_mark.line + 1,
                                        f"duplicate key '{key}' (also on line {lines.lines[path + (key,)]})"))
                continue
            out[key] = _build(value_node, path + (key,), lines, problems, loader)
            lines.lines[path + (key,)] = key_node.start_mark.line + 1
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(item, path + (i,), lines, problems, loader) for i, item in enumerate(node.value)]
    value = loader.construct_object(node)
    if isinstance(value, (_dt.date, _dt.datetime)):
        value = value.isoformat()
    return value


@dataclass
class CsvTable:
    """A CSV file: its header and its rows, each with the line it starts on."""

    file: str
    header: list
    rows: list            # [(line, {column: text})]


def load_csv(text, file):
    """``(CsvTable or None, problems)``: every row must have as many cells as the header."""
    problems = []
    if text.startswith("\ufeff"):
        text = text[1:]
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        return None, [Problem(file, 1, f"CSV syntax error: {exc}")]
    if not header:
        return None, [Problem(file, 1, "the file is empty; the first line must name the columns, starting "
                                       "with _key")]
    header = [h.strip() for h in header]
    if header[0] != "_key":
        problems.append(Problem(file, 1, f"the first column must be '_key' (got '{header[0][:40]}')"))
    seen = {}
    for i, name in enumerate(header):
        if name in seen:
            problems.append(Problem(file, 1, f"duplicate column '{name}' (columns {seen[name] + 1} and {i + 1})"))
        seen.setdefault(name, i)
    rows = []
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(Problem(file, reader.line_num, f"CSV syntax error: {exc}"))
            break
        if not cells or cells == [""]:
            continue
        if len(cells) != len(header):
            problems.append(Problem(file, line, f"row has {len(cells)} cells but the header has {len(header)}"))
            continue
        rows.append((line, dict(zip(header, cells))))
    return CsvTable(file, header, rows), problems


_JSON_PATH = re.compile(r"\.([A-Za-z0-9_$]+)|\[(\d+)\]")


def split_json_path(text):
    """``objects.deal.fields[2].options`` -> ``['objects', 'deal', 'fields', 2, 'options']``."""
    head, _, rest = str(text).partition(".")
    head, _, index = head.partition("[")
    parts = [head]
    if index:
        rest = "[" + index + ("." + rest if rest else "")
    for m in _JSON_PATH.finditer("." + rest if rest and not rest.startswith("[") else rest):
        parts.append(m.group(1) if m.group(1) is not None else int(m.group(2)))
    return [p for p in parts if p != ""]


def locate(doc, parts):
    """Turn a JSON path of names (``fields.amount``) into one of indexes (``fields, 3``) in ``doc``."""
    out, node = [], doc
    for part in parts:
        if isinstance(node, list):
            if isinstance(part, int):
                index = part
            else:
                index = next((i for i, item in enumerate(node) if isinstance(item, dict)
                              and part in (item.get("api_name"), item.get("name"), item.get("value"))), None)
            if index is None or index >= len(node):
                break
            out.append(index)
            node = node[index]
        elif isinstance(node, dict):
            if part not in node:
                break
            out.append(part)
            node = node[part]
        else:
            break
    return tuple(out)
