"""Export the packaged all-MiniLM-L6-v2 weights to ONNX (needs torch, transformers and onnx).

`python -m services.common.embedding.onnx_export [--cache-dir DIR]` writes the file the `onnx`
backend runs (at install, or the backend runs this itself on its first start, in a process of
its own so that the serving process never imports torch). Nothing is downloaded.
"""

from __future__ import annotations

import argparse
import os
import warnings
from pathlib import Path
from typing import Any

from services.common.embedding.local_model import bundled_model_path

INPUTS = ("input_ids", "attention_mask", "token_type_ids")
OUTPUT = "token_embeddings"
OPSET = 17


def export(model_path: Path, target: Path) -> Path:
    """Trace the transformer (token embeddings out; pooling runs in numpy) into `target`.

    Written to a temporary file renamed into place, so a reader never sees half a model.
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
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tracer's notes on the legacy exporter
        torch.onnx.export(
            TokenEmbeddings(model),
            example,
            str(partial),
            input_names=list(INPUTS),
            output_names=[OUTPUT],
            dynamic_axes={name: {0: "batch", 1: "tokens"} for name in (*INPUTS, OUTPUT)},
            opset_version=OPSET,
            dynamo=False,
        )
    partial.replace(target)
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
