"""infra/compose/compose.yaml: valid for compose-go (the loader `docker compose` uses: the
Compose Specification's schema plus its consistency checks), and every Sluice service scales to
N replicas (`docker compose up --scale embedder=3`): no container names, no host ports of their
own; the stateless APIs are reached through one gateway that finds however many replicas run.
"""

from __future__ import annotations

import json
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures.infra import unavailable
from tests.fixtures.tools import find_tool

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "infra" / "compose" / "compose.yaml"
SLUICE = ("ingest", "status", "parser", "embedder")
SINGLETONS = ("pipestats",)  # one replica by design (services/pipestats/app.py)


def _normalized(path: Path) -> dict[str, Any]:
    """The file as compose-go loads it: anchors merged, defaults filled, checked."""
    tool = find_tool("compose-spec")
    if tool is None:
        unavailable("compose-spec is not installed: `make tools` builds it into .tools/bin (Go)")
    assert tool is not None
    done = subprocess.run(
        [tool, "-format", "json", path.name],
        cwd=path.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={"PATH": "/usr/bin:/bin"},  # no COMPOSE_* or SLUICE_* from the caller's environment
    )
    assert done.returncode == 0, f"compose-go rejects {path.name}: {done.stderr}"
    model: dict[str, Any] = json.loads(done.stdout)
    return model


@pytest.fixture(scope="module")
def model() -> dict[str, Any]:
    """compose.yaml, normalized by compose-go."""
    return _normalized(COMPOSE)


def test_compose_go_validates_the_file(model: dict[str, Any]) -> None:
    assert {*SLUICE, *SINGLETONS, "kafka", "postgres", "gateway"} == set(model["services"])


def test_compose_go_rejects_a_broken_file(tmp_path: Path) -> None:
    broken = yaml.safe_load(COMPOSE.read_text())
    broken["services"]["parser"]["deploy"] = {"replicas": "two"}
    path = tmp_path / "compose.yaml"
    path.write_text(yaml.safe_dump(broken))
    with pytest.raises(AssertionError, match="replicas"):
        _normalized(path)


@pytest.mark.parametrize("name", SLUICE)
def test_every_service_runs_several_scalable_replicas(model: dict[str, Any], name: str) -> None:
    service = model["services"][name]
    assert service["deploy"]["replicas"] >= 2
    assert "container_name" not in service, "a fixed name forbids --scale"
    assert not service.get("ports"), "a fixed host port forbids --scale"
    assert "SLUICE_INSTANCE_ID" not in service["environment"], "replicas would share one name"


def test_host_ports_are_unique_and_only_on_single_replica_services(model: dict[str, Any]) -> None:
    published = []
    for name, service in model["services"].items():
        assert "container_name" not in service, name
        ports = [p["published"] for p in service.get("ports", []) if p.get("published")]
        if ports:
            assert service.get("deploy", {}).get("replicas", 1) == 1, name
        published += ports
    assert len(published) == len(set(published))
    assert {"8000", "8001"} <= set(published)


def test_the_gateway_publishes_the_apis_and_resolves_their_replicas_per_request(
    model: dict[str, Any],
) -> None:
    gateway = model["services"]["gateway"]
    assert {(p["published"], p["target"]) for p in gateway["ports"]} == {
        ("8000", 8000),
        ("8001", 8001),
    }
    conf = model["configs"]["gateway"]["content"]
    assert "resolver 127.0.0.11" in conf  # Docker's DNS: every replica of the service
    for name, port in (("ingest", 8000), ("status", 8001)):
        # a variable in proxy_pass makes nginx resolve per request, not once at start
        assert f"set ${name} {name};" in conf
        assert f"proxy_pass http://${name}:{port};" in conf
        assert model["services"][name]["deploy"]["replicas"] >= 2


def test_the_sluice_services_use_the_image_of_the_build(model: dict[str, Any]) -> None:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    for name in (*SLUICE, *SINGLETONS):
        service = model["services"][name]
        assert service["image"] == f"sluice:{version}", name
        assert service["build"]["dockerfile"] == "infra/docker/Dockerfile"
        assert service["build"]["target"] == "production"
        assert service["read_only"] is True


def test_pipestats_runs_once_from_the_image(model: dict[str, Any]) -> None:
    service = model["services"]["pipestats"]
    assert service["deploy"]["replicas"] == 1, "a second instance would split its tables"
    assert service["command"] == ["services.pipestats"]
    assert "8005/health/ready" in " ".join(service["healthcheck"]["test"])
