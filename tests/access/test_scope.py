"""The scope filter of a by-id lookup lives in a statement built once per model and scope
(`one_in_scope`, `get_org_unit`): a statement built for one caller's subtree never answers
for another's, whichever was asked first."""

from __future__ import annotations

import pytest
from sqlmodel import select

from registry.access.models import OrgUnit
from registry.access.scope import Scope, get_org_unit, one_in_scope
from registry.db import transaction
from registry.demo import DEMO_ROOT, seed
from registry.errors import NotFound
from registry.people.models import Person
from registry.residence.models import Registration


def test_a_by_id_statement_answers_only_for_its_own_scope(runtime):
    seed(runtime, persons=6, seed=3)
    with transaction(runtime.engine) as session:
        paths = {u.code: u.path for u in session.exec(select(OrgUnit))}
        people = list(session.exec(select(Person)))
        registrations = list(session.exec(select(Registration)))
        held = {p.org_unit_code for p in people}
        assert len(held) >= 2, "the seed spread its persons over at least two units"
        for person in people:
            own = Scope(paths[person.org_unit_code])
            other = next(Scope(paths[c]) for c in held if not paths[person.org_unit_code].startswith(paths[c]))
            # Asked in both orders and twice: the cache holds one statement per scope.
            for scope, found in ((own, True), (other, False), (Scope(None), True), (other, False), (own, True)):
                for lock in (False, True):
                    row = session.exec(one_in_scope(Person, scope, lock=lock), params={"id": person.id}).first()
                    assert (row is not None) is found, (scope, lock)
                    assert row is None or row.id == person.id
        for registration in registrations:
            own = Scope(paths[registration.org_unit_code])
            found = session.exec(one_in_scope(Registration, own), params={"id": registration.id}).first()
            assert found is not None and found.id == registration.id
        # A unit in scope is found, one outside is the 404 of no unit.
        some = people[0].org_unit_code
        assert get_org_unit(session, Scope(paths[DEMO_ROOT]), code=some).code == some
        outside = next(c for c in held if not paths[c].startswith(paths[some]))
        with pytest.raises(NotFound):
            get_org_unit(session, Scope(paths[some]), code=outside)
        assert get_org_unit(session, Scope(paths[outside]), code=outside).code == outside
