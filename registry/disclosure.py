"""The one path from ciphertext to a response: authorize → audit → decrypt → mask.

Callers fetch the record inside the caller's scope (out of scope is already a 404) and
say which sealed fields they hold; this module checks purpose and role, appends the audit
entry (it commits before any response byte is sent), then opens only the fields the role
may see, masked where the role only needs to recognise them.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from sqlmodel import Session

from registry.access.policy import Role
from registry.audit.actions import Action
from registry.context import Context
from registry.crypto.keyring import Compartment, Keyring
from registry.crypto.reveal import open_sealed
from registry.errors import Forbidden, PurposeRefused


class Visibility(StrEnum):
    FULL = "full"
    MASKED = "masked"
    HIDDEN = "hidden"


def mask_id_number(value: str) -> str:
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_phone(value: str) -> str:
    return value[:3] + "****" + value[-4:]


def mask_name(value: str) -> str:
    return value[:1] + "*" * max(len(value) - 1, 1)


def mask_text(value: str) -> str:
    return value[:6] + "…" if len(value) > 6 else "…"


MASKS = {"id_number": mask_id_number, "phone": mask_phone, "name": mask_name}


def visible_fields(roles: frozenset[Role], table: Mapping[Role, Mapping[str, Visibility]]) -> dict[str, Visibility]:
    """The most open visibility any of the caller's roles grants, per field."""
    order = [Visibility.HIDDEN, Visibility.MASKED, Visibility.FULL]
    out: dict[str, Visibility] = {}
    for role in roles:
        for field, visibility in table.get(role, {}).items():
            if order.index(visibility) > order.index(out.get(field, Visibility.HIDDEN)):
                out[field] = visibility
    return out


def disclose(
    session: Session,
    ctx: Context,
    keyring: Keyring,
    *,
    action: Action,
    record_id: str,
    owner: str,
    compartment: Compartment,
    table: str,
    sealed: Mapping[str, bytes | None],
    visibility: Mapping[Role, Mapping[str, Visibility]],
    break_glass_grant: str | None = None,
) -> dict[str, str | None]:
    # Authorize: only roles that may hold personal data, and only for a declared purpose.
    if not ctx.principal.sees_personal_data:
        raise Forbidden("the role never receives personal data")
    if ctx.purpose is None:
        raise PurposeRefused("X-Purpose header is required for a request that discloses personal data")
    shown = {f: v for f, v in visible_fields(ctx.principal.roles, visibility).items() if f in sealed and v != "hidden"}
    # Audit: field names only. The entry is in this transaction, which commits before the
    # response is sent; if it cannot commit, the response is a 503 with nothing in it.
    ctx.audit.append(
        session,
        ctx.event(action, targets=(record_id,), fields=tuple(sorted(shown)), break_glass_grant=break_glass_grant),
    )
    out: dict[str, str | None] = {}
    for field, how in shown.items():
        blob = sealed[field]
        if blob is None:
            out[field] = None
            continue
        value = open_sealed(
            session, keyring, blob, owner=owner, compartment=compartment, table=table, column=field, record_id=record_id
        )
        out[field] = value if how == Visibility.FULL else MASKS.get(field, mask_text)(value)
    return out


def disclose_rows(
    session: Session,
    ctx: Context,
    keyring: Keyring,
    *,
    action: Action,
    targets: tuple[str, ...],
    owner: str,
    compartment: Compartment,
    table: str,
    column: str,
    rows: Mapping[str, bytes],
    break_glass_grant: str | None = None,
) -> dict[str, str]:
    """One audited disclosure of one sealed column across several rows of one owner (a
    timeline): a single entry names every row, then each is opened. No masking: callers
    use it only for roles that see the column in full."""
    if not ctx.principal.sees_personal_data:
        raise Forbidden("the role never receives personal data")
    if ctx.purpose is None:
        raise PurposeRefused("X-Purpose header is required for a request that discloses personal data")
    ctx.audit.append(
        session,
        ctx.event(action, targets=(*targets, *rows), fields=(column,), break_glass_grant=break_glass_grant),
    )
    return {
        record_id: open_sealed(
            session,
            keyring,
            blob,
            owner=owner,
            compartment=compartment,
            table=table,
            column=column,
            record_id=record_id,
        )
        for record_id, blob in rows.items()
    }


def reveal_for_match(
    session: Session,
    keyring: Keyring,
    blob: bytes,
    *,
    owner: str,
    compartment: Compartment,
    table: str,
    column: str,
    record_id: str,
) -> str:
    """Open one indexed field to re-check a blind-index candidate. The value is compared,
    never returned; the search itself is audited by the caller with its token."""
    return open_sealed(
        session, keyring, blob, owner=owner, compartment=compartment, table=table, column=column, record_id=record_id
    )
