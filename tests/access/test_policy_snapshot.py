"""The policy table, held to a literal snapshot of the reviewed role matrix.

`tests/access/snapshot.py` spells out every role's permissions, purposes and access to
personal data, the separated roles and the service roles by hand. These tests compare the
table *and* what the service computes from it (`permissions_of`, `purposes_of`,
`Principal.sees_personal_data`, `check_role_combination`) with that literal, and then
hand-apply every one-element change to the table (a mutant mutmut cannot make: it does not
add or drop the members of a frozenset literal) to show each is noticed.
"""

from __future__ import annotations

import dataclasses
import itertools
import uuid
from collections.abc import Callable

import pytest

from registry.access import policy
from registry.access.policy import Permission, Purpose, Role
from registry.access.principal import Principal
from registry.access.scope import Scope
from registry.errors import RuleViolation
from tests.access.snapshot import ROLE_MATRIX, SEPARATED_ROLES, SERVICE_ROLES
from tests.support import access_model


def _principal(*roles: Role) -> Principal:
    return Principal(uuid.UUID(int=1), "snapshot", "human", frozenset(roles), None, Scope(None))


def _combination_allowed(roles: tuple[Role, ...]) -> bool:
    try:
        policy.check_role_combination(roles)
    except RuleViolation:
        return False
    return True


def differences() -> list[str]:
    """Every way the live policy module departs from the snapshot (empty when it matches)."""
    out: list[str] = []
    table = policy.POLICY
    if {r.value for r in table} != set(ROLE_MATRIX):
        out.append(f"roles: {sorted(r.value for r in table)} != {sorted(ROLE_MATRIX)}")
    for role in Role:
        want = ROLE_MATRIX.get(role.value)
        got = table.get(role)
        if want is None or got is None:
            out.append(f"{role.value}: in only one of the table and the snapshot")
            continue
        for name, have in (
            ("permissions", {p.value for p in got.permissions}),
            ("permissions_of", {p.value for p in policy.permissions_of([role])}),
        ):
            if have != want.permissions:
                out.append(
                    f"{role.value} {name}: +{sorted(have - want.permissions)} -{sorted(want.permissions - have)}"
                )
        for name, have in (
            ("purposes", {p.value for p in got.purposes}),
            ("purposes_of", {p.value for p in policy.purposes_of([role])}),
        ):
            if have != want.purposes:
                extra, missing = sorted(have - want.purposes), sorted(want.purposes - have)
                out.append(f"{role.value} {name}: +{extra} -{missing}")
        if got.personal_data is not want.personal_data or _principal(role).sees_personal_data is not want.personal_data:
            out.append(f"{role.value} personal_data: {got.personal_data} != {want.personal_data}")
    if {r.value for r in policy.SEPARATED_ROLES} != SEPARATED_ROLES:
        out.append(f"SEPARATED_ROLES: {sorted(policy.SEPARATED_ROLES)} != {sorted(SEPARATED_ROLES)}")
    if {r.value for r in policy.SERVICE_ROLES} != SERVICE_ROLES:
        out.append(f"SERVICE_ROLES: {sorted(policy.SERVICE_ROLES)} != {sorted(SERVICE_ROLES)}")
    # Separation of duties as the service applies it: a separated role alone is fine, beside
    # any other role it is refused; other roles combine freely.
    for a, b in itertools.combinations(Role, 2):
        allowed = a.value not in SEPARATED_ROLES and b.value not in SEPARATED_ROLES
        if _combination_allowed((a, b)) is not allowed:
            out.append(f"check_role_combination({a.value}, {b.value}) should {'pass' if allowed else 'refuse'}")
    for role in Role:
        if not _combination_allowed((role,)):
            out.append(f"check_role_combination({role.value}) alone should pass")
    return out


# --- the table as it stands --------------------------------------------------------------


def test_policy_matches_the_snapshot() -> None:
    assert differences() == []


def test_snapshot_covers_every_role_permission_and_purpose() -> None:
    # A permission or purpose that no role holds is a change to review, not a silent extra.
    assert set(ROLE_MATRIX) == {r.value for r in Role}
    assert set().union(*(p.permissions for p in ROLE_MATRIX.values())) == {p.value for p in Permission}
    assert set().union(*(p.purposes for p in ROLE_MATRIX.values())) == {p.value for p in Purpose}


@pytest.mark.parametrize(
    ("roles", "permissions", "purposes", "personal"),
    [
        (
            ("police", "corrections"),
            ROLE_MATRIX["police"].permissions | ROLE_MATRIX["corrections"].permissions,
            ROLE_MATRIX["police"].purposes | ROLE_MATRIX["corrections"].purposes,
            True,
        ),
        (
            ("social_worker", "civil_affairs"),
            ROLE_MATRIX["social_worker"].permissions | ROLE_MATRIX["civil_affairs"].permissions,
            ROLE_MATRIX["social_worker"].purposes | ROLE_MATRIX["civil_affairs"].purposes,
            True,
        ),
        (("verifier",), {"permit:verify"}, {"verification"}, False),
        ((), set(), set(), False),
    ],
    ids=["police+corrections", "social_worker+civil_affairs", "verifier", "none"],
)
def test_several_roles_hold_the_union(
    roles: tuple[str, ...], permissions: set[str], purposes: set[str], personal: bool
) -> None:
    as_roles = [Role(r) for r in roles]
    assert {p.value for p in policy.permissions_of(as_roles)} == permissions
    assert {p.value for p in policy.purposes_of(as_roles)} == purposes
    assert _principal(*as_roles).sees_personal_data is personal
    # A principal asks the same table.
    for permission in Permission:
        assert _principal(*as_roles).can(permission) is (permission.value in permissions)


def test_separation_of_duties() -> None:
    # The detail names the rule: it is what an administrator reads in the 422.
    with pytest.raises(RuleViolation, match=r"^roles: at least one role is required$"):
        policy.check_role_combination([])
    for separated in SEPARATED_ROLES:
        policy.check_role_combination([Role(separated)])
        for other in Role:
            if other.value != separated:
                with pytest.raises(
                    RuleViolation,
                    match=r"^separation_of_duties: admin, security_admin and auditor cannot be combined "
                    r"with each other or with any other role$",
                ):
                    policy.check_role_combination([Role(separated), other])
    policy.check_role_combination([Role.POLICE, Role.CORRECTIONS, Role.SOCIAL_WORKER])
    # Repeating a separated role is still that role alone.
    policy.check_role_combination([Role.AUDITOR, Role.AUDITOR])


# --- hand-applied mutants ------------------------------------------------------------------


Mutant = Callable[[pytest.MonkeyPatch], None]


def _grant(role: Role, **change: object) -> Mutant:
    def apply(monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setitem(policy.POLICY, role, dataclasses.replace(policy.POLICY[role], **change))  # type: ignore[arg-type]

    return apply


def _toggle(items: frozenset[Permission] | frozenset[Purpose], item: Permission | Purpose) -> frozenset:  # type: ignore[type-arg]
    return items - {item} if item in items else items | {item}


def _set_attr(name: str, value: frozenset[Role]) -> Mutant:
    def apply(monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(policy, name, value)

    return apply


def all_mutants() -> dict[str, Mutant]:
    """Every one-element change to the table: each permission and purpose added to or
    dropped from each role, personal data flipped, each role added to or dropped from the
    separated and the service roles, a role missing from the table."""
    mutants: dict[str, Mutant] = {}
    for role in Role:
        current = policy.POLICY[role]
        for permission in Permission:
            sign = "-" if permission in current.permissions else "+"
            mutants[f"{role.value} {sign}{permission.value}"] = _grant(
                role, permissions=_toggle(current.permissions, permission)
            )
        for purpose in Purpose:
            sign = "-" if purpose in current.purposes else "+"
            mutants[f"{role.value} {sign}purpose:{purpose.value}"] = _grant(
                role, purposes=_toggle(current.purposes, purpose)
            )
        mutants[f"{role.value} personal_data={not current.personal_data}"] = _grant(
            role, personal_data=not current.personal_data
        )
        for name in ("SEPARATED_ROLES", "SERVICE_ROLES"):
            roles = getattr(policy, name)
            sign = "-" if role in roles else "+"
            mutants[f"{name} {sign}{role.value}"] = _set_attr(name, roles - {role} if role in roles else roles | {role})

        def drop(monkeypatch: pytest.MonkeyPatch, role: Role = role) -> None:
            monkeypatch.delitem(policy.POLICY, role)

        mutants[f"{role.value} missing"] = drop
    return mutants


# The survivors the review found (issue 12), named so a failure says which.
NAMED = {
    "security_admin +audit:read": _grant(
        Role.SECURITY_ADMIN, permissions=policy.POLICY[Role.SECURITY_ADMIN].permissions | {Permission.AUDIT_READ}
    ),
    "corrections +person:write": _grant(
        Role.CORRECTIONS, permissions=policy.POLICY[Role.CORRECTIONS].permissions | {Permission.PERSON_WRITE}
    ),
    "auditor +person:search": _grant(
        Role.AUDITOR, permissions=policy.POLICY[Role.AUDITOR].permissions | {Permission.PERSON_SEARCH}
    ),
    "verifier personal data": _grant(Role.VERIFIER, personal_data=True),
    "admin may combine": _set_attr("SEPARATED_ROLES", frozenset({Role.SECURITY_ADMIN, Role.AUDITOR})),
    "a human may verify": _set_attr("SERVICE_ROLES", frozenset()),
}


@pytest.mark.parametrize("name", list(NAMED))
def test_named_mutant_is_noticed(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    NAMED[name](monkeypatch)
    assert differences() != []


def test_every_one_element_mutant_is_noticed() -> None:
    mutants = all_mutants()
    # 8 roles × (21 permissions + 8 purposes + personal data + 2 role sets + missing);
    # issue 14 added `person:register`, issue 19 `restore:declare`.
    assert len(mutants) == len(Role) * (len(Permission) + len(Purpose) + 4) == 272
    survivors = []
    for name, apply in mutants.items():
        with pytest.MonkeyPatch.context() as monkeypatch:
            apply(monkeypatch)
            if not differences():
                survivors.append(name)
    assert differences() == []  # every mutant was undone
    assert survivors == []


# --- the access-matrix model reads the snapshot, not the table -----------------------------


def test_access_model_takes_role_powers_from_the_snapshot() -> None:
    # Were the model to read POLICY again, a changed table would change the expectations
    # with it and the matrix could never notice (issue 12).
    assert not hasattr(access_model, "POLICY")
    for role in Role:
        assert {p.value for p in access_model.permissions(role)} == ROLE_MATRIX[role.value].permissions
    with pytest.MonkeyPatch.context() as monkeypatch:
        NAMED["security_admin +audit:read"](monkeypatch)
        assert Permission.AUDIT_READ not in access_model.permissions(Role.SECURITY_ADMIN)
