"""The one path from ciphertext to a caller: authorize → audit → decrypt → mask.

Callers fetch the row inside the caller's scope (out of scope is already a 404) and hand
it over with its table's descriptor (`registry.crypto.sealed`). Nothing else opens a
sealed value (an import-linter contract; key rotation inside `crypto` re-seals without
returning anything). Four ways out, each audited or value-free:
- `disclose` / `disclose_rows`: a record (or a timeline of one column) for a response;
  every entry names the record and the person it discloses (the access report's key).
- `search_hits`: the descriptor's masked form of exact-search candidates.
- `rule_inputs`: values a rule reads (a birth date for the minor flag, a sex for a team);
  its entry names the fields, and is written even if the request then fails.
- `matches`: a yes/no comparison for a blind-index candidate; no value leaves.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any

from sqlmodel import Session

from registry.access.policy import Role
from registry.audit.actions import Action
from registry.context import Context
from registry.crypto.keyring import Keyring
from registry.crypto.reveal import open_sealed
from registry.crypto.sealed import Mask, SealedField, SealedTable, Visibility
from registry.errors import Forbidden, PurposeRefused

_ORDER = (Visibility.HIDDEN, Visibility.MASKED, Visibility.FULL)


def mask_id_number(value: str) -> str:
    return value[:4] + "*" * (len(value) - 8) + value[-4:]


def mask_phone(value: str) -> str:
    return value[:3] + "****" + value[-4:]


def mask_name(value: str) -> str:
    return value[:1] + "*" * max(len(value) - 1, 1)


def mask_text(value: str) -> str:
    return value[:6] + "…" if len(value) > 6 else "…"


def birth_year(value: str) -> str:
    return value[:4]


MASKS: dict[Mask, Callable[[str], str]] = {
    Mask.ID_NUMBER: mask_id_number,
    Mask.PHONE: mask_phone,
    Mask.NAME: mask_name,
    Mask.TEXT: mask_text,
    Mask.YEAR: birth_year,
}


def visibility_of(roles: Iterable[Role], field: SealedField, *, holder: bool = False) -> Visibility:
    """The most open visibility any of the caller's roles has on `field` (with its `holder`
    visibility when the caller holds a casefile of the row's person)."""
    best = Visibility.HIDDEN
    for role in roles:
        seen = [field.visibility.get(role, Visibility.HIDDEN)]
        if holder:
            seen.append(field.holder.get(role, Visibility.HIDDEN))
        for one in seen:
            if _ORDER.index(one) > _ORDER.index(best):
                best = one
    return best


def _withheld(roles: Iterable[Role], field: SealedField, row: Any) -> frozenset[str]:
    """Keys of a JSON value hidden from the caller: those every one of its roles that sees
    the field must not see (the most open role wins, as for whole fields)."""
    seeing = [r for r in roles if field.visibility.get(r, Visibility.HIDDEN) != Visibility.HIDDEN]
    hidden = [field.withheld_keys[r](row) if r in field.withheld_keys else frozenset() for r in seeing]
    return frozenset.intersection(*hidden) if hidden else frozenset()


def _authorize(ctx: Context) -> None:
    if not ctx.principal.sees_personal_data:
        raise Forbidden("the role never receives personal data")
    if ctx.purpose is None:
        raise PurposeRefused("X-Purpose header is required for a request that discloses personal data")


def _owner(descriptor: SealedTable, row: Any, subject: str | None) -> str:
    if descriptor.owner_column is not None:
        return str(getattr(row, descriptor.owner_column))
    if subject is None:
        raise ValueError(f"{descriptor.name}: a child row's owner is its subject")
    return subject


def _open(session: Session, keyring: Keyring, descriptor: SealedTable, row: Any, name: str, owner: str) -> str | None:
    blob = getattr(row, descriptor.field(name).column)
    if blob is None:
        return None
    return open_sealed(
        session,
        keyring,
        blob,
        owner=owner,
        compartment=descriptor.compartment,
        table=descriptor.name,
        column=name,
        record_id=str(getattr(row, descriptor.id_column)),
    )


def _shown(roles: frozenset[Role], field: SealedField, row: Any, value: str | None, *, holder: bool = False) -> Any:
    if value is None:
        return None
    how = visibility_of(roles, field, holder=holder)
    if field.json:
        data = json.loads(value)
        withheld = _withheld(roles, field, row)
        if withheld and isinstance(data, dict):
            data = {k: v for k, v in data.items() if k not in withheld}
        return data
    return value if how is Visibility.FULL else MASKS[field.mask](value)


def disclose(
    session: Session,
    ctx: Context,
    keyring: Keyring,
    descriptor: SealedTable,
    row: Any,
    *,
    action: Action,
    subject: str | None,
    also: Sequence[str] = (),
    grant: str | None = None,
    held_file: str | None = None,
    only: Collection[str] | None = None,
    reason: str | None = None,
) -> dict[str, Any]:
    """The fields of `row` the caller's roles may see (masked where they only recognise
    them; JSON values parsed, with withheld keys removed); the others are left out.
    `subject` is the person disclosed (None only for a record of no one person).
    `held_file`: a casefile of that person the caller opens (the caller decided it,
    `casefiles.access.held_file_of`): fields are shown as to its holder, and the entry
    names the file. `only`: the fields wanted (a printed document's), a JSON field's keys
    as `<field>.<key>`; the entry names exactly what is opened and returned."""
    _authorize(ctx)
    owner = _owner(descriptor, row, subject)
    roles = ctx.principal.roles
    holder = held_file is not None
    shown, keys = _plan(roles, descriptor, row, holder=holder, only=only)
    record_id = str(getattr(row, descriptor.id_column))
    named = (*also, held_file) if held_file is not None else tuple(also)
    targets = tuple(dict.fromkeys((record_id, *((subject,) if subject else ()), *named)))
    # The entry is in this transaction, which commits before the response is sent; if it
    # cannot commit, the response is a 503 with nothing in it.
    ctx.audit.append(
        session,
        ctx.event(action, targets=targets, fields=_paths(shown, keys), break_glass_grant=grant, reason=reason),
    )
    out = {
        f.name: _shown(roles, f, row, _open(session, keyring, descriptor, row, f.name, owner), holder=holder)
        for f in shown
    }
    for name, wanted in keys.items():
        if wanted is not None and isinstance(out.get(name), dict):
            out[name] = {k: v for k, v in out[name].items() if k in wanted}
    return out


def shown_paths(
    roles: frozenset[Role], descriptor: SealedTable, row: Any, *, holder: bool = False, only: Collection[str] | None
) -> tuple[str, ...]:
    """What `disclose` with these arguments returns and its entry names: field names, and
    `<field>.<key>` for the keys of a JSON field that `only` asks for."""
    return _paths(*_plan(roles, descriptor, row, holder=holder, only=only))


def _plan(
    roles: frozenset[Role], descriptor: SealedTable, row: Any, *, holder: bool, only: Collection[str] | None
) -> tuple[list[SealedField], dict[str, frozenset[str] | None]]:
    shown = [f for f in descriptor.fields if visibility_of(roles, f, holder=holder) is not Visibility.HIDDEN]
    keys: dict[str, frozenset[str] | None] = {f.name: None for f in shown}
    if only is not None:
        keys = {name: _wanted_keys(only, name, _withheld(roles, descriptor.field(name), row)) for name in keys}
        shown = [f for f in shown if f.name in only or keys[f.name]]
    return shown, keys


def _paths(shown: list[SealedField], keys: dict[str, frozenset[str] | None]) -> tuple[str, ...]:
    return tuple(
        sorted(f.name if keys[f.name] is None else f"{f.name}.{k}" for f in shown for k in keys[f.name] or ("",))
    )


def _wanted_keys(only: Collection[str], name: str, withheld: frozenset[str]) -> frozenset[str] | None:
    """The keys of JSON field `name` that `only` asks for (less those withheld from the
    caller); None when `only` names no key of it (the whole field, or not at all)."""
    prefix = f"{name}."
    wanted = frozenset(p[len(prefix) :] for p in only if p.startswith(prefix))
    return wanted - withheld if wanted else None


def disclose_rows(
    session: Session,
    ctx: Context,
    keyring: Keyring,
    descriptor: SealedTable,
    rows: Sequence[Any],
    *,
    field: str,
    action: Action,
    subject: str,
    also: Sequence[str] = (),
    grant: str | None = None,
) -> dict[str, Any]:
    """One audited disclosure of one sealed column across several rows of one person (a
    timeline): a single entry names the person and every row. Row id → shown value."""
    _authorize(ctx)
    roles = ctx.principal.roles
    sealed = descriptor.field(field)
    if visibility_of(roles, sealed) is Visibility.HIDDEN:
        raise Forbidden(f"the role may not see {descriptor.name}.{field}")
    ids = [str(getattr(r, descriptor.id_column)) for r in rows]
    ctx.audit.append(
        session,
        ctx.event(
            action, targets=tuple(dict.fromkeys((*also, subject, *ids))), fields=(field,), break_glass_grant=grant
        ),
    )
    owner = _owner(descriptor, rows[0], subject) if rows else subject
    return {
        rid: _shown(roles, sealed, row, _open(session, keyring, descriptor, row, field, owner))
        for rid, row in zip(ids, rows, strict=True)
    }


def search_hits(
    session: Session,
    ctx: Context,
    keyring: Keyring,
    descriptor: SealedTable,
    rows: Sequence[Any],
    *,
    action: Action,
    search_token: str,
) -> list[dict[str, str | None]]:
    """Exact-search candidates in the descriptor's search form (`search_hit`: a masked name
    and a birth year for persons), whatever the caller's scope: one entry names them all
    with the blind-index token searched, never the value."""
    _authorize(ctx)
    shown = descriptor.search_hit
    ctx.audit.append(
        session,
        ctx.event(
            action,
            targets=tuple(str(getattr(r, descriptor.id_column)) for r in rows),
            fields=tuple(f"{name}_{mask}" for name, mask in sorted(shown.items())),
            search_token=search_token,
        ),
    )
    hits = []
    for row in rows:
        owner = _owner(descriptor, row, None)
        hit: dict[str, str | None] = {}
        for name, mask in shown.items():
            value = _open(session, keyring, descriptor, row, name, owner)
            hit[name] = None if value is None else MASKS[mask](value)
        hits.append(hit)
    return hits


def rule_inputs(
    session: Session,
    ctx: Context,
    keyring: Keyring,
    descriptor: SealedTable,
    row: Any,
    *,
    fields: Sequence[str],
    serving: Action,
    subject: str | None = None,
) -> dict[str, Any]:
    """Values a rule of the service reads, never returned to the caller: the entry names
    the record, the person and the fields (`<table>.<field>`) and the action they serve, and
    is written also when the request then fails (the refusal itself can tell something)."""
    if not ctx.principal.sees_personal_data:
        raise Forbidden("the role never receives personal data")
    record_id = str(getattr(row, descriptor.id_column))
    owner = _owner(descriptor, row, subject)
    event = ctx.event(
        Action.RULE_INPUT,
        targets=tuple(dict.fromkeys((record_id, subject or owner))),
        fields=tuple(f"{descriptor.name}.{name}" for name in fields),
        reason=str(serving),
    )
    ctx.audit.append(session, event)
    ctx.keep_on_failure(event)
    out: dict[str, Any] = {}
    for name in fields:
        value = _open(session, keyring, descriptor, row, name, owner)
        out[name] = json.loads(value) if value is not None and descriptor.field(name).json else value
    return out


def matches(
    session: Session,
    keyring: Keyring,
    descriptor: SealedTable,
    row: Any,
    *,
    field: str,
    expected: str,
    normalise: Callable[[str], str] = lambda value: value,
    subject: str | None = None,
) -> bool:
    """Whether a blind-index candidate's stored value, normalised, equals `expected`: a
    bucket holds other rows too. Only the answer leaves; the caller audits the search."""
    value = _open(session, keyring, descriptor, row, field, _owner(descriptor, row, subject))
    return value is not None and normalise(value) == expected
