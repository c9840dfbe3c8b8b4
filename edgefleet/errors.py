"""Errors shared across EdgeFleet's packages.

Every package has its own error tree (``fleet.errors``, ``router.errors``...) rooted in
:class:`EdgeFleetError`; the errors here cross package boundaries: a policy that does not validate
(raised by the loader, shown by the CLI, the controller and the router's ReloadPolicy) and an
operator action naming a deployment or node that does not exist (raised by any fleet source).
"""

from __future__ import annotations

from dataclasses import dataclass


class EdgeFleetError(Exception):
    """Base of every EdgeFleet error."""


@dataclass(frozen=True)
class PolicyIssue:
    """One problem in a policy file: where (key path and line) and what."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line is not None else ""
        return f"{where}{self.path or '<root>'}: {self.message}"


class PolicyError(EdgeFleetError):
    """A policy file is unreadable or invalid; lists every issue found."""

    code = "INVALID_ARGUMENT"

    def __init__(self, source: str, issues: list[PolicyIssue]) -> None:
        self.source = source
        self.issues = issues
        lines = "\n".join(f"  {i}" for i in issues)
        super().__init__(f"invalid policy {source}:\n{lines}")


class NotFound(EdgeFleetError):
    """An operator action names something the fleet does not have."""


class UnknownDeployment(NotFound):
    """A scale or rollout names a deployment that the policy does not declare."""


class UnknownNode(NotFound):
    """A drain names a node that is not in the cluster."""
