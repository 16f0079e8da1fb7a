"""Prometheus alert rules: promtool checks them and runs their unit tests (alerts_test.yaml)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.infra import unavailable

PROMETHEUS = Path(__file__).resolve().parents[2] / "infra" / "prometheus"
PROMTOOL = shutil.which("promtool")

pytestmark = pytest.mark.unit


@pytest.fixture(autouse=True)
def _needs_promtool() -> None:
    if PROMTOOL is None:
        unavailable("promtool is not installed (Debian/Ubuntu: apt-get install prometheus)")


def _promtool(*args: str) -> str:
    assert PROMTOOL is not None
    done = subprocess.run(
        [PROMTOOL, *args], cwd=PROMETHEUS, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"promtool {' '.join(args)} failed:\n{done.stdout}{done.stderr}"
    return done.stdout


def test_rules_are_valid() -> None:
    assert "SUCCESS" in _promtool("check", "rules", "alerts.yaml")


def test_prometheus_config_is_valid() -> None:
    assert "SUCCESS" in _promtool("check", "config", "prometheus.yml")


def test_rule_unit_tests_pass() -> None:
    assert "SUCCESS" in _promtool("test", "rules", "alerts_test.yaml")
