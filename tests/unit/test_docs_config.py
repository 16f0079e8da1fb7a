"""The committed docs/configuration.md matches what docs/gen_config.py generates."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_config", DOCS / "gen_config.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.unit
def test_configuration_doc_is_up_to_date() -> None:
    committed = (DOCS / "configuration.md").read_text(encoding="utf-8")
    assert committed == _generator().render(), "run: python docs/gen_config.py"


@pytest.mark.unit
def test_every_sluice_variable_in_the_code_is_documented() -> None:
    repo = DOCS.parent
    sources = [
        *repo.glob("services/**/*.py"),
        *repo.glob("infra/local/*.py"),
        repo / "tests" / "fixtures" / "infra.py",
    ]
    used = set()
    for path in sources:
        used |= set(re.findall(r"""["'](SLUICE_[A-Z_]+)["']""", path.read_text(encoding="utf-8")))
    documented = set(re.findall(r"`(SLUICE_[A-Z_]+)`", (DOCS / "configuration.md").read_text()))
    assert used - documented == set()
