"""Browser tests: Debian's Chromium (/usr/bin/chromium, which scripts/system-deps installs)
driven by the pinned Playwright, never a browser of Playwright's own (`playwright install`
downloads one, and this machine reaches no such host); axe-core from the npm registry
(tests/console/axe/package-lock.json) for the accessibility check; the app served for real
by uvicorn on localhost; screenshots kept under tests/console/artifacts/ as test artifacts.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

import httpx
import pytest
import uvicorn
from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, ViewportSize, sync_playwright
from playwright.sync_api import Error as PlaywrightError
from starlette.types import ASGIApp

CHROMIUM = "/usr/bin/chromium"
CONSOLE_TESTS = Path(__file__).resolve().parents[1] / "console"
AXE_DIR = CONSOLE_TESTS / "axe"
AXE_SCRIPT = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = CONSOLE_TESTS / "artifacts"
LOCALE = "zh-CN"
VIEWPORT: ViewportSize = {"width": 1366, "height": 768}  # a laptop's screen
SERIOUS = ("serious", "critical")
READY_TIMEOUT_S = 30.0

_csp_messages: WeakKeyDictionary[BrowserContext, list[str]] = WeakKeyDictionary()


def chromium_args() -> list[str]:
    """The flags Chromium runs with here: no GPU; no background connections (this machine's
    closed network refuses them, many at a time, and every start would look up Google's hosts);
    Playwright adds its own fresh --user-data-dir."""
    args = [
        "--headless",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
    ]
    if os.geteuid() == 0:
        args.insert(0, "--no-sandbox")  # Chromium's sandbox refuses to start as root
    return args


def chromium_version() -> str:
    """What Debian's chromium says it is: "156.0.8078.129" (its wrapper script prints more)."""
    out = subprocess.run([CHROMIUM, "--version"], capture_output=True, text=True, timeout=60, check=True).stdout
    found = re.search(r"\b(\d+(?:\.\d+){3})\b", out)
    assert found, f"no version in {out!r}"
    return found.group(1)


@contextmanager
def launched_browser() -> Iterator[Browser]:
    """Debian's Chromium, headless, under sync Playwright. Skips (with the reason) where it is not
    installed: CI installs it through scripts/system-deps, so a skip means a machine without root.

    Sync Playwright keeps its event loop marked as running in this thread while it lives: a test
    that calls asyncio.run() in the main thread of the same pytest worker afterwards fails."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian's chromium is not installed at {CHROMIUM} (`scripts/system-deps`, as root, installs it)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=chromium_args(), headless=True)
        try:
            yield browser
        finally:
            browser.close()


def new_context(browser: Browser, *, bypass_csp: bool = False) -> BrowserContext:
    """A context as a clerk's laptop has it (zh-CN, 1366×768) that records what the browser logs
    about the Content Security Policy: `csp_violations(context)`.

    `bypass_csp=True` only for the accessibility check: axe is injected as an inline script, which
    the console's policy (script-src 'self', nothing inline, no eval) rightly refuses. The policy
    itself is tested in a normal context."""
    context = browser.new_context(locale=LOCALE, viewport=VIEWPORT, bypass_csp=bypass_csp)
    seen: list[str] = []
    _csp_messages[context] = seen

    def record(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text:
            seen.append(f"{message.type}: {message.text} ({message.location.get('url', '')})")

    context.on("console", record)
    return context


def csp_violations(context: BrowserContext) -> list[str]:
    """What the context's pages logged about the Content Security Policy so far. Each open page
    is asked a question first, so that messages already on their way have arrived."""
    for page in context.pages:
        if not page.is_closed():
            page.evaluate("0")
    return list(_csp_messages[context])


def artifacts_for(name: str) -> Path:
    """tests/console/artifacts/<name>/, emptied: what a test run leaves there is that run's."""
    folder = ARTIFACTS / re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return folder


def screenshot(page: Page, artifacts_dir: Path, name: str) -> Path:
    """The whole page as `<artifacts_dir>/<name>.png`."""
    path = artifacts_dir / f"{name}.png"
    page.screenshot(path=path, full_page=True)
    return path


def ensure_axe() -> Path:
    """axe.min.js, installed from the lock file (`npm ci`) when absent or of another version.
    Under a file lock: pytest-xdist's workers may all ask at once."""
    wanted = json.loads((AXE_DIR / "package-lock.json").read_text())["packages"]["node_modules/axe-core"]["version"]
    installed = AXE_DIR / "node_modules" / "axe-core" / "package.json"
    lock = os.open(AXE_DIR, os.O_RDONLY)  # the folder itself is the lock: no lock file left behind
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (AXE_SCRIPT.exists() and json.loads(installed.read_text())["version"] == wanted):
            npm = shutil.which("npm")
            assert npm, "npm is not installed (scripts/system-deps installs it)"
            run = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund", "--silent"],
                cwd=AXE_DIR,
                capture_output=True,
                text=True,
                timeout=600,
            )
            assert run.returncode == 0, f"npm ci in {AXE_DIR} failed: {run.stderr or run.stdout}"
            assert AXE_SCRIPT.exists(), f"npm ci did not install {AXE_SCRIPT}"
    finally:
        os.close(lock)  # and with it the lock
    return AXE_SCRIPT


def axe_violations(page: Page, impacts: Iterable[str] = SERIOUS) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now, of the given impacts: each with its id,
    impact, help and the nodes' targets. The page must belong to a context made with
    `new_context(browser, bypass_csp=True)`: the injected script is inline."""
    try:
        page.add_script_tag(path=ensure_axe())
    except PlaywrightError as error:
        if "Content Security Policy" not in error.message:
            raise
        raise AssertionError(
            "the page's policy refused axe: make its context with new_context(browser, bypass_csp=True)"
        ) from error
    found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations")
    wanted = set(impacts)
    return [
        {
            "id": violation["id"],
            "impact": violation["impact"],
            "help": violation["help"],
            "targets": [node["target"] for node in violation["nodes"]],
        }
        for violation in found
        if violation["impact"] in wanted
    ]


def _listening_socket() -> socket.socket:
    """A socket already bound and listening on a free loopback port: no other process can take
    the port between choosing it and serving on it (free_port's window)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    return sock


@contextmanager
def live_server(app: ASGIApp) -> Iterator[str]:
    """Serves an ASGI app with uvicorn (lifespan on) in a thread on 127.0.0.1; yields
    "http://localhost:<port>": Chromium treats http://localhost as a secure context, so `Secure`
    cookies work there (on http://127.0.0.1 they would not be stored). Stops it on the way out."""
    sock = _listening_socket()
    port = sock.getsockname()[1]
    # log_config=None: uvicorn's own logging setup would rewire the test process's loggers;
    # its warnings go to the root logger instead, and pytest shows them with a failure.
    # timeout_graceful_shutdown: a connection the browser keeps open (a stream) cannot hold the stop.
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        log_config=None,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name=f"live-server-{port}", daemon=True)
    thread.start()
    base_url = f"http://localhost:{port}"
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            assert thread.is_alive(), "uvicorn stopped before it served (did the app's lifespan fail? see the log)"
            if server.started:
                try:
                    httpx.get(f"{base_url}/", timeout=2)  # any answer: it serves
                    break
                except httpx.TransportError:
                    pass
            assert time.monotonic() < deadline, f"{base_url} not answering after {READY_TIMEOUT_S} s"
            time.sleep(0.02)
        yield base_url
    finally:
        server.should_exit = True
        thread.join(timeout=READY_TIMEOUT_S)
        sock.close()
    if thread.is_alive():
        raise RuntimeError(f"uvicorn on {base_url} did not stop within {READY_TIMEOUT_S} s")
