"""Deployment files under infra/ (and the Tiltfile) parse and keep the project's invariants."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest
import yaml

from services.common.settings import env_name
from services.embedder.config import EmbedderSettings
from services.ingest.config import IngestSettings
from services.parser.config import ParserSettings
from services.status.config import StatusSettings

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
K8S = INFRA / "k8s"
PORTS = {"ingest": 8000, "status": 8001, "parser": 8002, "embedder": 8003, "pipestats": 8005}
PARTITIONS = 12


def _infra_files(*suffixes: str) -> list[Path]:
    return sorted(
        p
        for p in INFRA.rglob("*")
        if p.suffix in suffixes and "target" not in p.relative_to(INFRA).parts
    )


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def _known_variables() -> set[str]:
    classes = (IngestSettings, StatusSettings, ParserSettings, EmbedderSettings)
    return {env_name(f.name) for cls in classes for f in msgspec.structs.fields(cls)}


def _series_names() -> set[str]:
    """Every series name the metrics in services/common/metrics.py expose."""
    text = (ROOT / "services" / "common" / "metrics.py").read_text()
    names: set[str] = set()
    for kind, name in re.findall(r'\b(Counter|Gauge|Histogram)\(\s*"(\w+)"', text):
        base = name.removesuffix("_total")
        names |= {
            "Counter": {f"{base}_total", f"{base}_created"},
            "Gauge": {name},
            "Histogram": {f"{name}_bucket", f"{name}_count", f"{name}_sum", f"{name}_created"},
        }[kind]
    return names


SERIES = _series_names()


def _recorded() -> set[str]:
    """The series the recording rules of infra/prometheus/alerts.yaml make (sluice:...)."""
    groups = yaml.safe_load((INFRA / "prometheus" / "alerts.yaml").read_text())["groups"]
    return {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}


RECORDED = _recorded()


def _check_expr(expr: str, where: str) -> None:
    """Every sluice_* name in `expr` exists (sluice:* ones are recorded), and it queries at
    least one real or recorded series or `up`."""
    tokens = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", re.sub(r'"[^"]*"', "", expr)))
    unknown = {t for t in tokens if t.startswith("sluice_")} - SERIES
    unknown |= {t for t in tokens if t.startswith("sluice:")} - RECORDED
    assert not unknown, f"{where}: unknown metric(s) {sorted(unknown)} in {expr!r}"
    known = SERIES | RECORDED | {"up"}
    assert tokens & known, f"{where}: no Sluice metric or `up` in {expr!r}"


def test_metric_names_found() -> None:
    assert "sluice_stage_seconds_bucket" in SERIES
    assert "sluice_dead_letters_total" in SERIES
    assert "sluice_assigned_partitions" in SERIES


@pytest.mark.parametrize("path", _infra_files(".yaml", ".yml"), ids=lambda p: p.name)
def test_yaml_parses(path: Path) -> None:
    assert _docs(path), f"{path} is empty"


@pytest.mark.parametrize("path", _infra_files(".json"), ids=lambda p: p.name)
def test_json_parses(path: Path) -> None:
    assert json.loads(path.read_text())


# --- Kubernetes ---


def _k8s_objects(folder: Path) -> list[dict[str, Any]]:
    return [
        d for p in sorted(folder.glob("*.yaml")) if p.name != "kustomization.yaml" for d in _docs(p)
    ]


BASE = _k8s_objects(K8S / "base")
DEV = _k8s_objects(K8S / "dev")


def _get(kind: str, name: str, objects: list[dict[str, Any]] = BASE) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


@pytest.mark.parametrize("folder", ["", "base", "dev"])
def test_kustomizations_list_existing_resources(folder: str) -> None:
    kustomization = yaml.safe_load((K8S / folder / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        assert (K8S / folder / resource).exists(), f"{folder}/kustomization.yaml: {resource}"
    if folder == "base":
        listed = set(kustomization["resources"])
        assert listed == {p.name for p in (K8S / "base").glob("*.yaml")} - {"kustomization.yaml"}


@pytest.mark.parametrize("service", sorted(PORTS))
def test_service_manifests(service: str) -> None:
    port = PORTS[service]
    _get("ServiceAccount", service)
    svc = _get("Service", service)
    assert svc["spec"]["ports"][0]["port"] == port
    deployment = _get("Deployment", service)
    pod = deployment["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == service
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    (container,) = pod["containers"]
    assert container["args"] == [f"services.{service}"]
    assert container["ports"][0]["containerPort"] == port
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    # liveness asks the watchdog thread's port (it fails while the event loop is wedged),
    # start-up the app itself (it answers once the service is up); pipestats's faust pages
    # answer on its event loop, so a wedged loop fails its liveness on the app's own port
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    config = _get("ConfigMap", "sluice-config")["data"]
    live = port if service == "pipestats" else int(config["SLUICE_LIVENESS_PORT"])
    assert ports[container["livenessProbe"]["httpGet"]["port"]] == live
    assert container["startupProbe"]["httpGet"]["port"] == "http"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind]), kind
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    tmp = {m["name"] for m in container["volumeMounts"] if m["mountPath"] == "/tmp"}  # noqa: S108
    assert any("emptyDir" in v for v in pod["volumes"] if v["name"] in tmp)
    sources = {next(iter(s.values()))["name"] for s in container["envFrom"]}
    assert sources == {"sluice-config", "sluice-secrets"}
    if service == "pipestats":  # one instance by design: nothing scales it
        assert deployment["spec"]["replicas"] == 1
        return
    hpa = _get("HorizontalPodAutoscaler", service)
    assert hpa["spec"]["scaleTargetRef"]["name"] == service
    if service in ("parser", "embedder"):
        assert hpa["spec"]["maxReplicas"] <= PARTITIONS, "replicas above the partitions idle"


def _mib(quantity: str) -> float:
    number, unit = quantity[:-2], quantity[-2:]
    return float(number) * {"Mi": 1, "Gi": 1024}[unit]


def test_model_services_get_memory_for_the_model_on_onnx_runtime() -> None:
    # on CPU nodes both run the model on ONNX Runtime (docs/benchmarks.md: the embedder peaks
    # at ~0.3-0.9 GiB, status at ~0.25 GiB); torch would need ~2 GiB
    config = _get("ConfigMap", "sluice-config")["data"]
    assert config.get("SLUICE_EMBEDDING_BACKEND", "auto") in ("auto", "onnx")
    for service, least in (("embedder", 768), ("status", 384)):
        container = _get("Deployment", service)["spec"]["template"]["spec"]["containers"][0]
        assert _mib(container["resources"]["requests"]["memory"]) >= least
        assert _mib(container["resources"]["limits"]["memory"]) >= 1024


def test_config_is_production_and_known() -> None:
    data = _get("ConfigMap", "sluice-config")["data"]
    assert data["SLUICE_ENV"] == "production"
    assert set(data) <= _known_variables()


def test_dev_overlay_has_kafka_postgres_and_known_secrets() -> None:
    _get("StatefulSet", "kafka", DEV)
    _get("Deployment", "postgres", DEV)
    kustomization = yaml.safe_load((K8S / "dev" / "kustomization.yaml").read_text())
    (secret,) = kustomization["secretGenerator"]
    keys = {item.split("=", 1)[0] for item in secret["literals"]}
    assert secret["name"] == "sluice-secrets"
    assert keys == {"SLUICE_JWT_SECRET", "SLUICE_DATABASE_URL"}


# --- compose ---


def test_compose_services() -> None:
    compose = yaml.safe_load((INFRA / "compose" / "compose.yaml").read_text())
    services = compose["services"]
    assert services["kafka"]["image"] == "apache/kafka:4.1.1"
    assert services["postgres"]["image"].startswith("pgvector/pgvector:pg16")
    for name, port in PORTS.items():
        svc = services[name]
        assert svc["command"] == [f"services.{name}"]
        assert f"{port}/health/ready" in " ".join(svc["healthcheck"]["test"])
        for dep in ("kafka", "postgres"):
            assert svc["depends_on"][dep]["condition"] == "service_healthy"
        assert set(svc["environment"]) <= _known_variables(), name


# --- Prometheus and Grafana ---


def test_rule_exprs_use_real_metrics() -> None:
    rules = yaml.safe_load((INFRA / "prometheus" / "alerts.yaml").read_text())
    found = [r for g in rules["groups"] for r in g["rules"]]
    assert len([r for r in found if "alert" in r]) >= 12
    for rule in found:
        _check_expr(rule["expr"], rule.get("alert") or rule["record"])
        if "alert" in rule:
            assert rule["labels"]["severity"] in ("warning", "critical")


def test_rollout_analysis_queries_real_metrics() -> None:
    path = K8S / "components" / "rollouts" / "metrictemplates.yaml"
    templates = _docs(path)
    assert len(templates) >= 4
    for template in templates:
        _check_expr(template["spec"]["query"], template["metadata"]["name"])


def test_prometheus_scrapes_the_four_ports() -> None:
    config = yaml.safe_load((INFRA / "prometheus" / "prometheus.yml").read_text())
    targets = {
        t for job in config["scrape_configs"] for s in job["static_configs"] for t in s["targets"]
    }
    assert targets == {f"127.0.0.1:{p}" for p in PORTS.values()}


def test_dashboard_queries_real_metrics() -> None:
    dashboard = json.loads((INFRA / "grafana" / "sluice-dashboard.json").read_text())
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):  # rows have none
            _check_expr(target["expr"], panel["title"])


def _names(expr: str) -> set[str]:
    """The sluice metric and recording-rule names (and `up`) an expression reads."""
    tokens = set(re.findall(r"[a-zA-Z_:][a-zA-Z0-9_:]*", re.sub(r'"[^"]*"', "", expr)))
    return {t for t in tokens if t.startswith(("sluice_", "sluice:")) or t == "up"}


def test_every_alert_has_a_panel_of_its_expression() -> None:
    rules = yaml.safe_load((INFRA / "prometheus" / "alerts.yaml").read_text())
    alerts = {r["alert"]: r["expr"] for g in rules["groups"] for r in g["rules"] if "alert" in r}
    dashboard = json.loads((INFRA / "grafana" / "sluice-dashboard.json").read_text())
    panels = {p["title"].split(":")[0]: p for p in dashboard["panels"] if p.get("targets")}
    for alert, expr in alerts.items():
        assert alert in panels, f"no dashboard panel for {alert}"
        shown = set().union(*(_names(t["expr"]) for t in panels[alert]["targets"]))
        assert shown, alert
        assert shown <= _names(expr), f"{alert}'s panel shows {shown - _names(expr)}"


# --- Dockerfile ---


def test_dockerfile_and_dockerignore() -> None:
    dockerfile = (INFRA / "docker" / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["python", "-m"]' in dockerfile
    assert re.search(r"^USER 10001", dockerfile, re.MULTILINE)
    assert dockerfile.rstrip().splitlines()[-1].startswith("FROM runtime AS production")
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".venv", ".run", "infra/kafka/target"} <= ignored
