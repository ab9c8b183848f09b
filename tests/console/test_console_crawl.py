"""No resident's value anywhere in the console (issue 20, Deliver 5): every page an
auditor, an administrator and a security administrator can reach over a populated
registry, crawled link by link and form by form, with its headers, attributes and the
PDFs it offers, searched for every seeded name, ID number, phone and address."""

from __future__ import annotations

import base64
import io
import re
from collections import deque
from urllib.parse import urljoin, urlparse

import httpx
import pytest
from pypdf import PdfReader

from tests.api_helpers import STRONG_PASSWORD, as_user, create_user
from tests.support.access_world import UNIT_A, build_world
from tests.support.console import console_client, sign_in
from tests.support.leak import Needles

LINK = re.compile(r'(?:href|hx-get|data-proof-url)="([^"]+)"')
PAGES_PER_ROLE = 400
SKIPPED = ("/console/static/", "/console/language/")


def _artefacts(response: httpx.Response) -> list[bytes]:
    """What a browser would hold of the answer: its headers, its bytes, a PDF's text."""
    found = [repr(response.headers.multi_items()).encode(), response.content]
    if response.headers.get("content-type", "").startswith("application/json"):
        found += [base64.b64decode(v) for v in _canonical_values(response.json())]  # an entry's leaf bytes
    if response.headers.get("content-type", "").startswith("application/pdf"):
        found.append("\n".join(p.extract_text() or "" for p in PdfReader(io.BytesIO(response.content)).pages).encode())
    return found


def _canonical_values(value: object) -> list[str]:
    if isinstance(value, dict):
        return [v for k, v in value.items() if k == "canonical" and isinstance(v, str)] + [
            c for v in value.values() for c in _canonical_values(v)
        ]
    return [c for v in value for c in _canonical_values(v)] if isinstance(value, list) else []


def _crawl(client, starts: list[str]) -> dict[str, httpx.Response]:  # type: ignore[no-untyped-def]
    seen: dict[str, httpx.Response] = {}
    queue = deque(starts)
    while queue and len(seen) < PAGES_PER_ROLE:
        url = queue.popleft()
        if url in seen or not url.startswith("/console") or url.startswith(SKIPPED):
            continue
        response = client.get(url, follow_redirects=False)
        seen[url] = response
        assert response.status_code < 500, (url, response.text[:300])
        if response.headers.get("content-type", "").startswith("text/html"):
            for link in LINK.findall(response.text):
                target = urljoin(url, link.replace("&amp;", "&"))
                parsed = urlparse(target)
                queue.append(parsed.path + (f"?{parsed.query}" if parsed.query else ""))
    return seen


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_no_console_page_shows_a_residents_value(runtime, bootstrap, clock):
    with console_client(runtime) as client:
        world = build_world(client, runtime, bootstrap, clock.now().date())
        needles = Needles(world.personal)
        assert sum(len(v) for v in world.personal.values()) > 20
        persons = list(world.id_numbers)
        # An officer with a staff name (never a resident's) reads a person: the name must show
        # where auditors look, and the search must find a resident's value where one is.
        staff_name = world.people.staff_name()
        create_user(client, world.admin, "officer.named", ["police"], UNIT_A, display_name=staff_name)
        officer = as_user(client, "officer.named", STRONG_PASSWORD) | {"X-Purpose": "registration"}
        read = client.get(f"/api/v1/persons/{world.subject_a}", headers=officer)
        assert read.status_code == 200 and needles.found(read.content), "the search finds nothing even here"
        runtime.sequencer.drain()  # entries in a signed checkpoint: their proofs are served
        runtime.sequencer.checkpoint()
        client.cookies.clear()
        visited: dict[str, int] = {}
        for username in ("auditor.a", "admin.a", "security_admin.a"):
            client.cookies.clear()
            assert sign_in(client, username, STRONG_PASSWORD).status_code == 303
            starts = ["/console", "/console/audit/events?outcome=denied", "/console/audit/events?purpose=registration"]
            starts += [f"/console/audit/persons/{p}" for p in persons]
            starts += [f"/console/audit/persons/{p}/report.pdf" for p in persons[:3]]
            starts += [f"/console/audit/events?target={p}" for p in persons[:3]]
            pages = _crawl(client, starts)
            visited[username] = sum(r.status_code == 200 for r in pages.values())
            if username == "auditor.a":  # staff are resolvable: the officer's name is on the report
                pages_of_auditor = pages
                assert staff_name in pages[f"/console/audit/persons/{world.subject_a}"].text
            for url, response in pages.items():
                for artefact in _artefacts(response):
                    assert needles.found(artefact) == {}, (username, url)
        # The crawl reached the pages it is meant to search: events with who did them, the
        # access reports and their PDFs, entry pages with their proofs.
        proofs = [u for u in pages_of_auditor if u.endswith("proof.json")]
        proven = [u for u in proofs if pages_of_auditor[u].status_code == 200]
        assert proven and all(_canonical_values(pages_of_auditor[u].json()) for u in proven)
        assert visited["auditor.a"] > 60 and visited["admin.a"] > 5 and visited["security_admin.a"] > 3, visited
