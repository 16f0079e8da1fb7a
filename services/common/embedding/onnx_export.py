"""Export the packaged all-MiniLM-L6-v2 weights to ONNX (needs torch, transformers and onnx).

`python -m services.common.embedding.onnx_export [--cache-dir DIR]` writes the file the `onnx`
backend runs (at install, or the backend runs this itself on its first start, in a process of
its own so that the serving process never imports torch). Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import os
import shutil
import warnings
from pathlib import Path
from typing import Any

from services.common.embedding.local_model import bundled_model_path

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT = "token_embeddings"
OPSET = 17


def weights_file(target: Path) -> Path:
    """Where the export's weights lie: `<target>.data`, beside the graph."""
    return target.with_name(f"{target.name}.data")


def export(model_path: Path, target: Path) -> Path:
    """Trace the transformer (token embeddings out; pooling runs in numpy) into `target`, its
    weights in `weights_file(target)` (ONNX external data): ONNX Runtime maps that file rather
    than copying the weights out of the protobuf, so a process's peak holds one copy of them
    and the lanes' sessions share its pages.

    Both files are written in a folder of their own and renamed into place, the weights first,
    so a reader never sees half a model.
    """
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import torch  # noqa: PLC0415 - heavy; only the exporter needs it
    from transformers import AutoModel  # noqa: PLC0415

    # eager attention traces to plain MatMul/Softmax, which ONNX Runtime fuses; the SDPA path
    # traced through shape-dependent branches and ran slower
    model = AutoModel.from_pretrained(
        str(model_path), local_files_only=True, attn_implementation="eager"
    )
    model.eval()

    class TokenEmbeddings(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *features: Any) -> Any:
            return self.inner(**dict(zip(INPUTS, features, strict=True))).last_hidden_state

    # one padded row, so that the trace keeps the attention mask
    ids = torch.tensor([[101, 7592, 2088, 102, 0, 0], [101, 7592, 2088, 2088, 2088, 102]])
    example = (ids, (ids != 0).long(), torch.zeros_like(ids))
    import onnx  # noqa: PLC0415

    target.parent.mkdir(parents=True, exist_ok=True)
    work = target.with_name(f".{target.name}.{os.getpid()}.partial")
    work.mkdir()
    traced = work / "traced.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on the legacy exporter
        torch.onnx.export(
            TokenEmbeddings(model),
            example,
            str(traced),
            input_names=list(INPUTS),
            output_names=[OUTPUT],
            dynamic_axes={name: {0: "batch", 1: "tokens"} for name in (*INPUTS, OUTPUT)},
            opset_version=OPSET,
            dynamo=False,
        )
    graph, weights = work / target.name, weights_file(target)
    onnx.save_model(
        onnx.load(str(traced)),
        str(graph),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location=weights.name,  # relative to the graph: the same name once both are moved
        size_threshold=1024,
    )
    shutil.copymode(graph, work / weights.name)  # onnx writes it 0600: readable as the graph is
    (work / weights.name).replace(weights)
    graph.replace(target)
    traced.unlink()
    work.rmdir()
    return target


def main() -> None:
    """Export the packaged model into the cache (the path the `onnx` backend looks for)."""
    from services.common.embedding.onnx_model import (  # noqa: PLC0415
        cached_model_file,
        default_cache_dir,
    )

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cache-dir", type=Path, default=None, help="default: %(default)s")
    parser.add_argument("--out", type=Path, default=None, help="write exactly this file")
    parser.add_argument("--force", action="store_true", help="export even if the file exists")
    args = parser.parse_args()
    model_path = bundled_model_path()
    target = args.out or cached_model_file(model_path, args.cache_dir or default_cache_dir())
    if target.is_file() and not args.force:
        # named after a hash of the weights and config: the same file (a broken one is
        # exported again by the provider that fails to load it)
        print(f"{target} (already exported)", flush=True)
        return
    print(export(model_path, target), flush=True)


if __name__ == "__main__":
    main()
