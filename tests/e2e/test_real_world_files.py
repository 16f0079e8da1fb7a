"""End to end with files nobody here wrote: upload over HTTP, follow each job to its end state.

Nineteen varied files from the real-world corpus (tests/corpus) go through the four services on
the real Kafka and Postgres. Each upload is accepted, and each job ends `indexed`, or `failed`
with the expected code and a message a person can act on, within the parser's time limit plus
the retry budget, while the others keep flowing.

This module sorts after test_pipeline.py on purpose: every pipeline started by a later module
reads the shared topics from the beginning, so a record that stalls a parser here (as a PDF
with a bookmark outline does today) must not stall the pipelines of the modules that follow.
"""

import mimetypes
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.fixtures.corpus import corpus_file
from tests.fixtures.pipeline import TERMINAL, Pipeline, search

pytestmark = pytest.mark.e2e

# Parser time limit (30 s) plus its retry budget, with room for a CPU shared with other work.
JOBS_DEADLINE_S = 240.0
INDEXED = "indexed"


@dataclass(frozen=True)
class Case:
    """One corpus file and how its job must end: `indexed`, or the failure code expected."""

    description: str
    path: str
    expected: str


CASES = (
    Case("a LaTeX PDF with a bookmark outline", "pypdf-samples/pdflatex-outline.pdf", INDEXED),
    Case("a two-column LaTeX PDF", "pypdf-samples/multicolumn.pdf", INDEXED),
    Case("an Arabic (right-to-left) PDF", "pypdf-samples/habibi.pdf", INDEXED),
    Case("a PDF without a cross-reference table", "pdfjs/issue15590.pdf", "corrupt_file"),
    Case("a PDF with a password", "pypdf-samples/libreoffice-writer-password.pdf", "encrypted_pdf"),
    Case("a scanned PDF without a text layer", "tika/testOCR.pdf", "no_text"),
    Case("Windows-1252 text with curly quotes", "tika/testTXT_win-1252.txt", INDEXED),
    Case("Shift-JIS Japanese text", "cpython/shift_jis.txt", INDEXED),
    Case("UTF-16 HTML with a byte-order mark", "tika/testHTML_charset_utf16le.html", INDEXED),
    Case("a Word document", "python-docx/test.docx", INDEXED),
    Case("a PowerPoint deck", "tika/testPPT.pptx", INDEXED),
    Case("a PowerPoint 97-2003 deck with comments", "tika/testComment.ppt", INDEXED),
    Case("an Excel workbook", "tika/testEXCEL.xlsx", INDEXED),
    Case("an Excel 97-2003 workbook", "tika/testEXCEL_embeded.xls", INDEXED),
    Case("a Word template, its text in content controls", "poi/ChronologicalResume.dotx", INDEXED),
    Case("a Word 97-2003 document with notes and a text box", "tika/testWORD_various.doc", INDEXED),
    Case("a Word form in nested tables", "poi/60329.docx", INDEXED),
    Case("a filled-in PDF form", "pdfjs/issue18036.pdf", INDEXED),
    Case("an e-mail with an MP3 attached", "unstructured/mime-attach-mp3.eml", INDEXED),
    Case("an Outlook message with a message attached", "tika/testMSG_att_msg.msg", INDEXED),
    Case("Japanese RTF in Shift-JIS escapes", "tika/testRTFJapanese.rtf", INDEXED),
    Case("an OpenDocument text with footnotes", "tika/testODFwithOOo3.odt", INDEXED),
    Case("a flat OpenDocument text (one XML file)", "tika/testODTMacro.fodt", INDEXED),
    Case("a PowerPoint 97-2003 deck saved in steps", "poi/basic_test_ppt_file.ppt", INDEXED),
    Case("a mailbox of three messages", "tika/complex.mbox", INDEXED),
    Case("a journal article in JATS XML", "docling/pone.0234687.nxml", INDEXED),
    Case("an EPUB book", "unstructured/winter-sports.epub", INDEXED),
)  # fmt: skip

# Text that only reaches the index since the parser reads where Word and PDF forms keep it,
# and e-mail as e-mail: a search for what each file says finds it first, in a chunk holding
# the words it searched.
SEARCHES = {
    "poi/ChronologicalResume.dotx": ("tips for a great-looking résumé", "great-looking résumé"),
    "poi/60329.docx": ("does a DPP4 inhibitor lower sCD14 in people with HIV?", "sitagliptin"),
    "pdfjs/issue18036.pdf": (
        "this certificate of insurance does not amend the policy coverage",
        "does not amend, extend or alter the coverage",
    ),
    "unstructured/mime-attach-mp3.eml": (
        "the e-mail that came with an MP3 attachment",
        "This is an email with an MP3 attachment.",
    ),
}


@dataclass(frozen=True)
class Journey:
    """What happened to one upload: the ingest answer, and the job as last seen."""

    response: httpx.Response
    job: dict[str, Any] | None


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for `token`."""
    return {"Authorization": f"Bearer {token}"}


def upload(ingest: httpx.Client, token: str, path: str) -> httpx.Response:
    """POST one corpus file to /v1/documents under its own file name."""
    entry = corpus_file(path)
    media = mimetypes.guess_type(entry.name)[0] or "application/octet-stream"
    return ingest.post(
        "/v1/documents",
        headers=bearer(token),
        files={"file": (entry.name, entry.read(), media)},
    )


def follow(status: httpx.Client, token: str, job_ids: dict[str, str]) -> dict[str, Any]:
    """Poll every job until all are terminal or the deadline passes; the last body of each."""
    last: dict[str, Any] = {}
    pending = dict(job_ids)
    deadline = time.monotonic() + JOBS_DEADLINE_S
    while pending and time.monotonic() < deadline:
        for path, job_id in list(pending.items()):
            response = status.get(f"/v1/jobs/{job_id}", headers=bearer(token))
            if response.status_code == 200:
                last[path] = response.json()
                if last[path]["state"] in TERMINAL:
                    del pending[path]
        time.sleep(0.5)
    return last


@pytest.fixture(scope="module")
def token(pipeline: Pipeline) -> str:
    """A token of a fresh tenant, the uploader of every case."""
    return pipeline.token(f"real-world-{time.monotonic_ns()}")


@pytest.fixture(scope="module")
def journeys(pipeline: Pipeline, token: str) -> Iterator[dict[str, Journey]]:
    """Every case uploaded by one fresh tenant, then followed until terminal (or the deadline)."""
    with (
        httpx.Client(base_url=pipeline.ingest_url, timeout=60) as ingest,
        httpx.Client(base_url=pipeline.status_url, timeout=60) as status,
    ):
        responses = {case.path: upload(ingest, token, case.path) for case in CASES}
        job_ids = {p: r.json()["job_id"] for p, r in responses.items() if r.status_code == 202}
        jobs = follow(status, token, job_ids)
    yield {path: Journey(responses[path], jobs.get(path)) for path in responses}


@pytest.mark.parametrize("case", CASES, ids=[c.path for c in CASES])
def test_each_upload_ends_indexed_or_failed_with_its_code(
    case: Case, journeys: dict[str, Journey]
) -> None:
    journey = journeys[case.path]
    assert journey.response.status_code == 202, (
        f"{case.description} ({case.path}) was refused at upload: "
        f"{journey.response.status_code} {journey.response.text}"
    )
    job = journey.job
    assert job is not None and job["state"] in TERMINAL, (
        f"{case.description} ({case.path}) did not end within {JOBS_DEADLINE_S:.0f}s; "
        f"last seen: {job}"
    )
    if case.expected == INDEXED:
        assert job["state"] == INDEXED, f"{case.description}: {job}"
        assert job["error"] is None
        assert job["chunk_count"] >= 1, job
    else:
        assert job["state"] == "failed", f"{case.description}: {job}"
        error = job["error"]
        assert error["code"] == case.expected, f"{case.description}: {job}"
        assert error["message"].strip(), job
        assert job["chunk_count"] is None


@pytest.mark.parametrize("path", SEARCHES, ids=SEARCHES.keys())
def test_text_only_the_parser_reads_where_it_lies_is_found_first(
    path: str, pipeline: Pipeline, token: str, journeys: dict[str, Journey]
) -> None:
    query, words = SEARCHES[path]
    job = journeys[path].job
    assert job is not None and job["state"] == INDEXED, job
    with httpx.Client(base_url=pipeline.status_url, timeout=60) as status:
        best = search(status, token, query, top_k=1)[0]
    assert best["filename"] == corpus_file(path).name, best
    assert words in " ".join(best["text"].split()), best
