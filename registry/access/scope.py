"""Jurisdiction scope as a typed query argument (polar's AccessibleOrganizationID pattern).

Repository functions take a `Scope`, so a query without one does not type-check, and the
filter lives inside the SQL: out-of-scope rows are never loaded, and answer 404.
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from typing import Protocol, TypeVar, cast

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from registry.access.models import OrgUnit
from registry.errors import NotFound


@dataclass(frozen=True)
class Scope:
    # Materialised path of the caller's org unit ("/320500/320571/"); None is the whole
    # tree, held only by accounts without an org unit (the bootstrap administrator).
    path_prefix: str | None

    def covers(self, path: str) -> bool:
        return self.path_prefix is None or path.startswith(self.path_prefix)

    def clause(self, path_column: sa.SQLColumnExpression[str]) -> ColumnElement[bool]:
        if self.path_prefix is None:
            return sa.true()
        # Paths are digits and slashes only, so LIKE needs no escaping.
        return path_column.startswith(self.path_prefix)


class InOrgUnit(Protocol):
    """A table whose rows belong to an org unit (persons, dwellings, registrations, ...)."""

    id: uuid.UUID
    org_unit_code: str


M = TypeVar("M", bound=InOrgUnit)


def get_org_unit(session: Session, scope: Scope, *, code: str) -> OrgUnit:
    unit = session.exec(_unit_in_scope(scope), params={"code": code}).first()
    if unit is None:
        raise NotFound("org unit not found", targets=(code,))
    return unit


@functools.lru_cache(maxsize=1024)
def _unit_in_scope(scope: Scope) -> SelectOfScalar[OrgUnit]:
    # Built once per scope, the code bound at each run: every write names its unit.
    return select(OrgUnit).where(col(OrgUnit.code) == sa.bindparam("code"), scope.clause(col(OrgUnit.path)))


def in_scope(model: type[M], scope: Scope) -> SelectOfScalar[M]:
    """`SELECT model` limited to the caller's subtree, needing no session: for a statement
    built once and run many times (`scoped_select` is the one to call otherwise)."""
    return (
        select(model)
        .join(OrgUnit, col(OrgUnit.code) == col(model.org_unit_code))
        .where(scope.clause(col(OrgUnit.path)))
    )


def one_in_scope(model: type[M], scope: Scope, *, lock: bool = False) -> SelectOfScalar[M]:
    """The row of `model` with the id bound at each run (`params={"id": ...}`), if it is in
    the caller's subtree; `lock`: FOR UPDATE of that row (PostgreSQL). Built once per model
    and scope: building a statement and its cache key costs more than running it."""
    return cast("SelectOfScalar[M]", _one_in_scope(model, scope, lock))


@functools.lru_cache(maxsize=1024)
def _one_in_scope(model: type[M], scope: Scope, lock: bool) -> SelectOfScalar[M]:
    record_id = sa.bindparam("id", type_=model.__table__.c.id.type)  # type: ignore[attr-defined]
    query = in_scope(model, scope).where(col(model.id) == record_id)
    return query.with_for_update(of=model) if lock else query


def scoped_select(session: Session, model: type[M], scope: Scope, *, org_unit: str | None = None) -> SelectOfScalar[M]:
    """`SELECT model` limited to the caller's subtree (and, if given, to `org_unit`'s
    subtree, which must itself be in scope): the scope filter lives in the SQL."""
    query = in_scope(model, scope)
    if org_unit is not None:
        unit = get_org_unit(session, scope, code=org_unit)
        query = query.where(col(OrgUnit.path).startswith(unit.path))
    return query
