"""Every kustomize overlay (and each component on top of production) renders, every object it
makes is valid against the Kubernetes JSON schemas (offline, kubernetes-validate; kubeconform
too), and the rendered result keeps the production invariants: a PodDisruptionBudget and
topology spread per service, lag autoscaling for consumers with KEDA, CPU for HTTP services,
images tagged with the build's version, NetworkPolicies that open only what each service needs.
"""

from __future__ import annotations

import json
import os
import subprocess
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import msgspec
import pytest
import yaml

from schemas import topics
from services.embedder.config import EmbedderSettings
from services.parser.config import ParserSettings
from tests.fixtures import crds as crds_fixture
from tests.fixtures.infra import unavailable
from tests.fixtures.tools import find_tool

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "infra" / "k8s"
SCALEDOBJECT_SCHEMA = ROOT / "tests" / "fixtures" / "k8s" / "keda.sh" / "scaledobject_v1alpha1.json"
PORTS = {"ingest": 8000, "status": 8001, "parser": 8002, "embedder": 8003}
SINGLETONS = {"pipestats": 8005}  # one replica by design (services/pipestats/app.py)
CONSUMERS = {"parser": topics.DOCUMENTS_UPLOADED, "embedder": topics.DOCUMENTS_PARSED}
# The oldest Kubernetes these manifests claim (topology spread matchLabelKeys is beta in 1.27)
# and the newest kubernetes-validate knows.
K8S_VERSIONS = ("1.30", kubernetes_validate.latest_version())
DNS, KAFKA, POSTGRES, HTTPS = ("UDP", 53), ("TCP", 9092), ("TCP", 5432), ("TCP", 443)
Obj = dict[str, Any]


def _kustomizations() -> dict[str, str]:
    """folder (relative to infra/k8s) -> its kind (Kustomization or Component)."""
    found = {}
    for path in sorted(K8S.rglob("kustomization.yaml")):
        doc = yaml.safe_load(path.read_text())
        found[str(path.parent.relative_to(K8S))] = doc.get("kind", "Kustomization")
    return found


KUSTOMIZATIONS = _kustomizations()
OVERLAYS = sorted(k for k, kind in KUSTOMIZATIONS.items() if kind == "Kustomization")
COMPONENTS = sorted(k for k, kind in KUSTOMIZATIONS.items() if kind == "Component")
# production with each component, and with all of them (keda last: it swaps the consumers'
# HPAs, which components/rollouts' Canaries name, for ScaledObjects)
ALL = sorted(COMPONENTS, key=lambda c: c == "components/keda")
VARIANTS = OVERLAYS + [f"+{c}" for c in COMPONENTS] + ["+" + ",".join(ALL)]


def _kustomize() -> str:
    path = find_tool("kustomize")
    if path is None:
        unavailable("kustomize is not installed: `make tools` builds it into .tools/bin (needs Go)")
    assert path is not None
    return path


def _overlay_with(components: list[str], where: Path) -> Path:
    """A kustomization in `where`: production plus `components` (kustomize wants relative paths)."""
    where.mkdir(parents=True)
    doc = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(K8S, where)],
        "components": [os.path.relpath(K8S / c, where) for c in components],
    }
    (where / "kustomization.yaml").write_text(yaml.safe_dump(doc))
    return where


def _build(kustomize: str, folder: Path) -> str:
    done = subprocess.run(
        [kustomize, "build", str(folder)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"kustomize build {folder} failed:\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """variant -> `kustomize build` output (YAML)."""
    kustomize = _kustomize()
    tmp = tmp_path_factory.mktemp("overlays")
    out = {}
    for variant in VARIANTS:
        if variant.startswith("+"):
            components = variant[1:].split(",")
            folder = _overlay_with(components, tmp / variant[1:].replace(",", "-"))
        else:
            folder = K8S / variant
        out[variant] = _build(kustomize, folder)
    return out


def _objects(text: str) -> list[Obj]:
    return [d for d in yaml.safe_load_all(text) if d]


def _by_kind(objects: list[Obj], kind: str) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def _production(variant: str) -> bool:
    """Everything but the dev overlay (one replica, no autoscaling, dev Kafka and Postgres)."""
    return variant != "dev"


def test_the_overlays_and_components_are_found() -> None:
    assert {".", "base", "dev"} <= set(OVERLAYS)
    assert {"components/keda", "components/external-apis", "components/rollouts"} <= set(COMPONENTS)


@pytest.mark.parametrize("variant", VARIANTS)
def test_objects_match_the_kubernetes_schemas(rendered: dict[str, str], variant: str) -> None:
    objects = _objects(rendered[variant])
    assert objects, f"{variant} renders nothing"
    for obj in objects:
        if obj["apiVersion"].startswith(("keda.sh/", "flagger.app/")):
            continue  # CRDs: test_scaledobjects_match_their_schema, test_k8s_rollouts.py
        for version in K8S_VERSIONS:
            try:
                kubernetes_validate.validate(obj, version, strict=True)
            except kubernetes_validate.ValidationError as error:
                where = ".".join(str(p) for p in error.path)
                pytest.fail(f"{variant}: {obj['kind']}/{obj['metadata']['name']} {where}: {error}")


def _scaledobjects(rendered: dict[str, str]) -> Iterator[tuple[str, Obj]]:
    for variant, text in rendered.items():
        for obj in _by_kind(_objects(text), "ScaledObject").values():
            yield variant, obj


def test_scaledobjects_match_their_schema(rendered: dict[str, str]) -> None:
    schema = json.loads(SCALEDOBJECT_SCHEMA.read_text())
    found = list(_scaledobjects(rendered))
    assert found, "no variant renders a ScaledObject"
    for variant, obj in found:
        name = f"{variant}: ScaledObject/{obj['metadata']['name']}"
        errors = list(jsonschema.Draft202012Validator(schema).iter_errors(obj))
        assert not errors, f"{name}: {[e.message for e in errors]}"
        # KEDA turns it into an HPA: that HPA, behavior included, must be valid Kubernetes.
        spec = obj["spec"]
        hpa = {
            "apiVersion": "autoscaling/v2",
            "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": f"keda-hpa-{obj['metadata']['name']}"},
            "spec": {
                "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment"}
                | spec["scaleTargetRef"],
                "minReplicas": spec["minReplicaCount"],
                "maxReplicas": spec["maxReplicaCount"],
                "behavior": spec["advanced"]["horizontalPodAutoscalerConfig"]["behavior"],
            },
        }
        for version in K8S_VERSIONS:
            kubernetes_validate.validate(hpa, version, strict=True)


@pytest.fixture(scope="module")
def kubeconform_schemas(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """kubernetes-validate's schemas, with their `$ref`s made relative so kubeconform reads
    them from disk (they point at https://kubernetes.io/api/..., which is not fetched)."""
    version = kubernetes_validate.latest_version()
    package = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema"
    source = package / f"v{version}-local-strict"
    target = tmp_path_factory.mktemp("kubeconform-schemas")

    def relative(node: Any) -> Any:
        if isinstance(node, dict):
            node.pop("$id", None)
            return {
                k: v.replace("/api/_definitions.json#", "_definitions.json#")
                if k == "$ref" and isinstance(v, str)
                else relative(v)
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [relative(v) for v in node]
        return node

    for path in source.glob("*.json"):
        (target / path.name).write_text(json.dumps(relative(json.loads(path.read_text()))))
    return target


@pytest.mark.parametrize("variant", VARIANTS)
def test_kubeconform_accepts_every_object(
    rendered: dict[str, str], kubeconform_schemas: Path, variant: str, tmp_path: Path
) -> None:
    kubeconform = find_tool("kubeconform")
    if kubeconform is None:
        unavailable("kubeconform is not installed: `make tools` builds it into .tools/bin")
    assert kubeconform is not None
    crds = SCALEDOBJECT_SCHEMA.parent.parent
    cmd = [kubeconform, "-strict", "-summary", "-output", "json"]
    cmd += [
        "-schema-location",
        f"{kubeconform_schemas}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
    ]
    cmd += [
        "-schema-location",
        f"{crds}/{{{{ .Group }}}}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json",
    ]
    if "apiVersion: flagger.app/" in rendered[variant]:
        flagger = crds_fixture.kubeconform_dir(tmp_path)
        layout = "/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json"
        cmd += ["-schema-location", f"{flagger}{layout}"]
    done = subprocess.run(
        [*cmd, "-"],
        input=rendered[variant],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"kubeconform on {variant}:\n{done.stdout}{done.stderr}"
    summary = json.loads(done.stdout)["summary"]
    assert summary["valid"] == len(_objects(rendered[variant])), summary
    assert summary["skipped"] == summary["errors"] == summary["invalid"] == 0, summary


# --- invariants of the rendered objects ---


def _selects(selector: Obj, labels: dict[str, str]) -> bool:
    if any(labels.get(k) != v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        ok = {
            "In": key in labels and labels[key] in values,
            "NotIn": labels.get(key) not in values,
            "Exists": key in labels,
            "DoesNotExist": key not in labels,
        }[op]
        if not ok:
            return False
    return True


def _pod_labels(objects: list[Obj], service: str) -> dict[str, str]:
    labels: dict[str, str] = _by_kind(objects, "Deployment")[service]["spec"]["template"][
        "metadata"
    ]["labels"]
    return labels


def _version() -> str:
    version: str = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    return version


@pytest.mark.parametrize("variant", VARIANTS)
def test_images_carry_the_build_tag_never_latest(rendered: dict[str, str], variant: str) -> None:
    for obj in _objects(rendered[variant]):
        pod = obj.get("spec", {}).get("template", {}).get("spec", {})
        for container in pod.get("containers", []) + pod.get("initContainers", []):
            image = container["image"]
            name, _, tag = image.rpartition(":") if "@" not in image else (image, "", "digest")
            assert name and tag and tag != "latest", f"{variant}: {image} has no fixed tag"
            if container["name"] in PORTS | SINGLETONS:
                assert image == f"sluice:{_version()}", f"{variant}: {image}"


@pytest.mark.parametrize("variant", [v for v in VARIANTS if _production(v)])
def test_every_service_has_a_disruption_budget_and_spreads(
    rendered: dict[str, str], variant: str
) -> None:
    objects = _objects(rendered[variant])
    for service in PORTS:
        labels = _pod_labels(objects, service)
        replicas = _by_kind(objects, "Deployment")[service]["spec"]["replicas"]
        budgets = [
            p
            for p in _by_kind(objects, "PodDisruptionBudget").values()
            if _selects(p["spec"]["selector"], labels)
        ]
        assert len(budgets) == 1, f"{service}: {len(budgets)} PodDisruptionBudgets"
        spec = budgets[0]["spec"]
        assert spec.get("maxUnavailable") == 1 or spec.get("minAvailable", replicas) < replicas
        pod = _by_kind(objects, "Deployment")[service]["spec"]["template"]["spec"]
        keys = {c["topologyKey"] for c in pod["topologySpreadConstraints"]}
        assert keys == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}, service
        for constraint in pod["topologySpreadConstraints"]:
            assert _selects(constraint["labelSelector"], labels), service


@pytest.mark.parametrize("variant", VARIANTS)
def test_pipestats_runs_exactly_once_in_every_variant(
    rendered: dict[str, str], variant: str
) -> None:
    objects = _objects(rendered[variant])
    deployment = _by_kind(objects, "Deployment")["pipestats"]
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}, "old and new would overlap"
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["services.pipestats"]
    assert container["ports"] == [{"name": "http", "containerPort": SINGLETONS["pipestats"]}]
    scalers = [*_by_kind(objects, "HorizontalPodAutoscaler").values()]
    scalers += [*_by_kind(objects, "ScaledObject").values(), *_by_kind(objects, "Canary").values()]
    targets = {(o["spec"].get("scaleTargetRef") or o["spec"]["targetRef"])["name"] for o in scalers}
    assert "pipestats" not in targets, "a second instance would split its tables"


def _default_group(cls: type[msgspec.Struct], field: str) -> str:
    (found,) = [f for f in msgspec.structs.fields(cls) if f.name == field]
    default: str = found.default
    return default


@pytest.mark.parametrize("variant", [v for v in VARIANTS if _production(v)])
def test_consumers_scale_on_lag_with_keda_and_http_services_on_cpu(
    rendered: dict[str, str], variant: str
) -> None:
    objects = _objects(rendered[variant])
    hpas = {
        h["spec"]["scaleTargetRef"]["name"]: h
        for h in _by_kind(objects, "HorizontalPodAutoscaler").values()
    }
    scaled = {
        s["spec"]["scaleTargetRef"]["name"]: s for s in _by_kind(objects, "ScaledObject").values()
    }
    assert not set(hpas) & set(scaled), "an HPA and a ScaledObject fight over one Deployment"
    for service in ("ingest", "status"):
        (metric,) = hpas[service]["spec"]["metrics"]
        assert metric["resource"]["name"] == "cpu"
    keda = "components/keda" in variant
    groups = {
        "parser": _default_group(ParserSettings, "parser_group"),
        "embedder": _default_group(EmbedderSettings, "embedder_group"),
    }
    config = _by_kind(objects, "ConfigMap")["sluice-config"]["data"]
    for service, topic in CONSUMERS.items():
        if not keda:
            assert hpas[service]["spec"]["maxReplicas"] <= topics.DEFAULT_PARTITIONS
            continue
        spec = scaled[service]["spec"]
        assert 2 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= topics.DEFAULT_PARTITIONS
        (trigger,) = spec["triggers"]
        meta = trigger["metadata"]
        assert trigger["type"] == "kafka"
        assert meta["consumerGroup"] == groups[service]
        assert meta["topic"] == topic
        assert meta["bootstrapServersFromEnv"] in config, "KEDA reads the Deployment's env"
        assert int(meta["lagThreshold"]) > 0


def _allowed(policies: list[Obj], labels: dict[str, str], direction: str) -> set[tuple[str, int]]:
    """(protocol, port) pairs the policies selecting `labels` open in `direction`."""
    ports: set[tuple[str, int]] = set()
    for policy in policies:
        spec = policy["spec"]
        if direction.capitalize() not in spec["policyTypes"]:
            continue
        if not _selects(spec["podSelector"], labels):
            continue
        for rule in spec.get(direction, []):
            assert rule.get("ports"), f"{policy['metadata']['name']}: a rule open on every port"
            ports |= {(p.get("protocol", "TCP"), p["port"]) for p in rule["ports"]}
    return ports


@pytest.mark.parametrize("variant", VARIANTS)
def test_network_policies_open_only_what_each_service_needs(
    rendered: dict[str, str], variant: str
) -> None:
    objects = _objects(rendered[variant])
    policies = list(_by_kind(objects, "NetworkPolicy").values())
    external = "components/external-apis" in variant
    for service, port in (PORTS | SINGLETONS).items():
        labels = _pod_labels(objects, service)
        denies = [
            p
            for p in policies
            if _selects(p["spec"]["podSelector"], labels)
            and set(p["spec"]["policyTypes"]) == {"Ingress", "Egress"}
            and not p["spec"].get("ingress")
            and not p["spec"].get("egress")
        ]
        assert denies, f"{service}: no default-deny policy selects it"
        assert _allowed(policies, labels, "ingress") == {("TCP", port)}, service
        wanted = {DNS, ("TCP", 53), KAFKA, POSTGRES}
        if external and service in ("parser", "embedder", "status"):
            wanted |= {HTTPS}
        assert _allowed(policies, labels, "egress") == wanted, service
    for policy in policies:
        for rule in policy["spec"].get("egress", []):
            if any(p["port"] == 53 for p in rule["ports"]):
                (peer,) = rule["to"]
                assert peer["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"}


def test_dev_servers_listen_where_the_policies_let_services_go(rendered: dict[str, str]) -> None:
    objects = _objects(rendered["dev"])
    ports = {
        (p.get("protocol", "TCP"), p["containerPort"])
        for kind in ("StatefulSet", "Deployment")
        for o in _by_kind(objects, kind).values()
        if o["metadata"]["name"] in ("kafka", "postgres")
        for c in o["spec"]["template"]["spec"]["containers"]
        for p in c["ports"]
    }
    assert ports == {KAFKA, POSTGRES}
    assert not _by_kind(objects, "HorizontalPodAutoscaler"), "dev runs one replica each"
    assert all(d["spec"]["replicas"] == 1 for d in _by_kind(objects, "Deployment").values())


@pytest.mark.parametrize("variant", VARIANTS)
def test_production_creates_its_topics_with_a_job_and_dev_lets_the_services(
    rendered: dict[str, str], variant: str
) -> None:
    objects = _objects(rendered[variant])
    jobs = _by_kind(objects, "Job")
    config = _by_kind(objects, "ConfigMap")["sluice-config"]["data"]
    if not _production(variant):
        assert not jobs, "development services create their own topics"
        assert config["SLUICE_ENV"] == "development"
        return
    assert config["SLUICE_ENV"] == "production"  # services refuse to create topics
    (container,) = jobs["sluice-topics"]["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["services.cli", "topics", "create"]
    assert {"configMapRef": {"name": "sluice-config"}} in container["envFrom"]
    assert config["SLUICE_TOPIC_REPLICATION_FACTOR"] == "3"
    assert config["SLUICE_TOPIC_MIN_INSYNC_REPLICAS"] == "2"
