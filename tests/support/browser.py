"""Headless Debian Chromium through Playwright (never ``playwright install``: it downloads a browser from the
internet). The flags are those measured in /work/shared/notes/browser.md: without the background-networking ones
Chromium keeps trying to reach the internet."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium_path() -> Path | None:
    """Debian's chromium (`apt-get install chromium`; .ci/run installs it), or None where there is none."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    return Path(found) if found else None


@contextlib.contextmanager
def chromium(executable: Path) -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright  # here, so the rest of the suite runs without Playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(executable), headless=True, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def log_in(page: Page, base_url: str, token: str) -> None:
    """Through the login form, as a person does; ends on the chat page."""
    page.goto(f"{base_url}/console/login")
    page.fill("#token", token)
    page.click("#login-form button[type=submit]")
    page.wait_for_url(f"{base_url}/console/")
