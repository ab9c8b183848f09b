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


def _cities(session: Session, dwelling_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    rows = session.exec(
        select(Dwelling.id, OrgUnit.path)
        .join(OrgUnit, col(Dwelling.org_unit_code) == col(OrgUnit.code))
        .where(col(Dwelling.id).in_(dwelling_ids))
    ).all()
    return {dwelling_id: path.strip("/").split("/")[0] for dwelling_id, path in rows}


def resident_since(session: Session, registration: Registration) -> date:
    """The day the Art. 2 clock started for `registration` (`rules.residence_since`)."""
    chain = [registration]
    seen = {registration.id}
    previous_id = registration.previous_id
    while previous_id is not None and previous_id not in seen and len(seen) < MAX_LINKS:
        # Unscoped on purpose: the chain of a registration the caller already opened, the
        # person's own earlier moves; only their dates, states and city feed a derived date.
        earlier = session.get(Registration, previous_id)
        if earlier is None:
            break
        seen.add(earlier.id)
        chain.append(earlier)
        # Only a move continues the run; nothing before a break can count.
        previous_id = earlier.previous_id if earlier.status == RegistrationStatus.moved else None
    # A registration that follows none starts its own clock, wherever it lies: the cities are
    # read (in one statement) only when there is a chain to compare them along.
    cities = _cities(session, {r.dwelling_id for r in chain}) if len(chain) > 1 else {registration.dwelling_id: ""}
    return residence_since([Residence(r.registered_on, r.status, cities[r.dwelling_id]) for r in chain])
