"""The status list (IETF Token Status List, `statuslist+jwt`): two bits per issued
credential, a projection of its permit's derived state on the day, signed with the active
issuing key. Verifiers fetch it (or carry a copy) and never ask about a person; the list
is padded so a holder's index says little about when their credential was issued."""

from __future__ import annotations

import secrets
import uuid
import zlib
from collections.abc import Collection
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from registry.credentials import jws, keys
from registry.credentials.models import PermitCredential, StatusListToken
from registry.crypto.keyring import Keyring
from registry.people.models import Person
from registry.residence import permits
from registry.residence.models import Permit
from registry.residence.policy import ResidencePolicy
from registry.residence.rules import PermitStatus

LIST_ID = 1
BITS = 2
VALID, INVALID, SUSPENDED = 0, 1, 2
MIN_ENTRIES = 16_384  # herd privacy: the list never shows how few credentials exist
TTL = timedelta(hours=1)  # how long a verifier may keep a fetched list before fetching again
LIFETIME = timedelta(days=3)  # the list's `exp`: verifiers refuse an older one
REPUBLISH_AFTER = timedelta(hours=12)
LIST_LOCK = 0x4352454453544C53  # pg_advisory_xact_lock key: "CREDSTLS"
TYP = "statuslist+jwt"


def uri(issuer: str) -> str:
    return f"{issuer.rstrip('/')}/credentials/status-lists/{LIST_ID}"


def status_of(view_status: PermitStatus, erased: bool) -> int:
    """The one mapping from a permit's derived state to a credential's status."""
    if erased or view_status not in (PermitStatus.issued, PermitStatus.suspended):
        return INVALID  # cancelled on departure or by decision, or the person erased
    return SUSPENDED if view_status is PermitStatus.suspended else VALID


def lock(session: Session) -> None:
    """One writer of the list at a time (PostgreSQL; SQLite has one writer anyway): two
    permit steps at once must not each publish a list that misses the other's change."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(sa.select(sa.func.pg_advisory_xact_lock(LIST_LOCK)))


def size_for(count: int) -> int:
    """Entries in the list: at least MIN_ENTRIES and at least twice those in use, so a new
    credential's random place is found in a few draws and the length hides the count."""
    size = MIN_ENTRIES
    while size < 2 * (count + 1):
        size *= 2
    return size


def allocate(session: Session) -> int:
    """A random free place (places in issuance order would date each credential)."""
    lock(session)
    used = set(session.exec(select(PermitCredential.status_index)).all())
    size = size_for(len(used))
    while True:
        index = secrets.randbelow(size)
        if index not in used:
            return index


def _permit_status(session: Session, policy: ResidencePolicy, permit_id: uuid.UUID, on: date) -> int:
    permit = session.get(Permit, permit_id)
    person = session.get(Person, permit.person_id) if permit is not None else None
    if permit is None or person is None or person.erased_at is not None or permit.erased_at is not None:
        return INVALID
    return status_of(permits.view(session, permit, policy, on=on).status, erased=False)


def _write(packed: bytearray, index: int, value: int) -> None:
    shift = (index * BITS) % 8
    packed[index * BITS // 8] = (packed[index * BITS // 8] & ~(((1 << BITS) - 1) << shift)) | (value << shift)


def statuses(
    session: Session,
    policy: ResidencePolicy,
    *,
    on: date,
    start: bytes | None = None,
    only: Collection[uuid.UUID] | None = None,
) -> bytes:
    """The packed list: entry i in bits 2i..2i+1 of byte i//4 (least significant first).
    With `start` and `only`, the stored list with just those permits' entries recomputed
    (a permit step); otherwise every entry (the daily sweep: the calendar moved)."""
    query = select(PermitCredential.status_index, PermitCredential.permit_id)
    if only is not None and start is not None:
        query = query.where(col(PermitCredential.permit_id).in_(list(only)))
    rows = session.exec(query).all()
    count = session.exec(select(sa.func.count()).select_from(PermitCredential)).one()
    size = size_for(int(count))
    packed = bytearray((size * BITS + 7) // 8)
    if only is not None and start is not None:
        packed[: len(start)] = start[: len(packed)]
    seen: dict[uuid.UUID, int] = {}
    for index, permit_id in rows:
        if permit_id not in seen:
            seen[permit_id] = _permit_status(session, policy, permit_id, on)
        _write(packed, index, seen[permit_id])
    return bytes(packed)


def read(packed: bytes, index: int) -> int:
    return (packed[index * BITS // 8] >> ((index * BITS) % 8)) & ((1 << BITS) - 1)


def publish(
    session: Session,
    keyring: Keyring,
    policy: ResidencePolicy,
    *,
    issuer: str,
    now: datetime,
    permits_changed: Collection[uuid.UUID] | None = None,
) -> bool:
    """Sign and store the list when what it says changed, or when it is half a day old
    (it lives three days, so a late daily sweep never leaves verifiers without one).
    `permits_changed`: only those permits' entries are recomputed. True when published."""
    lock(session)
    stored = session.get(StatusListToken, LIST_ID)
    if stored is None and session.exec(select(PermitCredential.status_index).limit(1)).first() is None:
        return False  # no credential yet: nothing to say, and no key made for it
    start = stored.statuses if stored is not None else None
    packed = statuses(session, policy, on=now.date(), start=start, only=permits_changed)
    fresh = stored is not None and stored.published_at + REPUBLISH_AFTER > now
    if stored is not None and stored.statuses == packed and fresh:
        return False
    row, sign = keys.active(session, keyring, now=now)
    claims = {
        "sub": uri(issuer),
        "iat": int(now.timestamp()),
        "exp": int((now + LIFETIME).timestamp()),
        "ttl": int(TTL.total_seconds()),
        "status_list": {"bits": BITS, "lst": keys.b64url(zlib.compress(packed, 9))},
    }
    token = jws.jwt({"typ": TYP, "kid": row.kid}, claims, sign)
    if stored is None:
        stored = StatusListToken(id=LIST_ID, token=token, statuses=packed, published_at=now)
    else:
        stored.token, stored.statuses, stored.published_at = token, packed, now
    session.add(stored)
    return True


def current(session: Session) -> str | None:
    stored = session.get(StatusListToken, LIST_ID)
    return stored.token if stored is not None else None
