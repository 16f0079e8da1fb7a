"""Test modules need unique basenames: pytest imports them by name, and a second module of the
same name in another folder stops the whole session at collection."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

TESTS = Path(__file__).resolve().parents[1]


def test_every_test_module_has_its_own_name() -> None:
    names = Counter(path.name for path in TESTS.rglob("test_*.py") if "corpus" not in path.parts)
    assert not [name for name, count in names.items() if count > 1]
