"""The world the access matrix runs in, built over HTTP (tests/api/test_access_matrix.py).

District A holds one caller per role and a record of every kind; district B holds the same
records for out-of-scope checks. Casefiles of each kind come in variants the access rules
tell apart: assigned to the social worker, unassigned, in B, excluding every caller,
restricted to a non-caller, sealed. Setup work is done by non-caller accounts ("owners"),
so the callers start with no assignment, grant or membership the matrix does not declare.
Beside the callers, the principals of issue 13 (World.principals): glass.b and hit.b in
district B, reset.a and made.a (one-time password only), and pending.a (awaiting approval).
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import sqlalchemy as sa
from fastapi.testclient import TestClient

from registry.access.policy import Role
from registry.casefiles.models import Casefile as CasefileRow
from registry.people.synthetic import SyntheticPeople, SyntheticPerson
from registry.runtime import Runtime
from tests.api_helpers import (
    STRONG_PASSWORD,
    as_user,
    bearer,
    create_admin_apart,
    create_tree,
    create_user,
    second_admin,
)

UNIT_A, STREET_A, UNIT_B, CITY = "320571", "320571001", "320505", "320500"
KINDS = ("community_correction", "resettlement", "drug_rehabilitation")
VARIANTS = ("assigned", "unassigned", "in_b", "excluded", "restricted", "sealed")
ARRIVED = "2025-06-01"  # registrations old enough for a permit (six months before the clock)
INTAKE = {"documents_checked": True, "identity_verified": True, "rules_read": True}


def details(kind: str, street: str) -> dict:  # type: ignore[type-arg]
    if kind == "community_correction":
        return {
            "category": "probation",
            "deciding_authority": "测试区人民法院",
            "document_no": "(2025)测刑初1号",
            "judgment_effective_on": "2025-12-20",
            "term_starts_on": "2025-12-20",
            "term_ends_on": "2026-12-19",
        }
    if kind == "resettlement":
        return {"source": "prison", "releasing_institution": "测试监狱", "release_on": "2025-12-30"}
    return {
        "measure": "community_detox",
        "deciding_authority": "测试区公安分局",
        "order_no": "测公(禁)决字[2025]1号",
        "executing_org_unit": street,
    }


def owner_of(kind: str) -> str:
    """The non-caller account that makes and restricts district A files of `kind`."""
    return "owner.police" if kind == "drug_rehabilitation" else "owner.corrections"


@dataclass(frozen=True)
class Casefile:
    """A casefile target and the facts its access depends on."""

    id: str
    kind: str
    in_scope: bool  # in district A, the callers' subtree
    assigned: bool = False  # the social worker is on the team
    excluded: bool = False  # every caller is on the exclusion list
    restricted: bool = False  # restricted to a user who is not a caller
    sealed: bool = False


@dataclass(frozen=True)
class Target:
    """What a route's path or body points at, and whether it lies in the callers' scope."""

    name: str
    value: str
    in_scope: bool = True
    casefile: Casefile | None = None  # the file a casefile, leave or transfer target opens
    receiving_in_scope: bool = False  # transfers: the receiving unit is in district A


@dataclass
class World:
    client: TestClient
    runtime: Runtime
    today: date
    people: SyntheticPeople = field(default_factory=lambda: SyntheticPeople(7107))
    heads: dict[str, dict[str, str]] = field(default_factory=dict)  # username → auth header
    ids: dict[str, str] = field(default_factory=dict)  # username → account id
    callers: dict[Role, str] = field(default_factory=dict)  # role → username in district A
    # The principals of issue 13 beside the callers, username → role: a grant-only reader
    # (glass.b), another unit's officer with an exact-search hit (hit.b), an account an
    # administrator reset (reset.a) or made (made.a), and one whose creation awaits approval.
    principals: dict[str, Role] = field(default_factory=dict)
    one_time: dict[str, str] = field(default_factory=dict)  # username → the administrator's one-time password
    pending_account: str = ""  # the approval request of the account that does not exist yet
    targets: dict[str, list[Target]] = field(default_factory=dict)  # family → targets
    personal: dict[str, set[str]] = field(default_factory=dict)  # kind → values never to leak
    grants: dict[tuple[str, str], str] = field(default_factory=dict)  # (username, casefile id) → live grant id
    etags: dict[str, str] = field(default_factory=dict)  # account or person id → ETag
    id_numbers: dict[str, str] = field(default_factory=dict)  # person id → ID number
    holders: dict[str, str] = field(default_factory=dict)  # registration id → person id
    admin: dict[str, str] = field(default_factory=dict)  # the bootstrap admin's auth header (not a caller)
    client_id: str = ""  # the verifier's credentials
    client_secret: str = ""
    dwelling_a: str = ""
    subject_a: str = ""  # the person every district A record is about
    subject_b: str = ""
    unregistered: str = ""  # a person in A with no registration
    review_grant: str = ""
    tree_size: int = 0
    report_month: str = ""  # the month of the submitted reports (YYYY-MM)
    counter: itertools.count = field(default_factory=lambda: itertools.count(1))

    # -- HTTP --------------------------------------------------------------------------

    def ok(self, who: str, method: str, path: str, status: int, **kwargs) -> dict:  # type: ignore[no-untyped-def,type-arg]
        purpose = "supervision" if "casefile" in path or "leave" in path else "registration"
        headers = self.heads[who] | {"X-Purpose": purpose}
        response = self.client.request(method, path, headers=headers, **kwargs)
        assert response.status_code == status, (method, path, response.text)
        return response.json() if response.content else {}

    def signed_in_again(self, who: str) -> dict[str, str]:
        if who == "verifier.a":
            form = {
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
            }
            return bearer(self.client.post("/api/v1/auth/token", data=form).json()["access_token"])
        return as_user(self.client, who, STRONG_PASSWORD)

    # -- records -----------------------------------------------------------------------

    def remember(self, person: SyntheticPerson) -> None:
        for kind in ("name", "id_number", "phone", "hukou_address"):
            self.personal.setdefault(kind, set()).add(getattr(person, kind))

    def male(self) -> SyntheticPerson:
        """A male subject: a female one's correction team must include a female member."""
        person = next(p for p in iter(self.people.person, None) if p.sex == "male")
        self.remember(person)
        return person

    def person(self, who: str, unit: str | None = None) -> str:
        p = self.male()
        body = {"id_number": p.id_number, "name": p.name, "phone": p.phone, "hukou_address": p.hukou_address}
        created = self.ok(who, "POST", "/api/v1/persons", 201, json=body | ({"org_unit": unit} if unit else {}))
        self.etags[created["id"]] = f'"{created["version"]}"'
        self.id_numbers[created["id"]] = p.id_number
        return created["id"]

    def dwelling(self, who: str, unit: str) -> str:
        address = self.people.address()
        self.personal.setdefault("address", set()).add(address)
        body = {"org_unit": unit, "address": address, "kind": "owned"}
        created = self.ok(who, "POST", "/api/v1/dwellings", 201, json=body)
        self.etags[created["id"]] = f'"{created["version"]}"'  # for PATCH (If-Match)
        return created["id"]

    def employer(self, who: str, unit: str) -> tuple[str, str]:
        """An employer held by `unit`, with its contact: (id, USCC)."""
        contact, name, uscc = self.male(), self.people.company_name(), self.people.uscc()
        for key, value in (("name", contact.name), ("employer", name), ("phone", contact.phone)):
            self.personal.setdefault(key, set()).add(value)
        body = {"org_unit": unit, "name": name, "uscc": uscc}
        body |= {"contact_name": contact.name, "contact_phone": contact.phone}
        return self.ok(who, "POST", "/api/v1/employers", 201, json=body)["id"], uscc

    def registration(self, who: str, person_id: str, dwelling_id: str) -> str:
        body = {"person_id": person_id, "dwelling_id": dwelling_id, "arrived_on": ARRIVED, "registered_on": ARRIVED}
        registration_id = self.ok(who, "POST", "/api/v1/residence-registrations", 201, json=body | {"basis": "family"})[
            "id"
        ]
        self.holders[registration_id] = person_id
        return registration_id

    def permit(self, who: str, person_id: str, registration_id: str, *, steps: tuple[str, ...] = ()) -> str:
        body = {"person_id": person_id, "registration_id": registration_id, "basis": "residence"}
        permit_id = self.ok(who, "POST", "/api/v1/residence-permits", 201, json=body)["id"]
        for step in steps:
            self.ok(who, "POST", f"/api/v1/residence-permits/{permit_id}/{step}", 200)
        return permit_id

    def casefile(self, who: str, kind: str, unit: str, person_id: str) -> str:
        body = {"person_id": person_id, "kind": kind, "org_unit": unit, "details": details(kind, unit + "001")}
        return self.ok(who, "POST", "/api/v1/casefiles", 201, json=body)["id"]

    def casefile_variant(self, kind: str, variant: str) -> Casefile:
        """A new file of `kind` with `variant`'s facts; district A files are made by an owner."""
        if variant == "in_b":
            owner = "police.b" if kind == "drug_rehabilitation" else "corrections.b"
            return Casefile(self.casefile(owner, kind, UNIT_B, self.subject_b), kind, in_scope=False)
        owner = owner_of(kind)
        cf = Casefile(self.casefile(owner, kind, UNIT_A, self.subject_a), kind, in_scope=True)
        path = f"/api/v1/casefiles/{cf.id}"
        if variant != "unassigned":
            self.ok(owner, "PUT", f"{path}/assignments", 200, json={"user_ids": [self.ids["social_worker.a"]]})
            cf = replace(cf, assigned=True)
        if variant == "excluded":
            callers = [self.ids[u] for u in self.callers.values()]
            self.ok(owner, "PUT", f"{path}/restrictions", 204, json={"excluded_user_ids": callers})
            cf = replace(cf, excluded=True)
        if variant == "restricted":
            self.ok(owner, "PUT", f"{path}/restrictions", 204, json={"restricted_to_user_ids": [self.ids[owner]]})
            cf = replace(cf, restricted=True)
        if variant == "sealed":  # sealing is the retention job's work; set the flag it sets
            with self.runtime.engine.begin() as conn:
                conn.execute(sa.update(CasefileRow).where(CasefileRow.id == uuid.UUID(cf.id)).values(sealed=True))
            cf = replace(cf, sealed=True)
        return cf

    def leave(self, who: str, unit: str, person_id: str, *, assigned: bool) -> Target:
        """A refused leave request on a correction file under supervision."""
        file_id = self.casefile(who, "community_correction", unit, person_id)
        path = f"/api/v1/casefiles/{file_id}"
        if assigned:
            self.ok(who, "PUT", f"{path}/assignments", 200, json={"user_ids": [self.ids["social_worker.a"]]})
        on = self.today.isoformat()
        self.ok(who, "POST", f"{path}/transitions", 200, json={"to": "received", "on": on, "facts": INTAKE})
        start, end = date.fromordinal(self.today.toordinal() + 5), date.fromordinal(self.today.toordinal() + 7)
        body = {"starts_on": str(start), "ends_on": str(end), "destination": "测试市", "reason": "探亲"}
        leave_id = self.ok(who, "POST", f"{path}/leave-requests", 201, json=body)["id"]
        self.ok(who, "POST", f"/api/v1/leave-requests/{leave_id}/decision", 200, json={"approve": False})
        cf = Casefile(file_id, "community_correction", in_scope=unit == UNIT_A, assigned=assigned)
        return Target("leave in A" if cf.in_scope else "leave in B", leave_id, cf.in_scope, cf)

    def transfer(self, name: str) -> Target:
        """incoming: B → A; outgoing: A → B (file assigned to the social worker); foreign: B → city."""
        if name == "outgoing":
            who, unit, subject, to = "owner.corrections", UNIT_A, self.subject_a, UNIT_B
        else:
            who, unit, subject, to = "corrections.b", UNIT_B, self.subject_b, UNIT_A if name == "incoming" else CITY
        file_id = self.casefile(who, "community_correction", unit, subject)
        if name == "outgoing":
            self.ok(
                who,
                "PUT",
                f"/api/v1/casefiles/{file_id}/assignments",
                200,
                json={"user_ids": [self.ids["social_worker.a"]]},
            )
        transfer = self.ok(who, "POST", f"/api/v1/casefiles/{file_id}/transfers", 201, json={"to_org_unit": to})
        cf = Casefile(file_id, "community_correction", in_scope=unit == UNIT_A, assigned=name == "outgoing")
        return Target(name, transfer["id"], cf.in_scope, cf, receiving_in_scope=to == UNIT_A)

    def person_transfer(self, name: str) -> Target:
        """held in A: district B registers a person district A holds; asked by A: the reverse.
        Either waits as `pending_transfer` for the holder's answer (issue 13); `in_scope` is
        the holder's side, the one that may accept or refuse."""
        held_in_a = name == "held in A"
        holder, asker = ("owner.police", "police.b") if held_in_a else ("police.b", "owner.police")
        dwelling = self.targets["dwelling"][1 if held_in_a else 0].value
        body = {"person_id": self.person(holder), "dwelling_id": dwelling, "arrived_on": ARRIVED, "basis": "family"}
        transfer = self.ok(asker, "POST", "/api/v1/residence-registrations", 202, json=body)["transfer"]
        return Target(name, transfer["id"], held_in_a)

    def fresh_registration(self) -> str:
        """A registration of a new person in district A (a move or departure uses it up)."""
        return self.registration("owner.police", self.person("owner.police"), self.dwelling_a)

    def unique(self) -> int:
        return next(self.counter)

    def role_of(self, who: str) -> Role:
        return self.principals.get(who) or next(r for r, u in self.callers.items() if u == who)

    def account_request(self, username: str, role: str, unit: str) -> str:
        """Dual control's first key: the second administrator asks for a data-role account."""
        body = {"username": username, "display_name": username, "roles": [role], "org_unit": unit}
        response = self.client.post("/api/v1/users", json=body, headers=second_admin(self.client, self.admin))
        assert response.status_code == 202, response.text
        return response.json()["id"]

    def approve(self, approval_id: str) -> dict:  # type: ignore[type-arg]
        """The second key, turned by the bootstrap admin (which did not make the requester alone)."""
        response = self.client.post(f"/api/v1/account-approvals/{approval_id}/approve", headers=self.admin)
        assert response.status_code == 200, response.text
        return response.json()

    def reset(self, who: str) -> None:
        """An administrator's password reset of `who`, approved: the owner holds only a one-time password."""
        requested = self.client.post(
            f"/api/v1/users/{self.ids[who]}/password", headers=second_admin(self.client, self.admin)
        )
        assert requested.status_code == 202, requested.text
        self.one_time[who] = self.approve(requested.json()["id"])["one_time_password"]

    def approval(self, unit: str) -> str:
        """A pending request (dual control) for a police account in `unit`, by requester.admin:
        neither of them made the other (the bootstrap and second administrators made both), so
        admin.a may approve it."""
        body = {"username": f"pending.user{self.unique()}", "display_name": "Pending", "roles": ["police"]}
        response = self.client.post(
            "/api/v1/users", json=body | {"org_unit": unit}, headers=self.heads["requester.admin"]
        )
        assert response.status_code == 202, response.text
        return response.json()["id"]


def build_world(client: TestClient, runtime: Runtime, bootstrap: tuple[str, str], today: date) -> World:
    world = World(client, runtime, today)
    admin = world.admin = as_user(client, *bootstrap)
    create_tree(client, admin)
    staff = {f"{r}.a": ([r], UNIT_A) for r in Role if r is not Role.VERIFIER}
    staff |= {
        "owner.corrections": (["corrections"], UNIT_A),
        "owner.police": (["police"], UNIT_A),
        "police.b": (["police"], UNIT_B),
        "corrections.b": (["corrections"], UNIT_B),
        "dummy.a": (["police"], UNIT_A),
        "dummy.b": (["police"], UNIT_B),
        "requester.admin": (["admin"], None),  # asks for the approvals admin.a decides
    }
    principals = {"glass.b": Role.CORRECTIONS, "hit.b": Role.POLICE, "reset.a": Role.POLICE}
    staff |= {who: ([role.value], UNIT_B if who.endswith(".b") else UNIT_A) for who, role in principals.items()}
    for username, (roles, unit) in staff.items():
        if username == "requester.admin":  # apart from admin.a, so the two are two keys
            created = create_admin_apart(client, admin, username)
        else:
            created = create_user(client, admin, username, roles, unit)
        world.ids[username], world.etags[created["id"]] = created["id"], f'"{created["version"]}"'
        if not username.startswith("dummy"):
            world.heads[username] = as_user(client, username, STRONG_PASSWORD)
    service = {"name": "verifier.a", "roles": ["verifier"], "org_unit": UNIT_A}
    svc = client.post("/api/v1/service-accounts", json=service, headers=admin).json()
    world.client_id, world.client_secret = svc["client_id"], svc["client_secret"]
    world.heads["verifier.a"] = world.signed_in_again("verifier.a")
    world.ids["verifier.a"] = svc["id"]
    world.callers = {r: f"{r}.a" for r in Role}
    world.principals = principals | {"made.a": Role.POLICE}
    made = world.approve(world.account_request("made.a", "police", UNIT_A))
    world.ids["made.a"], world.one_time["made.a"] = made["user"]["id"], made["one_time_password"]
    world.pending_account = world.account_request("pending.a", "police", UNIT_A)
    _records(world)
    return world


def _records(world: World) -> None:
    w = world
    person_a, person_b = w.person("owner.police"), w.person("police.b")
    w.dwelling_a, dwelling_b = w.dwelling("owner.police", STREET_A), w.dwelling("police.b", UNIT_B)
    registration_a = w.registration("owner.police", person_a, w.dwelling_a)
    registration_b = w.registration("police.b", person_b, dwelling_b)
    w.subject_a, w.subject_b = person_a, person_b
    # Never registered: refused registrations name this person, so scope (not an active one) refuses them.
    w.unregistered = w.person("owner.police")
    (employer_a, code_a), (employer_b, code_b) = w.employer("owner.police", UNIT_A), w.employer("police.b", UNIT_B)
    permit_a = w.permit("owner.police", person_a, registration_a)
    permit_b = w.permit("police.b", person_b, registration_b)
    w.targets = {
        "person": [Target("person in A", person_a), Target("person in B", person_b, False)],
        "victim": [Target("victim in A", w.person("owner.police")), Target("victim in B", w.person("police.b"), False)],
        "dwelling": [Target("dwelling in A", w.dwelling_a), Target("dwelling in B", dwelling_b, False)],
        "registration": [
            Target("registration in A", registration_a),
            Target("registration in B", registration_b, False),
        ],
        "permit": [Target("permit in A", permit_a), Target("permit in B", permit_b, False)],
        "unit": [Target("unit A", UNIT_A), Target("unit B", UNIT_B, False)],
        "employer": [Target("employer in A", employer_a), Target("employer in B", employer_b, False)],
        "employer_code": [Target("code of employer in A", code_a), Target("code of employer in B", code_b)],
        "user": [Target("user in A", w.ids["dummy.a"]), Target("user in B", w.ids["dummy.b"], False)],
        "approval": [Target("approval in A", w.approval(UNIT_A)), Target("approval in B", w.approval(UNIT_B), False)],
        "leave": [
            w.leave("owner.corrections", UNIT_A, person_a, assigned=True),
            w.leave("corrections.b", UNIT_B, person_b, assigned=False),
        ],
        "transfer": [w.transfer(name) for name in ("incoming", "outgoing", "foreign")],
        "none": [Target("-", "")],
    }
    # Person transfers by side: the holder's (accept, refuse), the asker's (withdraw), either (read).
    held, asked = w.person_transfer("held in A"), w.person_transfer("asked by A")
    w.targets["person_transfer_held"] = [held, asked]
    w.targets["person_transfer_asked"] = [replace(asked, in_scope=True), replace(held, in_scope=False)]
    w.targets["person_transfer"] = [held, replace(asked, in_scope=True)]
    files = [(kind, variant, w.casefile_variant(kind, variant)) for kind in KINDS for variant in VARIANTS]
    w.targets["casefile"] = [Target(f"{k} {v}", cf.id, cf.in_scope, cf) for k, v, cf in files]
    held = ("community_correction assigned", "community_correction in_b")
    w.targets["hold"] = [t for t in w.targets["casefile"] if t.name in held]
    w.targets["new_casefile"] = [
        Target(f"new {kind} in {unit}", unit, unit == UNIT_A, Casefile("", kind, unit == UNIT_A))
        for kind in KINDS
        for unit in (UNIT_A, UNIT_B)
    ]
    # Things only an operator's earlier work leaves behind: a job, a used grant, a checkpoint.
    grant = w.ok(
        "corrections.b",
        "POST",
        f"/api/v1/casefiles/{w.targets['leave'][0].casefile.id}/break-glass",
        201,
        json={"reason_code": "emergency", "justification": "setup grant for the review route"},
    )
    w.review_grant = grant["grant_id"]
    job_id = w.ok("security_admin.a", "POST", "/api/v1/retention/runs", 202)["job_id"]
    w.runtime.jobs.wait(uuid.UUID(job_id), timeout=60)
    w.targets["job"] = [Target("job", job_id)]
    w.targets["entry"] = [Target("audit entry", "1")]  # the log's first entry: the bootstrap's
    # Last month's police reports of both districts (issue 15), submitted.
    w.report_month = (w.today.replace(day=1) - timedelta(days=1)).strftime("%Y-%m")
    reports = [
        w.ok(
            who,
            "POST",
            "/api/v1/reports/monthly",
            201,
            json={"org_unit": unit, "period": w.report_month, "department": "police"},
        )["id"]
        for who, unit in (("owner.police", UNIT_A), ("police.b", UNIT_B))
    ]
    w.targets["report"] = [Target("report A", reports[0]), Target("report B", reports[1], False)]
    w.runtime.sequencer.drain()
    w.runtime.sequencer.checkpoint()
    w.tree_size = w.ok("auditor.a", "GET", "/api/v1/audit/checkpoint", 200)["size"]
