"""Load a policy YAML file into :class:`Policy`, with errors that name the key
path and the line it stands on."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from edgefleet.errors import PolicyError, PolicyIssue
from edgefleet.policy.schema import Policy

Loc = tuple[str | int, ...]


def load_policy(path: str | Path) -> Policy:
    """Read and validate the policy file at `path`."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(
            str(p), [PolicyIssue("", None, f"cannot read file: {exc.strerror or exc}")]
        ) from exc
    return parse_policy(text, source=str(p))


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Validate policy YAML text. Raises PolicyError listing every issue."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise PolicyError(source, [PolicyIssue("", line, f"YAML syntax: {exc.problem or exc}")]) from exc
    except yaml.YAMLError as exc:
        raise PolicyError(source, [PolicyIssue("", None, f"YAML syntax: {exc}")]) from exc
    if data is None:
        data = {}
    issues = _duplicate_keys(root, ())
    if not isinstance(data, dict):
        raise PolicyError(source, [PolicyIssue("", 1, "the policy must be a mapping of keys")])
    if issues:
        raise PolicyError(source, issues)
    try:
        policy = Policy.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(source, [_issue(root, tuple(e["loc"]), _message(e)) for e in exc.errors()]) from exc
    ref_issues = [_issue(root, loc, msg) for loc, msg in policy.check_references()]
    if ref_issues:
        raise PolicyError(source, ref_issues)
    return policy


def policy_sha256(path: str | Path) -> str:
    """Content hash of a policy file (shown in fleet snapshots)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _message(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key"
    msg = str(err["msg"])
    return msg.removeprefix("Value error, ")


def _issue(root: yaml.Node | None, loc: Loc, message: str) -> PolicyIssue:
    return PolicyIssue(_format_path(loc), _line_of(root, loc), message)


def _format_path(loc: Loc) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _line_of(node: yaml.Node | None, loc: Loc) -> int | None:
    """Line (1-based) of the deepest node along `loc`; for a key, the key's line."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = None
            for key, value in node.value:
                if key.value == part:
                    found = (key, value)
                    break
            if found is None:
                return line
            line = found[0].start_mark.line + 1
            node = found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _duplicate_keys(node: yaml.Node | None, loc: Loc) -> list[PolicyIssue]:
    issues: list[PolicyIssue] = []
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key, value in node.value:
            k = str(key.value)
            if k in seen:
                issues.append(PolicyIssue(_format_path((*loc, k)), key.start_mark.line + 1, "duplicate key"))
            seen.add(k)
            issues += _duplicate_keys(value, (*loc, k))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            issues += _duplicate_keys(item, (*loc, i))
    return issues
