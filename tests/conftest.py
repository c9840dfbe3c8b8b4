"""Shared pytest setup. Fixtures live in tests/fixtures/ (one plugin per area).

Tests marked ``multihost`` (a second machine in a network namespace, ~2 min) run only when asked
for by marker (``-m multihost``, what ``make multihost`` does), so ``make test`` stays within its
time budget.
"""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.fixtures.models",
    "tests.fixtures.llm",
    "tests.fixtures.ray_cluster",
    "tests.fixtures.collections",
]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip ``multihost`` tests unless the marker expression names them."""
    if "multihost" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="multi-host test: run with -m multihost (make multihost)")
    for item in items:
        if "multihost" in item.keywords:
            item.add_marker(skip)
