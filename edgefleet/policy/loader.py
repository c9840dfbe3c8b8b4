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
from edgefleet.policy.security_options import MAX_POLICY_BYTES

Loc = tuple[str | int, ...]
SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml: ~100x faster
MAX_YAML_NODES = 100_000
"""The most YAML nodes a policy may expand to (aliases counted at every use): refuses alias bombs."""


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


def parse_policy(text: str, source: str = "<policy>", *, max_bytes: int = MAX_POLICY_BYTES) -> Policy:
    """Validate policy YAML text. Raises PolicyError listing every issue. Text over `max_bytes`
    and YAML that expands to more than MAX_YAML_NODES nodes through aliases (an "alias bomb") or
    refers to itself are refused before anything is built from them. CPU-bound: servers call it
    off their event loop."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise PolicyError(
            source, [PolicyIssue("", None, f"policy text has {size} bytes; the limit is {max_bytes}")]
        )
    try:
        root = yaml.compose(text, Loader=SafeLoader)
        expanded = _expanded_size(root)
        if expanded > MAX_YAML_NODES:
            raise PolicyError(
                source,
                [
                    PolicyIssue(
                        "", None, f"YAML expands to more than {MAX_YAML_NODES} nodes (aliases): refused"
                    )
                ],
            )
        data = yaml.load(text, Loader=SafeLoader)  # a safe loader (C or pure Python)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise PolicyError(source, [PolicyIssue("", line, f"YAML syntax: {exc.problem or exc}")]) from exc
    except yaml.YAMLError as exc:
        raise PolicyError(source, [PolicyIssue("", None, f"YAML syntax: {exc}")]) from exc
    except RecursionError:
        raise PolicyError(
            source, [PolicyIssue("", None, "YAML nested too deeply or recursive: refused")]
        ) from None
    except ValueError as exc:  # e.g. a surrogate or NUL PyYAML cannot read
        raise PolicyError(source, [PolicyIssue("", None, f"not readable as YAML: {exc}")]) from None
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


def _expanded_size(root: yaml.Node | None) -> int:
    """How many nodes `root` has when every alias is expanded (stops counting past the limit);
    a node that contains itself counts as over the limit."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: yaml.Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:  # recursive alias
            return MAX_YAML_NODES + 1
        active.add(key)
        total = 1
        if isinstance(node, yaml.SequenceNode):
            for item in node.value:
                total += size(item)
                if total > MAX_YAML_NODES:
                    break
        elif isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                total += size(k) + size(v)
                if total > MAX_YAML_NODES:
                    break
        active.discard(key)
        sizes[key] = total
        return total

    return 0 if root is None else size(root)


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
