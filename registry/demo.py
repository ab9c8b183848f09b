"""`registry demo seed`: an obviously synthetic jurisdiction and residents, for demos and load.

Everything is done as the console operator (actor `system`) acting as `police` over the
whole tree: persons, dwellings and registrations are validated, sealed, blind-indexed and
audited like any other. The residents are fed to the residence importer as parsed rows, so
seeding shares its batched bulk writes and its idempotency: the same seed run twice adds
nothing the second time.

Nothing here describes a real person or place: 测试市 and its districts and streets are
invented, names, ID numbers, phones and credit codes come from `SyntheticPeople`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from registry.access.models import OrgUnit
from registry.access.policy import Role
from registry.access.principal import SYSTEM_ACCOUNT_ID, Principal
from registry.access.scope import Scope
from registry.accounts.orgunits import create_org_unit
from registry.accounts.schemas import OrgUnitCreate
from registry.audit.log import Actor, AuditTrail
from registry.clock import today
from registry.context import Context
from registry.db import transaction
from registry.errors import Conflict, NotFound
from registry.people.synthetic import SyntheticPeople
from registry.residence.importer import SYSTEM_ACTOR_ID, ImportCounts, Progress, ResidenceRow, import_rows
from registry.runtime import Runtime

__all__ = ["DEMO_CODES", "DEMO_ROOT", "DEMO_TREE", "SeedCounts", "ensure_demo_tree", "seed", "seed_rows"]

# A root no real division has (GB/T 2260 has no province 99): demo units never mix with a
# real tree, whatever codes it uses (issue 21).
DEMO_ROOT = "990100"
# (code, name, parent): city → two districts → streets. Names say 测试/示范/样例 (test, demo, sample).
DEMO_TREE: tuple[tuple[str, str, str | None], ...] = (
    ("990100", "测试市", None),
    ("990171", "测试市示范区", "990100"),
    ("990105", "测试市样例区", "990100"),
    ("990171001", "示范区测试街道", "990171"),
    ("990171002", "示范区样本街道", "990171"),
    ("990171003", "示范区演示街道", "990171"),
    ("990105001", "样例区模拟街道", "990105"),
    ("990105002", "样例区虚构街道", "990105"),
)
DEMO_CODES = frozenset(code for code, _, _ in DEMO_TREE)
_ROADS = ("测试路", "样本街", "示范大道", "演示巷", "模拟路", "虚构街")
_DORMS = ("测试园区宿舍", "样本工地宿舍", "示范学院宿舍")

# Shares of the generated residents (the rest of each split is the last option).
LANDLORD_SHARE = 0.08  # residents who also let out flats (owners of rentals)
KIND_SHARES = (("rental", 0.55), ("owned", 0.2), ("dormitory", 0.15), ("other", 0.10))
BASIS_SHARES = (("employment", 0.5), ("study", 0.1), ("family", 0.2), ("business", 0.1), ("other", 0.1))
LATE_SHARE = 0.12  # registered after the report deadline (DOMAIN.md: 3 days by default)


@dataclass(frozen=True)
class SeedCounts:
    org_units: int
    persons: int
    dwellings: int
    registrations: int
    duplicates: int
    rejected: int


def _system(runtime: Runtime, role: Role) -> Context:
    principal = Principal(SYSTEM_ACCOUNT_ID, "system", "system", frozenset({role}), None, Scope(None))
    return Context(principal, AuditTrail(runtime.clock, Actor(SYSTEM_ACTOR_ID, (role.value,), None)), runtime.clock)


def ensure_demo_tree(runtime: Runtime) -> int:
    """Create the demo org units that are absent (audited `org_unit:create`); returns how many."""
    ctx = _system(runtime, Role.ADMIN)
    created = 0
    with transaction(runtime.engine) as session:
        for code, name, parent in DEMO_TREE:
            if session.get(OrgUnit, code) is None:
                create_org_unit(session, ctx, data=OrgUnitCreate(code=code, name=name, parent_code=parent))
                session.flush()  # the next unit's parent lookup reads this one
                created += 1
    return created


def leaf_units(session: Session, root: str) -> list[str]:
    unit = session.get(OrgUnit, root)
    if unit is None:
        raise NotFound("org unit not found")
    units = session.exec(select(OrgUnit).where(OrgUnit.path.startswith(unit.path))).all()  # type: ignore[attr-defined]
    parents = {u.parent_code for u in units}
    return sorted(u.code for u in units if u.code not in parents)


def _pick(rng: random.Random, shares: tuple[tuple[str, float], ...]) -> str:
    x = rng.random()
    for name, share in shares:
        if x < share:
            return name
        x -= share
    return shares[-1][0]


def seed_rows(count: int, *, seed: int, units: list[str], on: date) -> list[ResidenceRow]:
    """`count` synthetic residents as import rows: landlords first (each in a flat they
    own, with flats to let), then tenants, owners, dormitory and other residents."""
    people = SyntheticPeople(seed)
    rng = random.Random(seed ^ 0x5EED)  # noqa: S311 - reproducible synthetic data, not a secret
    employers = [(people.company_name(), people.uscc()) for _ in range(max(3, count // 25))]
    landlord_count = max(1, round(count * LANDLORD_SHARE)) if count > 1 else 0
    # Each landlord lets 1-4 flats (in any demo street); tenants share them.
    lets: list[tuple[str, str, str, date]] = []  # (landlord ID number, unit, address, pledge date)
    rows: list[ResidenceRow] = []

    def address(unit: str) -> str:
        room = f"{rng.randint(1, 30)}幢{rng.randint(1, 33)}{rng.randint(1, 4):02d}室"
        return f"{rng.choice(_ROADS)}{rng.randint(1, 999)}号{room}"

    def dates() -> tuple[date, date]:
        arrived = on - timedelta(days=rng.randint(0, 3 * 365))
        delay = rng.randint(4, 60) if rng.random() < LATE_SHARE else rng.randint(0, 3)
        return arrived, min(on, arrived + timedelta(days=delay))

    for index in range(count):
        p = people.person()
        unit = rng.choice(units)
        arrived, registered = dates()
        basis = _pick(rng, BASIS_SHARES)
        kind = "owned" if index < landlord_count else _pick(rng, KIND_SHARES)
        landlord = pledge = None
        if kind == "rental" and lets:
            landlord, unit, place, pledge = rng.choice(lets)
        elif kind == "rental":
            kind = "owned"  # no landlord yet (tiny seeds): the first resident owns
        if kind == "dormitory":
            basis, place = "employment", f"{rng.choice(_DORMS)}{rng.randint(1, 12)}号楼{rng.randint(101, 640)}室"
        elif kind in ("owned", "other"):
            place = address(unit)
        employer = rng.choice(employers) if basis == "employment" else (None, None)
        reported_by = "self"
        if kind == "rental" and rng.random() < 0.3:
            reported_by = "landlord"
        elif basis == "employment" and rng.random() < 0.2:
            reported_by = "employer"
        if index < landlord_count:
            for _ in range(rng.randint(1, 4)):
                let_unit = rng.choice(units)
                lets.append((p.id_number, let_unit, address(let_unit), on - timedelta(days=rng.randint(30, 2000))))
        rows.append(
            ResidenceRow(
                id_number=p.id_number,
                name=p.name,
                phone=p.phone,
                hukou_address=p.hukou_address,
                dwelling_org_unit=unit,
                dwelling_address=place,
                dwelling_kind=kind,
                landlord_id_number=landlord,
                pledge_signed_on=pledge,
                arrived_on=arrived,
                registered_on=registered,
                basis=basis,
                employer_name=employer[0],
                employer_uscc=employer[1],
                reported_by=reported_by,
            )
        )
    return rows


def seed(
    runtime: Runtime,
    *,
    persons: int,
    seed: int = 0,
    progress: Progress | None = None,
    org_unit: str | None = None,
    batch_size: int | None = None,
    alongside_real_units: bool = False,
) -> SeedCounts:
    """The demo tree (if absent), then `persons` synthetic residents in `org_unit`'s
    leaf units (default: the whole demo city), each with a dwelling and an active
    registration. Refused on a registry that holds other units (a live one) unless
    `alongside_real_units`: fake residents in a real registry are easily taken for real."""
    if not alongside_real_units:
        with transaction(runtime.engine) as session:
            real = session.exec(
                select(sa.func.count()).select_from(OrgUnit).where(col(OrgUnit.code).not_in(DEMO_CODES))
            ).one()
        if real:
            raise Conflict(
                f"demo.real_units: this registry holds {real} org units of its own; seed demo data beside them "
                "only when meant (--alongside-real-units)"
            )
    created_units = ensure_demo_tree(runtime)
    with transaction(runtime.engine) as session:
        units = leaf_units(session, org_unit or DEMO_ROOT)
    rows = seed_rows(persons, seed=seed, units=units, on=today(runtime.clock))
    extra = {} if batch_size is None else {"batch_size": batch_size}
    counts: ImportCounts = import_rows(runtime, enumerate(rows, start=1), total=len(rows), progress=progress, **extra)
    return SeedCounts(
        org_units=created_units,
        persons=counts.persons_created,
        dwellings=counts.dwellings_created,
        registrations=counts.imported,
        duplicates=counts.duplicates,
        rejected=counts.rejected,
    )
