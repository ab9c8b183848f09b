"""Staff identities as an auditor resolves them: an account id to its username, display
name and unit, a username to its id. Staff only: nothing here touches a resident's record."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import NamedTuple

import sqlalchemy as sa
from sqlmodel import Session, col, select

from registry.access.models import OrgUnit, UserAccount
from registry.errors import BadRequest


class Identity(NamedTuple):
    username: str
    display_name: str
    kind: str
    org_unit: str | None


def identities(session: Session, account_ids: Iterable[str]) -> dict[str, Identity]:
    """The accounts among `account_ids` (entries name "system" and removed ids too: skipped)."""
    ids = []
    for text in account_ids:
        try:
            ids.append(uuid.UUID(text))
        except ValueError:
            continue
    if not ids:
        return {}
    columns = (
        UserAccount.id,
        UserAccount.username,
        UserAccount.display_name,
        UserAccount.kind,
        UserAccount.org_unit_code,
    )
    query = sa.select(*(col(c) for c in columns)).where(col(UserAccount.id).in_(ids))
    return {str(row[0]): Identity(*row[1:]) for row in session.execute(query)}


def account_id_of(session: Session, actor: str) -> str:
    """An entry's actor as an auditor names it: an account id as it is, a username resolved
    (an unknown one is a 400, not an empty page that reads as "did nothing")."""
    try:
        return str(uuid.UUID(actor))
    except ValueError:
        pass
    found = session.exec(select(UserAccount.id).where(UserAccount.username == actor)).first()
    if found is None:
        raise BadRequest("no account has that username")
    return str(found)


def subtree_codes(session: Session, code: str) -> list[str]:
    """The unit and every unit under it (an unknown code is a 400)."""
    path = session.exec(select(OrgUnit.path).where(OrgUnit.code == code)).first()
    if path is None:
        raise BadRequest("no org unit has that code")
    return list(session.exec(select(OrgUnit.code).where(col(OrgUnit.path).startswith(path))).all())
