"""The console in headless Chromium, over the gateway process, the real broker, the real curator and the scripted
serving service: log in, ask (the answer streams in), correct it and see it curated, make a dataset version,
promote an adapter and see serving run it; another tenant sees none of it.

With CONSOLE_SCREENSHOTS=<dir> the pages are also written there as PNG (docs/console/ holds the README's)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from tests.fixtures.console import ConsoleStack
from tests.support.browser import chromium_path, log_in
from tests.support.console import STOAT_ANSWER
from tests.support.serving import STREAMED

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

if chromium_path() is None:  # before any fixture starts a broker, services or Prefect for nothing
    pytest.skip(
        "no chromium binary on PATH (Debian: apt-get install chromium; .ci/run installs it)", allow_module_level=True
    )
expect = pytest.importorskip("playwright.sync_api", reason="Playwright comes with the dev extra").expect
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]
SHOTS = os.environ.get("CONSOLE_SCREENSHOTS")
UPLOADED = "# Alpha price list\n\nThe alpha Heron H2 costs 31,900 dollars before VAT.\n"
# The first search loads the embedding model in the gateway; the first answer waits for the serving replica.
expect.set_options(timeout=90_000)
PAGES = ["/console/", "/console/knowledge", "/console/datasets", "/console/adapters", "/console/flywheel"]


def shot(page: Page, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


def new_page(browser: Browser) -> Page:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(90_000)
    return page


def ask_streamed_question(page: Page, stack: ConsoleStack) -> str:
    alpha = stack.seeded["alpha"]
    page.select_option("#mode", "rag")
    page.select_option("#kbs", alpha.knowledge_base)
    page.fill("#question", f"{STREAMED} How much does the alpha Stoat S6 cost?")
    page.click("#ask")
    # Words appear while the strategy is still unknown: the answer streams in before the response exists.
    page.wait_for_function(
        "document.querySelector('#answer-text').textContent.trim().length > 0"
        " && document.querySelector('#strategy').textContent === '…'"
    )
    expect(page.locator("#strategy")).to_have_text("rag")
    expect(page.locator("#answer-text")).to_have_text(STOAT_ANSWER.replace(" [1]", ""))
    expect(page.locator("#adapter")).to_have_text("base model")
    citation = page.locator("#citations blockquote.citation").first
    expect(citation).to_contain_text("The alpha Stoat S6 costs 47,150 dollars before VAT.")
    return page.locator("#response-id").inner_text()


def correct_and_see_it_curated(page: Page) -> None:
    page.fill("#correction", "It costs 47,150 dollars before VAT.")
    page.select_option("#rating", "2")
    page.click("button.thumb[data-thumbs=down]")
    curated = page.locator("#curated")
    expect(curated).to_be_visible()  # the curator service staged it, read back from the dataset store
    expect(curated).to_contain_text("curated: corrected")
    expect(curated).to_contain_text("It costs 47,150 dollars before VAT.")


def test_a_tenant_asks_corrects_curates_versions_and_promotes(
    console_stack: ConsoleStack, console_browser: Browser
) -> None:
    stack, url = console_stack, console_stack.url
    alpha = stack.seeded["alpha"]
    page = new_page(console_browser)
    page.goto(f"{url}/console/adapters")
    expect(page).to_have_url(f"{url}/console/login")  # no token, no page
    page.fill("#token", "wrong")
    page.click("#login-form button[type=submit]")
    expect(page.locator("#login-error")).to_contain_text("unknown token")
    shot(page, "login")
    log_in(page, url, "token-a")
    expect(page.locator("#tenant")).to_have_text("alpha")

    response_id = ask_streamed_question(page, stack)
    correct_and_see_it_curated(page)
    shot(page, "chat")

    chunk_link = page.locator("#citations blockquote.citation a").first
    chunk_link.click()
    expect(page.locator("pre.chunk")).to_have_text("The alpha Stoat S6 costs 47,150 dollars before VAT.")
    shot(page, "chunk")

    page.goto(f"{url}/console/knowledge")
    expect(page.locator("#kb-table")).to_contain_text(alpha.knowledge_base)
    page.fill("#upload-kb", "alpha-uploads")
    page.set_input_files(
        "#upload-file", files=[{"name": "prices.md", "mimeType": "text/markdown", "buffer": UPLOADED.encode()}]
    )
    page.click("#upload-form button[type=submit]")
    expect(page.locator("#upload-status")).to_contain_text("prices.md sent to alpha-uploads")
    for _ in range(90):  # the indexer service chunks, embeds and stores it
        page.reload()
        if "alpha-uploads" in page.locator("#kb-table").inner_text():
            break
        page.wait_for_timeout(1000)
    uploaded = page.locator("#kb-table tr", has_text="alpha-uploads").locator("td")
    expect(uploaded.nth(1)).to_have_text("1")  # one document
    page.fill("#search-q", "Heron H2 costs")
    page.select_option("#search-mode", "hybrid")
    page.fill("#search-alpha", "0.3")
    page.click("#search-form button[type=submit]")
    expect(page.locator("#search-results tbody tr").first).to_contain_text("Heron H2 costs 31,900 dollars")
    expect(page.locator("#search-status")).to_contain_text("hybrid, alpha 0.3")
    shot(page, "knowledge")

    page.goto(f"{url}/console/datasets")
    page.click("#snapshot")
    detail = page.locator("#version-detail")
    expect(detail).to_contain_text("It costs 47,150 dollars before VAT.")  # the correction is in the new version
    version = re.search(r"version=(\w+)", page.url)
    assert version and version.group(1) not in {v.version for v in alpha.versions}
    expect(page.locator("#version-detail .raft li.oracle").first).to_be_attached()
    shot(page, "datasets")
    page.select_option("select[name=old]", alpha.versions[-1].version)
    page.select_option("select[name=new]", version.group(1))
    page.click("#diff-form button[type=submit]")
    expect(page.locator("#diff tr.added")).to_contain_text("It costs 47,150 dollars before VAT.")
    shot(page, "datasets-diff")

    page.goto(f"{url}/console/adapters")
    candidate = alpha.adapters[1].version
    row = page.locator(f"#adapter-history tr[data-version={candidate}]")
    expect(row).to_contain_text(alpha.versions[-1].version)  # the dataset it was trained on
    expect(row).to_contain_text("closed_book.contains 0.470 > 0.410: promote")  # the gate's reason
    page.once("dialog", lambda dialog: dialog.dismiss())
    row.locator("button.canary").click()  # asked, refused: nothing changes
    expect(page.locator("#serving-active")).to_have_text("base model")  # the seed published no adapter event
    page.once("dialog", lambda dialog: dialog.accept())
    row.locator("button.promote").click()
    expect(page.locator("#adapter-status")).to_contain_text(f"promoted {candidate}")
    for _ in range(60):  # the gateway and the serving replica each apply the adapter event from the topic
        page.reload()
        topic_says, replica_says = page.locator("#serving-active").inner_text(), page.locator("#replicas").inner_text()
        if topic_says == candidate and candidate in replica_says:
            break
        page.wait_for_timeout(1000)
    expect(page.locator("#serving-active")).to_have_text(candidate)
    expect(page.locator("#replicas")).to_contain_text(candidate)
    shot(page, "adapters")

    page.goto(f"{url}/console/flywheel")
    expect(page.locator("svg.chart").first).to_be_visible()
    expect(page.locator("#cycles")).to_contain_text(alpha.adapters[0].version)
    runs = page.locator("#runs a")
    expect(runs).to_have_count(2)
    assert all("/runs/flow-run/" in (link.get_attribute("href") or "") for link in runs.all())
    expect(page.locator("#runs")).to_contain_text("Completed")
    shot(page, "flywheel")

    # Another tenant's token sees none of it, on any page or through the console's API.
    other = new_page(console_browser)
    log_in(other, url, "token-b")
    alpha_marks = [alpha.knowledge_base, "alpha-uploads", "Heron", response_id, "alpha Stoat"]
    alpha_marks += [v.version for v in alpha.versions] + [version.group(1)]
    alpha_marks += [m.version for m in alpha.adapters]
    for path in PAGES:
        other.goto(url + path)
        html = other.content()
        assert "beta" in html
        assert not [mark for mark in alpha_marks if mark in html], path
    cookies = {c["name"]: c["value"] for c in other.context.cookies()}
    with httpx.Client(base_url=url, cookies=cookies, timeout=30) as http:
        assert http.get("/console/api/curated").json()
        assert response_id not in http.get("/console/api/curated").text
        assert http.get(f"/console/api/curated?response_id={response_id}").json() == []
        assert http.get(f"/console/api/datasets/{version.group(1)}/export").status_code == 404
        assert http.post(f"/console/api/adapters/{candidate}/promote").status_code == 404
