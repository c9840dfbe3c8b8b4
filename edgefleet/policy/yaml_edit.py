"""Comment-preserving edits of ``edgefleet.yaml``: one value of one route is replaced in the text,
everything else (comments, order, flow or block style) stays as written. Pure functions on text.
"""

from __future__ import annotations

import re

_ROUTE_START = re.compile(r"^(?P<indent>\s*)-\s+(?:\{\s*)?name:\s*['\"]?(?P<name>[^,'\"}\s]+)", re.MULTILINE)


class YamlEditError(ValueError):
    """The edit cannot be made (the route or key is not there)."""


def route_block(text: str, route: str) -> tuple[int, int]:
    """(start, end) offsets of the route's list item in `text`; YamlEditError when absent."""
    starts = list(_ROUTE_START.finditer(text))
    for i, m in enumerate(starts):
        if m.group("name") != route:
            continue
        indent = len(m.group("indent"))
        end = len(text)
        for later in starts[i + 1 :]:
            if len(later.group("indent")) <= indent:
                end = later.start()
                break
        top = re.compile(r"^\S", re.MULTILINE).search(text, m.end())  # a top-level key ends the list
        if top is not None and top.start() < end:
            end = top.start()
        return m.start(), end
    raise YamlEditError(f"route {route!r} not found")


def set_route_value(text: str, route: str, section: str, key: str, value: float) -> str:
    """`text` with ``routes[name=route].<section>.<key>`` set to `value` (which must already be
    written there, in flow or block style); YamlEditError otherwise."""
    start, end = route_block(text, route)
    block = text[start:end]
    pattern = re.compile(rf"({re.escape(section)}:[\s\S]*?\b{re.escape(key)}:\s*)([-+0-9.eE]+)")
    m = pattern.search(block)
    if m is None:
        raise YamlEditError(f"route {route!r} has no {section}.{key} to set; add it first")
    new_block = block[: m.start(2)] + _number(value) + block[m.end(2) :]
    return text[:start] + new_block + text[end:]


def _number(value: float) -> str:
    return f"{value:.4f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:.1f}"
