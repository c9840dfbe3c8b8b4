"""Shared pytest setup. Fixtures live in tests/fixtures/ (one plugin per area)."""

pytest_plugins = [
    "tests.fixtures.models",
    "tests.fixtures.llm",
    "tests.fixtures.ray_cluster",
    "tests.fixtures.collections",
]
