"""The console in Debian's Chromium (issue 20, Done when): sign in with a TOTP code, filter
events, open an access report and its PDF, verify an inclusion proof in the page (and see
a tampered one fail), decide a break-glass review, run the dual-control user flow, watch a
key rotation's progress; no CSP violation on the way, screenshots kept, and axe-core finds
no serious violation on any page of any of the three roles."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pyotp
import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect
from sqlmodel import Session, select

from registry.api.app import create_app
from registry.audit.models import AuditReview
from registry.clock import FixedClock
from registry.console.api import CALLS
from registry.runtime import Runtime
from tests.api_helpers import STRONG_PASSWORD
from tests.support.access_world import UNIT_A, World, build_world
from tests.support.browser import axe_violations, csp_violations, live_server, new_context, screenshot
from tests.support.console import enrol_totp

ROLES = ("auditor.a", "admin.a", "security_admin.a", "requester.admin")


def _sign_in(context: BrowserContext, base: str, clock: FixedClock, username: str, totp: pyotp.TOTP) -> Page:
    """With the keyboard only: the fields in order, Tab between them, Enter to send."""
    clock.advance(seconds=30)  # a code is accepted once: each sign-in takes the next one
    page = context.new_page()
    page.goto(f"{base}/console/login")
    page.focus("#username")
    page.keyboard.type(username)
    page.keyboard.press("Tab")
    page.keyboard.type(STRONG_PASSWORD)
    page.keyboard.press("Tab")
    page.keyboard.type(totp.at(clock.now()))
    page.keyboard.press("Enter")
    expect(page.locator(".who strong")).to_have_text(username)
    return page


def _verify(page: Page) -> dict[str, str | None]:
    output = page.locator("#verify-result")
    page.click("#verify-button")
    expect(output).to_have_attribute("data-state", re.compile("verified|failed"))
    return {"state": output.get_attribute("data-state"), "reason": output.get_attribute("data-reason") or None}


@pytest.fixture
def world(runtime: Runtime, bootstrap: tuple[str, str], clock: FixedClock) -> World:
    # No lifespan (no `with`): its end would shut the runtime's job pool the live server uses.
    return build_world(TestClient(create_app(runtime)), runtime, bootstrap, clock.now().date())


@pytest.fixture
def codes(world: World, runtime: Runtime, clock: FixedClock) -> dict[str, pyotp.TOTP]:
    runtime.settings = runtime.settings.model_copy(update={"require_mfa": True})
    client = TestClient(create_app(runtime))
    return {username: enrol_totp(client, clock, username, STRONG_PASSWORD) for username in ROLES}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the browser is tested here
def test_auditor_flows_in_the_browser(browser: Browser, runtime, world, codes, clock, artifacts_dir: Path) -> None:
    with live_server(create_app(runtime)) as base:
        context = new_context(browser)
        page = _sign_in(context, base, clock, "auditor.a", codes["auditor.a"])
        screenshot(page, artifacts_dir, "home")
        # Events, filtered by a username: the actor column names staff, not UUIDs.
        page.click("nav >> text=审计事件")
        page.fill("#f-actor", "security_admin.a")
        page.click(".filters button[type=submit]")
        rows = page.locator("tbody tr")
        expect(rows.first).to_contain_text("security_admin.a")
        assert all("security_admin.a" in rows.nth(i).inner_text() for i in range(rows.count()))
        screenshot(page, artifacts_dir, "events-filtered")
        # A person's access report, and its PDF for the data-subject request.
        page.click("nav >> text=个人信息访问记录")
        page.fill("#person-id", world.subject_a)
        page.click(".filters button[type=submit]")
        expect(page.locator("tbody")).to_contain_text("owner.police")
        with page.expect_download() as download:
            page.click("text=下载报告（PDF）")
        saved = artifacts_dir / "access-report.pdf"
        download.value.save_as(saved)
        assert saved.read_bytes().startswith(b"%PDF")
        screenshot(page, artifacts_dir, "access-report")
        # An entry's inclusion proof, checked in the page: first use pins the key.
        runtime.sequencer.drain()
        runtime.sequencer.checkpoint()
        page.goto(f"{base}/console/audit/events/5")
        assert _verify(page) == {"state": "verified", "reason": None}
        expect(page.locator("#verify-result")).to_contain_text("Verified")
        pinned = json.loads(page.evaluate("localStorage.getItem('registry.audit.pin')"))
        screenshot(page, artifacts_dir, "verified-first-use")
        # The log grows; a later entry verifies with the consistency from the pinned tree.
        page.goto(f"{base}/console/audit/alerts")
        runtime.sequencer.drain()
        runtime.sequencer.checkpoint()
        page.goto(f"{base}/console/audit/events/7")
        assert _verify(page)["state"] == "verified"
        assert json.loads(page.evaluate("localStorage.getItem('registry.audit.pin')"))["size"] > pinned["size"]

        # A tampered proof (one hash flipped on the way) fails in the page.
        def tamper(route: Route) -> None:
            material = route.fetch().json()
            first = material["inclusion"]["hashes"][0]
            material["inclusion"]["hashes"][0] = ("A" if first[0] != "A" else "B") + first[1:]
            route.fulfill(json=material)

        page.route("**/proof.json*", tamper)
        assert _verify(page) == {"state": "failed", "reason": "inclusion"}
        screenshot(page, artifacts_dir, "tampered-proof")
        page.unroute("**/proof.json*")
        # A server whose key or history differs from what this browser pinned: refused, pin kept.
        pin = json.loads(page.evaluate("localStorage.getItem('registry.audit.pin')"))
        for changed, reason in (
            ({**pin, "vkey": pin["vkey"][:-4] + "AAA="}, "key_changed"),
            ({**pin, "root": "A" * 43 + "="}, "history_differs"),
        ):
            page.evaluate("pin => localStorage.setItem('registry.audit.pin', pin)", json.dumps(changed))
            assert _verify(page) == {"state": "failed", "reason": reason}
            assert json.loads(page.evaluate("localStorage.getItem('registry.audit.pin')")) == changed
        screenshot(page, artifacts_dir, "history-differs")
        page.evaluate("pin => localStorage.setItem('registry.audit.pin', pin)", json.dumps(pin))
        # The break-glass review queue: a decision recorded.
        page.goto(f"{base}/console/audit/reviews")
        card = page.locator("section.card", has_text=world.review_grant)
        card.locator("input[value=justified]").check()
        card.locator("button[type=submit]").click()
        expect(page.locator(".done")).to_be_visible()
        with Session(runtime.engine) as session:
            decided = session.exec(select(AuditReview).where(AuditReview.grant_id == world.review_grant)).all()
        assert [r.outcome for r in decided] == ["justified"]
        screenshot(page, artifacts_dir, "review-decided")
        assert csp_violations(context) == []
        context.close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_dual_control_and_a_rotation_in_the_browser(browser: Browser, runtime, world, codes, clock, artifacts_dir):
    with live_server(create_app(runtime)) as base:
        maker = new_context(browser)
        page = _sign_in(maker, base, clock, "admin.a", codes["admin.a"])
        page.goto(f"{base}/console/admin/users")
        page.fill("#u-username", "officer.new")
        page.fill("#u-display", "officer.new")
        page.fill("#u-unit", UNIT_A)
        page.check("input[name=roles][value=police]")
        page.click("form[aria-labelledby=new-user] button[type=submit]")
        expect(page.locator(".done")).to_contain_text("第二名管理员")
        screenshot(page, artifacts_dir, "user-requested")
        checker = new_context(browser)
        second = _sign_in(checker, base, clock, "requester.admin", codes["requester.admin"])
        second.goto(f"{base}/console/admin/approvals")
        row = second.locator("tbody tr", has_text="officer.new")
        row.locator("button", has_text="批准").click()
        expect(second.locator("#one-time-password")).to_be_visible()
        screenshot(second, artifacts_dir, "user-approved")
        second.goto(f"{base}/console/admin/users")
        expect(second.locator("tbody")).to_contain_text("officer.new")
        assert csp_violations(maker) == [] and csp_violations(checker) == []
        maker.close()
        checker.close()
        # A security administrator starts a DEK rotation and watches it finish (htmx polling).
        keeper = new_context(browser)
        page = _sign_in(keeper, base, clock, "security_admin.a", codes["security_admin.a"])
        page.goto(f"{base}/console/security/keys")
        page.click("text=轮换 dek")
        expect(page.locator(".job-status")).to_have_text("done", timeout=30_000)
        screenshot(page, artifacts_dir, "rotation-done")
        assert csp_violations(keeper) == []
        keeper.close()


# Who opens which page for its accessibility check, by the page's first path segment.
READER = {"audit": "auditor.a", "admin": "admin.a", "security": "security_admin.a"}
NOT_HTML = ("/proof.json", "/report.pdf", "/language/{code}")


def _html_pages(world: World) -> dict[str, list[str]]:
    """Every GET page of the console (read from its declared routes, so a new page is checked
    without a change here), its path parameters filled from the world, by the role that opens it."""
    values = {
        "{entry_id}": "5",
        "{person_id}": world.subject_a,
        "{account_id}": world.ids["police.a"],
        "{approval_id}": world.pending_account,
        "{job_id}": world.targets["job"][0].value,
    }
    pages: dict[str, list[str]] = {username: [] for username in READER.values()}
    for declared in CALLS:
        method, path = declared.split(" ", 1)
        if method != "GET" or path.endswith(NOT_HTML) or path == "/console/login":
            continue
        for name, value in values.items():
            path = path.replace(name, value)
        assert "{" not in path, f"no value for a parameter of {declared}: add it above"
        section = path.removeprefix("/console").strip("/").split("/")[0]
        pages[READER.get(section, "auditor.a")].append(path)
    return pages


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_no_serious_accessibility_violation_on_any_page(browser: Browser, runtime, world, codes, clock, artifacts_dir):
    with live_server(create_app(runtime)) as base:
        found: dict[str, list[dict]] = {}  # type: ignore[type-arg]
        # axe is injected as a script: its context lets it past the CSP (the flows above keep it).
        login = new_context(browser, bypass_csp=True)
        page = login.new_page()
        page.goto(f"{base}/console/login")
        found["/console/login"] = axe_violations(page)
        login.close()
        for username, paths in _html_pages(world).items():
            context = new_context(browser, bypass_csp=True)
            page = _sign_in(context, base, clock, username, codes[username])
            for path in paths:
                answer = page.goto(f"{base}{path}")
                assert answer is not None and answer.ok, (username, path, answer and answer.status)
                found[f"{username} {path}"] = axe_violations(page)
            page.goto(f"{base}/console/language/en")  # and in English
            expect(page.locator("h1")).to_have_text("Registry console")
            found[f"{username} /console (en)"] = axe_violations(page)
            screenshot(page, artifacts_dir, username)
            context.close()
        serious = {where: v for where, v in found.items() if v}
        assert serious == {}, serious
        assert len(found) > 20, sorted(found)
