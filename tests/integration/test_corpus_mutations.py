"""Mutants of real files from the corpus (PDF, DOCX, DOC, PPTX, PPT, XLSX, XLS,
RTF, e-mail, Outlook, ODT, ODS, EPUB), run the way production runs a file.

Truncated, bit-flipped, zeroed, duplicated and spliced copies (a seeded RNG, a fixed count) go
through the upload check and the parser sandbox; each must end in text, a parse failure with a
named code, or a refusal at upload with a reason, never an unhandled exception or a hang.
"""

import random
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from tests.fixtures.corpus import (
    Outcome,
    corpus_file,
    outcomes_of,
)

pytestmark = pytest.mark.integration

SEED = 20_260_508
MUTANTS_PER_FILE = 20
SPLICES = 20
SEEDS = (
    "pdfminer/simple4.pdf",
    "pypdf-samples/pdflatex-4-pages.pdf",
    "pypdf-samples/pdflatex-outline.pdf",
    "pypdf-samples/multicolumn.pdf",
    "tika/testPDF.pdf",
    "pdfbox/eu-001.pdf",
    "pypdf-samples/libreoffice-writer-password.pdf",
    "python-docx/test.docx",
    "tika/testWORD_various.docx",
    "tika/testWORD_numbered_list.docx",
    "tika/testPPT.pptx",
    "tika/testEXCEL.xlsx",
    "tika/testEXCEL.xls",
    "tika/testMSG_att_msg.msg",
    "tika/testWORD_various.doc",
    "tika/testPPT_various.ppt",
    "poi/basic_test_ppt_file.ppt",
    "poi/Bug49820.doc",
    "tika/testRTFJapanese.rtf",
    "unstructured/mime-attach-mp3.eml",
    "tika/complex.mbox",
    "tika/testODTMacro.fodt",
    "tika/testODFwithOOo3.odt",
    "tika/LibreOfficeCalc_ods_1.3.ods",
    "tika/testEPUB.epub",
)

Mutation = Callable[[random.Random, bytes], bytes]


def truncate(rng: random.Random, data: bytes) -> bytes:
    """Cut the file at a random point (a download that stopped early)."""
    return data[: rng.randrange(1, len(data))]


def flip_bytes(rng: random.Random, data: bytes) -> bytes:
    """Flip one bit in each of a few random bytes (a bad disk or a bad transfer)."""
    out = bytearray(data)
    for _ in range(rng.randint(1, 16)):
        out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
    return bytes(out)


def zero_run(rng: random.Random, data: bytes) -> bytes:
    """Overwrite a random run of up to 4 KiB with zero bytes."""
    start = rng.randrange(len(data))
    length = min(rng.randint(1, 4096), len(data) - start)
    return data[:start] + bytes(length) + data[start + length :]


def duplicate_run(rng: random.Random, data: bytes) -> bytes:
    """Repeat a random run of the file in place (a botched append)."""
    start = rng.randrange(len(data))
    run = data[start : start + rng.randint(1, 8192)]
    return data[:start] + run * rng.randint(2, 4) + data[start:]


MUTATIONS: tuple[Mutation, ...] = (truncate, flip_bytes, zero_run, duplicate_run)


@dataclass(frozen=True)
class Mutant:
    """One mutated file: an id that says how it was made, its bytes, its upload name."""

    id: str
    data: bytes
    filename: str


def build_mutants() -> list[Mutant]:
    """The same mutants on every run: one seeded RNG, a fixed number per file, then splices."""
    rng = random.Random(SEED)  # noqa: S311 - reproducible test data, not secrets
    originals = {path: corpus_file(path).read() for path in SEEDS}
    mutants: list[Mutant] = []
    for path, data in originals.items():
        name = path.rsplit("/", 1)[-1]
        for number in range(MUTANTS_PER_FILE):
            mutation = MUTATIONS[number % len(MUTATIONS)]
            mutants.append(
                Mutant(f"{path}:{mutation.__name__}:{number}", mutation(rng, data), name)
            )
    paths = sorted(originals)
    for number in range(SPLICES):
        first, second = rng.sample(paths, 2)
        head, tail = originals[first], originals[second]
        cut_head, cut_tail = rng.randrange(1, len(head)), rng.randrange(len(tail))
        spliced = head[:cut_head] + tail[cut_tail:]
        name = first.rsplit("/", 1)[-1]
        mutants.append(Mutant(f"splice:{first}+{second}:{number}", spliced, name))
    return mutants


MUTANTS = build_mutants()


@pytest.fixture(scope="module")
async def mutant_outcomes() -> AsyncIterator[dict[str, Outcome]]:
    """The outcome of every mutant, from one sandbox with the production limits."""
    yield await outcomes_of(
        "mutants of corpus files", ((m.id, m.data, m.filename) for m in MUTANTS)
    )


def test_the_mutants_are_the_same_on_every_run() -> None:
    again = build_mutants()
    assert [(m.id, m.data) for m in again] == [(m.id, m.data) for m in MUTANTS]
    assert len({m.data for m in MUTANTS}) == len(MUTANTS), "every mutant differs"
    assert len(MUTANTS) == len(SEEDS) * MUTANTS_PER_FILE + SPLICES


@pytest.mark.parametrize("mutant", MUTANTS, ids=[m.id for m in MUTANTS])
def test_each_mutant_ends_in_text_or_a_named_failure(
    mutant: Mutant, mutant_outcomes: dict[str, Outcome]
) -> None:
    outcome = mutant_outcomes[mutant.id]
    assert outcome.explained(), (
        f"{mutant.id} ({len(mutant.data)} bytes) ended {outcome.kind}: "
        f"{outcome.code} {outcome.detail}"
    )
