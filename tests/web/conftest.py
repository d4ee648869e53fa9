"""What the staff web's tests share: a running `complaintbot serve` on a clock the test
moves, and a headless Chromium driven by Playwright (the system's Chromium: the tests
never download a browser)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, async_playwright, expect

from tests.support.clock import RunningWallClock, SteppedWallClock
from tests.support.serving import ready, serving
from tests.support.telegram_api import FakeBotApi
from tests.support.telegram_run import telegram_settings

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# News reach an open page within a second or two; a busy 2-core machine may take longer.
expect.set_options(timeout=15_000)


@pytest.fixture
def wall() -> SteppedWallClock:
    """Now, going on in real time (PostgreSQL's clock must agree for readiness and for
    the send budgets); tests move it on."""
    return RunningWallClock(datetime.now(UTC))


@pytest.fixture
async def web(
    api: FakeBotApi, database_url: str, tmp_path: Path, wall: SteppedWallClock
) -> AsyncIterator[httpx.AsyncClient]:
    """`complaintbot serve` with Telegram on the Bot API stand-in; a client for it."""
    settings = telegram_settings(api, database_url, tmp_path / "data", PORT=0)
    async with serving(settings, wall) as client:
        await ready(client)
        yield client


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """A headless Chromium for one test: each test has its own event loop, and
    Playwright's objects belong to the loop that started them (a launch takes ~0.6 s)."""
    if CHROMIUM is None:
        pytest.fail("Chromium is not installed: apt-get install chromium")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()
