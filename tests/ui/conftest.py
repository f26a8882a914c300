"""Fixtures for the counter-page tests: Debian's Chromium driven by Playwright against the real service and the
real sandbox (the `rx` and `sandbox` fixtures of tests/conftest.py). No browser is ever downloaded."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any
from collections.abc import Iterator

import pytest
from tests.standins import card_library, standins  # noqa: F401  (stand-in library fixtures)

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = "/usr/bin/chromium" if os.path.exists("/usr/bin/chromium") else shutil.which("chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
#: Long enough for a settlement round trip on a loaded 2-core CI box; a real failure still fails quickly.
STEP_TIMEOUT_MS = 10_000
#: Quiet after a scan's Enter, longer than scanguard.js's split window.
SCAN_GAP_MS = 100


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    if not CHROMIUM:
        pytest.skip("Chromium is not installed (/usr/bin/chromium); the counter-page tests need it")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (the [test] extra) is not installed")
    sync_api.expect.set_options(timeout=STEP_TIMEOUT_MS)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Counter:
    """One browser tab on the counter page, with the pharmacist's two gestures: scan (type + Enter) and press."""

    def __init__(self, page: Any, base: str, name: str):
        self.page = page
        self.base = base
        self.name = re.sub(r"[^A-Za-z0-9_]+", "_", name)
        self.errors: list[str] = []
        self.shots = 0
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def open(self) -> Counter:
        self.page.goto(self.base + "/")
        self.page.wait_for_selector("#status .ver")   # the first health poll has answered
        return self

    def scan(self, text: str) -> None:
        """What a keyboard-wedge scanner does: keystrokes into whatever has the focus, then Enter. A person needs
        far longer than the page's split window (scanguard.js: a burst going on within 60 ms of its Enter is one
        scan cut in two) to aim at the next code, so a scan is followed by that much quiet."""
        self.page.keyboard.type(text)
        self.page.keyboard.press("Enter")
        self.page.wait_for_timeout(SCAN_GAP_MS)

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)

    def shot(self, step: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        self.shots += 1
        path = ARTIFACTS / f"{self.name}_{self.shots:02d}_{step}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def text(self, selector: str) -> str:
        return self.page.locator(selector).inner_text()

    def state(self) -> dict:
        return self.page.evaluate("() => JSON.parse(JSON.stringify(window.rxlaneCounter.state))")


@pytest.fixture
def counter(chromium, rx, request) -> Iterator[Counter]:
    """A fresh browser context (own localStorage) on the counter page of a fresh rxlane + sandbox."""
    _svc, http = rx
    context = chromium.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
    context.set_default_timeout(STEP_TIMEOUT_MS)
    page = context.new_page()
    c = Counter(page, http.base, request.node.name)
    try:
        yield c.open()
        assert not c.errors, f"JavaScript errors on the page: {c.errors}"
    finally:
        context.close()


#: The usual counter monitor: everything the pharmacist needs after F2/F4 must fit without scrolling.
COUNTER_SCREEN = {"width": 1366, "height": 768}


@pytest.fixture
def screen_factory(chromium, request):
    """Open the counter page of a given rxlane (`(svc, http)`) in a fresh 1366×768 tab; several tabs may share one
    service (a reload, a second counter)."""
    contexts: list[Any] = []
    opened: list[Counter] = []

    def open_page(rx: Any, suffix: str = "") -> Counter:
        _svc, http = rx
        context = chromium.new_context(viewport=COUNTER_SCREEN, locale="zh-CN")
        context.set_default_timeout(STEP_TIMEOUT_MS)
        contexts.append(context)
        c = Counter(context.new_page(), http.base, request.node.name + suffix)
        opened.append(c)
        return c.open()

    yield open_page
    try:
        for c in opened:
            assert not c.errors, f"JavaScript errors on the page: {c.errors}"
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def screen(screen_factory, rx) -> Counter:
    """The counter page at 1366×768 on a fresh rxlane + sandbox."""
    return screen_factory(rx)
