"""The account seal: an HMAC over the columns that say who an account is and what it may do.

Someone with the database file (or the service's PostgreSQL role) could otherwise give an
account roles, a unit, a password hash or a cleared second factor that nobody granted.
The MAC key is a blind-index key (`Keyring.index_key`, HKDF from the index root, which
the key provider's KEK wraps): the database alone cannot make a seal. The seal binds the
account id and the root version; login and every token use check it (`intact`).

Every writer goes through `seal`, and none can forget: a flush that changes a column of
`SEALED` on an account reseals it (`_reseal_on_flush`), with the keyring registered for
the session's engine (`use`, by `open_runtime` and `registry init`); no keyring, no write.
"""

from __future__ import annotations

import base64
import json
import uuid
import weakref
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives import constant_time
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col, select

from registry.access.models import AccountApproval, UserAccount
from registry.audit.actions import Action
from registry.audit.log import AuditTrail, Event
from registry.audit.models import AuditEntry
from registry.clock import Clock
from registry.crypto.keyring import Keyring, LiveRoot, RootRef
from registry.crypto.models import IndexRootKey
from registry.db import transaction
from registry.errors import IntegrityFailure

# The security columns, described once: what the seal covers. Not the lockout counters
# (they change on every failed attempt and grant nothing), nor the display name. `sex`
# is read by the correction-team rule; the last TOTP step guards against a code's replay.
SEALED = (
    "kind",
    "username",
    "roles",
    "org_unit_code",
    "status",
    "sex",
    "password_hash",
    "client_id",
    "token_version",
    "totp_secret_wrapped",
    "totp_enabled",
    "totp_last_step",
    "password_change_required",
    "created_by",
    "makers",
)
_TABLE, _FIELD = "user_account", "security_seal"
# A dual-control request: everything a decision rests on (`approvals.claim` checks it).
APPROVAL_SEALED = (
    "action",
    "status",
    "account_id",
    "org_unit_code",
    "payload",
    "target_version",
    "requested_by",
    "requested_at",
    "expires_at",
    "decided_by",
    "decided_at",
)
_APPROVAL_TABLE, _APPROVAL_FIELD = "account_approval", "security_seal"
_FORMAT = 1
# The audit entry (action system:init) that says existing accounts were sealed once.
SEALS_INITIALISED = "account_seals_initialised"


def columns() -> list[sa.ColumnElement[Any]]:
    """What a check needs, as plain columns: the id, every sealed column and the seal."""
    table = UserAccount.__table__  # type: ignore[attr-defined]
    return [table.c[name] for name in ("id", *SEALED, "security_seal", "seal_version")]


def _plain(value: object) -> object:
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, list):  # roles, makers: a set, whatever order was stored
        return sorted(str(v) for v in value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    return value


def _message(account_id: object, version: int, values: Mapping[str, Any]) -> bytes:
    body = json.dumps({name: _plain(values[name]) for name in SEALED}, sort_keys=True, separators=(",", ":"))
    return f"registry|account-seal|{_FORMAT}|{account_id}|{version}|".encode() + body.encode()


def _newest_root(session: Session, keyring: Keyring) -> LiveRoot:
    # The newest live root, `writing` during an index rotation: what a rotation keeps.
    roots = keyring.index_roots(session)
    if not roots:
        raise IntegrityFailure("account seal: no index root key (run `registry init`)")
    return roots[-1]


def _mac(keyring: Keyring, root: LiveRoot | RootRef, account_id: object, values: Mapping[str, Any]) -> bytes:
    key = keyring.index_key(root, table=_TABLE, field=_FIELD)
    return key.mac(_message(account_id, root.version, values))


def seal(session: Session, keyring: Keyring, account: UserAccount) -> None:
    """The one writer of `security_seal`."""
    with session.no_autoflush:
        root = _newest_root(session, keyring)
        values = {name: getattr(account, name) for name in SEALED}
        account.security_seal = _mac(keyring, root, account.id, values)
        account.seal_version = root.version


def intact(session: Session, keyring: Keyring, row: Mapping[str, Any]) -> bool:
    """Whether a row (`columns()`, or an account's attributes) carries a seal this
    deployment's key made over exactly these values."""
    stored, version = row["security_seal"], row["seal_version"]
    if stored is None or version is None:
        return False
    root = next((r for r in keyring.index_roots(session) if r.version == version), None)
    if root is None:
        return False
    return constant_time.bytes_eq(_mac(keyring, root, row["id"], row), bytes(stored))


def columns_with_root() -> list[sa.ColumnElement[Any]]:
    """`columns()` and the wrapped index root its seal names (None when that root is gone or
    retired): a token's check in the one statement that loads the account (`row_intact`)."""
    root = IndexRootKey.__table__  # type: ignore[attr-defined]
    live = sa.and_(root.c.version == UserAccount.__table__.c.seal_version, root.c.status != "retired")  # type: ignore[attr-defined]
    wrapped = sa.select(root.c.wrapped).where(live).scalar_subquery().label("seal_root_wrapped")
    return [*columns(), wrapped]


def row_intact(keyring: Keyring, row: Mapping[str, Any]) -> bool:
    """`intact` for a row of `columns_with_root()`: the same check, without a second query."""
    stored, version, wrapped = row["security_seal"], row["seal_version"], row["seal_root_wrapped"]
    if stored is None or version is None or wrapped is None:
        return False
    root = RootRef(version=version, wrapped=bytes(wrapped))
    return constant_time.bytes_eq(_mac(keyring, root, row["id"], row), bytes(stored))


def account_intact(session: Session, keyring: Keyring, account: UserAccount) -> bool:
    names = ("id", *SEALED, "security_seal", "seal_version")
    return intact(session, keyring, {name: getattr(account, name) for name in names})


# -- dual-control requests: the same seal, over the request's columns ------------------------


def _approval_mac(keyring: Keyring, root: LiveRoot, approval: AccountApproval) -> bytes:
    values = {name: _plain(getattr(approval, name)) for name in APPROVAL_SEALED}
    body = json.dumps(values, sort_keys=True, separators=(",", ":"))
    message = f"registry|approval-seal|{_FORMAT}|{approval.id}|{root.version}|".encode() + body.encode()
    return keyring.index_key(root, table=_APPROVAL_TABLE, field=_APPROVAL_FIELD).mac(message)


def seal_approval(session: Session, keyring: Keyring, approval: AccountApproval) -> None:
    """The one writer of a request's seal: at the request, at its decision, at its expiry."""
    with session.no_autoflush:
        root = _newest_root(session, keyring)
        approval.security_seal = _approval_mac(keyring, root, approval)
        approval.seal_version = root.version


def approval_intact(session: Session, keyring: Keyring, approval: AccountApproval) -> bool:
    stored, version = approval.security_seal, approval.seal_version
    if stored is None or version is None:
        return False
    root = next((r for r in keyring.index_roots(session) if r.version == version), None)
    if root is None:
        return False
    return constant_time.bytes_eq(_approval_mac(keyring, root, approval), bytes(stored))


# -- the keyring of each engine, and the flush hook -----------------------------------------

_keyrings: weakref.WeakKeyDictionary[Engine, Keyring] = weakref.WeakKeyDictionary()


def use(engine: Engine, keyring: Keyring) -> None:
    """Sessions on `engine` seal accounts with `keyring` (`open_runtime`, `registry init`)."""
    _keyrings[engine] = keyring


def keyring_of(session: Session) -> Keyring:
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    keyring = _keyrings.get(engine)
    if keyring is None:
        raise IntegrityFailure("account seal: no key for this database (open it through `open_runtime`)")
    return keyring


def _changed(account: UserAccount) -> bool:
    state = sa.inspect(account)
    return state.pending or any(state.attrs[name].history.has_changes() for name in SEALED)


@event.listens_for(OrmSession, "before_flush")
def _reseal_on_flush(session: OrmSession, flush_context: object, instances: object) -> None:
    changed = [o for o in (*session.new, *session.dirty) if isinstance(o, UserAccount) and _changed(o)]
    if not changed:
        return
    assert isinstance(session, Session)
    keyring = keyring_of(session)
    for account in changed:
        seal(session, keyring, account)


# -- once: existing accounts; and after an index rotation -----------------------------------


def initialise_once(engine: Engine, keyring: Keyring, clock: Clock) -> int:
    """Seal accounts that have no seal yet (rows from before migration 0018), once per
    database: only while the audit log has no entry saying it was done (appended now) and
    no account carries a seal. Either fact closes the window for good: deleting the entry
    does not reopen it while any sealed account exists, and sealed accounts exist from the
    first `registry init` or start on. An account unsealed after that is refused, never
    sealed. Returns how many were sealed."""
    with transaction(engine) as session:
        done = session.exec(
            select(AuditEntry.id)
            .where(AuditEntry.action == Action.SYSTEM_INIT, AuditEntry.reason == SEALS_INITIALISED)
            .limit(1)
        ).first()
        if done is not None:
            return 0
        sealed = session.exec(select(UserAccount.id).where(col(UserAccount.security_seal).is_not(None)).limit(1))
        if sealed.first() is not None:
            # A new database (its first account was sealed as it was written): closed now.
            AuditTrail(clock).append(session, Event(Action.SYSTEM_INIT, reason=SEALS_INITIALISED))
            return 0
        unsealed = list(session.exec(select(UserAccount).where(col(UserAccount.security_seal).is_(None))))
        for account in unsealed:
            seal(session, keyring, account)
        for approval in session.exec(select(AccountApproval).where(col(AccountApproval.security_seal).is_(None))):
            seal_approval(session, keyring, approval)
        targets = tuple(sorted(str(a.id) for a in unsealed))
        AuditTrail(clock).append(session, Event(Action.SYSTEM_INIT, targets=targets, reason=SEALS_INITIALISED))
        return len(unsealed)


def reseal_accounts(engine: Engine, keyring: Keyring, *, batch: int = 500) -> tuple[int, list[str]]:
    """For an index rotation: reseal every account under the newest live root, once that
    root exists (`writing`) and before older roots are retired (their seals would then
    fail). A seal that does not verify is left broken, never laundered. Returns (resealed,
    ids of accounts whose seal was already broken)."""
    resealed, broken = 0, list[str]()
    last: uuid.UUID | None = None
    while True:
        with transaction(engine) as session:
            query = select(UserAccount).order_by(col(UserAccount.id)).limit(batch).with_for_update()
            if last is not None:
                query = query.where(col(UserAccount.id) > last)
            accounts = list(session.exec(query))
            if not accounts:
                broken += _reseal_approvals(session, keyring)
                return resealed, broken
            newest = _newest_root(session, keyring).version
            for account in accounts:
                if account.seal_version == newest:
                    continue
                if not account_intact(session, keyring, account):
                    broken.append(str(account.id))
                    continue
                seal(session, keyring, account)
                resealed += 1
            last = accounts[-1].id


def _reseal_approvals(session: Session, keyring: Keyring) -> list[str]:
    # Requests, too (few: pending ones and their history); a broken one stays broken.
    newest, broken = _newest_root(session, keyring).version, list[str]()
    for approval in session.exec(select(AccountApproval).where(col(AccountApproval.seal_version) != newest)):
        if approval_intact(session, keyring, approval):
            seal_approval(session, keyring, approval)
        else:
            broken.append(str(approval.id))
    return broken


def broken_seals(session: Session, keyring: Keyring, accounts: Iterable[UserAccount]) -> list[str]:
    """Ids of accounts whose seal does not verify (for a check or a test)."""
    return [str(a.id) for a in accounts if not account_intact(session, keyring, a)]
