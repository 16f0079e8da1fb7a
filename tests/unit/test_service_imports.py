"""Services depend on services/common, schemas and their own package, never on each other."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

SERVICES_DIR = Path(__file__).resolve().parents[2] / "services"
PIPELINE = ("ingest", "parser", "embedder", "status", "pipestats")


def imported_modules(path: Path) -> set[str]:
    """Every absolute module a file imports, at the top or inside a function."""
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            modules.add(node.module)
    return modules


def foreign_imports(owner: str) -> list[str]:
    """`file: module` for each import, under services/<owner>, of another package of services."""
    forbidden = {name for name in (*PIPELINE, "cli") if name != owner}
    found = []
    for path in sorted((SERVICES_DIR / owner).rglob("*.py")):
        for module in sorted(imported_modules(path)):
            parts = module.split(".")
            if parts[0] == "services" and len(parts) > 1 and parts[1] in forbidden:
                found.append(f"{path.relative_to(SERVICES_DIR.parent)}: {module}")
    return found


@pytest.mark.parametrize("owner", [*PIPELINE, "common"])
def test_a_service_imports_no_other_service(owner: str) -> None:
    assert foreign_imports(owner) == []


def test_the_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from services.embedder.config import X\n    import os\n")

    assert imported_modules(source) == {"services.embedder.config", "os"}


def test_no_service_module_imports_the_local_infrastructure() -> None:
    """The deployable image has no infra/: a service module that imported it could not start."""
    found = [
        f"{path.relative_to(SERVICES_DIR.parent)}: {module}"
        for path in sorted(SERVICES_DIR.rglob("*.py"))
        for module in sorted(imported_modules(path))
        if module.split(".")[0] == "infra"
    ]
    assert found == []
