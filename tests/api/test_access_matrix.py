"""The access matrix: every route, as every role, against records in and out of scope, of
every casefile kind and access variant (assignment, exclusion, restriction, seal), before
and after break-glass, with the exact status the policy table says (tests/support/
access_model.py); and no response to a role without personal data carries a personal value.

The route table is data (tests/support/access_routes.py); a route the app serves without a
row there, or a row for a route it no longer serves, fails the test.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

import sqlalchemy as sa
from httpx import Response

from registry.access.policy import POLICY, Purpose, Role
from registry.audit.models import AuditEntry
from registry.casefiles.details import OFFENCE_FIELDS
from registry.casefiles.workflows.common import Kind
from tests.api_helpers import STRONG_PASSWORD
from tests.support.access_model import (
    Gate,
    Row,
    assigned_only,
    default_purpose,
    expected,
    kinds_known,
    listed_casefiles,
    opens,
)
from tests.support.access_routes import ROWS, V1
from tests.support.access_world import Casefile, Target, World, build_world
from tests.support.leak import Needles

G = Gate
PERSONAL_FREE = [r for r in Role if not POLICY[r].personal_data]  # roles that never receive personal values


@dataclass
class Matrix:
    """Runs rows against the world and collects every mismatch, so one run shows them all."""

    world: World
    checks: int = 0
    mismatches: list[str] = field(default_factory=list)
    # (call, body) of every answer to a role without personal data, scanned at the end
    unseen: list[tuple[str, bytes]] = field(default_factory=list)

    def targets(self, row: Row) -> list[Target]:
        return self.world.targets[row.family]

    def url(self, row: Row, target: Target) -> str:
        path = row.path
        if "{" in path:
            path = path[: path.index("{")] + target.value + path[path.index("}") + 1 :]
        query = row.query.format(t=target.value, size=self.world.tree_size)
        return f"{path}?{query}" if query else path

    def call(self, row: Row, role: Role | None, target: Target, purpose: str | None, want: int) -> Response:
        w = self.world
        allowed = want == (row.ok(target) if callable(row.ok) else row.ok) and role is not None
        if allowed and row.fresh is not None:
            target = row.fresh(w, target)
        headers = dict(w.heads[w.callers[role]]) if role is not None else {}
        if purpose is not None:
            headers["X-Purpose"] = purpose
        if row.if_match:
            headers["If-Match"] = w.etags[target.value]
        kwargs = {}
        if row.gate is G.LOGIN:
            kwargs["data"] = self.login_form(role)
        elif row.body is not None:
            kwargs["json"] = row.body(w, target, allowed)
        response = w.client.request(row.method, self.url(row, target), headers=headers, **kwargs)
        self.checks += 1
        label = f"{row.method} {row.path} [{target.name}] as {role or 'anonymous'} ({purpose})"
        if response.status_code != want:
            self.mismatches.append(f"{label}: {response.status_code}, expected {want}: {response.text[:160]}")
        if response.status_code in (403, 404) and role is not None:
            self.check_denial_audited(label, role, target, url=self.url(row, target))
        if role in PERSONAL_FREE:
            self.unseen.append((label, response.content))
            # The table itself: personal routes stay shut to these roles, or (lists) show them nothing.
            if row.personal and want < 400 and (row.gate is not G.CASEFILE_LIST or response.json()["items"]):
                self.mismatches.append(f"{label}: {want} from a personal route to a role without personal data")
        if response.status_code == 202 and "job_id" in response.json():  # a job: let it finish first
            w.runtime.jobs.wait(uuid.UUID(response.json()["job_id"]), timeout=60)
        if response.status_code == 200 and row.path == f"{V1}/casefiles" and role is not None:
            self.check_list(label, role, response.json())
        if response.status_code == 200 and row.path.endswith("{casefile_id}") and role is not None:
            self.check_offence_fields(label, role, target, response.json())
        return response

    def check_denial_audited(self, label: str, role: Role, target: Target, *, url: str) -> None:
        """Every refusal is on the record, as a denied entry of the caller naming the target
        (written after the rollback, so a 404 for out of scope still shows the probing)."""
        w = self.world
        with w.runtime.engine.connect() as conn:
            entry = conn.execute(
                sa.select(AuditEntry.outcome, AuditEntry.targets)
                .where(AuditEntry.actor_id == w.ids[w.callers[role]])
                .order_by(AuditEntry.id.desc())
                .limit(1)
            ).first()
        self.checks += 1
        if entry is None or entry.outcome != "denied":
            self.mismatches.append(f"{label}: refused without a denied audit entry")
        elif target.value and target.value in url and target.value not in entry.targets:
            self.mismatches.append(f"{label}: denied entry names {entry.targets}, not the target")

    def login_form(self, role: Role | None) -> dict[str, str]:
        if role is None:
            return {"grant_type": "password", "username": "nobody.here", "password": "not a password at all"}
        if role is Role.VERIFIER:
            w = self.world
            return {"grant_type": "client_credentials", "client_id": w.client_id, "client_secret": w.client_secret}
        return {"grant_type": "password", "username": self.world.callers[role], "password": STRONG_PASSWORD}

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
        stopped = row.purpose and purpose not in POLICY[role].purposes
        if stopped or (targets[0].casefile is not None and not kinds_known(role)):
            return [t for t in targets if t.in_scope][:1] + [t for t in targets if not t.in_scope][:1]

        def tells(cf: Casefile | None) -> bool:
            return cf is None or not (cf.excluded or cf.restricted or cf.sealed) or cf.kind in kinds_known(role)

        def granted(t: Target) -> bool:  # after break-glass: the files the grant is meant to change
            cf, w = t.casefile, self.world
            return cf is None or ((role, cf.id) in w.grants and not opens(w, role, cf, None, grants=False))

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
        target = m.targets(row)[0]
        want = row.ok if row.gate is G.PUBLIC else 401
        m.call(row, None, target, None, want)


def _purpose_gate(m: Matrix) -> None:
    """Every route that takes X-Purpose refuses one the role may not declare (a missing one is
    the main run's case for the roles that may declare none), as the caller it would serve."""
    for row in (r for r in ROWS if r.purpose):
        target = m.targets(row)[0]
        role = next(
            (r for r in Role if default_purpose(r) and expected(m.world, row, r, target, default_purpose(r)) < 300),
            Role.POLICE,
        )
        foreign = next(p for p in Purpose if p not in POLICY[role].purposes)
        m.call(row, role, target, str(foreign), 400)
    reading = _row("GET", f"{V1}/persons/{{person_id}}")
    m.call(reading, Role.POLICE, m.targets(reading)[0], "gossip", 400)  # not a purpose code at all


def _break_glass(m: Matrix, row: Row) -> None:
    """Every role asks for a grant on every file (emergency where the role may declare it)."""
    w = m.world

    def purpose_of(role: Role) -> Purpose | None:
        return Purpose.EMERGENCY if Purpose.EMERGENCY in POLICY[role].purposes else default_purpose(role)

    for role in Role:
        purpose = purpose_of(role)
        for target in w.targets["casefile"]:
            want = expected(w, row, role, target, purpose)
            response = m.call(row, role, target, purpose and str(purpose), want)
            if response.status_code == 201:
                w.grants[(role, target.value)] = response.json()["grant_id"]


def _audited_grants(m: Matrix) -> None:
    """Each grant is in the log under its user."""
    w = m.world
    logged = w.ok("auditor.a", "GET", f"{V1}/audit/events?action=casefile:break-glass&limit=500", 200)["items"]
    by_grant = {e["break_glass_grant"]: e["actor_id"] for e in logged}
    for (role, _), grant in w.grants.items():
        m.checks += 1
        if by_grant.get(grant) != w.ids[w.callers[role]]:
            m.mismatches.append(f"grant {grant} of {role}: not audited under its user")


def _audited_grant_reads(m: Matrix) -> None:
    """Each file read only through a grant has a read entry naming that grant."""
    w = m.world
    for (role, file_id), grant in w.grants.items():
        cf = next(t.casefile for t in w.targets["casefile"] if t.value == file_id)
        if opens(w, role, cf, None, grants=False) or not opens(w, role, cf, default_purpose(role)):
            continue
        reads = w.ok("auditor.a", "GET", f"{V1}/audit/events?action=casefile:read&target={file_id}&limit=500", 200)
        m.checks += 1
        if grant not in {e["break_glass_grant"] for e in reads["items"]}:
            name = next(t.name for t in w.targets["casefile"] if t.value == file_id)
            m.mismatches.append(f"read of [{name}] by {role} through its grant: the log does not name the grant")


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
    court = [r for r in Role if Purpose.COURT_REQUEST in POLICY[r].purposes]
    m.run(
        [r for r in reopen if r.method == "GET"], court, purpose_of=lambda r: Purpose.COURT_REQUEST, after_grants=True
    )
    _audited_grant_reads(m)

    needles = Needles(world.personal)
    for label, body in m.unseen:
        found = needles.found(body)
        if found:
            m.mismatches.append(f"{label}: personal values in the response {found}")
    m.checks += len(m.unseen)
    assert not m.mismatches, f"{len(m.mismatches)} of {m.checks} checks failed:\n" + "\n".join(m.mismatches[:60])
