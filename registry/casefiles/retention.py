"""Retention rules (PIPL Art. 19, 47; DOMAIN.md Retention): what is due for a record on a day.
Pure: the retention run (elsewhere) reads the dates, asks here, and seals or crypto-shreds.

Interpretations of the DOMAIN.md table, each a setting in `RetentionPolicy`:
- "X + n years" is due on the n-th anniversary of X (Feb 29 → Feb 28 in a common year);
  "X + n days" on day X + n.
- Casefile rows are cumulative: every casefile follows the adult row (sealed `closed_on`
  + 5 years, erased `closed_on` + 30 years), and the minor and drug rows can only bring the
  sealing earlier. Erasure outranks sealing: an erased file needs no seal.
- Minor: sealed from `discharged_on` + 3 days. The law asks for sealing *within* 3 days of
  discharge (社区矫正法 Art. 54, 刑诉法 Art. 286); the 3 days leave the office time for the
  discharge notices (社区矫正法 Art. 44), and a daily run seals on the last allowed day at
  the latest. A minor's file that ends otherwise (revoked, deceased, closed) is sealed 3
  days after `closed_on`: the protection of a minor's identity does not depend on how the
  supervision ended.
- Drug rehabilitation: sealed 3 years after discharge without relapse. `relapse_free_since`
  is the day after the latest relapse (or None if none was recorded); the 3 years count
  from the later of it and `discharged_on`. A file terminated rather than discharged
  follows the adult row.
- `closed_on` is the day the file's closure was approved by the supervising level
  (`registry.casefiles.closures`), never a date the closing request declared: a closure
  back-dated to before the file existed must not start a clock that has already run out
  (issue 13). Until approval the file is open and kept. When only `discharged_on` is
  given it serves as `closed_on`. An open file (neither date) is kept.
- A legal hold suspends erasure: while it is on, nothing is erased. Sealing still happens
  (it destroys nothing, and Art. 54 seals a minor's file within 3 days regardless). The hold
  pauses actions, not the dates: when it is lifted, whatever fell due meanwhile is due at
  once (the shorter reading, which favours the data subject).
- Residence registrations and permits are erased 5 years after `departed_on` /
  `cancelled_on`; an active record is kept.
- An identity is erased when none of its records is left (`registry.people.retention`);
  one that never had a record, `person_unlinked_days` after it was registered.
- Holds cover persons, residence records and files alike (`registry.people.holds`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from registry.casefiles.workflows.common import Kind, add_years
from registry.errors import ConfigurationError

Due = Literal["keep", "seal", "erase"]
ErasureDue = Literal["keep", "erase"]


@dataclass(frozen=True)
class RetentionPolicy:
    registration_erase_years: int = 5  # departed + 5 years → erased
    permit_erase_years: int = 5  # cancelled + 5 years → erased
    casefile_seal_years: int = 5  # adult casefile: closed + 5 years → sealed
    casefile_erase_years: int = 30  # … erased after 30 years
    minor_seal_days: int = 3  # minor: discharged + 3 days → sealed
    drug_relapse_free_years: int = 3  # drug rehabilitation: discharged + 3 years without relapse → sealed
    person_unlinked_days: int = 30  # an identity with no record of any kind left → erased (registry.people.retention)

    def __post_init__(self) -> None:
        if min(self.registration_erase_years, self.permit_erase_years, self.casefile_seal_years) < 1:
            raise ConfigurationError("retention: periods must be at least one year")
        if not 0 <= self.minor_seal_days <= 3:
            raise ConfigurationError("retention: a minor's casefile is sealed within 3 days (社区矫正法 Art. 54)")
        if self.person_unlinked_days < 1:
            raise ConfigurationError("retention: person_unlinked_days must be at least one")
        if self.drug_relapse_free_years < 1:
            raise ConfigurationError("retention: drug_relapse_free_years must be at least one")
        if self.casefile_erase_years < self.casefile_seal_years:
            raise ConfigurationError("retention: casefile_erase_years must not be shorter than casefile_seal_years")


DEFAULT_POLICY = RetentionPolicy()


def casefile_seal_on(
    kind: Kind | str,
    *,
    minor: bool,
    closed_on: date | None,
    discharged_on: date | None,
    relapse_free_since: date | None,
    policy: RetentionPolicy = DEFAULT_POLICY,
) -> date | None:
    """The first day a closed casefile is due for sealing (None while it is open)."""
    ended_on = closed_on or discharged_on
    if ended_on is None:
        return None
    candidates = [add_years(ended_on, policy.casefile_seal_years)]
    if minor:
        candidates.append((discharged_on or ended_on) + timedelta(days=policy.minor_seal_days))
    if Kind(kind) is Kind.drug_rehabilitation and discharged_on is not None:
        clean_from = max(discharged_on, relapse_free_since or discharged_on)
        candidates.append(add_years(clean_from, policy.drug_relapse_free_years))
    return min(candidates)


def casefile_erase_on(
    *, closed_on: date | None, discharged_on: date | None, policy: RetentionPolicy = DEFAULT_POLICY
) -> date | None:
    ended_on = closed_on or discharged_on
    return None if ended_on is None else add_years(ended_on, policy.casefile_erase_years)


def casefile_due(
    kind: Kind | str,
    *,
    minor: bool,
    closed_on: date | None,
    discharged_on: date | None,
    relapse_free_since: date | None,
    legal_hold: bool,
    today: date,
    policy: RetentionPolicy = DEFAULT_POLICY,
) -> Due:
    """`keep`, `seal` or `erase` for a casefile on `today` (idempotent: a sealed file that is
    still only due for sealing answers `seal` again). A legal hold stops erasure, never
    sealing: sealing keeps every value and only narrows who reads it, and a minor's file must
    be sealed within 3 days whatever else applies (社区矫正法 Art. 54)."""
    erase_on = casefile_erase_on(closed_on=closed_on, discharged_on=discharged_on, policy=policy)
    if not legal_hold and erase_on is not None and today >= erase_on:
        return "erase"
    seal_on = casefile_seal_on(
        kind,
        minor=minor,
        closed_on=closed_on,
        discharged_on=discharged_on,
        relapse_free_since=relapse_free_since,
        policy=policy,
    )
    return "seal" if seal_on is not None and today >= seal_on else "keep"


def _erasure(ended_on: date | None, years: int, today: date, legal_hold: bool) -> ErasureDue:
    if legal_hold or ended_on is None:
        return "keep"
    return "erase" if today >= add_years(ended_on, years) else "keep"


def registration_due(
    departed_on: date | None, today: date, *, legal_hold: bool = False, policy: RetentionPolicy = DEFAULT_POLICY
) -> ErasureDue:
    """A departed residence registration is erased (crypto-shredded) 5 years after departure."""
    return _erasure(departed_on, policy.registration_erase_years, today, legal_hold)


def permit_due(
    cancelled_on: date | None, today: date, *, legal_hold: bool = False, policy: RetentionPolicy = DEFAULT_POLICY
) -> ErasureDue:
    """A cancelled residence permit is erased 5 years after cancellation."""
    return _erasure(cancelled_on, policy.permit_erase_years, today, legal_hold)
