"""The web console in headless Chromium (Debian's package, driven by Playwright): sign in,
drop a file and watch it reach `indexed`, search it with citations, see a failed file's
reason. Screenshots go to $SLUICE_TEST_ARTIFACTS/console (else the test's tmp_path)."""

from __future__ import annotations

import base64
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    ConsoleMessage,
    Page,
    expect,
    sync_playwright,
)

from infra.local import REPO_ROOT
from tests.fixtures.infra import unavailable
from tests.fixtures.pipeline import Pipeline

pytestmark = pytest.mark.e2e

EXAMPLES = REPO_ROOT / "examples"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
INDEXED_WITHIN_MS = 240_000  # a generous bound for a busy machine, not a measurement
DROP = """([name, data, type]) => {
  const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type }));
  return transfer;
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's chromium, headless; never a downloaded browser."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        unavailable("chromium is not installed (Debian: apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where this test's screenshots go."""
    root = os.environ.get("SLUICE_TEST_ARTIFACTS")
    folder = Path(root) / "console" if root else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh page whose script errors fail the test."""
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on("console", lambda m: errors.append(m.text) if _script_error(m) else None)
    yield opened
    context.close()
    assert not errors, f"errors in the page: {errors}"


def _script_error(message: ConsoleMessage) -> bool:
    """An error the page logged, less the browser's note on each 4xx (a refused token, the
    absent /v1/pipeline), which the page handles."""
    return message.type == "error" and not message.text.startswith("Failed to load resource")


def sign_in(page: Page, pipeline: Pipeline, token: str) -> None:
    """Open /console and sign in with `token`."""
    page.goto(f"{pipeline.status_url}/console")
    page.fill("#token", token)
    page.click("#sign-in-form button")
    expect(page.locator("#tabs")).to_be_visible()


def drop(page: Page, path: Path, media_type: str) -> None:
    """Drag `path` onto the drop zone, as a person dragging it from their desktop would."""
    data = base64.b64encode(path.read_bytes()).decode()
    transfer = page.evaluate_handle(DROP, [path.name, data, media_type])
    page.dispatch_event("#drop", "drop", {"dataTransfer": transfer})


def test_upload_watch_search_and_a_failed_files_reason(
    pipeline: Pipeline, page: Page, shots: Path
) -> None:
    token = pipeline.token(f"web-{uuid.uuid4().hex[:8]}")
    page.goto(f"{pipeline.status_url}/console")
    page.fill("#token", "not-a-token")
    page.click("#sign-in-form button")
    expect(page.locator("#sign-in-error")).to_contain_text("token refused")
    page.screenshot(path=shots / "1-sign-in-refused.png")
    sign_in(page, pipeline, token)

    drop(page, EXAMPLES / "photosynthesis.pdf", "application/pdf")
    page.set_input_files("#files", EXAMPLES / "bad" / "corrupt.pdf")
    upload = page.locator('#uploads li[data-file="photosynthesis.pdf"]')
    expect(upload.locator("progress")).to_have_js_property("value", 1)
    expect(upload.locator(".upload-state")).not_to_contain_text("uploading")

    good = page.locator("#jobs tbody tr", has_text="photosynthesis.pdf")
    bad = page.locator("#jobs tbody tr", has_text="corrupt.pdf")
    expect(good).to_have_attribute("data-state", "indexed", timeout=INDEXED_WITHIN_MS)
    expect(bad).to_have_attribute("data-state", "failed", timeout=INDEXED_WITHIN_MS)
    expect(upload.locator(".state")).to_have_text("indexed")  # the upload's row follows it
    expect(good.locator("td").nth(3)).to_contain_text(" s")  # the parse stage's time

    bad.click()
    expect(page.locator("#job-error")).to_contain_text("corrupt_file")
    page.screenshot(path=shots / "2-failed-reason.png")
    good.click()
    expect(page.locator("#job .timeline li")).to_have_count(5)  # queued … indexed
    expect(page.locator("#job")).to_contain_text("Chunks")
    page.screenshot(path=shots / "3-jobs-and-timeline.png")

    page.click('#tabs [data-tab="search"]')
    page.fill("#query", "how do plants capture sunlight?")
    page.press("#query", "Enter")
    best = page.locator("#results li").first
    expect(best.locator(".cite")).to_contain_text("photosynthesis.pdf · page 1")
    expect(best.locator("blockquote")).to_contain_text("sunlight")
    page.screenshot(path=shots / "4-search.png")

    page.reload()  # the token stays for the tab's session
    expect(page.locator("#tabs")).to_be_visible()
    expect(page.locator("#sign-in")).to_be_hidden()


def test_the_pipeline_view_shows_for_admins_only(
    pipeline: Pipeline, page: Page, shots: Path
) -> None:
    tab = page.locator('#tabs [data-tab="pipeline"]')
    reader = pipeline.token(f"ops-{uuid.uuid4().hex[:8]}", scopes=("documents:read",))
    sign_in(page, pipeline, reader)
    expect(tab).to_be_hidden()  # not an admin: no tab (GET /v1/pipeline is 403 for it)

    page.evaluate("sessionStorage.clear()")
    admin = pipeline.token(
        f"ops-{uuid.uuid4().hex[:8]}", scopes=("documents:read", "admin:pipeline")
    )
    sign_in(page, pipeline, admin)
    expect(tab).to_be_visible()
    tab.click()
    rows = page.locator("#pipeline tbody tr")
    expect(rows).to_have_count(3)  # parse, embed, project: what the status service answers
    expect(rows.locator("td").first).to_have_text("parse")
    expect(page.locator("#pipeline thead th").first).to_have_text("stage")
    expect(page.locator("#pipeline thead")).to_contain_text("verdict")
    page.screenshot(path=shots / "5-pipeline.png")
