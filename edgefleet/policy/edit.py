"""Editing one key of one route in a policy file's text, leaving every other line (and comment) as
written: what ``edgefleet route calibrate --write`` does (a classify route's top-level keys such as
``min_confidence``, a generate route's ``escalation_policy.threshold``).

Routes are the items of the top-level ``routes:`` list, as in the shipped ``edgefleet.yaml``: block
mappings (``- name: NAME`` then the keys, one per line) or one-line flow mappings
(``- {name: NAME, ...}``). A key is a route key or a dotted path into a route's sections
(``escalation_policy.threshold``); each section may be written as a block or as a one-line flow
mapping (``escalation_policy: {deployment: p, threshold: 0.4}``). The value is replaced where it
is written, and the line's trailing comment stays in its column. A key missing from a block mapping
is added after the mapping's first line (the route's ``name`` line, or the section's line); one
missing from a flow mapping, or a missing section, is refused. The result is re-parsed and checked:
the key has the new value and nothing else changed. Pure text in, text out.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml

_ROUTES = re.compile(r"^routes:\s*(#.*)?$")
_ITEM = re.compile(r"^(\s*)-\s+(.*)$")
_NAME = re.compile(r"^name:\s*(['\"]?)([^'\"#]+?)\1\s*(#.*)?$")
_QUOTE_AFTER = ":,[{-?"  # a quote opens a quoted scalar only at the start of a value
_MISSING = object()


class PolicyEditError(ValueError):
    """The key cannot be set without rewriting more than its line."""


def yaml_scalar(value: float | int | str | bool | None) -> str:
    """`value` as a plain YAML scalar (floats without spurious digits)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        text = f"{value:.6g}"
        return text if any(c in text for c in ".en") else text + ".0"
    return str(value)


def _string_end(line: str, i: int) -> int:
    """The offset after the quoted scalar opening at line[i] (the line's end when unclosed)."""
    quote, j = line[i], i + 1
    while j < len(line):
        if line[j] == "\\" and quote == '"':
            j += 2
        elif line[j] == quote and quote == "'" and line[j + 1 : j + 2] == "'":
            j += 2  # '' inside a single-quoted scalar
        elif line[j] == quote:
            return j + 1
        else:
            j += 1
    return len(line)


def _scan(line: str, start: int = 0) -> Iterator[tuple[int, str]]:
    """(offset, character) of `line` from `start`, quoted scalars passed over."""
    i, prev = start, ""  # prev: the last character that is not a space
    while i < len(line):
        c = line[i]
        if c in "'\"" and (not prev or prev in _QUOTE_AFTER):
            i, prev = _string_end(line, i), c
            continue
        yield i, c
        prev = prev if c.isspace() else c
        i += 1


def _comment_at(line: str, start: int = 0) -> int:
    """Where the comment of `line` (after `start`) begins; the end of its text when it has none."""
    for i, c in _scan(line, start):
        if c == "#" and (i == 0 or line[i - 1] in " \t"):
            return i
    return len(line.rstrip("\n"))


def _flow_entries(line: str, brace: int) -> Iterator[tuple[str, int, int]]:
    """(key, value start, value end) of each entry of the flow mapping opening at line[brace];
    nothing past an entry the line does not close."""
    depth, entry, colon = 0, brace + 1, -1
    for i, c in _scan(line, brace):
        if c in "{[":
            depth += 1
        elif c in "}]" or (c == "," and depth == 1):
            if depth == 1 and colon >= 0:
                key = line[entry:colon].strip().strip("'\"")
                start = colon + 1 + len(line[colon + 1 : i]) - len(line[colon + 1 : i].lstrip())
                yield key, start, max(start, len(line[:i].rstrip()))
            if c == ",":
                entry, colon = i + 1, -1
            else:
                depth -= 1
                if depth == 0:
                    return
        elif c == ":" and depth == 1 and colon < 0 and line[i + 1 : i + 2] in ("", " ", "\t", "\n"):
            colon = i


def _flow_value(line: str, brace: int, path: list[str]) -> tuple[int, int] | None:
    """Offsets of the value at `path` in the flow mapping opening at line[brace]; None: not there."""
    for key, start, end in _flow_entries(line, brace):
        if key == path[0]:
            if len(path) == 1:
                return start, end
            return _flow_value(line, start, path[1:]) if line[start : start + 1] == "{" else None
    return None


def _route_span(lines: list[str], route: str) -> tuple[int, int, int]:
    """(first line, end line, key column) of the route named `route`; for a flow mapping
    (first line, first line + 1, column of its ``{``)."""
    start = next((i for i, line in enumerate(lines) if _ROUTES.match(line.rstrip("\n"))), None)
    if start is None:
        raise PolicyEditError("no top-level `routes:` list in the policy file")
    items: list[tuple[int, int, str]] = []  # (line, key column, first key text)
    item_indent: int | None = None
    end = len(lines)
    for i in range(start + 1, len(lines)):
        line = lines[i].rstrip("\n")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        indent = len(line) - len(line.lstrip())
        if indent == 0:
            end = i
            break
        match = _ITEM.match(line)
        if match and (item_indent is None or len(match.group(1)) == item_indent):
            item_indent = len(match.group(1))
            items.append((i, line.index(match.group(2)), match.group(2)))
    for k, (line_no, column, first) in enumerate(items):
        stop = items[k + 1][0] if k + 1 < len(items) else end
        if first.startswith("{"):
            span = _flow_value(lines[line_no], column, ["name"])
            if span is not None and lines[line_no][span[0] : span[1]].strip("'\"") == route:
                return line_no, line_no + 1, column
            continue
        match = _NAME.match(first)
        if match and match.group(2).strip() == route:
            while stop > line_no + 1 and not lines[stop - 1].strip():
                stop -= 1
            return line_no, stop, column
    raise PolicyEditError(f"no route named {route!r} (as `- name: {route}`) under `routes:`")


def _replace(lines: list[str], i: int, start: int, end: int, scalar: str) -> None:
    """lines[i] with [start, end) replaced by `scalar`, its trailing comment kept in its column."""
    line = lines[i]
    rest = line[end:]
    comment = _comment_at(rest)
    if comment < len(rest.rstrip("\n")):
        body = rest[:comment].rstrip()
        pad = max(1, comment - len(body) + (end - start) - len(scalar))
        rest = body + " " * pad + rest[comment:]
    lines[i] = line[:start] + scalar + rest


def _set_in_flow(lines: list[str], i: int, brace: int, path: list[str], scalar: str, where: str) -> None:
    span = _flow_value(lines[i], brace, path)
    if span is None:
        raise PolicyEditError(
            f"{where} has no {'.'.join(path)} in its flow mapping ({{...}}); write it as a block to add it"
        )
    _replace(lines, i, *span, scalar)


def _set_in_block(
    lines: list[str], start: int, end: int, column: int, path: list[str], scalar: str, where: str
) -> None:
    """Set `path` in the block mapping whose keys stand at `column` in lines[start:end]."""
    key = re.compile(rf"^ {{{column}}}{re.escape(path[0])}:(?=\s|$)")
    found = next((i for i in range(start, end) if key.match(lines[i])), None)
    if found is None:
        if len(path) > 1:
            raise PolicyEditError(f"{where} has no {path[0]} to set {'.'.join(path[1:])} in; add it first")
        lines.insert(start, f"{' ' * column}{path[0]}: {scalar}\n")
        return
    line = lines[found]
    after = column + len(path[0]) + 1
    value_end = len(line[: _comment_at(line, after)].rstrip())
    value = after + len(line[after:value_end]) - len(line[after:value_end].lstrip())
    if len(path) == 1:
        _replace(lines, found, value, value_end, scalar if value < value_end else " " + scalar)
    elif value < value_end:
        if line[value] != "{":
            raise PolicyEditError(f"{where}.{path[0]} is not a mapping")
        _set_in_flow(lines, found, value, path[1:], scalar, f"{where}.{path[0]}")
    else:
        stop = found + 1
        while stop < end and (
            not lines[stop].strip()
            or lines[stop].lstrip().startswith("#")
            or len(lines[stop]) - len(lines[stop].lstrip()) > column
        ):
            stop += 1
        children = [
            len(s) - len(s.lstrip())
            for s in lines[found + 1 : stop]
            if s.strip() and not s.lstrip().startswith("#")
        ]
        if not children:
            raise PolicyEditError(f"{where}.{path[0]} is empty; add {'.'.join(path[1:])} first")
        _set_in_block(lines, found + 1, stop, children[0], path[1:], scalar, f"{where}.{path[0]}")


def set_route_key(text: str, route: str, key: str, value: float | int | str | bool | None) -> str:
    """`text` with `routes[name=route].key` set to `value` (`key` may be dotted, e.g.
    ``escalation_policy.threshold``); raises PolicyEditError when it cannot."""
    lines = text.splitlines(keepends=True)
    first, end, column = _route_span(lines, route)
    path, scalar, where = key.split("."), yaml_scalar(value), f"route {route!r}"
    if lines[first][column] == "{":
        _set_in_flow(lines, first, column, path, scalar, where)
    else:
        _set_in_block(lines, first + 1, end, column, path, scalar, where)
    out = "".join(lines)
    _check(text, out, route, path, value)
    return out


def _route(data: Any, route: str) -> dict[str, Any] | None:
    routes = data.get("routes", []) if isinstance(data, dict) else []
    return next((r for r in routes if isinstance(r, dict) and r.get("name") == route), None)


def _check(before: str, after: str, route: str, path: list[str], value: Any) -> None:
    where = f"routes[{route}].{'.'.join(path)}"
    try:
        old, new = yaml.safe_load(before), yaml.safe_load(after)
    except yaml.YAMLError as exc:
        raise PolicyEditError(f"editing {where} would break the YAML; file left as it was") from exc
    got: Any = _route(new, route)
    for part in path:
        got = got.get(part, _MISSING) if isinstance(got, dict) else _MISSING
    if got is _MISSING or got != value:
        raise PolicyEditError(f"editing {where} did not give the value {value!r}")
    section = _route(old, route)
    for part in path[:-1]:
        section = section.get(part) if isinstance(section, dict) else None
    if isinstance(section, dict):
        section[path[-1]] = value
    if old != new:
        raise PolicyEditError(f"editing {where} would change other keys; file left as it was")
