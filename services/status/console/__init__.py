"""The web console: `GET /console`, one page of plain HTML, JavaScript modules and CSS under
static/ (no build step), which signs in with a token and calls the status and ingest APIs."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import msgspec
from litestar import MediaType, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

STATIC = Path(__file__).parent / "static"


class ConsoleConfig(msgspec.Struct, frozen=True):
    """GET /console/config.json: what the page cannot know by itself."""

    ingest_url: str  # where uploads go (a browser's view of ingest)


def _policy(ingest_url: str) -> str:
    """The page's Content-Security-Policy: its own files, the APIs, nothing inline."""
    parts = urlsplit(ingest_url)
    ingest = f"{parts.scheme}://{parts.netloc}"
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
        f" connect-src 'self' {ingest}; frame-ancestors 'none'; base-uri 'none';"
        " form-action 'none'"
    )


def console_routes(ingest_url: str) -> list[ControllerRouterHandler]:
    """The console's page, its configuration and its static files."""
    page = (STATIC / "index.html").read_bytes()
    headers = {
        "content-security-policy": _policy(ingest_url),
        "x-content-type-options": "nosniff",
        "referrer-policy": "no-referrer",
        "cache-control": "no-cache",
    }
    config = ConsoleConfig(ingest_url=ingest_url.rstrip("/"))

    @get(["/console", "/console/"], include_in_schema=False, media_type=MediaType.HTML)
    async def console_page() -> Response[bytes]:
        return Response(page, media_type=MediaType.HTML, headers=headers)

    @get("/console/config.json", include_in_schema=False, sync_to_thread=False)
    def console_config() -> ConsoleConfig:
        return config

    assets = create_static_files_router(
        path="/console/assets",
        directories=[STATIC],
        cache_control=CacheControlHeader(no_cache=True),
        name="console-assets",
    )
    return [console_page, console_config, assets]
