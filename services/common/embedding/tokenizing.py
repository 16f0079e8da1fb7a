"""A whitespace tokenizer, for tests and the benchmark-only hashing provider."""

from __future__ import annotations

import re

_WORD = re.compile(r"\S+")


class WhitespaceTokenizer:
    """Treats every run of non-whitespace characters as one token."""

    def token_spans(self, text: str) -> list[tuple[int, int]]:
        """Return the character span of each whitespace-separated word."""
        return [match.span() for match in _WORD.finditer(text)]
