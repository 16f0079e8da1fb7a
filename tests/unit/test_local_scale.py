"""How `sluice ps` writes the partitions a replica holds."""

from __future__ import annotations

import pytest

from infra.local.scale import Held, partitions_text

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("held", "text"),
    [
        ([], ""),
        ([Held("sluice.documents.parsed", 3)], "documents.parsed[3]"),
        (
            [Held("sluice.documents.parsed", n) for n in (5, 0, 1, 2, 7, 8)]
            + [Held("sluice.documents.parsed.retry", n) for n in (0, 1)],
            "documents.parsed[0-2,5,7-8] documents.parsed.retry[0-1]",
        ),
    ],
)
def test_partitions_are_shown_as_ranges_per_topic(held: list[Held], text: str) -> None:
    assert partitions_text(held) == text
