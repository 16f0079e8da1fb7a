"""The local model's ONNX Runtime backend: torch's vectors and spans, no torch, a reused cache."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from services.common.embedding.build import build_provider
from services.common.embedding.local_model import LocalSentenceTransformer
from services.common.embedding.onnx_export import weights_file
from services.common.embedding.onnx_model import (
    PASS_TOKENS,
    OnnxSentenceTransformer,
    plan_passes,
)

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
TEXTS = [
    "a cat sits on the mat",
    "quarterly tax filing deadline",
    "",
    " ",
    "\n\t",
    ".",
    "Hello, wörld!  Café au lait costs €3.50.\n\nSecond\tparagraph: naïve résumé…",
    "東京は日本の首都です。Привет, мир! مرحبا بالعالم 🙂🚀",
    "Kafka partitions the log; consumers in one group share the partitions. " * 60,  # > 256
    " ".join(f"token{i}" for i in range(900)),
]


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


@pytest.fixture(scope="module")
def onnx(cache_dir: Path) -> OnnxSentenceTransformer:
    return OnnxSentenceTransformer(cache_dir=cache_dir, threads=1, lanes=2)


@pytest.fixture(scope="module")
def torch_model() -> LocalSentenceTransformer:
    return LocalSentenceTransformer(threads=1, lanes=2, device="cpu")


def cosine_distance(left: list[float], right: list[float]) -> float:
    return 1.0 - sum(a * b for a, b in zip(left, right, strict=True))


def test_onnx_vectors_are_torchs_within_1e_3_cosine(
    onnx: OnnxSentenceTransformer, torch_model: LocalSentenceTransformer
) -> None:
    texts = [*TEXTS, *(t.upper() for t in TEXTS)]  # 20 texts: two passes of padded batches
    onnx.batch_size = torch_model.batch_size = 8

    mine, theirs = onnx.embed(texts), torch_model.embed(texts)

    assert len(mine) == len(texts)
    for text, a, b in zip(texts, mine, theirs, strict=True):
        assert len(a) == 384
        assert cosine_distance(a, b) < 1e-3, text[:40]
    assert onnx.embed([]) == []


def test_a_calls_vectors_do_not_depend_on_how_it_is_split_into_runs(
    onnx: OnnxSentenceTransformer,
) -> None:
    texts = [*TEXTS, *(t.upper() for t in TEXTS)]
    onnx.batch_size = 32
    one_run, one_text_each = [], []
    try:
        onnx.pass_tokens = 10**6
        one_run = onnx.embed(texts)
        onnx.pass_tokens = 1
        one_text_each = onnx.embed(texts)
    finally:
        onnx.pass_tokens = PASS_TOKENS

    assert len(one_run) == len(one_text_each) == len(texts)
    for text, a, b in zip(texts, one_run, one_text_each, strict=True):
        assert cosine_distance(a, b) < 1e-5, text[:40]


def test_runs_hold_at_most_the_budget_of_padded_tokens_longest_first() -> None:
    lengths = [3, 256, 40, 256, 7, 130, 129, *[2] * 15]

    passes = plan_passes(lengths, 512)

    assert sorted(i for part in passes for i in part) == list(range(len(lengths)))
    assert [[lengths[i] for i in part] for part in passes] == [
        [256, 256],
        [130, 129, 40],
        [7, 3, *[2] * 15],
    ]


@pytest.mark.parametrize("budget", [1, 100, 511])
def test_a_text_longer_than_the_budget_runs_alone(budget: int) -> None:
    assert plan_passes([512, 600, 1], budget) == [[1], [0], [2]]
    assert plan_passes([], budget) == []


def test_onnx_describes_itself_as_the_torch_provider(
    onnx: OnnxSentenceTransformer, torch_model: LocalSentenceTransformer
) -> None:
    for attribute in ("provider_name", "model_name", "dimensions", "max_tokens", "concurrency"):
        assert getattr(onnx, attribute) == getattr(torch_model, attribute)


def test_onnx_chunks_by_the_same_token_spans(
    onnx: OnnxSentenceTransformer, torch_model: LocalSentenceTransformer
) -> None:
    for text in [*TEXTS, "".join(TEXTS) * 30]:
        assert onnx.tokenizer.token_spans(text) == torch_model.tokenizer.token_spans(text)


def test_onnx_provider_runs_without_torch(onnx: OnnxSentenceTransformer, cache_dir: Path) -> None:
    """A process where torch, transformers and sentence_transformers cannot import embeds."""
    script = textwrap.dedent(f"""
        import sys
        for name in ("torch", "transformers", "sentence_transformers"):
            sys.modules[name] = None  # import fails
        from pathlib import Path
        from services.common.embedding.build import build_provider
        provider = build_provider("local", backend="onnx", cache_dir=Path({str(cache_dir)!r}))
        print(len(provider.embed(["no torch here"])[0]))
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "384"


def test_a_second_start_reuses_the_cached_export(
    onnx: OnnxSentenceTransformer, cache_dir: Path
) -> None:
    before = onnx.model_file.stat()

    again = OnnxSentenceTransformer(cache_dir=cache_dir, threads=1)

    after = again.model_file.stat()
    assert again.model_file == onnx.model_file
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_corrupt_cached_export_is_exported_again(
    onnx: OnnxSentenceTransformer, cache_dir: Path
) -> None:
    whole = onnx.model_file.stat().st_size
    with onnx.model_file.open("r+b") as file:  # a partial file, as a full disk might leave
        file.truncate(whole // 3)

    again = OnnxSentenceTransformer(cache_dir=cache_dir, threads=1)

    assert again.model_file.stat().st_size > whole // 2
    assert cosine_distance(again.embed(TEXTS[:1])[0], onnx.embed(TEXTS[:1])[0]) < 1e-6


def test_the_weights_lie_beside_the_graph_readable_as_it_is(
    onnx: OnnxSentenceTransformer,
) -> None:
    weights = weights_file(onnx.model_file)
    assert weights.stat().st_size > 80 * 2**20  # ~22M float32 parameters
    assert onnx.model_file.stat().st_size < 2**20  # the graph alone
    assert weights.stat().st_mode & 0o777 == onnx.model_file.stat().st_mode & 0o777
    assert not [p for p in onnx.model_file.parent.iterdir() if "partial" in p.name]


@pytest.mark.parametrize("damage", ["missing", "truncated"])
def test_damaged_cached_weights_are_exported_again(
    onnx: OnnxSentenceTransformer, cache_dir: Path, damage: str
) -> None:
    weights = weights_file(onnx.model_file)
    whole = weights.stat().st_size
    if damage == "missing":
        weights.unlink()
    else:
        with weights.open("r+b") as file:
            file.truncate(whole // 3)

    again = OnnxSentenceTransformer(cache_dir=cache_dir, threads=1)

    assert weights.stat().st_size == whole
    assert cosine_distance(again.embed(TEXTS[:1])[0], onnx.embed(TEXTS[:1])[0]) < 1e-6


def test_the_onnx_backend_refuses_a_gpu_and_unknown_backends(cache_dir: Path) -> None:
    with pytest.raises(ValueError, match="onnx backend runs on the CPU"):
        build_provider("local", backend="onnx", cache_dir=cache_dir, device="cuda")
    with pytest.raises(ValueError, match="unknown embedding backend 'tensorflow'"):
        build_provider("local", backend="tensorflow")
