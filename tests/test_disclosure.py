"""The gates of the one path (`registry.disclosure`), each on its own: a future route that
forgets its own check still meets these. Real rows, real keys, real audit entries."""

from __future__ import annotations

import json
import uuid
from datetime import date

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from registry.access.policy import Purpose, Role
from registry.access.principal import Principal
from registry.access.scope import Scope
from registry.audit.actions import Action
from registry.audit.log import AuditTrail, Event
from registry.audit.models import AuditEntry
from registry.casefiles.models import CASEFILE, CASEFILE_EVENT, Casefile, CasefileEvent
from registry.context import Context, actor_of
from registry.db import transaction
from registry.disclosure import disclose, disclose_rows, matches, rule_inputs, search_hits, shown_paths
from registry.errors import Forbidden, PurposeRefused
from registry.people import service
from registry.people.models import PERSON
from registry.people.schemas import PersonCreate
from registry.people.synthetic import SyntheticPeople

CORRECTION = {
    "category": "probation",
    "deciding_authority": "测试区人民法院",
    "document_no": "(2025)测刑初3号",
    "judgment_effective_on": "2025-12-20",
    "term_starts_on": "2025-12-20",
    "term_ends_on": "2026-12-19",
}


def _ctx(clock, role: Role, purpose: Purpose | None = Purpose.SUPERVISION, kept: list | None = None) -> Context:  # type: ignore[type-arg]
    principal = Principal(uuid.uuid4(), f"{role}.t", "human", frozenset({role}), None, Scope(None))
    on_failure = kept.append if kept is not None else (lambda event: None)
    return Context(principal, AuditTrail(clock, actor_of(principal)), clock, purpose, on_failure=on_failure)


@pytest.fixture
def person(runtime):  # type: ignore[no-untyped-def]
    with transaction(runtime.engine) as session:
        session.execute(
            sa.text("INSERT INTO org_unit (code, name, path, created_at) VALUES ('320571', 'x', '/320571/', :at)"),
            {"at": runtime.clock.now()},
        )
    p = SyntheticPeople(7).person()
    police = _ctx(runtime.clock, Role.POLICE, Purpose.REGISTRATION)
    with transaction(runtime.engine) as session:
        body = PersonCreate(id_number=p.id_number, name=p.name, phone=p.phone, org_unit="320571")
        row = service.create_person(session, police, runtime.keyring, data=body)
    return row, p


def _entries(session: Session, actor: Context) -> list[AuditEntry]:
    query = sa.select(AuditEntry).where(AuditEntry.actor_id == str(actor.principal.account_id)).order_by(AuditEntry.id)
    return list(session.execute(query).scalars())


def test_roles_without_personal_data_and_callers_without_purpose_get_nothing(runtime, person):
    row, _ = person
    with Session(runtime.engine) as session:
        for role in (Role.AUDITOR, Role.ADMIN, Role.SECURITY_ADMIN, Role.VERIFIER):
            ctx = _ctx(runtime.clock, role)
            for call in (
                lambda c=ctx: disclose(
                    session, c, runtime.keyring, PERSON, row, action=Action.PERSON_READ, subject="s"
                ),
                lambda c=ctx: disclose_rows(
                    session, c, runtime.keyring, PERSON, [row], field="name", action=Action.PERSON_READ, subject="s"
                ),
                lambda c=ctx: search_hits(
                    session, c, runtime.keyring, PERSON, [row], action=Action.PERSON_SEARCH, search_token="00"
                ),
                lambda c=ctx: rule_inputs(
                    session, c, runtime.keyring, PERSON, row, fields=("sex",), serving=Action.CASEFILE_ASSIGN
                ),
            ):
                with pytest.raises(Forbidden):
                    call()
            assert _entries(session, ctx) == []
        nameless = _ctx(runtime.clock, Role.POLICE, purpose=None)
        with pytest.raises(PurposeRefused):
            disclose(session, nameless, runtime.keyring, PERSON, row, action=Action.PERSON_READ, subject="s")
        with pytest.raises(PurposeRefused):
            search_hits(
                session, nameless, runtime.keyring, PERSON, [row], action=Action.PERSON_SEARCH, search_token="0"
            )
        assert _entries(session, nameless) == []


def test_disclose_audits_record_person_and_fields_then_masks_by_role(runtime, person):
    row, p = person
    with Session(runtime.engine) as session:
        police = _ctx(runtime.clock, Role.POLICE)
        values = disclose(
            session, police, runtime.keyring, PERSON, row, action=Action.PERSON_READ, subject=str(row.id), grant="g-1"
        )
        assert (values["name"], values["id_number"], values["phone"]) == (p.name, p.id_number, p.phone)
        corrections = _ctx(runtime.clock, Role.CORRECTIONS)
        masked = disclose(session, corrections, runtime.keyring, PERSON, row, action=Action.PERSON_READ, subject=None)
        assert masked["id_number"] == p.id_number[:4] + "*" * 10 + p.id_number[-4:]
        assert masked["name"] == p.name
        # The holder of a casefile of the person reads the full ID number (社区矫正法 Art. 22,
        # issue 14); the entry names the file that justified it.
        shown = disclose(
            session, corrections, runtime.keyring, PERSON, row, action=Action.PERSON_READ, subject=None, held_file="f-1"
        )
        assert shown["id_number"] == p.id_number
        assert _entries(session, corrections)[-1].targets == [str(row.id), "f-1"]
        social = _ctx(runtime.clock, Role.SOCIAL_WORKER)
        assert disclose(session, social, runtime.keyring, PERSON, row, action=Action.PERSON_READ, subject=None) == {}
        [entry] = _entries(session, police)
        assert entry.action == Action.PERSON_READ and entry.outcome == "allowed"
        assert entry.targets == [str(row.id)] and entry.purpose == "supervision" and entry.break_glass_grant == "g-1"
        assert entry.fields == sorted(["name", "id_number", "sex", "birth_date", "phone", "hukou_address"])
        # A field no role of the caller sees is neither opened nor named.
        assert _entries(session, social)[0].fields == []


def test_withheld_keys_inside_sealed_json(runtime, person):
    row, _ = person
    with Session(runtime.engine) as session:
        key = runtime.keyring.write_key(session, owner=str(row.id), compartment=CASEFILE.compartment)
        casefile = Casefile(
            id=uuid.uuid4(),
            person_id=row.id,
            kind="community_correction",
            org_unit_code="320571",
            status="awaiting_report",
            opened_on=date(2026, 1, 5),
            details_ct=b"",
            created_at=runtime.clock.now(),
        )
        casefile.details_ct = CASEFILE.seal(
            key, record_id=str(casefile.id), name="details", value=json.dumps(CORRECTION)
        )
        social = _ctx(runtime.clock, Role.SOCIAL_WORKER)
        shown = disclose(
            session, social, runtime.keyring, CASEFILE, casefile, action=Action.CASEFILE_READ, subject=None
        )
        assert set(shown["details"]) == {"judgment_effective_on", "term_starts_on", "term_ends_on"}
        corrections = _ctx(runtime.clock, Role.CORRECTIONS)
        full = disclose(
            session, corrections, runtime.keyring, CASEFILE, casefile, action=Action.CASEFILE_READ, subject=None
        )
        assert full["details"] == CORRECTION
        # Both roles at once: the most open wins, as for whole fields.
        both = _ctx(runtime.clock, Role.CORRECTIONS)
        both = Context(
            Principal(
                uuid.uuid4(), "two", "human", frozenset({Role.CORRECTIONS, Role.SOCIAL_WORKER}), None, Scope(None)
            ),
            both.audit,
            both.clock,
            Purpose.SUPERVISION,
        )
        assert (
            disclose(session, both, runtime.keyring, CASEFILE, casefile, action=Action.CASEFILE_READ, subject=None)[
                "details"
            ]
            == CORRECTION
        )


def test_only_the_fields_asked_for_are_opened_returned_and_named(runtime, person):
    """`only` (a printed document's fields): the entry names exactly what is returned, keys of
    a JSON field as `details.<key>`, less what the role may not see; `shown_paths` says the same."""
    row, p = person
    with Session(runtime.engine) as session:
        key = runtime.keyring.write_key(session, owner=str(row.id), compartment=CASEFILE.compartment)
        casefile = Casefile(
            id=uuid.uuid4(),
            person_id=row.id,
            kind="community_correction",
            org_unit_code="320571",
            status="supervised",
            opened_on=date(2026, 1, 5),
            details_ct=b"",
            created_at=runtime.clock.now(),
        )
        casefile.details_ct = CASEFILE.seal(
            key, record_id=str(casefile.id), name="details", value=json.dumps(CORRECTION)
        )
        wanted = ("details.category", "details.term_ends_on", "details.plan")
        for role, keys in ((Role.CORRECTIONS, {"category", "term_ends_on"}), (Role.SOCIAL_WORKER, {"term_ends_on"})):
            ctx = _ctx(runtime.clock, role)
            shown = disclose(
                session,
                ctx,
                runtime.keyring,
                CASEFILE,
                casefile,
                action=Action.DOCUMENT_PRINT,
                subject=None,
                only=wanted,
                reason="test",
            )
            assert set(shown["details"]) == keys  # `plan` is not in the record: nothing to return
            entry = session.exec(sa.select(AuditEntry).order_by(AuditEntry.id.desc())).first()[0]
            named = {"details.category", "details.plan", "details.term_ends_on"} - (
                {"details.category"} if role is Role.SOCIAL_WORKER else set()
            )
            assert set(entry.fields) == named and entry.reason == "test"
            assert shown_paths(ctx.principal.roles, CASEFILE, casefile, only=wanted) == tuple(sorted(named))
        police = _ctx(runtime.clock, Role.POLICE)
        person_row = session.get(type(row), row.id)
        shown = disclose(
            session,
            police,
            runtime.keyring,
            PERSON,
            person_row,
            action=Action.DOCUMENT_PRINT,
            subject=str(row.id),
            only=("name",),
        )
        assert shown == {"name": p.name}
        entry = session.exec(sa.select(AuditEntry).order_by(AuditEntry.id.desc())).first()[0]
        assert entry.fields == ["name"]
        # Every key withheld from the role: the field is not opened at all.
        social = _ctx(runtime.clock, Role.SOCIAL_WORKER)
        assert shown_paths(social.principal.roles, CASEFILE, casefile, only=("details.category",)) == ()


def test_a_timeline_is_one_entry_naming_the_person_every_row_and_the_grant(runtime, person):
    row, _ = person
    with Session(runtime.engine) as session:
        key = runtime.keyring.write_key(session, owner=str(row.id), compartment=CASEFILE_EVENT.compartment)
        events = []
        for n in range(3):
            event = CasefileEvent(
                id=uuid.uuid4(),
                casefile_id=uuid.uuid4(),
                type="visit",
                occurred_on=date(2026, 1, n + 1),
                body_ct=b"",
                recorded_by="x",
                created_at=runtime.clock.now(),
            )
            event.body_ct = CASEFILE_EVENT.seal(key, record_id=str(event.id), name="body", value=json.dumps({"n": n}))
            events.append(event)
        ctx = _ctx(runtime.clock, Role.CORRECTIONS)
        bodies = disclose_rows(
            session,
            ctx,
            runtime.keyring,
            CASEFILE_EVENT,
            events,
            field="body",
            action=Action.CASEFILE_EVENTS_READ,
            subject=str(row.id),
            also=("file-1",),
            grant="g-2",
        )
        assert [bodies[str(e.id)] for e in events] == [{"n": 0}, {"n": 1}, {"n": 2}]
        [entry] = _entries(session, ctx)
        assert entry.targets == ["file-1", str(row.id), *(str(e.id) for e in events)]
        assert entry.fields == ["body"] and entry.break_glass_grant == "g-2" and entry.purpose == "supervision"
        with pytest.raises(Forbidden):  # a role that does not see the column at all
            disclose_rows(
                session,
                _ctx(runtime.clock, Role.VERIFIER),
                runtime.keyring,
                CASEFILE_EVENT,
                events,
                field="body",
                action=Action.CASEFILE_EVENTS_READ,
                subject=str(row.id),
            )


def test_search_hits_are_masked_and_audited_with_the_token(runtime, person):
    row, p = person
    with Session(runtime.engine) as session:
        ctx = _ctx(runtime.clock, Role.POLICE, Purpose.REGISTRATION)
        [hit] = search_hits(
            session, ctx, runtime.keyring, PERSON, [row], action=Action.PERSON_SEARCH, search_token="ab"
        )
        assert hit == {"name": p.name[0] + "*" * (len(p.name) - 1), "birth_date": str(p.birth_date.year)}
        [entry] = _entries(session, ctx)
        assert entry.targets == [str(row.id)] and entry.search_token == "ab"
        assert entry.fields == ["birth_date_year", "name_name"]


def test_rule_inputs_are_on_the_record_even_when_the_request_then_fails(runtime, person):
    row, p = person
    kept: list[Event] = []
    with Session(runtime.engine) as session:
        ctx = _ctx(runtime.clock, Role.CORRECTIONS, kept=kept)
        opened = rule_inputs(
            session,
            ctx,
            runtime.keyring,
            PERSON,
            row,
            fields=("sex", "birth_date"),
            serving=Action.CASEFILE_ASSIGN,
            subject=str(row.id),
        )
        assert opened == {"sex": p.sex, "birth_date": p.birth_date.isoformat()}
        [entry] = _entries(session, ctx)
        assert entry.action == Action.RULE_INPUT and entry.reason == Action.CASEFILE_ASSIGN
        assert entry.fields == ["person.sex", "person.birth_date"] and entry.targets == [str(row.id)]
    # Queued for the request boundary, which writes it after a rollback.
    assert [(e.action, e.fields) for e in kept] == [(Action.RULE_INPUT, ("person.sex", "person.birth_date"))]


def test_matches_answers_yes_or_no_and_nothing_else(runtime, person):
    row, p = person
    with Session(runtime.engine) as session:
        before = session.execute(sa.select(sa.func.count()).select_from(AuditEntry)).scalar()
        assert matches(session, runtime.keyring, PERSON, row, field="id_number", expected=p.id_number) is True
        assert matches(session, runtime.keyring, PERSON, row, field="id_number", expected=p.id_number[:-1]) is False
        assert matches(session, runtime.keyring, PERSON, row, field="name", expected="X", normalise=lambda v: "X")
        row.hukou_address_ct = None
        assert matches(session, runtime.keyring, PERSON, row, field="hukou_address", expected="") is False
        # Nothing is audited here: the caller audits the search it serves.
        assert session.execute(sa.select(sa.func.count()).select_from(AuditEntry)).scalar() == before


def test_a_child_rows_key_is_its_subjects_and_both_are_named(runtime, person):
    """A casefile's event has no owner column: its key is the person's, named as subject."""
    row, _ = person
    with Session(runtime.engine) as session:
        key = runtime.keyring.write_key(session, owner=str(row.id), compartment=CASEFILE.compartment)
        casefile = Casefile(
            id=uuid.uuid4(),
            person_id=row.id,
            kind="community_correction",
            org_unit_code="320571",
            status="awaiting_report",
            opened_on=date(2026, 1, 5),
            details_ct=b"",
            created_at=runtime.clock.now(),
        )
        casefile.details_ct = CASEFILE.seal(
            key, record_id=str(casefile.id), name="details", value=json.dumps(CORRECTION)
        )
        event = CasefileEvent(
            id=uuid.uuid4(),
            casefile_id=casefile.id,
            type="visit",
            occurred_on=date(2026, 1, 2),
            body_ct=b"",
            recorded_by="x",
            created_at=runtime.clock.now(),
        )
        event.body_ct = CASEFILE_EVENT.seal(key, record_id=str(event.id), name="body", value='{"n": 1}')
        ctx = _ctx(runtime.clock, Role.CORRECTIONS)
        shown = disclose(
            session,
            ctx,
            runtime.keyring,
            CASEFILE_EVENT,
            event,
            action=Action.CASEFILE_EVENTS_READ,
            subject=str(row.id),
        )
        assert shown == {"body": {"n": 1}}
        with pytest.raises(ValueError):  # a child row without its subject has no key to open
            disclose(session, ctx, runtime.keyring, CASEFILE_EVENT, event, action=Action.CASEFILE_READ, subject=None)
        disclose(
            session,
            ctx,
            runtime.keyring,
            CASEFILE,
            casefile,
            action=Action.CASEFILE_READ,
            subject=str(row.id),
            also=("x",),
        )
        opened = rule_inputs(
            session, ctx, runtime.keyring, CASEFILE, casefile, fields=("details",), serving=Action.CASEFILE_TRANSITION
        )
        assert opened == {"details": CORRECTION}  # JSON comes back parsed
        entries = _entries(session, ctx)
        assert entries[0].targets == [str(event.id), str(row.id)]
        assert entries[-2].targets == [str(casefile.id), str(row.id), "x"]
        # A rule input names the record and, without a subject given, the owner of its key.
        assert entries[-1].targets == [str(casefile.id), str(row.id)]
        assert matches(
            session, runtime.keyring, CASEFILE_EVENT, event, field="body", expected='{"n": 1}', subject=str(row.id)
        )
