"""The console as a client of the API (issue 20): each page's API calls declared and the
only path it has, the session cookie and form protections, revocation and lockout shared
with the API, page views audited as the API's own reads, and the words in both languages."""

from __future__ import annotations

import asyncio
import html
import re
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from types import SimpleNamespace

import pytest
from sqlmodel import Session, select
from starlette.requests import Request

from registry.api.contract import PERMISSIONS_KEY, api_routes
from registry.audit.checkpoints import Checkpoint, sign_checkpoint
from registry.audit.epochs import witness_status
from registry.audit.models import AuditEntry
from registry.audit.reports import READ_ACTIONS
from registry.console import api as console_api
from registry.console import i18n
from registry.console.mount import CSP
from registry.people.synthetic import SyntheticPeople
from tests.api_helpers import STRONG_PASSWORD, approve, as_user, create_tree, create_user, second_admin
from tests.support.console import console_client, csrf_of, post_form, sign_in

UNIT = "320571"


@pytest.fixture
def console(runtime):  # type: ignore[no-untyped-def]
    with console_client(runtime) as client:
        yield client


@pytest.fixture
def staff(console, bootstrap):  # type: ignore[no-untyped-def]
    """The bootstrap administrator's header and an auditor and a security administrator."""
    admin = as_user(console, *bootstrap)
    create_tree(console, admin)
    made = {
        name: create_user(console, admin, name, [role], None)
        for name, role in (("auditor.a", "auditor"), ("secadmin.a", "security_admin"))
    }
    return SimpleNamespace(admin=admin, ids={k: v["id"] for k, v in made.items()})


def _entries(runtime, action: str) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    with Session(runtime.engine) as session:
        return list(session.exec(select(AuditEntry).where(AuditEntry.action == action)).all())


def test_every_console_route_declares_the_api_operations_it_calls(console):
    """The list of what the console does: each page and the API operations behind it, each
    one an operation of the API's contract under its policy (a gate, or the login itself)."""
    spec = console.get("/openapi.json").json()
    operations = {f"{m.upper()} {path}": op for path, item in spec["paths"].items() for m, op in item.items()}
    pages = sorted(
        f"{method} {route.path}"
        for route in api_routes(console.app)
        if route.path.startswith("/console")
        for method in route.methods
    )
    assert pages and set(pages) == set(console_api.CALLS), set(pages) ^ set(console_api.CALLS)
    ungated = {"POST /api/v1/auth/token", "GET /readyz"}  # the login itself; the health every probe reads
    for page in pages:
        calls = console_api.CALLS[page]
        print(f"{page:55} → {', '.join(calls) or '(none)'}")
        for call in calls:
            assert call in operations, f"{page} calls {call}, which is not an API operation"
            assert call in ungated or PERMISSIONS_KEY in operations[call], f"{call} has no gate"


def test_a_call_a_page_did_not_declare_is_refused(console):
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/console/audit/alerts",
        "headers": [],
        "app": console.app,
        "route": SimpleNamespace(path="/console/audit/alerts"),
        "state": {},
    }
    client = console_api.Api(Request(scope), "a token")

    def called(path: str) -> None:
        # In a thread of its own: a browser test's Playwright holds this thread's event loop.
        with ThreadPoolExecutor(1) as pool:
            pool.submit(asyncio.run, client.get(path)).result()

    with pytest.raises(console_api.Undeclared):
        called("/api/v1/users")
    with pytest.raises(console_api.Undeclared):  # a declared template does not stretch over more segments
        called("/api/v1/audit/alerts/groups/../../users")


def test_sign_in_sets_a_strict_cookie_and_every_page_strict_headers(console, runtime, staff):
    page = console.get("/console/login")
    assert page.headers["content-security-policy"] == CSP and "'unsafe" not in CSP
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"
    assert "<script>" not in page.text and " style=" not in page.text and "hx-on" not in page.text
    assert '"allowEval": false' in page.text and '"includeIndicatorStyles": false' in page.text
    # No CSRF token, or another origin's form: refused before the login is even tried.
    assert (
        console.post("/console/login", data={"username": "auditor.a", "password": STRONG_PASSWORD}).status_code == 403
    )
    forged = {"csrf": "0" * 64, "username": "auditor.a", "password": STRONG_PASSWORD}
    assert console.post("/console/login", data=forged).status_code == 403
    assert not [e for e in _entries(runtime, "auth:login") if e.targets == [staff.ids["auditor.a"]]]
    answer = sign_in(console, "auditor.a", STRONG_PASSWORD)
    assert answer.status_code == 303 and answer.headers["location"] == "/console"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("__Host-registry-console="))
    assert {"HttpOnly", "Secure", "SameSite=strict", "Path=/"} <= {p.strip() for p in cookie.split(";")}
    assert "Domain" not in cookie
    home = console.get("/console")
    assert home.status_code == 200 and "auditor.a" in home.text
    assert "/console/admin/users" not in home.text  # the menu is the role's
    other_origin = console.post(
        "/console/logout",
        data={"csrf": re.search(r'name="csrf" value="([^"]+)"', home.text)[1]},  # type: ignore[index]
        headers={"origin": "https://elsewhere.example"},
    )
    assert other_origin.status_code == 403
    token = console.cookies.get("__Host-registry-console")
    assert post_form(console, "/console", "/console/logout").status_code == 303
    assert console.get("/console", follow_redirects=False).headers["location"] == "/console/login"
    # Signing out ended the token itself, not only the cookie: replayed, it is refused.
    assert console.get("/api/v1/auth/me", headers={"authorization": f"Bearer {token}"}).status_code == 401
    assert [e for e in _entries(runtime, "auth:sign-out") if e.targets == [staff.ids["auditor.a"]]]


@pytest.mark.parametrize("change", ["disable", "re-role", "password"])
def test_a_console_session_dies_with_the_accounts_tokens(console, staff, change):
    assert sign_in(console, "auditor.a", STRONG_PASSWORD).status_code == 303
    assert console.get("/console/audit/events").status_code == 200
    account = f"/api/v1/users/{staff.ids['auditor.a']}"
    etag = console.get(account, headers=staff.admin).headers["etag"]
    if change == "disable":
        done = console.patch(account, json={"status": "disabled"}, headers={**staff.admin, "if-match": etag})
    elif change == "re-role":
        done = console.patch(account, json={"roles": ["security_admin"]}, headers={**staff.admin, "if-match": etag})
    else:
        body = {"current_password": STRONG_PASSWORD, "new_password": STRONG_PASSWORD + "!x"}
        done = console.post("/api/v1/auth/password", json=body, headers=as_user(console, "auditor.a", STRONG_PASSWORD))
    assert done.status_code in (200, 202, 204), done.text
    if done.status_code == 202:  # a change of powers waits for a second administrator
        approve(console, second_admin(console, staff.admin), done.json()["id"])
    again = console.get("/console/audit/events", follow_redirects=False)
    assert again.status_code == 303 and again.headers["location"] == "/console/login"


def test_console_sign_ins_count_toward_the_apis_lockout(console, runtime, staff):
    for _ in range(runtime.settings.login_max_failures):
        assert sign_in(console, "auditor.a", "wrong password!").status_code == 401
    # Locked for the API too, with the right password.
    form = {"grant_type": "password", "username": "auditor.a", "password": STRONG_PASSWORD}
    assert console.post("/api/v1/auth/token", data=form).status_code in (401, 429)
    assert sign_in(console, "auditor.a", STRONG_PASSWORD).status_code in (401, 429)
    assert [e for e in _entries(runtime, "auth:lockout") if e.targets == [staff.ids["auditor.a"]]]


def test_a_page_view_is_the_apis_audited_read_from_the_users_address(console, runtime, staff):
    assert sign_in(console, "auditor.a", STRONG_PASSWORD).status_code == 303
    before = len(_entries(runtime, "audit:query"))
    page = console.get("/console/audit/events", params={"actor": "secadmin.a"}, headers={"x-request-id": "page-1"})
    assert page.status_code == 200
    queries = _entries(runtime, "audit:query")[before:]
    assert [q.actor_id for q in queries] == [staff.ids["auditor.a"]]
    assert queries[0].client_addr == "testclient"  # the page's client, not the console


def test_an_auditor_filters_by_username_and_unit_and_sees_who_staff_are(console, staff):
    secadmin = as_user(console, "secadmin.a", STRONG_PASSWORD)
    console.get("/api/v1/keys", headers=secadmin)
    assert sign_in(console, "auditor.a", STRONG_PASSWORD).status_code == 303
    page = console.get("/console/audit/events", params={"actor": "secadmin.a"})
    assert page.status_code == 200 and page.text.count("secadmin.a") >= 2  # the filter and the actor column
    api = console.get(
        "/api/v1/audit/events", params={"actor": "secadmin.a"}, headers=as_user(console, "auditor.a", STRONG_PASSWORD)
    ).json()
    assert api["items"] and {i["actor_id"] for i in api["items"]} == {staff.ids["secadmin.a"]}
    assert api["actors"][staff.ids["secadmin.a"]]["username"] == "secadmin.a"
    unknown = console.get("/console/audit/events", params={"actor": "nobody.here"})
    assert unknown.status_code == 400 and "no account has that username" in unknown.text


def test_every_word_of_the_templates_has_its_chinese():
    words: set[str] = set()
    folder = resources.files("registry.console") / "templates"
    for template in folder.iterdir():
        words |= set(re.findall(r"""t\(["']([^"']+)["']\)""", template.read_text(encoding="utf-8")))
    for module in ("session_pages", "mount"):
        text = (resources.files("registry.console") / f"{module}.py").read_text(encoding="utf-8")
        words |= set(re.findall(r'(?:message|problem)\s*=\s*"([^"]+)"', text))
    missing = sorted(w for w in words if w not in i18n.ZH)
    assert not missing, missing
    assert all(i18n.translator("en")(w) for w in words)
    keyed = [k for k in i18n.ZH if re.fullmatch(r"[a-z]+(-[a-z]+)+", k)]  # "login-refused": a name, not English
    assert keyed and not [k for k in keyed if k not in i18n.EN], "a keyed text has no English"


def test_a_link_from_another_site_does_not_sign_the_user_out(console, staff):
    """SameSite=Strict keeps the cookie off a cross-site navigation: the console asks to sign
    in, but forgets nothing; a token the API refused is forgotten."""
    assert sign_in(console, "auditor.a", STRONG_PASSWORD).status_code == 303
    session_cookie = console.cookies.get("__Host-registry-console")
    console.cookies.clear()
    landed = console.get("/console/audit/events", follow_redirects=False)
    assert landed.status_code == 303 and "set-cookie" not in landed.headers
    console.cookies.set("__Host-registry-console", session_cookie + "x")
    refused = console.get("/console/audit/events", follow_redirects=False)
    assert refused.status_code == 303 and "Max-Age=0" in refused.headers["set-cookie"]


@pytest.mark.parametrize(
    "path",
    [
        "/console/admin/users/x%3F/password",
        "/console/admin/users/%2e%2e/unlock",
        "/console/audit/persons/%2e%2e",
        "/console/security/jobs/%3Fkind=x",
        "/console/audit/persons/..%2F..%2Fusers/report.pdf",
    ],
)
def test_a_path_parameter_cannot_steer_the_call_to_another_operation(console, bootstrap, path):
    assert sign_in(console, *bootstrap).status_code == 303
    method = "POST" if path.endswith(("password", "unlock")) else "GET"
    data = {"csrf": csrf_of(console.get("/console"))} if method == "POST" else None
    answer = console.request(method, path, data=data, follow_redirects=False)
    assert answer.status_code in (404, 422), (path, answer.status_code)
    asked = console.get("/console/audit/persons", params={"person_id": "../../../api/v1/users"}, follow_redirects=False)
    assert asked.status_code in (200, 303) and "api/v1" not in asked.headers.get("location", "")


def test_the_witness_status_calls_a_log_that_does_not_extend_it_a_conflict(console, runtime, staff):
    """Judged against the stored tree, as the service's start is: a witnessed tree the log
    does not extend is a conflict whatever the sizes say; a witness ahead of the stored
    checkpoints (signed, not yet stored) or behind them is not."""
    auditor = as_user(console, "auditor.a", STRONG_PASSWORD)
    runtime.sequencer.drain()
    runtime.sequencer.checkpoint()
    shown = console.get("/api/v1/audit/witness", headers=auditor).json()
    assert shown["status"] == "in_step" and shown["witnessed_size"] == shown["checkpoint_size"], shown
    sink, provider = runtime.sequencer.sink, runtime.provider
    held = sink.newest()

    def witnessed(checkpoint: Checkpoint) -> None:  # what a witness holding this note would say
        sink._write(sign_checkpoint(checkpoint, sign=provider.sign, public_key=provider.public_key()))

    with Session(runtime.engine) as session:
        assert witness_status(session, sink, held.size + 3)[0] == "behind"
        witnessed(Checkpoint(held.origin, held.size, bytes(32), held.timestamp))  # another tree, same size
        assert witness_status(session, sink, held.size)[0] == "conflict"
        witnessed(Checkpoint(held.origin, held.size + 50, held.root_hash, held.timestamp))  # beyond the log
        assert witness_status(session, sink, held.size)[0] == "conflict"
        witnessed(held)
        assert witness_status(session, sink, held.size - 1)[0] == "ahead"  # its row not stored yet
    witnessed(Checkpoint(held.origin, held.size, bytes(32), held.timestamp))
    shown = console.get("/api/v1/audit/witness", headers=auditor).json()
    assert shown["status"] == "conflict", shown
    assert sign_in(console, "auditor.a", STRONG_PASSWORD).status_code == 303
    assert 'role="alert"' in console.get("/console/audit/checkpoints").text


def test_the_audit_filters_and_the_alert_groups_answer_what_they_say(console, runtime, clock, staff):
    """Unit (its subtree), purpose, time range and cursor on events; alerts grouped by actor,
    kind and day, and a group's drill-down holding exactly its alerts."""
    officer = create_user(console, staff.admin, "officer.street", ["police"], "320571001")
    clock.advance(days=5, hours=5)  # Saturday, 22:00 in Shanghai
    police = as_user(console, "officer.street", STRONG_PASSWORD) | {"X-Purpose": "registration"}
    auditor = as_user(console, "auditor.a", STRONG_PASSWORD)
    since = clock.now()
    p = SyntheticPeople(2020).person()
    body = {"id_number": p.id_number, "name": p.name, "phone": p.phone, "hukou_address": p.hukou_address}
    person = console.post("/api/v1/persons", json=body, headers=police)
    assert person.status_code == 201, person.text
    for _ in range(3):  # reads on a Saturday night: out of hours, three alerts of one group
        assert console.get(f"/api/v1/persons/{person.json()['id']}", headers=police).status_code == 200
    events = "/api/v1/audit/events"
    in_unit = console.get(events, params={"unit": UNIT}, headers=auditor).json()["items"]  # 320571 and below
    assert in_unit and {e["actor_org_unit"] for e in in_unit} == {"320571001"}
    assert {e["actor_id"] for e in in_unit} == {officer["id"]}
    assert console.get(events, params={"unit": "320505"}, headers=auditor).json()["items"] == []
    purposed = console.get(events, params={"purpose": "registration"}, headers=auditor).json()["items"]
    assert purposed and {e["purpose"] for e in purposed} == {"registration"}
    later = console.get(events, params={"since": since.isoformat()}, headers=auditor).json()["items"]
    assert later and all(e["at"] >= since.isoformat().replace("+00:00", "Z")[:19] for e in later)
    for naive in ("2026-01-05T09:00", "2026-01-05", "1767603600"):  # no offset, a number: refused (was a 500)
        assert console.get(events, params={"since": naive}, headers=auditor).status_code == 422
    assert sign_in(console, "auditor.a", STRONG_PASSWORD).status_code == 303
    local = since.strftime("%Y-%m-%dT%H:%M")  # what a browser's datetime-local sends, labelled UTC
    page = console.get("/console/audit/events", params={"since": local, "actor": "officer.street"})
    assert page.status_code == 200 and page.text.count("officer.street") > 1
    first = console.get(events, params={"limit": 2}, headers=auditor).json()
    second = console.get(events, params={"limit": 2, "cursor": first["next_cursor"]}, headers=auditor).json()
    assert [e["id"] for e in second["items"]][0] > [e["id"] for e in first["items"]][-1]
    assert console.get(events, params={"unit": "999999"}, headers=auditor).status_code == 400
    groups = console.get("/api/v1/audit/alerts/groups", headers=auditor).json()
    keys = [(g["actor_id"], g["kind"], g["day"]) for g in groups["items"]]
    assert len(keys) == len(set(keys))  # one line per actor, kind and day
    weekend = [g for g in groups["items"] if g["actor_id"] == officer["id"] and g["kind"] == "out_of_hours"]
    reads = console.get(events, params={"actor": officer["id"], "limit": 500}, headers=auditor).json()["items"]
    weekend_reads = [e for e in reads if e["action"] in READ_ACTIONS and e["outcome"] == "allowed"]
    assert len(weekend_reads) >= 3
    assert [(g["alerts"], g["day"]) for g in weekend] == [(len(weekend_reads), "2026-01-10")], groups["items"]
    for group in groups["items"]:
        params = {"kind": group["kind"], "day": group["day"], "limit": 500}
        if group["actor_id"]:
            params["actor"] = group["actor_id"]
        alerts = console.get("/api/v1/audit/alerts", params=params, headers=auditor).json()["items"]
        if group["actor_id"]:
            assert len(alerts) == group["alerts"] and sum(a["count"] for a in alerts) == group["entries"]
        assert {a["kind"] for a in alerts} == {group["kind"]}


def test_the_administrators_and_security_administrators_forms_do_what_they_say(console, runtime, bootstrap, staff):
    """Through the console's own forms: disable and enable, unlock, a reset (a second
    administrator's approval where the API asks), a rejected request, a retention run."""
    assert sign_in(console, *bootstrap).status_code == 303
    auditor = staff.ids["auditor.a"]
    page = f"/console/admin/users/{auditor}"
    etag = html.unescape(re.search(r'name="etag" value="([^"]+)"', console.get(page).text)[1])  # type: ignore[index]
    fields = {"etag": etag, "roles": "auditor", "org_unit": "", "status": "disabled"}
    changed = post_form(console, page, page, fields)
    assert changed.status_code == 200, changed.text
    if "第二名管理员" not in changed.text:  # done, not waiting for a second administrator
        assert console.get(f"/api/v1/users/{auditor}", headers=staff.admin).json()["status"] == "disabled"
    assert post_form(console, page, f"{page}/unlock").status_code == 303
    reset = post_form(console, page, f"{page}/password")
    assert reset.status_code == 200 and ("one-time-password" in reset.text or "第二名管理员" in reset.text)
    body = {"username": "to.reject", "display_name": "To reject", "roles": ["police"], "org_unit": UNIT}
    asked = console.post("/api/v1/users", json=body, headers=staff.admin)
    assert asked.status_code == 202, asked.text
    requested = asked.json()
    rejected = post_form(console, "/console/admin/approvals", f"/console/admin/approvals/{requested['id']}/reject")
    assert rejected.status_code == 303
    assert console.get(f"/api/v1/account-approvals/{requested['id']}", headers=staff.admin).json()["status"] in (
        "rejected"
    )
    console.cookies.clear()
    assert sign_in(console, "secadmin.a", STRONG_PASSWORD).status_code == 303
    run = post_form(console, "/console/security/keys", "/console/security/retention")
    assert run.status_code == 303 and run.headers["location"].startswith("/console/security/jobs/")
    job = console.get(run.headers["location"])
    assert job.status_code == 200 and "job-status" in job.text
