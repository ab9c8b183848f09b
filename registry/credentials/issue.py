"""Issuing the permit credential: an SD-JWT VC (`dc+sd-jwt`, EdDSA) whose signed part holds
no personal value in clear, only the city, the validity and the status list entry; the
holder's name, ID number, residence year and permit number are salted digests, each
disclosed only when the holder chooses (the ID number is what binds the credential to the
identity card shown: a partner compares the disclosed value with the card). Reading what
goes into it is a disclosure like any other: audited, naming the fields."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sd_jwt.common import SDObj
from sd_jwt.holder import SDJWTHolder
from sqlmodel import Session

from registry.access.policy import Permission
from registry.audit.actions import Action
from registry.context import Context
from registry.credentials import keys, status
from registry.credentials.jws import SignedBy
from registry.credentials.models import PermitCredential
from registry.crypto.keyring import Keyring
from registry.disclosure import disclose
from registry.errors import Conflict, Forbidden
from registry.people.models import PERSON
from registry.people.service import get_person
from registry.residence import permits
from registry.residence.continuity import resident_since
from registry.residence.models import PERMIT, Registration
from registry.residence.policy import ResidencePolicy
from registry.residence.rules import PermitStatus

VCT = "urn:registry:residence-permit:1"
TYP = "dc+sd-jwt"
# What the holder may choose to disclose; everything else in the credential is plain.
DISCLOSABLE = ("name", "id_number", "resident_since_year", "permit_no")


@dataclass(frozen=True)
class Issued:
    credential: str  # the issuance: the signed part and every disclosure (the holder's copy)
    presentation: str  # the signed part and the chosen disclosures (what the QR carries)
    status_index: int
    kid: str
    expires_at: datetime


def _day(moment: datetime) -> datetime:
    return datetime.combine(moment.date(), time.min, tzinfo=UTC)


def _expiry(valid_until: date, now: datetime) -> datetime:
    """The first of the month the permit's validity runs out in (a day, or an issue date
    read back from `exp`, would single its holder out), else the day after it runs out."""
    first = datetime(valid_until.year, valid_until.month, 1, tzinfo=UTC)
    end = datetime.combine(valid_until + timedelta(days=1), time.min, tzinfo=UTC)
    return min(first if first > now + timedelta(days=7) else end, now + keys.LONGEST_LIFE)


def issue_permit_credential(
    session: Session,
    ctx: Context,
    keyring: Keyring,
    policy: ResidencePolicy,
    *,
    permit_id: uuid.UUID,
    disclose_now: tuple[str, ...],
    issuer: str,
) -> Issued:
    ctx.principal.require(Permission.PERMIT_APPLY)  # the service point that hands permits over
    permit = permits.get_permit(session, ctx.principal.scope, permit_id=permit_id)
    now = ctx.clock.now()
    view = permits.view(session, permit, policy, on=now.date())
    if view.status is not PermitStatus.issued or view.state is None:
        raise Conflict(
            f"credential: only a permit in force is carried (this one is {view.status}; endorse a suspended one "
            "first, 居住证暂行条例 Art. 14)",
            targets=(str(permit.id),),
        )
    person = get_person(session, ctx.principal.scope, person_id=permit.person_id)
    subject, also = str(person.id), (str(permit.id),)
    index = status.allocate(session)
    chosen = ",".join(c for c in disclose_now if c in DISCLOSABLE) or "none"
    why = f"credential at status index {index}; shown in the QR: {chosen}"
    who = disclose(
        session, ctx, keyring, PERSON, person, action=Action.CREDENTIAL_ISSUE, subject=subject, also=also,
        only=("name", "id_number"), reason=why,
    )  # fmt: skip
    number = disclose(
        session, ctx, keyring, PERMIT, permit, action=Action.CREDENTIAL_ISSUE, subject=subject,
        only=("permit_no",), reason=why,
    )  # fmt: skip
    values = {"name": who.get("name"), "id_number": who.get("id_number"), "permit_no": number.get("permit_no")}
    if any(not isinstance(v, str) or "*" in v for v in values.values()):
        raise Forbidden("credential: the holder's identity is not fully visible to you", targets=also)
    registration = session.get(Registration, permit.registration_id)
    assert registration is not None
    expires_at = _expiry(view.state.valid_until, now)
    row, sign = keys.active(session, keyring, now=now)
    claims: dict[Any, Any] = {
        "iss": issuer,
        "vct": VCT,
        "iat": int(_day(now).timestamp()),  # the day, not the second
        "exp": int(expires_at.timestamp()),
        "region": permit.org_unit_code[:4] + "00",  # the city that issued it: no one's data
        "status": {"status_list": {"idx": index, "uri": status.uri(issuer)}},
        SDObj("name"): values["name"],
        SDObj("id_number"): values["id_number"],
        SDObj("resident_since_year"): resident_since(session, registration).year,
        SDObj("permit_no"): values["permit_no"],
    }
    signer = SignedBy(claims, sign, header={"typ": TYP, "kid": row.kid})
    session.add(
        PermitCredential(status_index=index, permit_id=permit.id, kid=row.kid, issued_at=now, expires_at=expires_at)
    )
    session.flush()
    status.publish(session, keyring, policy, issuer=issuer, now=now, permits_changed={permit.id})
    return Issued(
        credential=signer.sd_jwt_issuance,
        presentation=present(signer.sd_jwt_issuance, disclose_now),
        status_index=index,
        kid=row.kid,
        expires_at=expires_at,
    )


def present(issuance: str, chosen: tuple[str, ...]) -> str:
    """The holder's presentation: the signed part and only the chosen disclosures. What
    binds it to the person showing it is the disclosed ID number, compared with the card;
    a salted hash of the number would not hide it (its few unknowns are searched in
    minutes), so none is offered."""
    holder = SDJWTHolder(issuance)
    holder.create_presentation({claim: True for claim in chosen if claim in DISCLOSABLE}, None, None, None)
    return str(holder.sd_jwt_presentation)
