"""The data-subject access report (PIPL Art. 45) is complete: every access to a person's
identity, residence records and casefiles is in it, under the person, newest first and
paged; refusals and rule inputs included. An auditor sees ids and metadata only."""

from __future__ import annotations

from tests.api_helpers import as_user, create_user
from tests.support.sealed_world import REG, SUP, build, ok, populate


def _report(client, auditor, person_id, **query):  # type: ignore[no-untyped-def]
    pages, cursor = [], None
    while True:
        params = query | ({"cursor": cursor} if cursor else {})
        page = ok(client.get(f"/api/v1/audit/persons/{person_id}/accesses", params=params, headers=auditor), 200)
        pages.append(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages


def test_every_kind_of_access_to_a_person_is_in_their_report(client, runtime, bootstrap):
    heads = build(client, bootstrap)
    w = populate(client, heads)
    police, corrections = heads["police.a"] | REG, heads["corrections.a"] | SUP
    holder, casefile = w["holder"], w["casefile"]
    reads = [
        (heads["police.a"] | REG, f"/api/v1/residence-registrations/{w['registration']}"),
        (police, f"/api/v1/residence-permits/{w['permit']}"),
        (corrections, f"/api/v1/casefiles/{casefile}"),
        (corrections, f"/api/v1/casefiles/{casefile}/events"),
        (corrections, f"/api/v1/leave-requests/{w['leave']}"),
        (heads["corrections.b"] | SUP, f"/api/v1/casefiles/{casefile}"),  # through the grant
    ]
    for headers, path in reads:
        ok(client.get(path, headers=headers), 200)
    check = {"permit_no": w["permit_no"], "holder_name": w["holder_name"]}
    ok(client.post("/api/v1/permit-verifications", json=check, headers=heads["verifier"]), 200)
    # A refusal: another district's officer probing the person (the same 404 as no person).
    create_user(client, as_user(client, *bootstrap), "police.b", ["police"], "320505")
    prober = as_user(client, "police.b", "correct horse battery") | REG
    assert client.get(f"/api/v1/persons/{holder}", headers=prober).status_code == 404

    create_user(client, as_user(client, *bootstrap), "auditor.x", ["auditor"], None)
    auditor = as_user(client, "auditor.x", "correct horse battery")
    pages = _report(client, auditor, holder, limit=5)
    entries = [e for page in pages for e in page]
    assert len(pages) > 2 and all(len(page) <= 5 for page in pages)
    ids = [e["id"] for e in entries]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == len(ids)  # newest first, no repeats
    actions = {e["action"] for e in entries}
    for action in (
        "person:create",
        "registration:read",
        "permit:read",
        "permit:verify",
        "casefile:create",
        "casefile:read",
        "casefile:events-read",
        "casefile:event",
        "casefile:break-glass",
        "leave:read",
        "record:rule-input",
        "access:denied",
    ):
        assert action in actions, action
    grant_reads = [e for e in entries if e["break_glass_grant"] == w["grant"] and e["action"] == "casefile:read"]
    assert grant_reads and all(e["org_unit"] == "320505" for e in grant_reads)
    denied = [e for e in entries if e["action"] == "access:denied"]
    assert denied and denied[0]["outcome"] == "denied" and holder in denied[0]["targets"]
    rules = {(tuple(e["fields"]), e["reason"]) for e in entries if e["action"] == "record:rule-input"}
    assert (("person.birth_date",), "casefile:create") in rules  # the minor flag read the birth date
    assert (("casefile.details",), "casefile:transition") in rules  # the intake read the file's terms
