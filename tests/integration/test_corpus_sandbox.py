"""Every file of the real-world corpus, run the way production runs it: upload check, then sandbox.

Each file must end explained: text, a parse failure with a named code and a message, or a
refusal at upload with a reason; never an unhandled exception, never past the time limit. A
file whose manifest entry names text it `contains` must end in text holding it. A
file whose format Sluice accepts (manifest `must_accept`) must not be refused at upload, and a
PDF that cannot be opened without a password or certificate must end `encrypted_pdf`.
"""

import io
from collections.abc import AsyncIterator

import pytest
from pypdf import PdfReader, PdfWriter

from tests.fixtures.corpus import (
    FAILED,
    REFUSED,
    TEXT,
    CorpusFile,
    Outcome,
    corpus_file,
    load_manifest,
    outcomes_of,
)

pytestmark = pytest.mark.integration

FILES = load_manifest()


@pytest.fixture(scope="module")
async def outcomes() -> AsyncIterator[dict[str, Outcome]]:
    """The outcome of every corpus file, from one sandbox with the production limits."""
    yield await outcomes_of(
        "corpus through upload check + sandbox", ((f.path, f.read(), f.name) for f in FILES)
    )


def describe(entry: CorpusFile, outcome: Outcome) -> str:
    """What went wrong with one file, with what the manifest says about it."""
    return (
        f"{entry.path} (tags: {', '.join(entry.tags) or '-'}; from {entry.source} "
        f"{entry.original_path}) ended {outcome.kind}: {outcome.code} {outcome.detail}"
    )


@pytest.mark.parametrize("entry", FILES, ids=[f.path for f in FILES])
def test_each_corpus_file_ends_in_text_or_a_named_failure(
    entry: CorpusFile, outcomes: dict[str, Outcome]
) -> None:
    outcome = outcomes[entry.path]
    assert outcome.explained(), describe(entry, outcome)
    if entry.must_accept:
        assert outcome.kind != REFUSED, describe(entry, outcome)


READ = [f for f in FILES if f.contains]


@pytest.mark.parametrize("entry", READ, ids=[f.path for f in READ])
def test_the_text_a_reader_sees_comes_out(entry: CorpusFile, outcomes: dict[str, Outcome]) -> None:
    # Text in content controls, nested tables, text boxes, tracked insertions, macro-enabled
    # documents, templates and Strict OOXML was lost while the file still "parsed".
    outcome = outcomes[entry.path]
    assert outcome.kind == TEXT, describe(entry, outcome)
    missing = [phrase for phrase in entry.contains if phrase not in outcome.text]
    assert not missing, f"{entry.path}: {missing} not in the text"


LOCKED = [f for f in FILES if {"password-required", "certificate-required"} & set(f.tags)]


@pytest.mark.parametrize("entry", LOCKED, ids=[f.path for f in LOCKED])
def test_a_pdf_that_needs_a_password_ends_encrypted_pdf(
    entry: CorpusFile, outcomes: dict[str, Outcome]
) -> None:
    # The user can act on "remove the password"; "corrupt, re-export it" sends them astray.
    outcome = outcomes[entry.path]
    assert (outcome.kind, outcome.code) == (FAILED, "encrypted_pdf"), describe(entry, outcome)


def _over_and_over(pdf: bytes, times: int) -> bytes:
    """The PDF's pages `times` over, one after another, as one PDF."""
    reader = PdfReader(io.BytesIO(pdf))
    writer = PdfWriter()
    for _ in range(times):
        for page in reader.pages:
            writer.add_page(page)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


async def test_a_thousand_page_pdf_is_read_to_its_last_page() -> None:
    # A long report, pdfbox's 28-page cweb.pdf forty times over (1,120 pages): pypdf's page
    # text needed ~28 s of CPU for it, past the parser's 20 s limit, and such files ended
    # parse_timeout (a real 619-page report in Unstructured's examples did); PDFium reads it
    # in a tenth of the limit.
    entry = corpus_file("pdfbox/cweb.pdf")
    data = _over_and_over(entry.read(), 40)
    outcome = (await outcomes_of("a 1,120-page PDF", [(entry.path, data, "long.pdf")]))[entry.path]
    assert outcome.kind == TEXT, describe(entry, outcome)
    last_words = "corresponding .toc file entry is"  # the end of cweb.pdf's last page
    assert outcome.text.count(last_words) == 40
