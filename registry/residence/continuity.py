"""Continuous residence in the city: where the six-month clock (居住证暂行条例 Art. 2)
starts for a registration. The rule is `rules.residence_since`; this reads its chain.

A move (and an accepted transfer to another unit) links the new registration to the one
it ends through `previous_id`; the chain is walked back from the current registration.
The city is the root of the org-unit tree the dwelling lies in: the dwelling's unit
never changes, while a registration's follows its holder (`transfers.rehome`).
"""

from __future__ import annotations

import uuid
from datetime import date

from sqlmodel import Session, col, select

from registry.access.models import OrgUnit
from registry.residence.models import Dwelling, Registration
from registry.residence.rules import RegistrationStatus, Residence, residence_since

# A chain longer than this is walked no further (a loop in bad data must not hang a request).
MAX_LINKS = 500


def _city(session: Session, dwelling_id: uuid.UUID) -> str:
    path = session.exec(
        select(OrgUnit.path)
        .join(Dwelling, col(Dwelling.org_unit_code) == col(OrgUnit.code))
        .where(Dwelling.id == dwelling_id)
    ).one()
    return path.strip("/").split("/")[0]


def resident_since(session: Session, registration: Registration) -> date:
    """The day the Art. 2 clock started for `registration` (`rules.residence_since`)."""
    links = [Residence(registration.registered_on, registration.status, _city(session, registration.dwelling_id))]
    seen = {registration.id}
    previous_id = registration.previous_id
    while previous_id is not None and previous_id not in seen and len(seen) < MAX_LINKS:
        # Unscoped on purpose: the chain of a registration the caller already opened, the
        # person's own earlier moves; only their dates, states and city feed a derived date.
        earlier = session.get(Registration, previous_id)
        if earlier is None:
            break
        seen.add(earlier.id)
        links.append(Residence(earlier.registered_on, earlier.status, _city(session, earlier.dwelling_id)))
        # Only a move continues the run; nothing before a break can count.
        previous_id = earlier.previous_id if earlier.status == RegistrationStatus.moved else None
    return residence_since(links)
