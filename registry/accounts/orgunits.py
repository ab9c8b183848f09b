"""The jurisdiction tree (DOMAIN.md: city → district → street → community → grid)."""

from __future__ import annotations

from sqlmodel import Session, col, select

from registry.access.models import OrgUnit
from registry.access.policy import Permission
from registry.access.scope import Scope, get_org_unit
from registry.accounts.schemas import OrgUnitCreate
from registry.audit.actions import Action
from registry.context import Context
from registry.errors import Conflict, NotFound, RuleViolation

PAGE_MAX = 500


def list_org_units(session: Session, scope: Scope, *, after: str | None, limit: int) -> list[OrgUnit]:
    query = (
        select(OrgUnit).where(scope.clause(col(OrgUnit.path))).order_by(col(OrgUnit.code)).limit(min(limit, PAGE_MAX))
    )
    if after is not None:
        query = query.where(OrgUnit.code > after)
    return list(session.exec(query))


def _check_child_code(child: str, parent: str) -> None:
    """Statistical division codes: a street (9) extends its district (6), and so on down;
    a district sits under a city of the same province-prefecture prefix (4 digits)."""
    if len(child) == 6 and len(parent) == 6:
        if child[:4] != parent[:4] or child == parent:
            raise RuleViolation("org_unit_code: a district code shares its city's first four digits")
    elif len(child) != len(parent) + 3 or not child.startswith(parent):
        raise RuleViolation("org_unit_code: the code must extend its parent's code by three digits")


def create_org_unit(session: Session, ctx: Context, *, data: OrgUnitCreate) -> OrgUnit:
    ctx.principal.require(Permission.ORG_UNIT_MANAGE)
    if session.get(OrgUnit, data.code) is not None:
        raise Conflict("an org unit with this code exists")
    if data.parent_code is None:
        # Only a tree-wide administrator may plant a new root.
        if ctx.principal.scope.path_prefix is not None:
            raise NotFound("parent org unit not found")
        if len(data.code) != 6:
            raise RuleViolation("org_unit_code: a root unit is a city or district (6 digits)")
        path = f"/{data.code}/"
    else:
        parent = get_org_unit(session, ctx.principal.scope, code=data.parent_code)
        _check_child_code(data.code, parent.code)
        path = f"{parent.path}{data.code}/"
    unit = OrgUnit(code=data.code, name=data.name, parent_code=data.parent_code, path=path, created_at=ctx.clock.now())
    session.add(unit)
    ctx.audit.append(session, ctx.event(Action.ORG_UNIT_CREATE, targets=(data.code,)))
    return unit
