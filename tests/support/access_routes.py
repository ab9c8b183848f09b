"""The route table of the access matrix (tests/api/test_access_matrix.py): every route the
API serves, as data: how it decides (`Gate`), what it needs, what it answers once allowed,
and how to fill its path and body for a target (tests/support/access_world.py).

Writes that would change what later rows rely on either change nothing once allowed (the
record's own lists, an empty patch) or take a `fresh` like-for-like target; where the state
machine stands right behind the access checks, an allowed call answers its 409 or 422.
"""

from __future__ import annotations

from datetime import timedelta

from tests.support.access_model import CORRECTION, Gate, P, Row
from tests.support.access_world import ARRIVED, CITY, STREET_A, UNIT_A, Target, World, details, owner_of

G = Gate
V1 = "/api/v1"


def _today(w: World, days: int = 0) -> str:
    return (w.today + timedelta(days=days)).isoformat()


def _new_person(w: World, t: Target, allowed: bool) -> dict:  # type: ignore[type-arg]
    p = w.male()
    return {"id_number": p.id_number, "name": p.name, "phone": p.phone, "org_unit": t.value}


def _registration(w: World, t: Target, allowed: bool) -> dict:  # type: ignore[type-arg]
    # A registration refused for scope must not be refused first for an active one: never the subject.
    person = w.person("owner.police") if allowed else w.unregistered
    return {"person_id": person, "dwelling_id": t.value, "arrived_on": ARRIVED, "basis": "family"}


def _restrictions(w: World, t: Target, allowed: bool) -> dict:  # type: ignore[type-arg]
    """The file's own lists, so a permitted call changes nothing."""
    cf = t.casefile
    return {
        "excluded_user_ids": [w.ids[u] for u in w.callers.values()] if cf.excluded else [],
        "restricted_to_user_ids": [w.ids[owner_of(cf.kind)]] if cf.restricted else [],
    }


def _fresh_permit(*steps: str):  # type: ignore[no-untyped-def]
    # A new person's registration: one live permit per person (issue 14), so never the stock one's.
    def fresh(w: World, t: Target) -> Target:
        registration = w.fresh_registration()
        return Target(t.name, w.permit("owner.police", w.holders[registration], registration, steps=steps))

    return fresh


def _fresh_casefile(w: World, t: Target) -> Target:
    kind, variant = t.name.split()
    cf = w.casefile_variant(kind, variant)
    return Target(t.name, cf.id, cf.in_scope, cf)


def _paper_of(kind: str, status: int):  # type: ignore[no-untyped-def]
    """A document of `kind`'s files: `status` for a stock file of that kind, 404 for another."""
    return lambda t: status if t.casefile.kind == kind else 404


def _by_kind(correction: int, other: int):  # type: ignore[no-untyped-def]
    return lambda t: correction if t.casefile.kind == CORRECTION else other


PERSON = {"purpose": True, "personal": True}
UNSCOPED = PERSON | {"scoped": False}
REPORT_QUERY = "org_unit={t}&period={month}&department=police"


def _newest_report(w: World, t: Target) -> Target:
    """A revision supersedes the newest version: revise that one."""
    unit = UNIT_A if t.in_scope else "320505"
    versions = w.ok(
        "owner.police", "GET", f"{V1}/reports/monthly?org_unit={unit}&period={w.report_month}&department=police", 200
    )
    return Target(t.name, versions[-1]["id"], t.in_scope)


REVIEW = {"outcome": "justified", "follow_up": "none"}
ROWS: list[Row] = [
    # -- health and authentication ------------------------------------------------------
    Row("GET", "/healthz", G.PUBLIC, 200),
    Row("GET", "/readyz", G.PUBLIC, 200),
    Row("GET", "/metrics", G.PUBLIC, 200),
    Row("POST", f"{V1}/auth/token", G.LOGIN, 200),
    Row("POST", f"{V1}/auth/mfa", G.ANY, 201),
    Row("GET", f"{V1}/auth/me", G.ANY, 200),
    Row("POST", f"{V1}/auth/sign-out", G.ANY, 204),
    Row("POST", f"{V1}/auth/mfa/confirm", G.ANY, 422, body=lambda w, t, a: {"otp": "000000"}),
    # Validated before anything else, so the matrix's calls cost no failed attempt.
    Row("POST", f"{V1}/auth/password/one-time", G.PUBLIC, 422, body=lambda w, t, a: {}),
    Row(
        "POST",
        f"{V1}/auth/password",
        G.ANY,
        422,
        body=lambda w, t, a: {"current_password": "not the password", "new_password": "another long password"},
    ),
    # -- administration -----------------------------------------------------------------
    Row(
        "POST",
        f"{V1}/org-units",
        G.PERMISSION,
        201,
        "unit",
        P.ORG_UNIT_MANAGE,
        body=lambda w, t, a: {"code": f"{t.value}{100 + w.unique()}", "name": "Matrix unit", "parent_code": t.value},
    ),
    Row("GET", f"{V1}/org-units", G.PERMISSION, 200, perm=P.ORG_UNIT_MANAGE),
    Row("GET", f"{V1}/org-units/{{code}}", G.PERMISSION, 200, "unit", P.ORG_UNIT_MANAGE),
    Row(  # a data role: a request for a second administrator (dual control)
        "POST",
        f"{V1}/users",
        G.PERMISSION,
        202,
        "unit",
        P.USER_MANAGE,
        body=lambda w, t, a: {
            "username": f"matrix.user{w.unique()}",
            "display_name": "Matrix user",
            "roles": ["police"],
            "org_unit": t.value,
        },
    ),
    Row("GET", f"{V1}/users", G.PERMISSION, 200, perm=P.USER_MANAGE),
    Row("GET", f"{V1}/users/{{account_id}}", G.PERMISSION, 200, "user", P.USER_MANAGE),
    Row(
        "PATCH",
        f"{V1}/users/{{account_id}}",
        G.PERMISSION,
        200,
        "user",
        P.USER_MANAGE,
        if_match=True,
        body=lambda w, t, a: {},
    ),
    Row("POST", f"{V1}/users/{{account_id}}/unlock", G.PERMISSION, 200, "user", P.USER_MANAGE),
    # a data user's reset: a request for a second administrator (dual control)
    Row("POST", f"{V1}/users/{{account_id}}/password", G.PERMISSION, 202, "user", P.USER_MANAGE),
    Row("GET", f"{V1}/account-approvals", G.PERMISSION, 200, perm=P.USER_MANAGE),
    Row("GET", f"{V1}/account-approvals/{{approval_id}}", G.PERMISSION, 200, "approval", P.USER_MANAGE),
    Row(
        "POST",
        f"{V1}/account-approvals/{{approval_id}}/approve",
        G.PERMISSION,
        200,
        "approval",
        P.USER_MANAGE,
        fresh=lambda w, t: Target(t.name, w.approval(UNIT_A)),
    ),
    Row(
        "POST",
        f"{V1}/account-approvals/{{approval_id}}/reject",
        G.PERMISSION,
        200,
        "approval",
        P.USER_MANAGE,
        fresh=lambda w, t: Target(t.name, w.approval(UNIT_A)),
    ),
    Row(
        "POST",
        f"{V1}/service-accounts",
        G.PERMISSION,
        201,
        "unit",
        P.SERVICE_ACCOUNT_MANAGE,
        body=lambda w, t, a: {"name": f"matrix-svc{w.unique()}", "org_unit": t.value, "roles": ["verifier"]},
    ),
    # -- persons ------------------------------------------------------------------------
    Row("POST", f"{V1}/persons", G.PERMISSION, 201, "unit", P.PERSON_WRITE, **PERSON, body=_new_person),
    Row("GET", f"{V1}/persons/{{person_id}}", G.PERMISSION, 200, "person", P.PERSON_READ, **PERSON),
    Row(
        "PATCH",
        f"{V1}/persons/{{person_id}}",
        G.PERMISSION,
        200,
        "person",
        P.PERSON_WRITE,
        **PERSON,
        if_match=True,
        body=lambda w, t, a: {},  # an empty patch: the checks run, the record stays as the matrix knows it
    ),
    Row(
        "POST",
        f"{V1}/persons/search",
        G.PERMISSION,
        200,
        "person",
        P.PERSON_SEARCH,
        scoped=False,  # exact search is wider than capture scope, answering masked names
        **PERSON,
        body=lambda w, t, a: {"id_number": w.id_numbers[t.value]},
    ),
    Row(
        "POST",
        f"{V1}/persons/{{person_id}}/erasure",
        G.PERMISSION,
        204,
        "victim",
        P.RETENTION_RUN,
        body=lambda w, t, a: {"reason": "court_order"},
    ),
    # -- keys, jobs, retention ----------------------------------------------------------
    Row("GET", f"{V1}/keys", G.PERMISSION, 200, perm=P.KEY_MANAGE),
    Row("POST", f"{V1}/keys/rotations", G.PERMISSION, 202, perm=P.KEY_MANAGE, body=lambda w, t, a: {"target": "kek"}),
    Row("GET", f"{V1}/jobs", G.PERMISSION, 200, perm=P.KEY_MANAGE),
    Row("GET", f"{V1}/jobs/{{job_id}}", G.PERMISSION, 200, "job", P.KEY_MANAGE, scoped=False),
    Row("POST", f"{V1}/retention/runs", G.PERMISSION, 202, perm=P.RETENTION_RUN),
    # Legal holds name any file by id, whatever its unit: ids only, no scope (routes/retention.py).
    Row("PUT", f"{V1}/holds/{{record_id}}", G.PERMISSION, 204, "hold", P.RETENTION_RUN, scoped=False),
    Row("DELETE", f"{V1}/holds/{{record_id}}", G.PERMISSION, 204, "hold", P.RETENTION_RUN, scoped=False),
    # -- audit --------------------------------------------------------------------------
    Row("GET", f"{V1}/audit/events", G.PERMISSION, 200, perm=P.AUDIT_READ, query="limit=20"),
    Row("GET", f"{V1}/audit/events/{{entry_id}}", G.PERMISSION, 200, "entry", P.AUDIT_READ, scoped=False),
    Row("GET", f"{V1}/audit/checkpoint", G.PERMISSION, 200, perm=P.AUDIT_READ),
    Row("GET", f"{V1}/audit/witness", G.PERMISSION, 200, perm=P.AUDIT_READ),
    Row("GET", f"{V1}/audit/verifier-key", G.PERMISSION, 200, perm=P.AUDIT_READ),
    Row("GET", f"{V1}/audit/proofs/inclusion", G.PERMISSION, 200, perm=P.AUDIT_READ, query="seq=0&size={size}"),
    Row("GET", f"{V1}/audit/proofs/consistency", G.PERMISSION, 200, perm=P.AUDIT_READ, query="from=1&to={size}"),
    Row("GET", f"{V1}/audit/persons/{{person_id}}/accesses", G.PERMISSION, 200, "person", P.AUDIT_READ, scoped=False),
    Row("GET", f"{V1}/audit/alerts", G.PERMISSION, 200, perm=P.AUDIT_READ),
    Row("GET", f"{V1}/audit/alerts/groups", G.PERMISSION, 200, perm=P.AUDIT_READ),
    Row("GET", f"{V1}/audit/reviews/queue", G.PERMISSION, 200, perm=P.AUDIT_READ),
    Row(
        "POST",
        f"{V1}/audit/reviews",
        G.PERMISSION,
        201,
        perm=P.AUDIT_REVIEW,
        body=lambda w, t, a: REVIEW | {"grant_id": w.review_grant},
    ),
    # -- residence ----------------------------------------------------------------------
    Row(
        "POST",
        f"{V1}/dwellings",
        G.PERMISSION,
        201,
        "unit",
        P.RESIDENCE_WRITE,
        **PERSON,
        body=lambda w, t, a: {"org_unit": t.value, "address": w.people.address(), "kind": "owned"},
    ),
    Row("GET", f"{V1}/dwellings", G.PERMISSION, 200, perm=P.RESIDENCE_READ, **PERSON, query="due=pledge_missing"),
    Row("GET", f"{V1}/dwellings/{{dwelling_id}}", G.PERMISSION, 200, "dwelling", P.RESIDENCE_READ, **PERSON),
    Row("GET", f"{V1}/dwellings/{{dwelling_id}}/occupants", G.PERMISSION, 200, "dwelling", P.RESIDENCE_READ, **PERSON),
    Row(  # issue 14: landlord change, pledge signed later
        "PATCH",
        f"{V1}/dwellings/{{dwelling_id}}",
        G.PERMISSION,
        200,
        "dwelling",
        P.RESIDENCE_WRITE,
        **PERSON,
        if_match=True,
        body=lambda w, t, a: {},  # an empty patch: the checks run, the record stays as the matrix knows it
    ),
    Row(  # issue 17: employers (以业管人)
        "POST",
        f"{V1}/employers",
        G.PERMISSION,
        201,
        "unit",
        P.RESIDENCE_WRITE,
        **PERSON,
        body=lambda w, t, a: {"org_unit": t.value, "name": w.people.company_name(), "uscc": w.people.uscc()},
    ),
    # Found anywhere by its exact code (the holder only within scope): no scope refusal.
    Row(
        "POST",
        f"{V1}/employers/search",
        G.PERMISSION,
        200,
        "employer_code",
        P.RESIDENCE_READ,
        **UNSCOPED,
        body=lambda w, t, a: {"uscc": t.value},
    ),
    Row("GET", f"{V1}/employers/{{employer_id}}", G.PERMISSION, 200, "employer", P.RESIDENCE_READ, **PERSON),
    # Workers in the caller's scope, whoever holds the employer: an empty page, not a 404.
    Row("GET", f"{V1}/employers/{{employer_id}}/workers", G.PERMISSION, 200, "employer", P.RESIDENCE_READ, **UNSCOPED),
    Row(
        "POST",
        f"{V1}/residence-registrations",
        G.PERMISSION,
        201,
        "dwelling",
        P.RESIDENCE_WRITE,
        **PERSON,
        body=_registration,
    ),
    Row("GET", f"{V1}/residence-registrations", G.PERMISSION, 200, perm=P.RESIDENCE_READ, **PERSON),
    Row(
        "GET",
        f"{V1}/residence-registrations/{{registration_id}}",
        G.PERMISSION,
        200,
        "registration",
        P.RESIDENCE_READ,
        **PERSON,
    ),
    Row(
        "POST",
        f"{V1}/residence-registrations/{{registration_id}}/move",
        G.PERMISSION,
        201,
        "registration",
        P.RESIDENCE_WRITE,
        **PERSON,
        body=lambda w, t, a: {"dwelling_id": w.dwelling_a, "moved_on": _today(w, -4)},
        fresh=lambda w, t: Target(t.name, w.fresh_registration()),
    ),
    Row(
        "POST",
        f"{V1}/residence-registrations/{{registration_id}}/depart",
        G.PERMISSION,
        200,
        "registration",
        P.RESIDENCE_WRITE,
        **PERSON,
        body=lambda w, t, a: {"departed_on": _today(w, -4)},
        fresh=lambda w, t: Target(t.name, w.fresh_registration()),
    ),
    # Person transfers (issue 13): decided by the holder's side, withdrawn by the asker's.
    Row("GET", f"{V1}/person-transfers", G.PERMISSION, 200, perm=P.RESIDENCE_READ, **PERSON),
    Row(
        "GET",
        f"{V1}/person-transfers/{{transfer_id}}",
        G.PERMISSION,
        200,
        "person_transfer",
        P.RESIDENCE_READ,
        **PERSON,
    ),
    Row(
        "POST",
        f"{V1}/person-transfers/{{transfer_id}}/accept",
        G.PERMISSION,
        200,
        "person_transfer_held",
        P.RESIDENCE_WRITE,
        **PERSON,
        fresh=lambda w, t: w.person_transfer(t.name),
    ),
    Row(
        "POST",
        f"{V1}/person-transfers/{{transfer_id}}/refuse",
        G.PERMISSION,
        200,
        "person_transfer_held",
        P.RESIDENCE_WRITE,
        **PERSON,
        body=lambda w, t, a: {"reason": "other"},
        fresh=lambda w, t: w.person_transfer(t.name),
    ),
    Row(
        "POST",
        f"{V1}/person-transfers/{{transfer_id}}/withdraw",
        G.PERMISSION,
        200,
        "person_transfer_asked",
        P.RESIDENCE_WRITE,
        **PERSON,
        fresh=lambda w, t: w.person_transfer(t.name),
    ),
    Row(
        "POST",
        f"{V1}/residence-permits",
        G.PERMISSION,
        201,
        "registration",
        P.PERMIT_APPLY,
        **PERSON,
        body=lambda w, t, a: {"person_id": w.holders[t.value], "registration_id": t.value, "basis": "residence"},
        # The stock registration's person holds a live permit already (one per person, issue 14).
        fresh=lambda w, t: Target(t.name, w.fresh_registration()),
    ),
    Row("GET", f"{V1}/residence-permits", G.PERMISSION, 200, perm=P.RESIDENCE_READ, **PERSON),
    Row("GET", f"{V1}/residence-permits/{{permit_id}}", G.PERMISSION, 200, "permit", P.RESIDENCE_READ, **PERSON),
    Row(
        "POST",
        f"{V1}/residence-permits/{{permit_id}}/request-materials",
        G.PERMISSION,
        200,
        "permit",
        P.PERMIT_APPLY,
        **PERSON,
        body=lambda w, t, a: {"missing": ["tenancy contract"]},
        fresh=_fresh_permit(),
    ),
    Row(
        "POST",
        f"{V1}/residence-permits/{{permit_id}}/accept",
        G.PERMISSION,
        200,
        "permit",
        P.PERMIT_APPLY,
        **PERSON,
        fresh=_fresh_permit(),
    ),
    Row(
        "POST",
        f"{V1}/residence-permits/{{permit_id}}/issue",
        G.PERMISSION,
        200,
        "permit",
        P.PERMIT_ISSUE,
        **PERSON,
        fresh=_fresh_permit("accept"),
    ),
    Row(
        "POST",
        f"{V1}/residence-permits/{{permit_id}}/reject",
        G.PERMISSION,
        200,
        "permit",
        P.PERMIT_ISSUE,
        **PERSON,
        body=lambda w, t, a: {"reason": "materials incomplete"},
        fresh=_fresh_permit(),
    ),
    # An applied permit cannot be endorsed: past every access check, the state machine answers.
    Row(
        "POST",
        f"{V1}/residence-permits/{{permit_id}}/endorse",
        G.PERMISSION,
        409,
        "permit",
        P.PERMIT_APPLY,
        **PERSON,
        body=lambda w, t, a: {},
    ),
    Row(
        "POST",
        f"{V1}/residence-permits/{{permit_id}}/cancel",
        G.PERMISSION,
        200,
        "permit",
        P.PERMIT_ISSUE,
        **PERSON,
        body=lambda w, t, a: {"reason": "left the city"},
        fresh=_fresh_permit("accept", "issue"),
    ),
    # The stock permits are applications: past every access check, only a permit in force is carried.
    Row(
        "POST",
        f"{V1}/residence-permits/{{permit_id}}/credentials",
        G.PERMISSION,
        409,
        "permit",
        P.PERMIT_APPLY,
        **PERSON,
        body=lambda w, t, a: {"disclose": ["resident_since_year"]},
    ),
    Row("GET", "/.well-known/jwt-vc-issuer", G.PUBLIC, 200),
    Row("GET", "/credentials/status-lists/1", G.PUBLIC, 404),  # none issued in this world
    Row(
        "POST",
        f"{V1}/permit-verifications",
        G.PERMISSION,
        200,
        perm=P.PERMIT_VERIFY,
        scoped=False,
        body=lambda w, t, a: {"permit_no": "RP0000000000000X", "holder_name": "测试"},
    ),
    # -- statistics ---------------------------------------------------------------------
    Row("GET", f"{V1}/stats/residence", G.PERMISSION, 200, "unit", P.STATS_READ, query="org_unit={t}&period=2025"),
    Row("GET", f"{V1}/stats/casefiles", G.PERMISSION, 200, "unit", P.STATS_READ, query="org_unit={t}&period=2025"),
    Row("GET", f"{V1}/reports/monthly/draft", G.REPORT, 200, "unit", query=REPORT_QUERY),
    Row("GET", f"{V1}/reports/monthly", G.REPORT, 200, "unit", query=REPORT_QUERY),
    # Submitted in the world already: the police of the unit get the 409 of a second submission.
    Row(
        "POST",
        f"{V1}/reports/monthly",
        G.REPORT,
        409,
        "unit",
        body=lambda w, t, a: {"org_unit": t.value, "period": w.report_month, "department": "police"},
    ),
    Row("GET", f"{V1}/reports/monthly/{{report_id}}", G.REPORT_READ, 200, "report"),
    Row(
        "POST",
        f"{V1}/reports/monthly/{{report_id}}/revisions",
        G.REPORT_READ,
        201,
        "report",
        body=lambda w, t, a: {"reason_code": "late_records"},
        fresh=_newest_report,
    ),
    Row("GET", f"{V1}/stats/kpis", G.PERMISSION, 200, "unit", P.STATS_READ, query="org_unit={t}&period=2025"),
    # -- casefiles ----------------------------------------------------------------------
    Row(
        "POST",
        f"{V1}/casefiles",
        G.CASEFILE_NEW,
        201,
        "new_casefile",
        **PERSON,
        body=lambda w, t, a: {
            "person_id": w.subject_a,
            "kind": t.casefile.kind,
            "org_unit": t.value,
            "details": details(t.casefile.kind, STREET_A),
        },
    ),
    Row("GET", f"{V1}/casefiles", G.CASEFILE_LIST, 200, **PERSON),
    Row("GET", f"{V1}/casefiles/{{casefile_id}}", G.CASEFILE_OPEN, 200, "casefile", **PERSON),
    Row(
        "POST",
        f"{V1}/casefiles/{{casefile_id}}/events",
        G.CASEFILE_OPEN,
        201,
        "casefile",
        **PERSON,
        body=lambda w, t, a: {"type": "visit", "occurred_on": _today(w), "body": {"note": "home visit"}},
    ),
    Row("GET", f"{V1}/casefiles/{{casefile_id}}/events", G.CASEFILE_OPEN, 200, "casefile", **PERSON),
    # No such state: past every access check, the workflow answers 409 and nothing changes.
    Row(
        "POST",
        f"{V1}/casefiles/{{casefile_id}}/transitions",
        G.CASEFILE_OPEN,
        409,
        "casefile",
        True,
        **PERSON,
        body=lambda w, t, a: {"to": "no_such_state", "on": _today(w)},
    ),
    # No closure is pending on a stock file: past every access check, 409 and nothing changes.
    Row(
        "POST",
        f"{V1}/casefiles/{{casefile_id}}/closure/decision",
        G.CASEFILE_OPEN,
        409,
        "casefile",
        True,
        **PERSON,
        body=lambda w, t, a: {"approve": True},
    ),
    # A term change (issue 14) is for correction files under their term: the stock files await the report.
    Row(
        "POST",
        f"{V1}/casefiles/{{casefile_id}}/term-changes",
        G.CASEFILE_OPEN,
        _by_kind(409, 422),
        "casefile",
        True,
        **PERSON,
        body=lambda w, t, a: {"term_ends_on": "2026-06-30", "document_no": "(2026)测刑更1号", "decided_on": _today(w)},
    ),
    Row(
        "PUT",
        f"{V1}/casefiles/{{casefile_id}}/assignments",
        G.CASEFILE_OPEN,
        200,
        "casefile",
        True,
        **PERSON,
        body=lambda w, t, a: {"user_ids": [w.ids["social_worker.a"]] if t.casefile.assigned else []},
    ),
    Row(
        "PUT",
        f"{V1}/casefiles/{{casefile_id}}/restrictions",
        G.CASEFILE_OPEN,
        204,
        "casefile",
        True,
        **PERSON,
        body=_restrictions,
    ),
    Row(
        "POST",
        f"{V1}/casefiles/{{casefile_id}}/break-glass",
        G.BREAK_GLASS,
        201,
        "casefile",
        **PERSON,
        body=lambda w, t, a: {"reason_code": "emergency", "justification": "subject reported missing at night"},
    ),
    # Leave is for correction files under supervision: 422 for other kinds, 409 before intake.
    Row(
        "POST",
        f"{V1}/casefiles/{{casefile_id}}/leave-requests",
        G.CASEFILE_OPEN,
        _by_kind(409, 422),
        "casefile",
        True,
        **PERSON,
        body=lambda w, t, a: {
            "starts_on": _today(w, 20),
            "ends_on": _today(w, 22),
            "destination": "测试市",
            "reason": "探亲",
        },
    ),
    Row("GET", f"{V1}/casefiles/{{casefile_id}}/leave-requests", G.CASEFILE_OPEN, 200, "casefile", True, **PERSON),
    Row("GET", f"{V1}/leave-requests", G.CASEFILE_LIST, 200, **PERSON, query="due=return_overdue"),
    Row("GET", f"{V1}/leave-requests/{{leave_id}}", G.LEAVE, 200, "leave", **PERSON),
    # The stock leaves were refused at setup: deciding again or recording a return is 409.
    Row(
        "POST",
        f"{V1}/leave-requests/{{leave_id}}/decision",
        G.LEAVE,
        409,
        "leave",
        **PERSON,
        body=lambda w, t, a: {"approve": True},
    ),
    Row(
        "POST",
        f"{V1}/leave-requests/{{leave_id}}/return",
        G.LEAVE,
        409,
        "leave",
        **PERSON,
        body=lambda w, t, a: {"returned_on": _today(w)},
    ),
    Row(
        "POST",
        f"{V1}/casefiles/{{casefile_id}}/transfers",
        G.CASEFILE_OPEN,
        _by_kind(201, 422),
        "casefile",
        True,
        **PERSON,
        body=lambda w, t, a: {"to_org_unit": CITY},
        fresh=_fresh_casefile,
    ),
    Row("GET", f"{V1}/transfers", G.CASEFILE_LIST, 200, **PERSON),
    Row(
        "POST",
        f"{V1}/transfers/{{transfer_id}}/accept",
        G.TRANSFER_ACCEPT,
        200,
        "transfer",
        **PERSON,
        fresh=lambda w, t: w.transfer(t.name),
    ),
    Row(
        "POST",
        f"{V1}/transfers/{{transfer_id}}/cancel",
        G.TRANSFER_CANCEL,
        200,
        "transfer",
        **PERSON,
        fresh=lambda w, t: w.transfer(t.name),
    ),
    # -- printed documents (issue 16): never on a grant; the stock records answer 409 where
    # the step a paper follows is not reached (new files, applied permits), 404 for a paper
    # of another kind of file, and a PDF where it is (a notified release, a refused leave).
    Row(
        "GET",
        f"{V1}/residence-permits/{{permit_id}}/documents/application-receipt",
        G.PERMISSION,
        409,
        "permit",
        P.PERMIT_APPLY,
        **PERSON,
    ),
    *(
        Row(
            "GET",
            f"{V1}/casefiles/{{casefile_id}}/documents/{code}",
            G.CASEFILE_OPEN,
            _paper_of(kind, status),
            "casefile",
            authority,
            **PERSON,
            query="to=police" if code == "discharge-notice" else "",
            grants=False,
        )
        for code, kind, authority, status in (
            ("intake-registration", CORRECTION, False, 409),
            ("change-of-place-notice", CORRECTION, True, 409),
            ("discharge-certificate", CORRECTION, True, 409),
            ("discharge-notice", CORRECTION, True, 409),
            ("release-notice", "resettlement", True, 200),
            ("release-receipt", "resettlement", True, 409),
            ("rehabilitation-agreement", "drug_rehabilitation", False, 409),
            ("rehabilitation-discharge-notice", "drug_rehabilitation", True, 409),
        )
    ),
    Row(
        "GET",
        f"{V1}/leave-requests/{{leave_id}}/documents/leave-approval",
        G.LEAVE,
        200,
        "leave",
        **PERSON,
        grants=False,
    ),
    Row(
        "GET",
        f"{V1}/audit/persons/{{person_id}}/documents/access-report",
        G.PERMISSION,
        200,
        "person",
        P.AUDIT_READ,
        scoped=False,
    ),
]
