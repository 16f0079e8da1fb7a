"""Test-wide plugins: each fixture module under tests/fixtures registers here."""

pytest_plugins = [
    "tests.fixtures.infra",
    "tests.fixtures.pipeline",
    "tests.fixtures.openai_server",
    "tests.fixtures.llamaparse_server",
    "tests.fixtures.corpus",
]
