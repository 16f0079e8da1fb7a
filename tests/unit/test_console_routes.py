"""The web console's routes on the status app: the page with its security headers, its
configuration (where ingest is), and its static modules."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from services.common.http import Check, create_app
from services.status.console import STATIC, console_routes

pytestmark = pytest.mark.unit


async def _ready() -> dict[str, Check]:
    return {}


@pytest.fixture
def client() -> Iterator[TestClient[Any]]:
    app = create_app("status", _ready, console_routes("https://ingest.example.com/"))
    with TestClient(app) as test_client:
        yield test_client


def test_the_page_is_served_with_a_policy_that_allows_only_itself_and_ingest(
    client: TestClient[Any],
) -> None:
    for path in ("/console", "/console/"):
        page = client.get(path)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert '<script type="module" src="/console/assets/app.js">' in page.text
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "connect-src 'self' https://ingest.example.com;" in policy
    assert "frame-ancestors 'none'" in policy


def test_the_page_learns_where_ingest_is(client: TestClient[Any]) -> None:
    assert client.get("/console/config.json").json() == {"ingest_url": "https://ingest.example.com"}


def test_every_module_the_page_imports_is_served(client: TestClient[Any]) -> None:
    served = {"app.js"}
    pending = ["app.js"]
    while pending:
        name = pending.pop()
        response = client.get(f"/console/assets/{name}")
        assert response.status_code == 200, name
        assert "javascript" in response.headers["content-type"], name
        for imported in re.findall(r'from "\./([\w.]+)"', response.text):
            if imported not in served:
                served.add(imported)
                pending.append(imported)
    assert served == {p.name for p in STATIC.glob("*.js")}, "no module unused, none missing"
    assert client.get("/console/assets/console.css").headers["content-type"].startswith("text/css")
    assert client.get("/console/assets/../__init__.py").status_code == 404


def test_the_page_never_writes_html_from_data() -> None:
    """Every text goes in through textContent/append (dom.js `el`), so a filename or a chunk
    cannot inject markup."""
    for path in STATIC.glob("*.js"):
        assert "innerHTML" not in path.read_text(), path.name
        assert "insertAdjacentHTML" not in path.read_text(), path.name
