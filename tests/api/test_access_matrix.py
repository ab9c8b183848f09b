"""The access matrix: every route, as every role, against records in and out of scope, of
every casefile kind and access variant (assignment, exclusion, restriction, seal), before
and after break-glass, with the exact status the hand-written role matrix says (tests/support/
access_model.py, from tests/access/snapshot.py, never `POLICY`); and no response to a role
without personal data carries a personal value. Beside the callers, the principals of
issue 13: a reader whose only access is a break-glass grant (live, then expired), another
unit's officer with an exact-search hit on district A's person, an account an administrator
reset or made (one-time password only), and one whose creation awaits the second key.
Every refusal is checked on the record: a denied entry of the caller naming the target.

The route table is data (tests/support/access_routes.py); a route the app serves without a
row there, or a row for a route it no longer serves, fails the test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

import sqlalchemy as sa
from httpx import Response

from registry.access.policy import Purpose, Role
from registry.api.contract import PERMISSIONS_KEY, roles_holding
from registry.audit.models import AuditEntry
from registry.casefiles.details import OFFENCE_FIELDS
from registry.casefiles.workflows.common import Kind
from tests.access import snapshot
from tests.api_helpers import STRONG_PASSWORD, as_user
from tests.support.access_model import (
    Gate,
    Row,
    assigned_only,
    default_purpose,
    expected,
    kinds_known,
    listed_casefiles,
    opens,
    outside_view,
    without_token,
)
from tests.support.access_routes import ROWS, V1
from tests.support.access_world import ARRIVED, UNIT_B, Casefile, Target, World, build_world
from tests.support.leak import Needles

G = Gate
PERSONAL_FREE = [r for r in Role if not snapshot.personal_data(r)]  # roles that never receive personal values
PURPOSES = {p.value: p for p in Purpose}


@dataclass
class Matrix:
    """Runs rows against the world and collects every mismatch, so one run shows them all."""

    world: World
    checks: int = 0
    mismatches: list[str] = field(default_factory=list)
    # (call, body) of every answer to a role without personal data, scanned at the end
    unseen: list[tuple[str, bytes]] = field(default_factory=list)
    # The roles each operation's OpenAPI entry says may call it (its `x-permissions` read
    # against the policy table, issue 21): a role outside them is never let in.
    documented: dict[tuple[str, str], frozenset[Role]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for path, ops in self.world.client.get("/openapi.json").json()["paths"].items():
            for method, op in ops.items():
                self.documented[(method.upper(), path)] = frozenset(roles_holding(op.get(PERMISSIONS_KEY, ())))

    def targets(self, row: Row) -> list[Target]:
        return self.world.targets[row.family]

    def url(self, row: Row, target: Target) -> str:
        path = row.path
        if "{" in path:
            path = path[: path.index("{")] + target.value + path[path.index("}") + 1 :]
        query = row.query.format(t=target.value, size=self.world.tree_size, month=self.world.report_month)
        return f"{path}?{query}" if query else path

    def call(
        self, row: Row, role: Role | None, target: Target, purpose: str | None, want: int, *, who: str | None = None
    ) -> Response:
        """One cell: `who` (by default the role's caller in district A; none without a token)."""
        w = self.world
        who = who or (w.callers[role] if role is not None else None)
        allowed = want == (row.ok(target) if callable(row.ok) else row.ok) and role is not None
        if allowed and row.fresh is not None:
            target = row.fresh(w, target)
        headers = dict(w.heads[who]) if who is not None else {}
        if purpose is not None:
            headers["X-Purpose"] = purpose
        if row.if_match:
            headers["If-Match"] = w.etags[target.value]
        kwargs = {}
        if row.gate is G.LOGIN:
            kwargs["data"] = self.login_form(role, who)
        elif row.body is not None:
            kwargs["json"] = row.body(w, target, allowed)
        since = self.last_entry() if want == 401 else 0
        response = w.client.request(row.method, self.url(row, target), headers=headers, **kwargs)
        self.checks += 1
        label = f"{row.method} {row.path} [{target.name}] as {who or 'anonymous'} ({purpose})"
        if response.status_code != want:
            self.mismatches.append(f"{label}: {response.status_code}, expected {want}: {response.text[:160]}")
        if response.status_code in (403, 404) and who is not None and role is not None and row.gate is not G.PUBLIC:
            grant = self.resting_grant(row, role, target, purpose, who)
            self.check_denial_audited(label, who, target, url=self.url(row, target), grant=grant)
        if response.status_code == 401 and want == 401:
            self.check_unauthenticated_audited(label, since, login=row.gate is G.LOGIN)
        if response.is_success and role is not None and role not in self.documented[(row.method, row.path)]:
            self.mismatches.append(f"{label}: {response.status_code} to a role its OpenAPI entry does not list")
        if role in PERSONAL_FREE:
            self.unseen.append((label, response.content))
            # The table itself: personal routes stay shut to these roles, or (lists) show them nothing.
            if row.personal and want < 400 and (row.gate is not G.CASEFILE_LIST or response.json()["items"]):
                self.mismatches.append(f"{label}: {want} from a personal route to a role without personal data")
        if response.is_success and row.path == f"{V1}/auth/sign-out" and who is not None:
            w.heads[who] = w.signed_in_again(who)  # every token of the account ended: a new one
        if response.status_code == 202 and "job_id" in response.json():  # a job: let it finish first
            w.runtime.jobs.wait(uuid.UUID(response.json()["job_id"]), timeout=60)
        if (
            response.status_code == 200
            and row.path == f"{V1}/casefiles"
            and role is not None
            and who == w.callers[role]
        ):
            self.check_list(label, role, response.json())
        if response.status_code == 200 and row.path.endswith("{casefile_id}") and role is not None:
            self.check_offence_fields(label, role, target, response.json())
        return response

    def resting_grant(self, row: Row, role: Role, target: Target, purpose: str | None, who: str) -> str | None:
        """The live grant a refused write tried to rest on (a grant is read-only): its denied
        entry names it. None where the refusal does not rest on a grant."""
        w, cf = self.world, target.casefile
        if row.opens_on_grant or row.gate not in (G.CASEFILE_OPEN, G.LEAVE) or cf is None:
            return None
        declared = PURPOSES.get(purpose or "")
        if not opens(w, role, cf, declared, who=who) or opens(w, role, cf, declared, grants=False, who=who):
            return None
        return w.grants[(who, cf.id)]

    def check_denial_audited(self, label: str, who: str, target: Target, *, url: str, grant: str | None) -> None:
        """Every refusal is on the record, as a denied entry of the caller naming the target
        (written after the rollback, so a 404 for out of scope still shows the probing), and
        naming the break-glass grant when the refused write would have rested on one."""
        w = self.world
        with w.runtime.engine.connect() as conn:
            entry = conn.execute(
                sa.select(AuditEntry.outcome, AuditEntry.targets, AuditEntry.break_glass_grant)
                .where(AuditEntry.actor_id == w.ids[who])
                .order_by(AuditEntry.id.desc())
                .limit(1)
            ).first()
        self.checks += 1
        if entry is None or entry.outcome != "denied":
            self.mismatches.append(f"{label}: refused without a denied audit entry")
        elif target.value and target.value in url and target.value not in entry.targets:
            self.mismatches.append(f"{label}: denied entry names {entry.targets}, not the target")
        elif entry.break_glass_grant != grant:
            self.mismatches.append(f"{label}: denied entry names grant {entry.break_glass_grant}, expected {grant}")

    def last_entry(self) -> int:
        with self.world.runtime.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.max(AuditEntry.id))).scalar() or 0

    def entries_since(self, since: int) -> list[sa.Row]:  # type: ignore[type-arg]
        with self.world.runtime.engine.connect() as conn:
            return list(
                conn.execute(
                    sa.select(
                        AuditEntry.action,
                        AuditEntry.outcome,
                        AuditEntry.actor_id,
                        AuditEntry.targets,
                        AuditEntry.reason,
                    )
                    .where(AuditEntry.id > since)
                    .order_by(AuditEntry.id)
                )
            )

    def check_unauthenticated_audited(self, label: str, since: int, *, login: bool) -> None:
        """A 401 is on the record too: a refused token (missing, or dead with its account's
        reset) or a refused login. Token refusals name no target (reported: registry/api/deps.py
        `_refuse_token` records neither the path's ids nor the token's account)."""
        action = "auth:login" if login else "auth:token-refused"
        self.checks += 1
        if not any((e.action, e.outcome) == (action, "denied") for e in self.entries_since(since)):
            self.mismatches.append(f"{label}: refused without a denied {action} entry")

    def login_form(self, role: Role | None, who: str | None) -> dict[str, str]:
        if role is None or who is None:
            return {"grant_type": "password", "username": "nobody.here", "password": "not a password at all"}
        if role is Role.VERIFIER:
            w = self.world
            return {"grant_type": "client_credentials", "client_id": w.client_id, "client_secret": w.client_secret}
        return {"grant_type": "password", "username": who, "password": STRONG_PASSWORD}

    def check_list(self, label: str, role: Role, page: dict) -> None:  # type: ignore[type-arg]
        stock = {t.value for t in self.world.targets["casefile"]}
        shown = {item["id"] for item in page["items"]} & stock
        want = listed_casefiles(self.world, role, default_purpose(role))
        self.checks += 1
        if shown != want:
            self.mismatches.append(f"{label}: lists {len(shown)} stock files, expected {len(want)}")

    def check_offence_fields(self, label: str, role: Role, target: Target, body: dict) -> None:  # type: ignore[type-arg]
        if assigned_only(role):  # social workers never see offence details, however they got in
            self.checks += 1
            leaked = set(body["details"]) & OFFENCE_FIELDS[Kind(target.casefile.kind)]
            if leaked:
                self.mismatches.append(f"{label}: offence fields {sorted(leaked)} shown")

    def relevant(self, row: Row, role: Role, purpose: Purpose | None, *, after_grants: bool) -> list[Target]:
        """The targets that tell this role's answers apart. A role the purpose gate stops, or
        one that may know of no casefile kind, gets one target in scope and one out; a casefile
        variant (exclusion, restriction, seal) is tried by the roles that may know of its kind
        (for the others it is the kind's 404). After break-glass: the files a grant changes."""
        targets = self.targets(row)
        stopped = row.purpose and purpose not in snapshot.purposes(role)
        if stopped or (targets[0].casefile is not None and not kinds_known(role)):
            return [t for t in targets if t.in_scope][:1] + [t for t in targets if not t.in_scope][:1]

        def tells(cf: Casefile | None) -> bool:
            return cf is None or not (cf.excluded or cf.restricted or cf.sealed) or cf.kind in kinds_known(role)

        def granted(t: Target) -> bool:  # after break-glass: the files the grant is meant to change
            cf, w = t.casefile, self.world
            if cf is None:
                return True
            return (w.callers[role], cf.id) in w.grants and not opens(w, role, cf, None, grants=False)

        return [t for t in targets if (granted(t) if after_grants else tells(t.casefile))]

    def run(self, rows: Iterable[Row], roles: Iterable[Role], purpose_of=default_purpose, after_grants=False) -> None:  # type: ignore[no-untyped-def]
        for row in rows:
            for role in roles:
                purpose = purpose_of(role)
                for target in self.relevant(row, role, purpose, after_grants=after_grants):
                    want = expected(self.world, row, role, target, purpose)
                    self.call(row, role, target, purpose and str(purpose), want)


def _row(method: str, path: str) -> Row:
    return next(r for r in ROWS if (r.method, r.path) == (method, path))


def _unauthenticated(m: Matrix) -> None:
    for row in ROWS:
        m.call(row, None, m.targets(row)[0], None, without_token(row))


def _purpose_gate(m: Matrix) -> None:
    """Every route that takes X-Purpose refuses one the role may not declare (a missing one is
    the main run's case for the roles that may declare none), as the caller it would serve."""
    for row in (r for r in ROWS if r.purpose):
        target = m.targets(row)[0]
        role = next(
            (r for r in Role if default_purpose(r) and expected(m.world, row, r, target, default_purpose(r)) < 300),
            Role.POLICE,
        )
        foreign = next(p for p in Purpose if p not in snapshot.purposes(role))
        m.call(row, role, target, str(foreign), 400)
    reading = _row("GET", f"{V1}/persons/{{person_id}}")
    m.call(reading, Role.POLICE, m.targets(reading)[0], "gossip", 400)  # not a purpose code at all


def _break_glass(m: Matrix, row: Row) -> None:
    """Every role asks for a grant on every file (emergency where the role may declare it)."""
    w = m.world

    def purpose_of(role: Role) -> Purpose | None:
        return Purpose.EMERGENCY if Purpose.EMERGENCY in snapshot.purposes(role) else default_purpose(role)

    for role in Role:
        purpose = purpose_of(role)
        for target in w.targets["casefile"]:
            want = expected(w, row, role, target, purpose)
            response = m.call(row, role, target, purpose and str(purpose), want)
            if response.status_code == 201:
                w.grants[(w.callers[role], target.value)] = response.json()["grant_id"]


def _audited_grants(m: Matrix) -> None:
    """Each grant is in the log under its user."""
    w = m.world
    logged = w.ok("auditor.a", "GET", f"{V1}/audit/events?action=casefile:break-glass&limit=500", 200)["items"]
    by_grant = {e["break_glass_grant"]: e["actor_id"] for e in logged}
    for (who, _), grant in w.grants.items():
        m.checks += 1
        if by_grant.get(grant) != w.ids[who]:
            m.mismatches.append(f"grant {grant} of {who}: not audited under its user")


def _audited_grant_reads(m: Matrix) -> None:
    """Each file read only through a grant has a read entry naming that grant."""
    w = m.world
    for (who, file_id), grant in w.grants.items():
        role = w.role_of(who)
        cf = next(t.casefile for t in w.targets["casefile"] if t.value == file_id)
        if opens(w, role, cf, None, grants=False) or not opens(w, role, cf, default_purpose(role)):
            continue
        reads = w.ok("auditor.a", "GET", f"{V1}/audit/events?action=casefile:read&target={file_id}&limit=500", 200)
        m.checks += 1
        if grant not in {e["break_glass_grant"] for e in reads["items"]}:
            name = next(t.name for t in w.targets["casefile"] if t.value == file_id)
            m.mismatches.append(f"read of [{name}] by {who} through its grant: the log does not name the grant")


def _login(m: Matrix, label: str, username: str, password: str, reason: str, *, named: str | None) -> None:
    """One refused login: 401, and a denied entry with its reason, naming the account when it exists."""
    w = m.world
    since = m.last_entry()
    form = {"grant_type": "password", "username": username, "password": password}
    response = w.client.post(f"{V1}/auth/token", data=form)
    logged = [e for e in m.entries_since(since) if e.action == "auth:login"]
    m.checks += 2
    if response.status_code != 401:
        m.mismatches.append(f"login of {label}: {response.status_code}, expected 401")
    want = ("denied", named, reason)
    if [(e.outcome, e.actor_id, e.reason) for e in logged] != [want]:
        m.mismatches.append(f"login of {label}: logged {[(e.outcome, e.actor_id, e.reason) for e in logged]}")
    elif reason == "password_change_required" and logged[0].targets != [named]:
        m.mismatches.append(f"login of {label}: denied entry names {logged[0].targets}, not the account")


def _admin_made_accounts(m: Matrix) -> None:
    """An administrator never becomes a data user (issue 13, finding 3). reset.a read a
    person; once an administrator reset it (two keys), its token is dead on every route and
    the one-time password gets no token: the account reads nothing until its owner chooses a
    password. made.a, made by two administrators, is the same. pending.a, awaiting the
    second key, does not exist to log in."""
    w = m.world
    reading = _row("GET", f"{V1}/persons/{{person_id}}")
    m.call(reading, Role.POLICE, m.targets(reading)[0], "registration", 200, who="reset.a")
    w.reset("reset.a")
    for row in ROWS:
        if row.gate is not G.LOGIN:
            m.call(row, Role.POLICE, m.targets(row)[0], default_purpose(Role.POLICE), without_token(row), who="reset.a")
    for who in ("reset.a", "made.a"):
        account = w.ids[who]
        _login(m, f"{who} with the one-time password", who, w.one_time[who], "password_change_required", named=account)
        _login(m, f"{who} with a password of its own", who, STRONG_PASSWORD, "bad_password", named=account)
    _login(m, "pending.a", "pending.a", STRONG_PASSWORD, "unknown_account", named=None)
    listed = w.ok("admin.a", "GET", f"{V1}/users?limit=200", 200)["items"]
    request = w.ok("admin.a", "GET", f"{V1}/account-approvals/{w.pending_account}", 200)
    m.checks += 2
    if "pending.a" in {u["username"] for u in listed}:
        m.mismatches.append("pending.a: listed as an account before the second key")
    if request["status"] != "pending":
        m.mismatches.append(f"pending.a: its request is {request['status']}, not pending")


def _exact_search_hit(m: Matrix) -> None:
    """hit.b, a district B officer, finds district A's person by exact ID number
    (`in_scope: false`). Every route by id on that person and their records (dwelling,
    registration, permit, casefiles, leave) is what an out-of-scope caller gets, audited
    with the target; registering the person in B is a 202 pending_transfer that opens
    nothing; district A still reads the person (issue 13, finding 1)."""
    w, who, role = m.world, "hit.b", Role.POLICE
    purpose = default_purpose(role)
    search = _row("POST", f"{V1}/persons/search")
    subject = m.targets(search)[0]
    hits = m.call(search, role, subject, str(purpose), 200, who=who).json()["items"]
    m.checks += 1
    if [(h["id"], h["in_scope"]) for h in hits] != [(w.subject_a, False)]:
        m.mismatches.append(f"exact search by {who}: {hits}")

    def by_id(only_reads: bool) -> None:
        for row in ROWS:
            if "{" not in row.path or row.family not in ("person", "victim", *HELD_RECORDS):
                continue
            if row.gate is G.BREAK_GLASS:  # a grant is the grant-only reader's story (_grant_only)
                continue
            if only_reads and row.method != "GET":
                continue
            family = "person" if row.family == "victim" else row.family  # the erasure route, on this person
            for target in (t for t in w.targets[family] if t.in_scope):
                seen = outside_view(target)
                m.call(row, role, seen, str(purpose), expected(w, row, role, seen, purpose, who=who), who=who)

    by_id(only_reads=False)
    home = w.dwelling(who, UNIT_B)
    body = {"person_id": w.subject_a, "dwelling_id": home, "arrived_on": ARRIVED, "basis": "family"}
    since = m.last_entry()
    arrived = w.client.post(
        f"{V1}/residence-registrations", json=body, headers=w.heads[who] | {"X-Purpose": "registration"}
    )
    m.checks += 2
    if arrived.status_code != 202 or arrived.json()["status"] != "pending_transfer":
        m.mismatches.append(f"{who} registers district A's person: {arrived.status_code} {arrived.text[:160]}")
        return
    if not any(w.subject_a in e.targets and e.actor_id == w.ids[who] for e in m.entries_since(since)):
        m.mismatches.append(f"{who} registers district A's person: no entry names the person")
    transfer = Target("pending transfer of the hit", arrived.json()["transfer"]["id"])
    m.call(_row("GET", f"{V1}/person-transfers/{{transfer_id}}"), role, transfer, str(purpose), 200, who=who)
    accept = _row("POST", f"{V1}/person-transfers/{{transfer_id}}/accept")
    m.call(accept, role, replace(transfer, in_scope=False), str(purpose), 404, who=who)  # the holder's to decide
    by_id(only_reads=True)  # nothing moved
    m.call(_row("GET", f"{V1}/persons/{{person_id}}"), role, subject, str(purpose), 200)  # district A still reads


HELD_RECORDS = ("dwelling", "registration", "permit", "casefile", "leave")


def _grant_only(m: Matrix, glass: Row) -> list[tuple[Row, Target]]:
    """glass.b, a corrections officer of district B, reaches two district A correction files
    (one with a leave) only through break-glass. Before: nothing. Under a live grant: the
    file, its events and leave for reading; every write the 404 of no grant, its denied
    entry naming the grant; no list shows the files. Returns the cells for after expiry."""
    w, who, role = m.world, "glass.b", Role.CORRECTIONS
    purpose = default_purpose(role)
    leave = w.targets["leave"][0]
    files = [next(t for t in w.targets["casefile"] if t.name == "community_correction unassigned")]
    files.append(Target("leave's file in A", leave.casefile.id, True, leave.casefile))
    rows = [r for r in ROWS if r.family in ("casefile", "leave") and r is not glass]
    cells = [(r, outside_view(t)) for r in rows for t in (files if r.family == "casefile" else [leave])]

    def run() -> None:
        for row, target in cells:
            m.call(row, role, target, str(purpose), expected(w, row, role, target, purpose, who=who), who=who)

    run()
    for target in (outside_view(t) for t in files):
        want = expected(w, glass, role, target, Purpose.EMERGENCY, who=who)
        response = m.call(glass, role, target, str(Purpose.EMERGENCY), want, who=who)
        if response.status_code == 201:
            w.grants[(who, target.value)] = response.json()["grant_id"]
    run()
    hidden = {t.value for t in files} | {leave.value}
    for path in ("casefiles", "leave-requests?due=return_overdue", "transfers"):
        listed = w.client.get(f"{V1}/{path}", headers=w.heads[who] | {"X-Purpose": str(purpose)})
        m.checks += 1
        if listed.status_code != 200 or any(h in listed.text for h in hidden):
            m.mismatches.append(f"GET /{path} as {who}: {listed.status_code}, or a grant widened the list")
    return cells


def _expired(m: Matrix, cells: list[tuple[Row, Target]], clock) -> None:  # type: ignore[no-untyped-def]
    """Expiry is the server's: 61 minutes on, a fresh token of glass.b opens nothing, reads
    included, and the refusals name no grant."""
    w, who, role = m.world, "glass.b", Role.CORRECTIONS
    clock.advance(minutes=61)
    w.heads[who] = as_user(w.client, who, STRONG_PASSWORD)
    for key in [k for k in w.grants if k[0] == who]:
        del w.grants[key]
    purpose = default_purpose(role)
    for row, target in cells:
        m.call(row, role, target, str(purpose), expected(w, row, role, target, purpose, who=who), who=who)


def test_every_route_answers_every_role_as_the_policy_table_says(client, runtime, bootstrap, clock):
    served = {(m.upper(), p) for p, ops in client.get("/openapi.json").json()["paths"].items() for m in ops}
    declared = {(r.method, r.path) for r in ROWS}
    assert served == declared, f"routes without a matrix row: {served - declared}; stale rows: {declared - served}"
    for row in ROWS:  # the table itself: a route that may answer personal values takes a purpose
        assert not row.personal or row.purpose, row.path
    world = build_world(client, runtime, bootstrap, clock.now().date())
    m = Matrix(world)

    _unauthenticated(m)
    glass = next(r for r in ROWS if r.gate is G.BREAK_GLASS)
    m.run([r for r in ROWS if r is not glass], list(Role))
    _purpose_gate(m)
    _break_glass(m, glass)
    _audited_grants(m)
    # With grants: what break-glass opens, and what it never does (widen a list, open a seal
    # without court_request; an excluded user got no grant above). Rows that use their
    # target up were checked before.
    listing = _row("GET", f"{V1}/casefiles")
    reopen = [listing] + [r for r in ROWS if r.family == "casefile" and r.fresh is None and r is not glass]
    m.run(reopen, [r for r in Role if kinds_known(r)], after_grants=True)
    court = [r for r in Role if Purpose.COURT_REQUEST in snapshot.purposes(r)]
    m.run(
        [r for r in reopen if r.method == "GET"], court, purpose_of=lambda r: Purpose.COURT_REQUEST, after_grants=True
    )
    _audited_grant_reads(m)
    _admin_made_accounts(m)
    _exact_search_hit(m)
    cells = _grant_only(m, glass)
    _expired(m, cells, clock)  # last: every other token dies with the hour

    needles = Needles(world.personal)
    for label, body in m.unseen:
        found = needles.found(body)
        if found:
            m.mismatches.append(f"{label}: personal values in the response {found}")
    m.checks += len(m.unseen)
    assert not m.mismatches, f"{len(m.mismatches)} of {m.checks} checks failed:\n" + "\n".join(m.mismatches[:60])
