"""Unit tests: search hits carry their citation, and the OpenAPI document says so."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from services.common.http import Check, create_app
from services.status.adapters.queries import SearchHit
from services.status.api import SearchResponse, StatusController

pytestmark = pytest.mark.unit

CITATION = ("page", "heading", "char_start", "char_end")
HIT = SearchHit(
    document_id="d",
    chunk_index=0,
    text="Steep for three minutes.",
    score=0.71,
    page=None,
    heading=None,
    char_start=120,
    char_end=144,
)


@pytest.fixture(scope="module")
def openapi() -> Iterator[dict[str, Any]]:
    """The status service's OpenAPI document as it serves it."""

    async def ready() -> dict[str, Check]:
        return {}

    with TestClient(create_app("status", ready, [StatusController])) as client:
        response = client.get("/schema/openapi.json")
        assert response.status_code == 200, response.text
        yield response.json()


def test_a_hit_without_page_or_heading_says_null_not_nothing() -> None:
    body = json.loads(msgspec.json.encode(SearchResponse(results=[HIT], embedding_model="m")))
    assert {k: body["results"][0][k] for k in CITATION} == {
        "page": None,
        "heading": None,
        "char_start": 120,
        "char_end": 144,
    }


def test_the_openapi_document_shows_the_search_hits_citation(openapi: dict[str, Any]) -> None:
    search = openapi["paths"]["/v1/search"]["post"]["responses"]
    assert search["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SearchResponse"
    }
    assert "application/problem+json" in search["503"]["content"]
    schemas = openapi["components"]["schemas"]
    results = schemas["SearchResponse"]["properties"]["results"]
    assert results["items"] == {"$ref": "#/components/schemas/SearchHit"}
    hit = schemas["SearchHit"]
    assert set(CITATION) <= set(hit["required"])
    props = hit["properties"]
    assert {t["type"] for t in props["page"]["oneOf"]} == {"integer", "null"}
    assert {t["type"] for t in props["heading"]["oneOf"]} == {"string", "null"}
    assert props["char_start"]["type"] == props["char_end"]["type"] == "integer"
    assert all(props[name].get("description") for name in CITATION)
