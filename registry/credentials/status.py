"""The status list (IETF Token Status List, `statuslist+jwt`): two bits per issued
credential, a projection of its permit's derived state on the day, signed with the active
issuing key. Verifiers fetch it (or carry a copy) and never ask about a person; the list
is padded so a holder's index says little about when their credential was issued."""

from __future__ import annotations

import zlib
from datetime import date, datetime, timedelta

import jwt
from sqlmodel import Session, col, select

from registry.credentials import keys
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
TYP = "statuslist+jwt"


def uri(issuer: str) -> str:
    return f"{issuer.rstrip('/')}/credentials/status-lists/{LIST_ID}"


def status_of(view_status: PermitStatus, erased: bool) -> int:
    """The one mapping from a permit's derived state to a credential's status."""
    if erased or view_status not in (PermitStatus.issued, PermitStatus.suspended):
        return INVALID  # cancelled on departure or by decision, or the person erased
    return SUSPENDED if view_status is PermitStatus.suspended else VALID


def statuses(session: Session, policy: ResidencePolicy, *, on: date) -> bytes:
    """The packed list: entry i in bits 2i..2i+1 of byte i//4 (least significant first)."""
    rows = list(session.exec(select(PermitCredential).order_by(col(PermitCredential.status_index))))
    size = max(MIN_ENTRIES, (rows[-1].status_index + 1) if rows else 0)
    packed = bytearray((size * BITS + 7) // 8)
    seen: dict[object, int] = {}
    for row in rows:
        if row.permit_id not in seen:
            permit = session.get(Permit, row.permit_id)
            person = session.get(Person, permit.person_id) if permit is not None else None
            erased = permit is None or person is None or person.erased_at is not None or permit.erased_at is not None
            view_status = permits.view(session, permit, policy, on=on).status if permit is not None else None
            seen[row.permit_id] = status_of(view_status or PermitStatus.cancelled, erased)
        value = seen[row.permit_id]
        index = row.status_index
        packed[index * BITS // 8] |= value << ((index * BITS) % 8)
    return bytes(packed)


def read(packed: bytes, index: int) -> int:
    return (packed[index * BITS // 8] >> ((index * BITS) % 8)) & ((1 << BITS) - 1)


def publish(
    session: Session, keyring: Keyring, policy: ResidencePolicy, *, issuer: str, now: datetime, force: bool = False
) -> bool:
    """Sign and store the list when what it says changed, or when it nears its expiry.
    True when a new token was published."""
    stored = session.get(StatusListToken, LIST_ID)
    if stored is None and session.exec(select(PermitCredential.status_index).limit(1)).first() is None:
        return False  # no credential yet: nothing to say, and no key made for it
    packed = statuses(session, policy, on=now.date())
    fresh = stored is not None and stored.published_at + TTL * 12 > now
    if stored is not None and stored.statuses == packed and fresh and not force:
        return False
    row, private = keys.active(session, keyring, now=now)
    claims = {
        "sub": uri(issuer),
        "iat": int(now.timestamp()),
        "exp": int((now + TTL * 24).timestamp()),
        "ttl": int(TTL.total_seconds()),
        "status_list": {"bits": BITS, "lst": keys.b64url(zlib.compress(packed, 9))},
    }
    token = jwt.encode(claims, private, algorithm="EdDSA", headers={"typ": TYP, "kid": row.kid})
    if stored is None:
        stored = StatusListToken(id=LIST_ID, token=token, statuses=packed, published_at=now)
    else:
        stored.token, stored.statuses, stored.published_at = token, packed, now
    session.add(stored)
    return True


def current(session: Session) -> str | None:
    stored = session.get(StatusListToken, LIST_ID)
    return stored.token if stored is not None else None
