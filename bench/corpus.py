"""A deterministic corpus of English-like plain-text and Markdown documents (1 KB to 40 KB)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

_SUBJECTS = (
    "the committee",
    "our team",
    "the river",
    "a small bakery",
    "the new library",
    "the research group",
    "the city council",
    "a local farmer",
    "the orchestra",
    "the harbour master",
    "every volunteer",
    "the old lighthouse",
    "the museum",
    "a curious student",
    "the night shift",
    "the garden club",
    "the software team",
    "the ferry crew",
    "a travelling merchant",
    "the school board",
)
_VERBS = (
    "reviewed",
    "planned",
    "described",
    "measured",
    "questioned",
    "rebuilt",
    "documented",
    "celebrated",
    "postponed",
    "explained",
    "improved",
    "discovered",
    "shared",
    "tested",
    "compared",
    "organised",
    "repaired",
    "announced",
    "studied",
    "recorded",
)
_OBJECTS = (
    "the quarterly budget",
    "a detailed schedule",
    "the spring harvest",
    "an unusual storm",
    "the drainage plan",
    "several old maps",
    "the annual report",
    "a careful estimate",
    "the bridge repairs",
    "the reading programme",
    "a long-forgotten recipe",
    "the water samples",
    "the visitor numbers",
    "a draft proposal",
    "the energy costs",
    "the migration of birds",
    "a list of suppliers",
    "the safety checklist",
)
_TAILS = (
    "before the end of the month",
    "with surprising patience",
    "after a long discussion",
    "despite the heavy rain",
    "in the early morning",
    "for the first time in years",
    "without any outside help",
    "while the market was closed",
    "as the tide came in",
    "in front of a small audience",
    "over several weekends",
    "at the request of residents",
)
_CLAUSES = (
    "Nobody expected the results to be so clear.",
    "The numbers were checked twice and then once more.",
    "Several people asked whether the work could continue next year.",
    "It was, by most accounts, a quiet success.",
    "Questions remained about the cost and the timing.",
    "A second meeting was arranged for the following week.",
    "The notes were later copied into the public archive.",
    "Some of the older residents remembered a similar effort decades ago.",
)
_TOPICS = (
    "Harbour Maintenance",
    "Community Gardens",
    "Library Renovation",
    "Water Quality",
    "Winter Schedules",
    "Bakery Operations",
    "Bird Migration",
    "Energy Savings",
    "Bridge Repairs",
    "Reading Programme",
    "Market Days",
    "Storm Preparation",
)


@dataclass(frozen=True)
class Document:
    """One upload: a file name, its bytes and its media type."""

    filename: str
    data: bytes
    media_type: str


def _sentence(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.12:
        return rng.choice(_CLAUSES)
    subject, verb, obj = rng.choice(_SUBJECTS), rng.choice(_VERBS), rng.choice(_OBJECTS)
    sentence = f"{subject.capitalize()} {verb} {obj} {rng.choice(_TAILS)}"
    if roll < 0.35:
        sentence += f", and {rng.choice(_SUBJECTS)} {rng.choice(_VERBS)} {rng.choice(_OBJECTS)}"
    if roll > 0.9:
        sentence += f" ({rng.randint(2, 97)} % of {rng.randint(100, 9999)} cases)"
    return sentence + "."


def _paragraph(rng: random.Random) -> str:
    return " ".join(_sentence(rng) for _ in range(rng.randint(3, 8)))


def _plain(rng: random.Random, size: int) -> str:
    parts: list[str] = []
    while sum(len(p) + 2 for p in parts) < size:
        parts.append(_paragraph(rng))
    return "\n\n".join(parts) + "\n"


def _markdown(rng: random.Random, size: int) -> str:
    parts = [f"# {rng.choice(_TOPICS)}"]
    while sum(len(p) + 2 for p in parts) < size:
        roll = rng.random()
        if roll < 0.15:
            parts.append(f"## {rng.choice(_TOPICS)} notes")
        elif roll < 0.3:
            parts.append("\n".join(f"- {_sentence(rng)}" for _ in range(rng.randint(2, 5))))
        else:
            parts.append(_paragraph(rng))
    return "\n\n".join(parts) + "\n"


def corpus(
    count: int = 200, *, seed: int = 20240611, min_kb: float = 1, max_kb: float = 40
) -> list[Document]:
    """`count` documents, sizes log-uniform between `min_kb` and `max_kb`; same seed, same bytes."""
    rng = random.Random(seed)
    docs: list[Document] = []
    for i in range(count):
        size = int(1024 * math.exp(rng.uniform(math.log(min_kb), math.log(max_kb))))
        if rng.random() < 0.5:
            text, name, media = _plain(rng, size), f"doc-{i:04d}.txt", "text/plain"
        else:
            text, name, media = _markdown(rng, size), f"doc-{i:04d}.md", "text/markdown"
        docs.append(Document(name, text.encode(), media))
    return docs


def one_page(tag: str, *, size: int = 2500) -> Document:
    """A unique one-page plain-text document (about 2.5 KB); `tag` makes its bytes unique."""
    rng = random.Random(tag)
    text = f"Reference {tag}.\n\n" + _plain(rng, size)
    return Document(f"page-{tag}.txt", text.encode(), "text/plain")
