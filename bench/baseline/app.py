"""The plaintext baseline: what a team would build without privacy controls.

Plain FastAPI + SQLModel over the registry's table shape (`bench.baseline.models`) and the
same routes and bodies the load scenarios call, with no encryption, no audit, no masking
and no authorization beyond one static bearer token. Request bodies are validated with
pydantic, the ID number's check character and birth date with the project's parser (a
real team would validate them too), unknown ids are 404 and a duplicate ID number is 409.

    BASELINE_DATABASE_URL=sqlite:///…/baseline.db BASELINE_TOKEN=… \\
        .venv/bin/uvicorn bench.baseline.app:app --host 127.0.0.1 --port 8101

Like the registry, the routes are synchronous (FastAPI runs them in its thread pool) and
each request is one transaction; on SQLite the connection uses WAL, `synchronous=NORMAL`
and a busy timeout, as the registry's does. Not imported by `registry/`.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, TypeVar

import sqlalchemy as sa
from fastapi import Depends, FastAPI, Header, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlmodel import Session, select

from bench.baseline.models import Base, Casefile, CasefileEvent, Dwelling, Person, Registration
from registry.people.identifiers import InvalidIdentifier, parse_id_number

REPORT_DAYS = 3  # the registry's default registration_report_days
T = TypeVar("T")


def create_engine(url: str) -> sa.Engine:
    if not url.startswith("sqlite"):
        return sa.create_engine(url, pool_size=10, max_overflow=10)
    engine = sa.create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    return engine


def create_schema(engine: sa.Engine) -> None:
    Base.metadata.create_all(engine)


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PersonCreate(Strict):
    id_number: Annotated[str, StringConstraints(min_length=18, max_length=18)]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
    phone: Annotated[str, StringConstraints(max_length=24)] | None = None
    hukou_address: Annotated[str, StringConstraints(min_length=1, max_length=300)] | None = None
    org_unit: str | None = None


class PersonRead(Strict):
    id: uuid.UUID
    name: str
    id_number: str
    sex: str
    birth_date: date
    phone: str | None
    hukou_address: str | None
    org_unit: str
    version: int


class PersonSearch(Strict):
    id_number: Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=18, max_length=18)]


class PersonMatch(Strict):
    id: uuid.UUID
    name: str
    birth_year: int


class PersonMatches(Strict):
    items: list[PersonMatch]


class DwellingCreate(Strict):
    org_unit: str
    address: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    kind: Literal["rental", "owned", "dormitory", "other"]
    landlord_person_id: uuid.UUID | None = None
    pledge_signed_on: date | None = None


class DwellingRead(DwellingCreate):
    id: uuid.UUID
    version: int


class RegistrationCreate(Strict):
    person_id: uuid.UUID
    dwelling_id: uuid.UUID
    arrived_on: date
    registered_on: date | None = None
    basis: Literal["employment", "study", "family", "business", "other"]
    employer_name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    employer_uscc: Annotated[str, StringConstraints(min_length=18, max_length=24)] | None = None
    reported_by: Literal["self", "landlord", "employer"] = "self"


class RegistrationRead(Strict):
    id: uuid.UUID
    person_id: uuid.UUID
    dwelling_id: uuid.UUID
    org_unit: str
    status: str
    arrived_on: date
    registered_on: date
    departed_on: date | None
    basis: str
    employer_name: str | None
    employer_uscc: str | None
    reported_by: str
    late: bool
    previous_id: uuid.UUID | None
    version: int


class CasefileCreate(Strict):
    person_id: uuid.UUID
    kind: Literal["community_correction", "resettlement", "drug_rehabilitation"]
    org_unit: str
    opened_on: date | None = None
    details: dict[str, Any]


class CasefileRead(Strict):
    id: uuid.UUID
    person_id: uuid.UUID
    kind: str
    status: str
    org_unit: str
    opened_on: date
    details: dict[str, Any]
    version: int


class EventCreate(Strict):
    type: Annotated[str, StringConstraints(pattern=r"^[a-z_]{2,32}$")]
    occurred_on: date
    body: dict[str, Any] = Field(default_factory=dict)


class EventRead(EventCreate):
    id: uuid.UUID
    recorded_by: str
    created_at: datetime


def _session(request: Request, authorization: Annotated[str | None, Header()] = None) -> Iterator[Session]:
    """The one check: the static bearer token. Then one transaction per request."""
    state = request.app.state
    if authorization is None or not secrets.compare_digest(authorization, state.expected_authorization):
        raise HTTPException(401, "bad token")
    with Session(state.engine) as s, s.begin():
        yield s


# scope="function": commit before the response is sent (as the registry does), so a client's
# next request always sees this one's writes.
SessionDep = Annotated[Session, Depends(_session, scope="function")]


def create_app(engine: sa.Engine, token: str) -> FastAPI:
    app = FastAPI(title="plaintext baseline", openapi_url=None)
    app.state.engine, app.state.expected_authorization = engine, f"Bearer {token}"

    def found(row: T | None) -> T:
        if row is None:
            raise HTTPException(404, "not found")
        return row

    def person_read(p: Person) -> PersonRead:
        return PersonRead(
            id=p.id,
            name=p.name,
            id_number=p.id_number,
            sex=p.sex,
            birth_date=p.birth_date,
            phone=p.phone,
            hukou_address=p.hukou_address,
            org_unit=p.org_unit_code,
            version=p.version,
        )

    def registration_read(r: Registration) -> RegistrationRead:
        return RegistrationRead(org_unit=r.org_unit_code, **r.model_dump(exclude={"org_unit_code", "created_at"}))

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/v1/persons", status_code=201, response_model=PersonRead)
    def create_person(s: SessionDep, body: PersonCreate) -> PersonRead:
        try:
            parsed = parse_id_number(body.id_number, today=date.today())
        except InvalidIdentifier as exc:
            raise HTTPException(422, exc.detail) from None
        existing = s.exec(select(Person.id).where(Person.id_number == parsed.value)).first()
        if existing is not None:
            raise HTTPException(409, {"person_id": str(existing)})
        now = datetime.now(UTC)
        person = Person(
            org_unit_code=body.org_unit or "990171",
            name=body.name,
            id_number=parsed.value,
            sex=parsed.sex,
            birth_date=parsed.birth_date,
            phone=body.phone,
            hukou_address=body.hukou_address,
            created_at=now,
            updated_at=now,
        )
        s.add(person)
        s.flush()
        return person_read(person)

    @app.get("/api/v1/persons/{person_id}", response_model=PersonRead)
    def read_person(s: SessionDep, person_id: uuid.UUID) -> PersonRead:
        return person_read(found(s.get(Person, person_id)))

    @app.post("/api/v1/persons/search", response_model=PersonMatches)
    def search_persons(s: SessionDep, body: PersonSearch) -> PersonMatches:
        rows = s.exec(select(Person).where(Person.id_number == body.id_number)).all()
        return PersonMatches(items=[PersonMatch(id=p.id, name=p.name, birth_year=p.birth_date.year) for p in rows])

    @app.post("/api/v1/dwellings", status_code=201, response_model=DwellingRead)
    def create_dwelling(s: SessionDep, body: DwellingCreate) -> DwellingRead:
        if body.kind == "rental" and body.landlord_person_id is None:
            raise HTTPException(422, "a rental needs a landlord")
        dwelling = Dwelling(
            org_unit_code=body.org_unit,
            address=body.address,
            kind=body.kind,
            landlord_person_id=body.landlord_person_id,
            pledge_signed_on=body.pledge_signed_on,
            created_at=datetime.now(UTC),
        )
        s.add(dwelling)
        s.flush()
        return DwellingRead(id=dwelling.id, version=dwelling.version, **body.model_dump())

    @app.post("/api/v1/residence-registrations", status_code=201, response_model=RegistrationRead)
    def create_registration(s: SessionDep, body: RegistrationCreate) -> RegistrationRead:
        found(s.get(Person, body.person_id))
        dwelling = found(s.get(Dwelling, body.dwelling_id))
        # On `person_id` alone: with `status` in the WHERE clause SQLite (no statistics) may walk
        # the status index, i.e. every active registration (the registry's importer avoids it too).
        held = s.exec(select(Registration.status).where(Registration.person_id == body.person_id)).all()
        if "active" in held:
            raise HTTPException(409, "already registered")
        registered = body.registered_on or date.today()
        registration = Registration(
            person_id=body.person_id,
            dwelling_id=body.dwelling_id,
            org_unit_code=dwelling.org_unit_code,
            arrived_on=body.arrived_on,
            registered_on=registered,
            basis=body.basis,
            employer_name=body.employer_name,
            employer_uscc=body.employer_uscc,
            reported_by=body.reported_by,
            status="active",
            late=(registered - body.arrived_on).days > REPORT_DAYS,
            created_at=datetime.now(UTC),
        )
        s.add(registration)
        s.flush()
        return registration_read(registration)

    @app.get("/api/v1/residence-registrations/{registration_id}", response_model=RegistrationRead)
    def read_registration(s: SessionDep, registration_id: uuid.UUID) -> RegistrationRead:
        return registration_read(found(s.get(Registration, registration_id)))

    @app.post("/api/v1/casefiles", status_code=201, response_model=CasefileRead)
    def create_casefile(s: SessionDep, body: CasefileCreate) -> CasefileRead:
        found(s.get(Person, body.person_id))
        casefile = Casefile(
            person_id=body.person_id,
            kind=body.kind,
            org_unit_code=body.org_unit,
            status="awaiting_report",
            opened_on=body.opened_on or date.today(),
            details=body.details,
            created_at=datetime.now(UTC),
        )
        s.add(casefile)
        s.flush()
        return CasefileRead(
            org_unit=casefile.org_unit_code, **casefile.model_dump(exclude={"org_unit_code", "created_at"})
        )

    @app.get("/api/v1/casefiles/{casefile_id}", response_model=CasefileRead)
    def read_casefile(s: SessionDep, casefile_id: uuid.UUID) -> CasefileRead:
        casefile = found(s.get(Casefile, casefile_id))
        return CasefileRead(
            org_unit=casefile.org_unit_code, **casefile.model_dump(exclude={"org_unit_code", "created_at"})
        )

    @app.post("/api/v1/casefiles/{casefile_id}/events", status_code=201, response_model=EventRead)
    def add_event(s: SessionDep, casefile_id: uuid.UUID, body: EventCreate) -> EventRead:
        found(s.get(Casefile, casefile_id))
        event = CasefileEvent(
            casefile_id=casefile_id, recorded_by="baseline", created_at=datetime.now(UTC), **body.model_dump()
        )
        s.add(event)
        s.flush()
        return EventRead(**event.model_dump(exclude={"casefile_id"}))

    @app.get("/api/v1/casefiles/{casefile_id}/events", response_model=list[EventRead])
    def list_events(
        s: SessionDep, casefile_id: uuid.UUID, limit: Annotated[int, Query(ge=1, le=200)] = 20
    ) -> list[EventRead]:
        found(s.get(Casefile, casefile_id))
        events = s.exec(
            select(CasefileEvent)
            .where(CasefileEvent.casefile_id == casefile_id)
            .order_by(CasefileEvent.occurred_on.desc(), CasefileEvent.created_at.desc())  # type: ignore[attr-defined]
            .limit(limit)
        )
        return [EventRead(**e.model_dump(exclude={"casefile_id"})) for e in events]

    return app


def _from_environment() -> FastAPI:
    engine = create_engine(os.environ["BASELINE_DATABASE_URL"])
    create_schema(engine)
    return create_app(engine, os.environ["BASELINE_TOKEN"])


def __getattr__(name: str) -> FastAPI:
    """`bench.baseline.app:app` for uvicorn, built from the environment on first access
    (so importing the module for `create_app` needs no environment)."""
    if name == "app":
        return _from_environment()
    raise AttributeError(name)
