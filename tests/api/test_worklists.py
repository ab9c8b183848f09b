"""Worklists people work from (issue 15): each names the files, or the rentals, that need
someone today, in the caller's scope, and nothing else. Both engines, over HTTP."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

from registry.casefiles.service import WORKLISTS
from tests.api.test_casefile_lifecycle_http import INTAKE, STREET, Desk, _correction, _drug, desk

__all__ = ["desk"]  # a fixture, imported for pytest


def _ids(desk: Desk, user: str, path: str) -> list[str]:
    listed = desk.call(user, "GET", path, purpose="registration" if "dwellings" in path else "supervision")
    assert listed.status_code == 200, listed.text
    return [row["id"] for row in listed.json()["items"]]


def test_my_files_are_the_ones_i_am_assigned_to(desk):
    mine = desk.open("corr.street", "community_correction", _correction(desk))["id"]
    other = desk.open("corr.street", "community_correction", _correction(desk))["id"]
    desk.call("corr.street", "GET", "/api/v1/casefiles")  # logs in
    token = desk.heads["corr.street"]["Authorization"].removeprefix("Bearer ")
    me = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["sub"]  # the account id
    assigned = desk.call("corr.street", "PUT", f"/api/v1/casefiles/{mine}/assignments", json={"user_ids": [me]})
    assert assigned.status_code == 200, assigned.text
    assert _ids(desk, "corr.street", "/api/v1/casefiles?due=mine") == [mine]
    assert other not in _ids(desk, "corr.street", "/api/v1/casefiles?due=mine")
    assert _ids(desk, "corr.district", "/api/v1/casefiles?due=mine") == []  # sees both, is assigned to neither


def test_key_persons_due_for_release_within_30_days(desk):
    def resettlement(days: int, key_person: bool) -> str:
        details = {
            "source": "prison",
            "releasing_institution": "测试监狱",
            "release_on": desk.day(days),
            "key_person": key_person,
        }
        return desk.open("corr.street", "resettlement", details)["id"]

    soon, later, not_key = resettlement(30, True), resettlement(31, True), resettlement(10, False)
    listed = _ids(desk, "corr.street", "/api/v1/casefiles?due=release_due")
    assert soon in listed and later not in listed and not_key not in listed
    desk.advance_to(desk.today + timedelta(days=1))
    assert later in _ids(desk, "corr.street", "/api/v1/casefiles?due=release_due")
    assert _ids(desk, "corr.far", "/api/v1/casefiles?due=release_due") == []  # another district's


def test_a_transferred_subject_awaits_the_report_at_the_new_office(desk):
    file_id = desk.open("corr.district", "community_correction", _correction(desk), org_unit="320571")["id"]
    desk.move("corr.district", file_id, "received", facts=INTAKE)
    proposed = desk.call(
        "corr.district", "POST", f"/api/v1/casefiles/{file_id}/transfers", json={"to_org_unit": "320505"}
    )
    assert proposed.status_code == 201, proposed.text
    assert file_id not in _ids(desk, "corr.far", "/api/v1/casefiles?due=transfer_report_due")
    accepted = desk.call("corr.far", "POST", f"/api/v1/transfers/{proposed.json()['id']}/accept")
    assert accepted.status_code == 200, accepted.text
    assert _ids(desk, "corr.far", "/api/v1/casefiles?due=transfer_report_due") == [file_id]
    reported = desk.call(
        "corr.far",
        "POST",
        f"/api/v1/casefiles/{file_id}/events",
        json={"type": "report", "occurred_on": desk.day(), "body": {}},
    )
    assert reported.status_code == 201, reported.text
    assert _ids(desk, "corr.far", "/api/v1/casefiles?due=transfer_report_due") == []


def test_drug_files_with_a_test_missed_in_the_last_30_days(desk):
    file_id = desk.open("police.street", "drug_rehabilitation", _drug(desk))["id"]
    desk.move("police.street", file_id, "active", facts={"agreement_signed": True})
    missed = desk.call(
        "police.street",
        "POST",
        f"/api/v1/casefiles/{file_id}/events",
        json={"type": "test_missed", "occurred_on": desk.day(), "body": {}},
    )
    assert missed.status_code == 201, missed.text
    assert _ids(desk, "police.street", "/api/v1/casefiles?due=tests_missed") == [file_id]
    desk.advance_to(desk.today + timedelta(days=30))
    assert _ids(desk, "police.street", "/api/v1/casefiles?due=tests_missed") == [file_id]
    desk.advance_to(desk.today + timedelta(days=1))
    assert _ids(desk, "police.street", "/api/v1/casefiles?due=tests_missed") == []


def test_rentals_lived_in_without_a_pledge(desk):
    people = desk.people

    def landlord() -> str:
        person = people.person()
        made = desk.call(
            "police.street",
            "POST",
            "/api/v1/persons",
            purpose="registration",
            json={"id_number": person.id_number, "name": person.name},
        )
        assert made.status_code == 201, made.text
        return made.json()["id"]

    def rental(pledge: str | None, tenanted: bool) -> str:
        body = {"org_unit": STREET, "address": people.address(), "kind": "rental", "landlord_person_id": landlord()}
        if pledge is not None:
            body["pledge_signed_on"] = pledge
        made = desk.call("police.street", "POST", "/api/v1/dwellings", purpose="registration", json=body)
        assert made.status_code == 201, made.text
        if tenanted:
            registered = desk.call(
                "police.street",
                "POST",
                "/api/v1/residence-registrations",
                purpose="registration",
                json={
                    "person_id": landlord(),
                    "dwelling_id": made.json()["id"],
                    "arrived_on": desk.day(),
                    "basis": "family",
                },
            )
            assert registered.status_code == 201, registered.text
        return made.json()["id"]

    unpledged, pledged, empty = rental(None, True), rental(desk.day(), True), rental(None, False)
    listed = _ids(desk, "police.street", "/api/v1/dwellings?due=pledge_missing")
    assert unpledged in listed and pledged not in listed and empty not in listed
    # The district above sees its streets' rentals.
    assert unpledged in _ids(desk, "police.district", "/api/v1/dwellings?due=pledge_missing")
    refused = desk.call("police.street", "GET", "/api/v1/dwellings?due=everything", purpose="registration")
    assert refused.status_code == 422


def test_every_casefile_worklist_answers_and_no_other(desk):
    for due in WORKLISTS:
        assert desk.call("corr.district", "GET", f"/api/v1/casefiles?due={due}").status_code == 200, due
    unknown = desk.call("corr.district", "GET", "/api/v1/casefiles?due=everything")
    assert unknown.status_code == 422 and "mine" in unknown.json()["detail"]
