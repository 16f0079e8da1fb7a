"""The shape of `sluice`: every command takes --json, folders are walked without hidden
files, and HTTP errors map to the documented exit codes."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from infra.local import REPO_ROOT
from services.cli.exits import CliError, Exit, exit_for_status
from services.cli.main import parser_with_plugins
from services.cli.upload import collect

pytestmark = pytest.mark.unit


def _commands(subs: argparse._SubParsersAction) -> dict[str, argparse.ArgumentParser]:  # type: ignore[type-arg]
    found: dict[str, argparse.ArgumentParser] = {}
    for name, parser in subs.choices.items():
        nested = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if nested:
            found |= {f"{name} {k}": v for k, v in _commands(nested[0]).items()}
        else:
            found[name] = parser
    return found


def test_every_command_takes_json_a_plugins_too() -> None:
    _, subs, _ = parser_with_plugins()
    commands = _commands(subs)
    assert {
        "upload",
        "jobs",
        "status",
        "search",
        "delete",
        "dlq list",
        "dlq show",
        "dlq retry",
    } <= set(commands)
    assert {"up", "down", "ps", "demo"} <= set(commands), "the local stack's plugin loaded"
    lacking = [name for name, parser in commands.items() if "--json" not in parser.format_help()]
    assert not lacking


def test_json_goes_before_or_after_the_command() -> None:
    parser, _, _ = parser_with_plugins()
    assert parser.parse_args(["--json", "jobs"]).json is True
    assert parser.parse_args(["jobs", "--json"]).json is True
    assert parser.parse_args(["jobs"]).json is False


def test_folders_are_walked_in_order_without_hidden_files(tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_text("b")
    (tmp_path / "a" / ".git").mkdir(parents=True)
    (tmp_path / "a" / ".git" / "HEAD").write_text("ref")
    (tmp_path / "a" / "z.md").write_text("z")
    (tmp_path / ".env").write_text("secret")
    found = collect([str(tmp_path), str(tmp_path / "b.txt")])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == ["a/z.md", "b.txt"]
    with pytest.raises(CliError) as missing:
        collect([str(tmp_path / "nope")])
    assert missing.value.exit == Exit.USAGE
    (tmp_path / "empty").mkdir()
    with pytest.raises(CliError):
        collect([str(tmp_path / "empty")])


@pytest.mark.parametrize(
    ("status", "code"),
    [(401, 4), (403, 4), (404, 5), (409, 6), (413, 6), (500, 3), (503, 3)],
)
def test_http_errors_map_to_the_documented_exit_codes(status: int, code: int) -> None:
    assert exit_for_status(status) == code
    documented = (REPO_ROOT / "docs" / "cli.md").read_text()
    assert f"| {code} |" in documented


def test_up_and_demo_run_pipestats_unless_told_not_to_and_code_stacks_do_not(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from infra.local import cli
    from infra.local.stack import StackConfig

    monkeypatch.setenv("SLUICE_RUN_DIR", str(tmp_path))
    assert cli._stack(starting=True).config.replicas["pipestats"] == 1
    assert cli._stack([("pipestats", 0)], starting=True).config.replicas["pipestats"] == 0
    assert cli._stack([("parser", 2)], starting=True).config.replicas["parser"] == 2
    assert StackConfig(run_dir=tmp_path).replicas["pipestats"] == 0
