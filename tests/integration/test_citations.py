"""Citations through Kafka: a DocumentParsed with a layout blob, published straight to the parsed
topic, ends as chunks that store their page and heading, and as search hits that cite them.

The embedder and status run as processes (the `pipeline` fixture); this test writes the blobs
and the event itself, so it does not depend on which formats the parser gives a layout.
"""

import uuid
from bisect import bisect_right
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from aiokafka import AIOKafkaProducer
from psycopg.rows import dict_row

from schemas import topics
from schemas.events import BlobRef, DocumentParsed, Origin
from schemas.layout import MEDIA_TYPE, Heading, Layout, encode_layout
from services.common.blobstore import PostgresBlobStore
from services.common.db import Pool, open_pool
from services.common.kafka.producer import KafkaPublisher
from tests.fixtures.envelopes import new_job
from tests.fixtures.pipeline import Pipeline, search, wait_for_state

pytestmark = pytest.mark.integration

PARSER = Origin(service="parser", instance="test-citations")
# Three pages, one section each; every page long enough for more than one 256-token chunk.
SECTIONS = (
    (
        "Growing tea",
        "Tea bushes grow best on misty hillsides with acid soil and steady rain. ",
        "Camellia sinensis bushes are pruned to waist height so pickers can reach them. ",
    ),
    (
        "Withering and rolling",
        "Fresh leaves are spread on racks to wither until they turn soft and pliable. ",
        "Rolling bruises the withered leaves so their juices meet the air and oxidise. ",
    ),
    (
        "Roasting oolong",
        "Oolong is rolled into tight balls and roasted slowly over glowing charcoal. ",
        "A longer roast gives the oolong a darker colour and a toasted, nutty taste. ",
    ),
)


def document() -> tuple[str, Layout]:
    """The parsed text and its layout: a page and a heading at the start of each section."""
    parts: list[str] = []
    pages: list[int] = []
    headings: list[Heading] = []
    offset = 0
    for title, first, second in SECTIONS:
        page = f"{title}\n\n" + first * 25 + "\n\n" + second * 25 + "\n\n"
        pages.append(offset)
        headings.append(Heading(offset, 1, title))
        parts.append(page)
        offset += len(page)
    return "".join(parts), Layout(pages=pages, headings=headings)


@pytest.fixture(scope="module")
def status(pipeline: Pipeline) -> Iterator[httpx.Client]:
    """A client for the status API."""
    with httpx.Client(base_url=pipeline.status_url, timeout=60) as client:
        yield client


@pytest.fixture
async def blobs(pipeline: Pipeline) -> AsyncIterator[PostgresBlobStore]:
    """The pipeline's blob store."""
    pool: Pool = await open_pool(pipeline.database_url, max_size=2, name="test-citations")
    try:
        yield PostgresBlobStore(pool)
    finally:
        await pool.close()


def parsed(tenant: str, text: BlobRef, layout: BlobRef | None, version: int) -> DocumentParsed:
    """A DocumentParsed as a parser of schema `version` writes it."""
    return DocumentParsed(
        **new_job(tenant, origin=PARSER),
        schema_version=version,
        text=text,
        char_count=text.size,
        layout=layout,
    )


def stored_chunks(pipeline: Pipeline, document_id: str) -> list[dict[str, Any]]:
    """The document's chunk rows, in order."""
    with psycopg.connect(pipeline.database_url, row_factory=dict_row) as conn:
        return conn.execute(
            "SELECT chunk_index, text, start_char, end_char, page, heading FROM chunks"
            " WHERE document_id = %s ORDER BY chunk_index",
            (document_id,),
        ).fetchall()


async def test_chunks_and_search_hits_cite_page_heading_and_offsets(
    pipeline: Pipeline,
    producer: AIOKafkaProducer,
    blobs: PostgresBlobStore,
    status: httpx.Client,
) -> None:
    tenant = f"cite-{uuid.uuid4().hex[:10]}"
    token = pipeline.token(tenant)
    text, layout = document()
    text_ref = await blobs.put(text.encode(), "text/plain; charset=utf-8")
    layout_ref = await blobs.put(encode_layout(layout), MEDIA_TYPE)
    plain = "Green tea is steamed or pan-fired soon after picking to stop oxidation."
    plain_ref = await blobs.put(plain.encode(), "text/plain; charset=utf-8")
    black = "Black tea leaves are left to oxidise fully before they are dried in hot air."
    black_ref = await blobs.put(black.encode(), "text/plain; charset=utf-8")
    lost = BlobRef(sha256="0" * 64, size=10, media_type=MEDIA_TYPE)  # never stored
    cited = parsed(tenant, text_ref, layout_ref, 2)
    v1 = parsed(tenant, plain_ref, None, 1)  # an older parser: no layout at all
    missing = parsed(tenant, black_ref, lost, 2)  # the layout blob is gone
    publisher = KafkaPublisher(producer)
    for event in (cited, v1, missing):
        await publisher.publish(topics.DOCUMENTS_PARSED, event)

    for event in (cited, v1, missing):
        job = wait_for_state(status, event.job_id, token, timeout=180)
        assert job["state"] == "indexed", job

    def citation(start: int) -> tuple[int, str]:
        """Page and heading where offset `start` lies, from the layout we wrote."""
        section = bisect_right([h.start for h in layout.headings], start) - 1
        return bisect_right(layout.pages, start), SECTIONS[section][0]

    rows = stored_chunks(pipeline, cited.document_id)
    assert len(rows) > len(SECTIONS)
    for row in rows:
        assert text[row["start_char"] : row["end_char"]] == row["text"]
        assert (row["page"], row["heading"]) == citation(row["start_char"]), row
    assert {r["page"] for r in rows} == {1, 2, 3}
    for event in (v1, missing):
        rows = stored_chunks(pipeline, event.document_id)
        assert rows
        assert all(r["page"] is None and r["heading"] is None for r in rows), rows

    hits = search(status, token, "roasting oolong over charcoal", top_k=5)
    assert {h["document_id"] for h in hits} >= {cited.document_id}
    for hit in (h for h in hits if h["document_id"] == cited.document_id):
        assert text[hit["char_start"] : hit["char_end"]] == hit["text"]
        assert (hit["page"], hit["heading"]) == citation(hit["char_start"]), hit
    assert (3, "Roasting oolong") in {(h["page"], h["heading"]) for h in hits}, hits

    for event, body, query in (
        (v1, plain, "steamed or pan-fired green tea"),
        (missing, black, "fully oxidised black tea"),
    ):
        hit = search(status, token, query, top_k=1)[0]
        assert hit["document_id"] == event.document_id, hit
        assert (hit["page"], hit["heading"], hit["char_start"], hit["char_end"]) == (
            None,
            None,
            0,
            len(body),
        )
