"""What a caller should get from a route, derived from the policy table and PRIVACY.md §3.

The access matrix (tests/api/test_access_matrix.py) declares each route as a `Row`: how the
route decides (its `Gate`), the permission it needs, whether scope applies, and the status
once allowed. `expected` restates the rules from the hand-written role matrix
(tests/access/snapshot.py, never `POLICY` itself, so a change to the policy table shows up
here as a mismatch) and a target's facts, in the order
the service applies them: authentication, purpose of use, permission (or compartment),
scope, assignment, exclusion and restriction lists, sealing, break-glass.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import Enum, auto
from typing import Any

from registry.access.policy import Permission, Purpose, Role
from tests.access import snapshot
from tests.support.access_world import KINDS, Casefile, Target, World

P = Permission
CORRECTION = "community_correction"


class Gate(Enum):
    PUBLIC = auto()  # no token needed
    LOGIN = auto()  # the token endpoint: credentials in the form
    ANY = auto()  # any authenticated account (its own MFA and password)
    PERMISSION = auto()  # `perm`, then scope when `scoped`
    CASEFILE_NEW = auto()  # a kind the role may hold (others: the same 404 as nothing), then scope
    CASEFILE_OPEN = auto()  # open the file (404 otherwise); with `perm` True, also the kind's permission
    CASEFILE_LIST = auto()  # lists filter rows; never refused once the purpose is declared
    BREAK_GLASS = auto()  # any file of a kind the role may know of, unless excluded
    LEAVE = auto()  # open the leave's file, then the correction permission
    TRANSFER_ACCEPT = auto()  # the receiving unit in scope, for a role that may know of correction files
    TRANSFER_CANCEL = auto()  # the receiving side, or whoever can open the file (with the permission)
    REPORT = auto()  # a monthly report of the police (`stats:read`, then the department), then scope
    REPORT_READ = auto()  # a stored police report: `stats:read`, then the department and scope (404)


@dataclass(frozen=True)
class Row:
    """One route of the API as the matrix calls it."""

    method: str
    path: str  # the OpenAPI path template
    gate: Gate
    ok: int | Callable[[Target], int]  # the status once every check passes
    family: str = "none"  # which targets fill the path (World.targets)
    perm: Permission | bool | None = None
    scoped: bool = True  # out of the caller's subtree is 404
    purpose: bool = False  # takes X-Purpose (400 when missing or not the role's)
    personal: bool = False  # may answer with personal values
    body: Callable[[World, Target, bool], Any] | None = None  # (world, target, allowed) → JSON
    query: str = ""  # formatted with {t} (the target), {size} (the checkpointed log size), {month} (reported)
    if_match: bool = False  # sends the target's ETag
    fresh: Callable[[World, Target], Target] | None = None  # a like-for-like target, for a call that uses one up
    grants: bool | None = None  # whether a live break-glass grant opens it (None: reads do, writes never)

    @property
    def opens_on_grant(self) -> bool:
        return self.method == "GET" if self.grants is None else self.grants


def permissions(role: Role) -> frozenset[Permission]:
    return snapshot.permissions(role)


def kind_permission(kind: str) -> Permission:
    return Permission(f"casefile:{kind}")


def kinds_known(role: Role) -> set[str]:
    """The casefile kinds a role may learn exist: its own, or every kind for assigned work."""
    if P.CASEFILE_ASSIGNED in permissions(role):
        return set(KINDS)
    return {k for k in KINDS if kind_permission(k) in permissions(role)}


def assigned_only(role: Role) -> bool:
    return P.CASEFILE_ASSIGNED in permissions(role) and not any(kind_permission(k) in permissions(role) for k in KINDS)


def default_purpose(role: Role) -> Purpose | None:
    """The purpose the matrix declares for a role: its first in the catalogue's order."""
    return next((p for p in Purpose if p in snapshot.purposes(role)), None)


def opens(
    world: World, role: Role, cf: Casefile, purpose: Purpose | None, *, grants: bool = True, who: str | None = None
) -> bool:
    """Whether `who` (by default the role's caller) may open `cf` (PRIVACY.md §3 and
    casefiles/access.py's stated order); with `grants` False, as if it held no live grant."""
    if cf.kind not in kinds_known(role):
        return False
    grant = grants and (who or world.callers[role], cf.id) in world.grants
    if not cf.in_scope and not grant and not assigned_only(role):
        return False
    if cf.excluded:  # exclusion beats break-glass
        return False
    needs_grant = (assigned_only(role) and not cf.assigned) or cf.restricted or cf.sealed
    if not needs_grant:
        return True
    return grant and (not cf.sealed or purpose is Purpose.COURT_REQUEST)


def without_token(row: Row) -> int:
    """What a request without a valid token gets: an anonymous one, or one whose token died
    with its account's reset (an administrator's one-time password opens nothing)."""
    if row.gate is not Gate.PUBLIC:
        return 401
    assert isinstance(row.ok, int)
    return row.ok


def outside_view(target: Target) -> Target:
    """A district A record as a caller of district B sees it: out of scope, and none of its
    file's lists (assignment, exclusion: district A callers) name the caller."""
    cf = target.casefile
    seen = None if cf is None else replace(cf, in_scope=False, assigned=False, excluded=False)
    return replace(target, in_scope=False, casefile=seen)


def expected(
    world: World, row: Row, role: Role, target: Target, purpose: Purpose | None, *, who: str | None = None
) -> int:
    """The status `who` (by default the role's caller in district A) gets; `target` as seen
    from `who`'s unit (`outside_view` for a caller of district B)."""
    ok = row.ok(target) if callable(row.ok) else row.ok
    if row.gate in (Gate.PUBLIC, Gate.LOGIN, Gate.ANY):
        return ok
    if row.purpose and (purpose is None or purpose not in snapshot.purposes(role)):
        return 400
    perms = permissions(role)
    cf = target.casefile
    if row.gate is Gate.PERMISSION:
        if row.perm not in perms:
            return 403
        return ok if target.in_scope or not row.scoped else 404
    if row.gate in (Gate.REPORT, Gate.REPORT_READ):
        if P.STATS_READ not in perms:
            return 403
        if role is not Role.POLICE:  # the matrix's reports are the police's
            return 403 if row.gate is Gate.REPORT else 404
        return ok if target.in_scope else 404
    if row.gate is Gate.CASEFILE_NEW:
        if cf.kind not in kinds_known(role) or assigned_only(role):
            return 404
        return ok if cf.in_scope else 404
    # A break-glass grant is read-only: a write is the 404 of no grant (PRIVACY.md §3), and
    # so is a printed document (paper leaves the system).
    reading = row.opens_on_grant
    if row.gate is Gate.CASEFILE_OPEN:
        if not opens(world, role, cf, purpose, grants=reading, who=who):
            return 404
        return 403 if row.perm and kind_permission(cf.kind) not in perms else ok
    if row.gate is Gate.CASEFILE_LIST:
        return ok
    if row.gate is Gate.BREAK_GLASS:
        return 404 if cf.kind not in kinds_known(role) or cf.excluded else ok
    if row.gate is Gate.LEAVE:
        if not opens(world, role, cf, purpose, grants=reading, who=who):
            return 404
        return ok if P.CASEFILE_CORRECTION in perms else 403
    knows_corrections = P.CASEFILE_CORRECTION in perms and not assigned_only(role)
    receiving = knows_corrections and target.receiving_in_scope
    if row.gate is Gate.TRANSFER_ACCEPT:
        return ok if receiving else 404
    if row.gate is Gate.TRANSFER_CANCEL:
        if receiving:
            return ok
        if not opens(world, role, cf, purpose, grants=False, who=who):
            return 404
        return ok if P.CASEFILE_CORRECTION in perms else 403
    raise AssertionError(f"no rule for {row.gate}")


def listed_casefiles(world: World, role: Role, purpose: Purpose | None) -> set[str]:
    """The stock files a list shows: those the role opens without a grant (a grant never
    widens a list)."""
    files = [t.casefile for t in world.targets["casefile"]]
    return {cf.id for cf in files if opens(world, role, cf, purpose, grants=False)}
