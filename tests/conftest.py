"""Shared fixtures. Each area keeps its fixtures in tests/fixtures/<area>.py."""

pytest_plugins = [
    "tests.fixtures.broker",
    "tests.fixtures.llm",
    "tests.fixtures.retrieval",
    "tests.fixtures.containers",
    "tests.fixtures.training",
    "tests.fixtures.console",
    "tests.fixtures.gateway",
    "tests.fixtures.deploy",
]
