"""The console's browser tests: Debian's Chromium under Playwright, one browser per pytest
worker, a fresh context per page check (tests/support/browser.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser

from tests.support.browser import artifacts_for, launched_browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's /usr/bin/chromium, headless; the test skips where it is not installed.
    Per module, not per session: sync Playwright holds the thread's event loop while it runs,
    and a later test of the same worker calling asyncio.run() would find it taken."""
    with launched_browser() as browser:
        yield browser


@pytest.fixture
def artifacts_dir(request: pytest.FixtureRequest) -> Path:
    """tests/console/artifacts/<test name>/, emptied first: screenshots kept after the run
    (pytest's tmp_path is removed too early to be an artifact)."""
    return artifacts_for(request.node.name)
