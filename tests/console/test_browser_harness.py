"""The browser-test harness itself, on the service's existing page /verify (served with a strict
Content-Security-Policy): the pinned Playwright drives Debian's Chromium, the page loads without
a CSP violation, a screenshot is kept, and axe-core finds no serious or critical violation."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser
from playwright.sync_api import Error as PlaywrightError

from registry.api.app import create_app
from registry.runtime import Runtime
from tests.support.browser import (
    axe_violations,
    chromium_version,
    csp_violations,
    live_server,
    new_context,
    screenshot,
)


# The browser is what is tested here, not the database: SQLite only.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_verify_page_in_debian_chromium(browser: Browser, runtime: Runtime, artifacts_dir: Path) -> None:
    assert browser.version.split(".")[0] == chromium_version().split(".")[0], (browser.version, chromium_version())
    with live_server(create_app(runtime)) as base_url:
        context = new_context(browser)
        try:
            page = context.new_page()
            response = page.goto(f"{base_url}/verify")
            assert response is not None and response.ok
            assert "script-src 'self'" in response.headers["content-security-policy"]
            assert page.evaluate("navigator.language") == "zh-CN"
            assert page.get_by_role("button", name="核验 Check").is_visible()
            assert csp_violations(context) == []
            shot = screenshot(page, artifacts_dir, "verify")
            assert shot.stat().st_size > 0
            # The recorder is not deaf: an inline script is refused, and the refusal recorded.
            with pytest.raises(PlaywrightError, match="Content Security Policy"):
                page.add_script_tag(content="document.title = 'inline'")
            assert any("inline script" in message for message in csp_violations(context))
        finally:
            context.close()

        checked = new_context(browser, bypass_csp=True)  # axe is injected inline: see new_context
        try:
            page = checked.new_page()
            page.goto(f"{base_url}/verify")
            violations = axe_violations(page)
            assert violations == [], violations
        finally:
            checked.close()
