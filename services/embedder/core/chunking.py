"""Token-aware splitting of a document's text into overlapping chunks."""

from __future__ import annotations

from bisect import bisect_right

import msgspec

from services.common.embedding.ports import Tokenizer

# How good a cut between two tokens is; higher is better.
_MID_WORD = 0
_WORD = 1
_SENTENCE = 2
_PARAGRAPH = 3
_END = 4

_SENTENCE_ENDS = frozenset(".!?\u2026")  # ... as one character
_CJK_SENTENCE_ENDS = frozenset("\u3002\uff01\uff1f")  # ideographic full stop, ! and ?
_CLOSERS = frozenset(
    "\"')]}\u00bb\u201d\u2019"
)  # quotes, brackets, right guillemet and curly quotes
_MAX_CLOSERS = 3
# A token longer than MAX_TOKEN_CHARS characters counts as one token per MAX_TOKEN_CHARS, and a
# chunk holds at most max_tokens * CHUNK_CHARS_PER_TOKEN characters (room for a longest token
# and as much whitespace after each). Without them one chunk could be a whole document:
# WordPiece gives a single [UNK] for any run of over 100 characters without a space or
# punctuation (Thai, a hex dump, a 5 MB line of one letter), the whitespace tokenizer a single
# token for any such run, and whitespace between tokens (deep indentation, empty cells) counts
# for no token at all.
MAX_TOKEN_CHARS = 32
CHUNK_CHARS_PER_TOKEN = 2 * MAX_TOKEN_CHARS


class Chunk(msgspec.Struct, frozen=True):
    """A run of whole tokens of a document; `text == source[start:end]`.

    `page` (1-based) and `heading` say where it starts in the document, when its layout
    is known (set by `services.embedder.core.citations.cite`).
    """

    index: int
    text: str
    start: int
    end: int
    token_count: int
    page: int | None = None
    heading: str | None = None


class ChunkSizes(msgspec.Struct, frozen=True):
    """How many tokens a chunk holds at most, and how many it shares with its neighbour."""

    max_tokens: int
    overlap_tokens: int

    def within(self, model_limit: int) -> ChunkSizes:
        """These sizes for a model that reads at most `model_limit` tokens (overlap <= half)."""
        tokens = min(self.max_tokens, model_limit)
        return ChunkSizes(tokens, min(self.overlap_tokens, tokens // 2))


def chunk_text(
    text: str, tokenizer: Tokenizer, *, max_tokens: int = 256, overlap_tokens: int = 32
) -> list[Chunk]:
    """Split text into chunks of at most `max_tokens` tokens, overlapping by ~`overlap_tokens`.

    Each chunk ends at the best boundary in the second half of its token budget: a blank
    line, else a sentence end or line break, else whitespace, else between any two tokens
    (the latest of equally good ones). The next chunk starts `overlap_tokens` tokens
    before that end, moved forward by at most half the overlap to a sentence or word start.
    Chunks are exact slices of `text` (no whitespace is stripped or rewritten), so
    `text[chunk.start:chunk.end] == chunk.text`. Text without tokens gives no chunks. A token
    of more than MAX_TOKEN_CHARS characters counts as one per that many, and no chunk holds
    more than `max_tokens * CHUNK_CHARS_PER_TOKEN` characters, whitespace included.
    """
    if max_tokens <= 0:
        raise ValueError(f"max_tokens must be positive, got {max_tokens}")
    if not 0 <= overlap_tokens < max_tokens:
        raise ValueError(
            f"overlap_tokens must be at least 0 and below max_tokens ({max_tokens}), "
            f"got {overlap_tokens}"
        )
    if not text.strip():
        return []
    spans = _bounded(tokenizer.token_spans(text))
    if not spans:
        return []
    cuts = _cut_quality(text, spans)
    reach = _reach(spans, max_tokens * CHUNK_CHARS_PER_TOKEN)
    bounds = _chunk_bounds(cuts, max_tokens, overlap_tokens, reach)
    chunks: list[Chunk] = []
    for index, (first, stop) in enumerate(bounds):
        start, end = spans[first][0], spans[stop - 1][1]
        chunks.append(Chunk(index, text[start:end], start, end, stop - first))
    return chunks


def _bounded(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The spans, each longer than MAX_TOKEN_CHARS cut into pieces of that many characters."""
    if all(end - start <= MAX_TOKEN_CHARS for start, end in spans):
        return spans
    bounded: list[tuple[int, int]] = []
    for start, end in spans:
        bounded.extend(
            (at, min(at + MAX_TOKEN_CHARS, end)) for at in range(start, end, MAX_TOKEN_CHARS)
        )
    return bounded


def _reach(spans: list[tuple[int, int]], max_chars: int) -> list[int]:
    """For each token, the most tokens a chunk starting there may hold within `max_chars`
    characters (whitespace between them included; at least the token itself)."""
    ends = [end for _, end in spans]
    return [max(1, bisect_right(ends, start + max_chars) - i) for i, (start, _) in enumerate(spans)]


def _chunk_bounds(
    cuts: list[int], max_tokens: int, overlap: int, reach: list[int]
) -> list[tuple[int, int]]:
    """Return `(first, stop)` token ranges of the chunks, given the quality of every cut and
    how many tokens fit in a chunk's characters from each token."""
    count = len(cuts) - 1
    min_fill = max(1, max_tokens // 2)
    bounds: list[tuple[int, int]] = []
    first, previous_stop = 0, 0
    while True:
        high = min(first + max_tokens, first + reach[first], count)
        low = min(max(first + min_fill, previous_stop + 1), high)
        stop = _best_cut(cuts, low, high, latest=True)
        bounds.append((first, stop))
        if stop == count:
            return bounds
        # A chunk its characters cut short (few tokens in much whitespace) shares at most half
        # of itself, or each next chunk would move on by a token or two.
        shared = overlap if stop - first >= min_fill else min(overlap, (stop - first) // 2)
        if shared == 0:
            first = stop
        else:
            earliest = max(stop - shared, first + 1)
            first = _best_cut(cuts, earliest, min(earliest + shared // 2, stop - 1), latest=False)
            if first + reach[first] <= stop:  # whitespace: from there it could not pass `stop`
                first = stop
        previous_stop = stop


def _best_cut(cuts: list[int], low: int, high: int, *, latest: bool) -> int:
    """Return the token index in `[low, high]` with the best cut before it."""
    best, best_quality = low, -1
    for position in range(low, high + 1):
        quality = cuts[position]
        if quality > best_quality or (latest and quality == best_quality):
            best, best_quality = position, quality
    return best


def _cut_quality(text: str, spans: list[tuple[int, int]]) -> list[int]:
    """Return, for each token index 0..len(spans), how good a cut just before it is."""
    cuts = [_END]
    previous_end = spans[0][1]
    for start, end in spans[1:]:
        cuts.append(_gap_quality(text, previous_end, start))
        previous_end = end
    cuts.append(_END)
    return cuts


def _gap_quality(text: str, gap_start: int, gap_end: int) -> int:
    """Rate a cut in the text between two tokens, the gap being `text[gap_start:gap_end]`."""
    if gap_start >= gap_end:
        return _SENTENCE if text[gap_start - 1] in _CJK_SENTENCE_ENDS else _MID_WORD
    gap = text[gap_start:gap_end]
    newlines = gap.count("\n")
    if newlines >= 2:
        return _PARAGRAPH
    if newlines == 1 or (_has_space(gap) and _ends_sentence(text, gap_start)):
        return _SENTENCE
    return _WORD


def _has_space(gap: str) -> bool:
    """Say whether the gap holds any whitespace."""
    return gap.isspace() or any(char.isspace() for char in gap)


def _ends_sentence(text: str, position: int) -> bool:
    """Say whether the text just before `position` ends a sentence (closing quotes allowed)."""
    floor = max(0, position - _MAX_CLOSERS - 1)
    while position > floor and text[position - 1] in _CLOSERS:
        position -= 1
    return position > 0 and text[position - 1] in _SENTENCE_ENDS
