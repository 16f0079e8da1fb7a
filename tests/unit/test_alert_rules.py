"""Prometheus rules: promtool checks them and runs their unit tests (alerts_test.yaml); every
alert has a case that fires it and a runbook section in docs/operations.md."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.infra import unavailable

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "infra" / "prometheus"
PROMTOOL = shutil.which("promtool")

pytestmark = pytest.mark.unit


def _rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yaml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


ALERTS = [rule["alert"] for rule in _rules() if "alert" in rule]


def _promtool(*args: str) -> str:
    if PROMTOOL is None:
        unavailable("promtool is not installed (Debian/Ubuntu: apt-get install prometheus)")
    done = subprocess.run(
        [PROMTOOL, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, f"promtool {' '.join(args)} failed:\n{done.stdout}{done.stderr}"
    return done.stdout


def test_rules_are_valid() -> None:
    assert "SUCCESS" in _promtool("check", "rules", "alerts.yaml")


def test_prometheus_config_is_valid() -> None:
    assert "SUCCESS" in _promtool("check", "config", "prometheus.yml")


def test_rule_unit_tests_pass() -> None:
    assert "SUCCESS" in _promtool("test", "rules", "alerts_test.yaml")


def test_every_alert_has_a_case_that_fires_it_and_one_that_does_not() -> None:
    tests = yaml.safe_load((PROMETHEUS / "alerts_test.yaml").read_text())["tests"]
    cases = [case for test in tests for case in test.get("alert_rule_test", [])]
    fired = {case["alertname"] for case in cases if case["exp_alerts"]}
    quiet = {case["alertname"] for case in cases if not case["exp_alerts"]}
    assert set(ALERTS) <= fired, f"never fired in a test: {sorted(set(ALERTS) - fired)}"
    assert set(ALERTS) <= quiet, f"never shown quiet in a test: {sorted(set(ALERTS) - quiet)}"


def _anchors(markdown: str) -> set[str]:
    """GitHub's anchors of the markdown's headings (lower case, punctuation dropped)."""
    headings = re.findall(r"^#+ (.+)$", markdown, flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("alert", ALERTS)
def test_every_alert_links_its_runbook_section(alert: str) -> None:
    rule = next(rule for rule in _rules() if rule.get("alert") == alert)
    link = rule["annotations"]["runbook_url"]
    assert link == f"docs/operations.md#{alert.lower()}"
    runbook = (ROOT / "docs" / "operations.md").read_text()
    assert alert.lower() in _anchors(runbook), f"docs/operations.md has no section {alert}"
    section = runbook.split(f"### {alert}\n", 1)[1].split("\n#", 1)[0]
    steps = re.findall(r"^(\d)\. ", section, flags=re.MULTILINE)
    assert steps[:3] == ["1", "2", "3"], f"{alert}: the runbook names no first three steps"
