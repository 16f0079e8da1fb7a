"""How a batch's chunks are cut into model calls: longest first, lanes kept busy to the end."""

from __future__ import annotations

from collections.abc import Sequence


def plan_calls(token_counts: Sequence[int], size: int, lanes: int) -> list[list[int]]:
    """Indexes of the texts for each model call, longest texts first.

    Texts of like length share a call, so a forward pass pads little. Each call has at most
    `size` texts; the number of calls is a multiple of `lanes` and their sizes are within one
    of each other, so the last calls of a batch keep every lane busy instead of leaving one
    call to run alone.
    """
    if size <= 0 or lanes <= 0:
        raise ValueError(f"size and lanes must be positive, got {size} and {lanes}")
    order = sorted(range(len(token_counts)), key=lambda i: -token_counts[i])
    if not order:
        return []
    count = -(-len(order) // size)
    count = min(len(order), -(-count // lanes) * lanes)
    base, extra = divmod(len(order), count)
    calls: list[list[int]] = []
    at = 0
    for n in range(count):
        step = base + (1 if n < extra else 0)
        calls.append(order[at : at + step])
        at += step
    return calls
