"""Editing one key of one route in a policy file's text, leaving every other line (and comment) as
written: what ``edgefleet route calibrate --write`` does.

Routes must be block mappings under the top-level ``routes:`` list (``- name: NAME`` then the keys,
one per line), as in the shipped ``edgefleet.yaml``. The key's line keeps its trailing comment; a key
the route does not have is added after its ``name`` line. The result is re-parsed and checked: the
route's key has the new value and nothing else changed. Pure text in, text out.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

_ROUTES = re.compile(r"^routes:\s*(#.*)?$")
_ITEM = re.compile(r"^(\s*)-\s+(.*)$")
_NAME = re.compile(r"^name:\s*(['\"]?)([^'\"#]+?)\1\s*(#.*)?$")


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


def _route_span(lines: list[str], route: str) -> tuple[int, int, int]:
    """(first line, end line, key column) of the route named `route`."""
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
            name = yaml.safe_load(first).get("name") if first.rstrip().endswith("}") else None
            if name == route:
                raise PolicyEditError(
                    f"route {route!r} is a flow mapping ({{...}}); write it as a block to edit it"
                )
            continue
        match = _NAME.match(first)
        if match and match.group(2).strip() == route:
            while stop > line_no + 1 and not lines[stop - 1].strip():
                stop -= 1
            return line_no, stop, column
    raise PolicyEditError(f"no route named {route!r} (as `- name: {route}`) under `routes:`")


def set_route_key(text: str, route: str, key: str, value: float | int | str | bool | None) -> str:
    """`text` with `routes[name=route].key` set to `value`; raises PolicyEditError when it cannot."""
    lines = text.splitlines(keepends=True)
    first, end, column = _route_span(lines, route)
    pattern = re.compile(rf"^( {{{column}}}){re.escape(key)}:(\s*)([^#\n]*?)(\s*#.*)?(\n?)$")
    scalar = yaml_scalar(value)
    for i in range(first + 1, end):
        match = pattern.match(lines[i])
        if match:
            spacing = match.group(2) or " "
            old = match.group(3)
            comment = match.group(4) or ""
            if comment:  # keep the comment where it was when the value's width changes
                pad = max(1, len(comment) - len(comment.lstrip()) + len(old) - len(scalar))
                comment = " " * pad + comment.lstrip()
            lines[i] = f"{match.group(1)}{key}:{spacing}{scalar}{comment}{match.group(5)}"
            break
    else:
        lines.insert(first + 1, f"{' ' * column}{key}: {scalar}\n")
    out = "".join(lines)
    _check(text, out, route, key, value)
    return out


def _check(before: str, after: str, route: str, key: str, value: Any) -> None:
    old, new = yaml.safe_load(before), yaml.safe_load(after)
    routes = new.get("routes", []) if isinstance(new, dict) else []
    changed = next((r for r in routes if isinstance(r, dict) and r.get("name") == route), None)
    if changed is None or changed.get(key) != value:
        raise PolicyEditError(f"editing routes[{route}].{key} did not give the value {value!r}")
    for r in old.get("routes", []):
        if isinstance(r, dict) and r.get("name") == route:
            r[key] = value
    if old != new:
        raise PolicyEditError(f"editing routes[{route}].{key} would change other keys; file left as it was")
