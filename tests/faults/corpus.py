"""A deterministic corpus of distinct, valid documents for fault drills."""

from __future__ import annotations

import random

_WORDS = [
    "river",
    "harbour",
    "signal",
    "lantern",
    "granite",
    "meadow",
    "orchard",
    "copper",
    "engine",
    "ledger",
    "canvas",
    "timber",
    "falcon",
    "glacier",
    "pepper",
    "saddle",
    "quartz",
    "ribbon",
    "thistle",
    "walnut",
    "beacon",
    "cobalt",
    "ember",
    "fjord",
    "juniper",
    "kestrel",
    "lichen",
    "marble",
    "nectar",
    "obsidian",
    "pylon",
    "quill",
    "rampart",
    "sorrel",
    "tundra",
    "umber",
    "vellum",
    "willow",
    "yarrow",
    "zephyr",
]


def document(index: int) -> tuple[str, bytes, str]:
    """(filename, bytes, kind) of document `index`: txt, md or html, 1-4 KB, unique text."""
    rng = random.Random(index)  # noqa: S311 - deterministic test data
    paragraphs = []
    for p in range(rng.randint(3, 8)):
        sentences = []
        for _ in range(rng.randint(3, 6)):
            words = rng.choices(_WORDS, k=rng.randint(8, 16))
            sentences.append(" ".join(words).capitalize() + ".")
        paragraphs.append(f"Section {p} of drill document {index}. " + " ".join(sentences))
    kind = ("txt", "md", "html")[index % 3]
    if kind == "md":
        body = f"# Drill document {index}\n\n" + "\n\n".join(paragraphs) + "\n"
    elif kind == "html":
        inner = "".join(f"<p>{p}</p>" for p in paragraphs)
        head = f"<head><title>Drill {index}</title></head>"
        body = f"<!doctype html><html>{head}<body>{inner}</body></html>"
    else:
        body = "\n\n".join(paragraphs) + "\n"
    return f"drill-{index:04d}.{kind}", body.encode(), kind
