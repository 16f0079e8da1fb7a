"""The Tiltfile is real Starlark: go.starlark.net (the interpreter Tilt embeds, via starlark-go)
parses and resolves it against Tilt's builtins, and starlark-rust (starlark-pyo3) evaluates it in
both modes with Tilt's builtins stubbed by their documented signatures, recording what it
declares: a misspelt argument, a `load` inside a conditional or an unknown builtin fails here as
it would in `tilt up`.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import starlark
import starlark_go
import yaml

from tests.fixtures.infra import unavailable
from tests.fixtures.tools import find_tool

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
TILTFILE = ROOT / "Tiltfile"
PORTS = {"ingest": 8000, "status": 8001, "parser": 8002, "embedder": 8003, "pipestats": 8005}

# Tilt's builtins the Tiltfile may use, with their signatures from Tilt's API reference
# (docs.tilt.dev/api.html) and, for docker_build_with_restart, the restart_process extension.
BUILTINS = {
    "local_resource": "name, cmd='', deps=None, trigger_mode=None, resource_deps=None, "
    "ignore=None, auto_init=True, serve_cmd='', cmd_bat='', serve_cmd_bat='', "
    "allow_parallel=False, links=None, tags=None, env=None, serve_env=None, "
    "readiness_probe=None, dir='', serve_dir='', labels=None",
    "probe": "initial_delay_secs=0, timeout_secs=1, period_secs=10, success_threshold=1, "
    "failure_threshold=3, exec=None, http_get=None, tcp_socket=None",
    "exec_action": "command",
    "http_get_action": "port, host='', scheme='http', path=''",
    "tcp_socket_action": "port, host=''",
    "link": "url, name=''",
    "local": "command, quiet=False, command_bat='', echo_off=False, env=None, dir='', stdin=None",
    "k8s_yaml": "yaml, allow_duplicates=False",
    "kustomize": "pathToDir, kustomize_bin=None, flags=None",
    "k8s_resource": "workload='', new_name='', port_forwards=None, extra_pod_selectors=None, "
    "trigger_mode=None, resource_deps=None, objects=None, auto_init=None, pod_readiness='', "
    "links=None, labels=None, discovery_strategy=''",
    "docker_build": "ref, context, build_args=None, dockerfile='Dockerfile', "
    "dockerfile_contents='', live_update=None, match_in_env_vars=False, ignore=None, "
    "only=None, entrypoint=None, target='', ssh='', network='', secret=None, "
    "extra_tag=None, container_args=None, cache_from=None, pull=False, platform='', "
    "extra_hosts=None",
    "sync": "local_path, remote_path",
    "run": "cmd, trigger=None, echo_off=False",
    "fall_back_on": "files",
    "watch_file": "file_path",
    "allow_k8s_contexts": "contexts",
    "update_settings": "max_parallel_updates=3, k8s_upsert_timeout_secs=30, "
    "suppress_unused_image_warnings=None",
    "load_dynamic": "path",
    "config.define_bool": "name, args=False, usage=''",
    "config.define_string": "name, args=False, usage=''",
    "os.getenv": "key, default=None",
}
# What load_dynamic() returns per extension. restart_process builds the base image with
# docker_build(**kwargs), so those arguments are checked against docker_build's signature.
EXTENSIONS = {
    "ext://restart_process": """
def docker_build_with_restart(ref, context, entrypoint, live_update,
                              base_suffix='-tilt_docker_build_with_restart_base',
                              restart_file='/tmp/.restart-proc', trigger=None,
                              exit_policy='restart', **kwargs):
    docker_build(ref + base_suffix, context, **kwargs)
    return _record('docker_build_with_restart', ref=ref, context=context,
                   entrypoint=entrypoint, live_update=live_update,
                   restart_file=restart_file, **kwargs)
""",
}
CONSTANTS = {"TRIGGER_MODE_AUTO": 1, "TRIGGER_MODE_MANUAL": 2}


def _stub(fn: str, recorded: str, signature: str) -> str:
    """A Starlark def with Tilt's signature that records its call and returns its arguments."""
    params = [p.split("=")[0].strip() for p in signature.split(",")]
    passed = ", ".join(f"{p}={p}" for p in params if not p.startswith("*"))
    if "**kwargs" in params:
        passed += ", **kwargs"
    return f"def {fn}({signature}):\n    return _record({recorded!r}, {passed})\n"


def _prelude() -> str:
    """Tilt's builtins and modules, and the extensions load_dynamic can load, as Starlark."""
    text = "".join(
        _stub(name.replace(".", "_"), name, sig)
        for name, sig in BUILTINS.items()
        if name != "load_dynamic"
    )
    text += "".join(EXTENSIONS.values())
    text += "EXTENSIONS = {'ext://restart_process': {'docker_build_with_restart': "
    text += "docker_build_with_restart}}\n"
    text += (
        "def load_dynamic(path):\n"
        "    _record('load_dynamic', path=path)\n"
        "    return EXTENSIONS[path]\n"
        "config = struct(define_bool=config_define_bool, define_string=config_define_string,"
        " parse=_config_parse, tilt_subcommand='up')\n"
        "os = struct(getenv=os_getenv)\n"
    )
    return text


@dataclass
class Tilt:
    """One evaluation of the Tiltfile: the flags and environment given, the calls recorded."""

    flags: dict[str, Any]
    env: Mapping[str, str] = field(default_factory=dict)
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def _record(self, _fn: str, /, **kwargs: Any) -> dict[str, Any]:
        if _fn == "os.getenv":
            return self.env.get(kwargs["key"], kwargs["default"])  # type: ignore[return-value]
        self.calls.append((_fn, kwargs))
        return {"_call": _fn, **kwargs}

    def named(self, name: str) -> list[dict[str, Any]]:
        return [kwargs for fn, kwargs in self.calls if fn == name]

    def resources(self, kind: str) -> dict[str, dict[str, Any]]:
        return {k.get("name") or k.get("workload") or k["new_name"]: k for k in self.named(kind)}


def _dialect() -> starlark.Dialect:
    """The Starlark of go.starlark.net as Tilt configures it: top-level if, no f-strings/types."""
    dialect = starlark.Dialect.standard()
    dialect.enable_top_level_stmt = True
    dialect.enable_load = True
    dialect.enable_f_strings = False
    dialect.enable_types = starlark.DialectTypes.DISABLE
    return dialect


def evaluate(flags: dict[str, Any], env: Mapping[str, str] | None = None) -> Tilt:
    """Run the Tiltfile under starlark-rust with recording stubs; return what it declared."""
    tilt = Tilt(flags, env or {})
    module = starlark.Module()
    module.add_callable("_record", tilt._record)
    module.add_callable("_config_parse", lambda: dict(tilt.flags))
    for name, value in CONSTANTS.items():
        module[name] = value
    globals_ = starlark.Globals.extended_by(
        [starlark.LibraryExtension.StructType, starlark.LibraryExtension.Print]
    )
    prelude = starlark.parse("prelude", _prelude(), starlark.Dialect.extended())
    starlark.eval(module, prelude, globals_)
    ast = starlark.parse("Tiltfile", TILTFILE.read_text(), _dialect())
    starlark.eval(module, ast, globals_)
    return tilt


# --- go.starlark.net: the interpreter Tilt embeds ---


def test_go_starlark_parses_and_resolves_the_tiltfile() -> None:
    starlark_go.configure_starlark(allow_set=True, allow_global_reassign=True, allow_recursion=True)
    names = {n.split(".")[0] for n in BUILTINS} | set(CONSTANTS) | {"struct", "fail"}
    go = starlark_go.Starlark(globals=dict.fromkeys(names))
    # Placeholders (None) satisfy the resolver; running stops at the first builtin call. A
    # syntax error, a `load` inside a block or a name Tilt does not define fails before that.
    with pytest.raises(starlark_go.EvalError, match="NoneType"):
        go.exec(TILTFILE.read_text(), filename="Tiltfile")


def test_go_starlark_rejects_load_in_a_conditional() -> None:
    starlark_go.configure_starlark(allow_set=True, allow_global_reassign=True, allow_recursion=True)
    go = starlark_go.Starlark(globals={"x": None})
    with pytest.raises(starlark_go.ResolveError, match="load statement within a conditional"):
        go.exec("if x:\n    load('ext://restart_process', 'f')\n", filename="Tiltfile")


# --- Kubernetes mode (`tilt up`) ---


def test_kubernetes_mode_builds_one_image_and_deploys_the_dev_overlay() -> None:
    tilt = evaluate({})
    assert not tilt.named("local_resource")
    assert tilt.named("load_dynamic") == [{"path": "ext://restart_process"}]
    (build,) = tilt.named("docker_build_with_restart")
    assert (build["ref"], build["context"], build["target"]) == ("sluice", ".", "dev")
    assert build["dockerfile"] == "infra/docker/Dockerfile"
    assert build["entrypoint"] == ["python", "-m"]
    assert [s["_call"] for s in build["live_update"]] == ["fall_back_on", "sync", "sync"]
    assert [k["ref"] for k in tilt.named("docker_build")] == [
        "sluice-tilt_docker_build_with_restart_base"
    ]
    only = set(build["only"])
    assert {"services", "schemas", "pyproject.toml", "README.md", "infra/docker"} == only
    assert [k["pathToDir"] for k in tilt.named("kustomize")] == ["infra/k8s/dev"]
    (deploy,) = tilt.named("k8s_yaml")
    assert deploy["yaml"]["_call"] == "kustomize"


def _dev_objects() -> list[dict[str, Any]]:
    """The objects `kustomize build infra/k8s/dev` makes (what Tilt deploys)."""
    kustomize = find_tool("kustomize")
    if kustomize is None:
        unavailable("kustomize is not installed: `make tools` builds it into .tools/bin")
    assert kustomize is not None
    done = subprocess.run(
        [kustomize, "build", str(ROOT / "infra/k8s/dev")],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return [d for d in yaml.safe_load_all(done.stdout) if d]


def test_kubernetes_resources_cover_every_object_of_the_dev_overlay() -> None:
    tilt = evaluate({})
    resources = tilt.resources("k8s_resource")
    objects = _dev_objects()
    workloads = {
        o["metadata"]["name"] for o in objects if o["kind"] in ("Deployment", "StatefulSet")
    }
    assert workloads <= set(resources), "every workload is a named resource"
    claimed = [sel for r in resources.values() for sel in r["objects"] or []]
    assert len(claimed) == len(set(claimed))
    grouped = {
        f"{o['metadata']['name']}:{o['kind'].lower()}"
        for o in objects
        if o["kind"] not in ("Deployment", "StatefulSet", "Service")
    }
    assert set(claimed) == grouped, (
        "objects Tilt would leave uncategorized, or selectors that match nothing"
    )
    for name, port in PORTS.items():
        resource = resources[name]
        assert resource["port_forwards"] == str(port)
        assert {"kafka", "postgres"} <= set(resource["resource_deps"]) <= set(resources)
    assert {r["labels"][0] for r in resources.values()} == {"infra", "pipeline", "api"}


# --- local mode (`tilt up -- --local`) ---


def test_local_mode_runs_each_service_as_its_own_process() -> None:
    tilt = evaluate({"local": True})
    assert not tilt.named("k8s_yaml") and not tilt.named("load_dynamic")
    resources = tilt.resources("local_resource")
    assert set(resources) == {"install", "kafka", "postgres", *PORTS}
    assert resources["install"]["cmd"] == "make install"
    for name, port in PORTS.items():
        resource = resources[name]
        assert resource["serve_cmd"] == [".venv/bin/python", "-m", f"services.{name}"]
        probe = resource["readiness_probe"]
        assert probe["http_get"] == {
            "_call": "http_get_action",
            "port": port,
            "host": "",
            "scheme": "http",
            "path": "/health/ready",
        }
        assert set(resource["resource_deps"]) == {"kafka", "postgres"}
        assert resource["labels"] == (["api"] if name in ("ingest", "status") else ["pipeline"])
        assert f"services/{name}" in resource["deps"], "a code change restarts the service"
        for path in resource["deps"]:
            assert (ROOT / path).is_dir(), path
        assert resource["serve_env"]["SLUICE_INSTANCE_ID"] == f"{name}-tilt"


def test_local_mode_runs_kafka_and_postgres_in_the_foreground() -> None:
    resources = evaluate({"local": True}).resources("local_resource")
    for name in ("kafka", "postgres"):
        resource = resources[name]
        assert resource["serve_cmd"] == [".venv/bin/python", "-m", "infra.local.serve", name]
        probe = resource["readiness_probe"]["exec"]
        assert probe["command"] == [".venv/bin/python", "-m", "infra.local.serve", name, "--check"]
        assert resource["resource_deps"] == ["install"]
        assert resource["labels"] == ["infra"]


def test_local_mode_points_the_services_at_its_kafka_and_postgres() -> None:
    from infra.local import serve

    env = {"SLUICE_KAFKA_PORT": "19092", "SLUICE_POSTGRES_PORT": "15434"}
    resources = evaluate({"local": True}, env).resources("local_resource")
    for name in PORTS:
        served = resources[name]["serve_env"]
        assert served["SLUICE_KAFKA_BOOTSTRAP"] == serve.kafka_runner(env).bootstrap
        assert served["SLUICE_DATABASE_URL"] == serve.postgres_runner(env).url()


def test_local_mode_follows_the_port_variables() -> None:
    tilt = evaluate({"local": True}, {"SLUICE_INGEST_PORT": "18000", "SLUICE_STATUS_PORT": "18001"})
    resources = tilt.resources("local_resource")
    assert resources["ingest"]["readiness_probe"]["http_get"]["port"] == 18000
    assert resources["ingest"]["serve_env"]["SLUICE_STATUS_BASE_URL"] == "http://127.0.0.1:18001"


def test_the_tiltfile_has_no_python_only_syntax() -> None:
    text = TILTFILE.read_text()
    assert not re.search(r"\bf['\"]", text), "f-strings are not Starlark"
    assert not re.search(r"^\s+load\(", text, re.MULTILINE), "load only at the top level"
