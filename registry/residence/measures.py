"""What the residence worklists and KPIs count, each defined once (README "KPIs").

- A registration is *in effect* on a day from its arrival until its departure or move
  (the day it ends is no longer counted), once its holding unit has accepted it.
- A rental is *let* on a day when a registration naming it is in effect.
- A rental is *pledged* on a day when its landlord signed the security responsibility
  pledge (租赁房屋治安管理规定 Art. 7) on or before that day.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from sqlmodel import col

from registry.residence.models import Dwelling, Registration
from registry.residence.rules import RegistrationStatus

ACCEPTED = (RegistrationStatus.active, RegistrationStatus.moved, RegistrationStatus.departed)
RENTAL, DORMITORY = "rental", "dormitory"


def in_effect(on: date) -> sa.ColumnElement[bool]:
    return sa.and_(
        col(Registration.status).in_(ACCEPTED),
        col(Registration.arrived_on) <= on,
        sa.or_(col(Registration.departed_on).is_(None), col(Registration.departed_on) > on),
        col(Registration.erased_at).is_(None),
    )


def let_rental(on: date) -> sa.ColumnElement[bool]:
    lived_in = sa.exists().where(col(Registration.dwelling_id) == col(Dwelling.id), in_effect(on))
    return sa.and_(col(Dwelling.kind) == RENTAL, lived_in)


def pledged(on: date) -> sa.ColumnElement[bool]:
    return sa.and_(col(Dwelling.pledge_signed_on).is_not(None), col(Dwelling.pledge_signed_on) <= on)
