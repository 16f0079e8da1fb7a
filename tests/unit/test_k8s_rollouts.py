"""components/rollouts: a Flagger Canary per service whose analysis runs the rollback triggers
of infra/prometheus/alerts.yaml on the canary's pods. The objects are valid against Flagger's own
CRD schemas (offline, tests/fixtures/crds.py), every reference resolves in the render, and
promtool evaluates each MetricTemplate's query: a failing canary is over its threshold, a
healthy one, an idle one or a failing primary is not."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.fixtures import crds
from tests.fixtures.infra import unavailable
from tests.fixtures.tools import find_tool

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "infra" / "k8s"
COMPONENT = K8S / "components" / "rollouts"
SERVICES = ("ingest", "status", "parser", "embedder")
HTTP = {"ingest", "status"}
CONSUMERS = {"status", "parser", "embedder"}
# thresholds of the alerts: 3 failures in a row, 5 % errors, p95 over twice the baseline
LIMITS = {
    "sluice-health-failures": 2,
    "sluice-http-error-ratio": 0.05,
    "sluice-record-error-ratio": 0.05,
    "sluice-latency-vs-baseline": 2,
}
Obj = dict[str, Any]


def _render(components: list[str], where: Path) -> list[Obj]:
    kustomize = find_tool("kustomize")
    if kustomize is None:
        unavailable("kustomize is not installed: `make tools` builds it into .tools/bin (needs Go)")
    assert kustomize is not None
    where.mkdir(parents=True, exist_ok=True)
    doc = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(K8S, where)],
        "components": [os.path.relpath(K8S / "components" / c, where) for c in components],
    }
    (where / "kustomization.yaml").write_text(yaml.safe_dump(doc))
    done = subprocess.run(
        [kustomize, "build", str(where)], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"kustomize build failed:\n{done.stderr}"
    return [d for d in yaml.safe_load_all(done.stdout) if d]


@pytest.fixture(scope="module", params=[["rollouts"], ["rollouts", "keda"]], ids=str)
def objects(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> list[Obj]:
    """Production with the component (and with KEDA after it), rendered."""
    return _render(request.param, tmp_path_factory.mktemp("rollouts"))


def _kind(objects: list[Obj], kind: str) -> dict[str, Obj]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def test_the_objects_match_flaggers_crd_schemas(objects: list[Obj]) -> None:
    schemas = crds.flagger_schemas()
    flagger = [o for o in objects if o["apiVersion"].startswith("flagger.app/")]
    assert {o["kind"] for o in flagger} == {"Canary", "MetricTemplate"}
    for obj in flagger:
        validator = jsonschema.Draft7Validator(schemas[(obj["apiVersion"], obj["kind"])])
        errors = [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(obj)]
        assert not errors, f"{obj['kind']}/{obj['metadata']['name']}: {errors}"


def test_the_schemas_refuse_what_flagger_would() -> None:
    schemas = crds.flagger_schemas()
    canary = next(yaml.safe_load_all((COMPONENT / "canaries.yaml").read_text()))
    validator = jsonschema.Draft7Validator(schemas[(canary["apiVersion"], "Canary")])
    assert not list(validator.iter_errors(canary))
    misspelt = canary | {"spec": canary["spec"] | {"analysys": canary["spec"]["analysis"]}}
    assert list(validator.iter_errors(misspelt)), "an unknown field passes"
    no_steps = {k: v for k, v in canary["spec"]["analysis"].items() if k != "iterations"}
    assert list(validator.iter_errors(canary | {"spec": canary["spec"] | {"analysis": no_steps}}))


def test_every_service_is_a_canary_whose_analysis_runs_the_rollback_triggers(
    objects: list[Obj],
) -> None:
    canaries, templates = _kind(objects, "Canary"), _kind(objects, "MetricTemplate")
    assert set(canaries) == set(SERVICES)
    for name, canary in canaries.items():
        spec = canary["spec"]
        assert spec["targetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        assert name in _kind(objects, "Deployment")
        scaler = spec["autoscalerRef"]
        assert scaler["name"] in _kind(objects, scaler["kind"]), f"{name}: {scaler} not rendered"
        assert scaler["apiVersion"] == next(
            o["apiVersion"]
            for o in objects
            if o["kind"] == scaler["kind"] and o["metadata"]["name"] == scaler["name"]
        )
        checks = {
            m["templateRef"]["name"]: m["thresholdRange"] for m in spec["analysis"]["metrics"]
        }
        expected = {"sluice-health-failures", "sluice-latency-vs-baseline"}
        expected |= {"sluice-http-error-ratio"} if name in HTTP else set()
        expected |= {"sluice-record-error-ratio"} if name in CONSUMERS else set()
        assert set(checks) == expected, name
        assert set(checks) <= set(templates)
        for template, limit in checks.items():
            assert limit == {"max": LIMITS[template]}, f"{name}: {template}"


def test_the_primary_pods_keep_their_budget_and_their_open_port(objects: list[Obj]) -> None:
    budgets, policies = _kind(objects, "PodDisruptionBudget"), _kind(objects, "NetworkPolicy")
    for name in SERVICES:
        both = [
            {"key": "app.kubernetes.io/name", "operator": "In", "values": [name, f"{name}-primary"]}
        ]
        assert budgets[name]["spec"]["selector"] == {"matchExpressions": both}
        assert policies[name]["spec"]["podSelector"] == {"matchExpressions": both}


# --- the queries, evaluated by promtool --------------------------------------------------------

POD = {"canary": "{}-5f7d8c9b4-abcde", "primary": "{}-primary-6c8b7d5f4-xyz12"}


def _series(service: str, pod: str, failing: bool) -> list[dict[str, str]]:
    """A minute-by-minute history of one pod: failing (every trigger) or healthy."""
    at = f'namespace="sluice", pod="{POD[pod].format(service)}", service="{service}"'
    slow, bad = ("0x30", "0+10x30") if failing else ("0+10x30", "0+10x30"), "0+20x30"
    buckets = [("0.1", slow[0]), ("0.2", slow[1]), ("+Inf", slow[1])]
    rows = [
        ("sluice_readiness_failures_in_a_row", "", "0+1x30" if failing else "0x30"),
        ("sluice_records_consumed_total", "", "0+100x30"),
        ("sluice_records_failed_total", "", bad if failing else "0+1x30"),
    ]
    if service in HTTP:  # requests and their time
        rows += [
            ("sluice_http_requests_total", ', status="200"', "0+80x30"),
            ("sluice_http_requests_total", ', status="500"', bad if failing else "0+1x30"),
        ]
        rows += [
            ("sluice_http_request_duration_seconds_bucket", f', le="{le}"', v) for le, v in buckets
        ]
    else:  # a consumer: per-document stage time
        rows += [
            ("sluice_stage_seconds_bucket", f', stage="parse", le="{le}"', v) for le, v in buckets
        ]
    return [{"series": f"{name}{{{at}{extra}}}", "values": v} for name, extra, v in rows]


def _query(template: Obj, service: str) -> str:
    query: str = template["spec"]["query"]
    for variable, value in (("namespace", "sluice"), ("target", service), ("interval", "5m")):
        query = query.replace(f"{{{{ {variable} }}}}", value)
    return f"round({query}, 0.001)"


def test_each_query_fails_a_failing_canary_and_only_it(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        unavailable("promtool is not installed (Debian/Ubuntu: apt-get install prometheus)")
    assert promtool is not None
    templates = {
        t["metadata"]["name"]: t
        for t in yaml.safe_load_all((COMPONENT / "metrictemplates.yaml").read_text())
    }
    # ingest's canary fails everything; parser's primary fails but its canary is healthy;
    # status's primary fails and it has no canary pods yet (no samples read as 0: a pass).
    series = _series("ingest", "canary", True) + _series("ingest", "primary", False)
    series += _series("parser", "canary", False) + _series("parser", "primary", True)
    series += _series("status", "primary", True)
    for service in ("ingest", "parser", "status"):
        series.append(
            {"series": f'sluice:latency_seconds:p95_7d{{service="{service}"}}', "values": "0.05x30"}
        )
    # p95 in (0.1, 0.2]: 0.195 = 3.9 x 0.05; errors 20 of 100; failures in a row: 20
    failing = {
        "sluice-health-failures": 20,
        "sluice-http-error-ratio": 0.2,
        "sluice-record-error-ratio": 0.2,
        "sluice-latency-vs-baseline": 3.9,
    }
    healthy = {  # p95 0.095 s under 0.1 s, 1 record of 100 failing
        "sluice-health-failures": 0,
        "sluice-http-error-ratio": 0,
        "sluice-record-error-ratio": 0.01,
        "sluice-latency-vs-baseline": 1.9,
    }
    cases = []
    for name, template in templates.items():
        for service, expected in (("ingest", failing), ("parser", healthy), ("status", None)):
            value = 0 if expected is None else expected[name]
            assert (value > LIMITS[name]) == (service == "ingest"), (name, service)
            cases.append(
                {
                    "expr": _query(template, service),
                    "eval_time": "20m",
                    "exp_samples": [{"labels": "{}", "value": value}],
                }
            )
    tests = {
        "rule_files": [],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": series, "promql_expr_test": cases}],
    }
    (tmp_path / "analysis_test.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    done = subprocess.run(
        [promtool, "test", "rules", "analysis_test.yaml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"promtool:\n{done.stdout}{done.stderr}"
