"""Where `sluice` takes its settings from: flag, then environment, then config file; and what
it says when the file or the token is wrong."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from services.cli.config import config_path, load_config, token_tenant
from services.cli.exits import CliError, Exit
from services.common.auth import issue_token

pytestmark = pytest.mark.unit

SECRET = "unit-test-secret-that-is-long-enough-to-sign"
ACME = issue_token("acme", SECRET)
GLOBEX = issue_token("globex", SECRET)
FILE = f"""
ingest_url = "http://file-ingest:8000"
status_url = "http://file-status:8001/"
token = "{ACME}"

[tenants.globex]
token = "{GLOBEX}"
"""


@dataclass(frozen=True)
class Case:
    """Given flags and variables (and the file above), the settings that win."""

    description: str
    flags: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    ingest: str = "http://file-ingest:8000"
    status: str = "http://file-status:8001"
    token: str = ACME


CASES = (
    Case("the file alone"),
    Case(
        "the environment over the file",
        env={"SLUICE_INGEST_URL": "http://env-ingest", "SLUICE_TOKEN": GLOBEX},
        ingest="http://env-ingest",
        token=GLOBEX,
    ),
    Case(
        "a flag over the environment",
        flags={"ingest_url": "https://flag-ingest/", "status_url": "http://flag-status"},
        env={"SLUICE_INGEST_URL": "http://env-ingest", "SLUICE_STATUS_URL": "http://env-status"},
        ingest="https://flag-ingest",
        status="http://flag-status",
    ),
    Case("a tenant's own token over the file's", flags={"tenant": "globex"}, token=GLOBEX),
    Case("SLUICE_TENANT chooses it too", env={"SLUICE_TENANT": "globex"}, token=GLOBEX),
    Case(
        "--token over SLUICE_TOKEN and the file",
        flags={"token": GLOBEX},
        env={"SLUICE_TOKEN": ACME},
        token=GLOBEX,
    ),
)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.description)
def test_precedence(case: Case, tmp_path: Path) -> None:
    (tmp_path / "sluice").mkdir()
    (tmp_path / "sluice" / "config.toml").write_text(FILE)
    env = {"XDG_CONFIG_HOME": str(tmp_path), **case.env}
    config = load_config(environ=env, **case.flags)
    assert (config.ingest_url, config.status_url) == (case.ingest, case.status)
    assert config.token == case.token
    assert config.notes == ()


def test_xdg_config_home_then_home_then_sluice_config(tmp_path: Path) -> None:
    assert config_path({"HOME": "/h"}) == Path("/h/.config/sluice/config.toml")
    assert config_path({"HOME": "/h", "XDG_CONFIG_HOME": "/x"}) == Path("/x/sluice/config.toml")
    named = {"HOME": "/h", "XDG_CONFIG_HOME": "/x", "SLUICE_CONFIG": str(tmp_path / "c.toml")}
    assert config_path(named) == tmp_path / "c.toml"


def test_defaults_and_a_development_token_without_any_configuration(tmp_path: Path) -> None:
    config = load_config(environ={"XDG_CONFIG_HOME": str(tmp_path)}, tenant="initech")
    assert (config.ingest_url, config.status_url) == (
        "http://127.0.0.1:8000",
        "http://127.0.0.1:8001",
    )
    assert token_tenant(config.token) == "initech"
    assert "development token" in config.notes[0]


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("ingest_url = ", "config.toml"),
        ('ingest = "http://x"', "unknown key(s) ingest"),
        ("token = 3", "token must be a string"),
        ('status_url = "ftp://x"', "not an http(s) URL"),
        ("tenants = 1", "[tenants.NAME]"),
    ],
)
def test_a_bad_file_is_a_usage_error_naming_the_problem(
    text: str, says: str, tmp_path: Path
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    with pytest.raises(CliError) as raised:
        load_config(environ={"SLUICE_CONFIG": str(path)})
    assert raised.value.exit == Exit.USAGE
    assert says in str(raised.value)


def test_a_token_of_another_tenant_is_refused_before_any_request(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path), "SLUICE_TOKEN": ACME}
    with pytest.raises(CliError) as raised:
        load_config(environ=env, tenant="globex")
    assert raised.value.exit == Exit.USAGE
    assert "'acme', not 'globex'" in str(raised.value)
