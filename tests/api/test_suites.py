"""The SM4 suite end to end, and the suite fixed once chosen."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from registry.api.app import create_app
from registry.bootstrap import initialise
from registry.crypto.suites import Suite
from registry.errors import ConfigurationError
from registry.people.synthetic import SyntheticPeople
from registry.runtime import open_runtime
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user

REG = {"X-Purpose": "registration"}


def test_sm4_suite_end_to_end_and_suite_cannot_change(settings, clock):
    result = initialise(settings, clock=clock, suite=Suite.SM4GCM)
    runtime = open_runtime(settings, clock=clock)
    assert runtime.keyring.suite is Suite.SM4GCM
    person = SyntheticPeople(3).person()
    with TestClient(create_app(runtime)) as client:
        admin = as_user(client, result.admin_username, result.admin_password)
        create_tree(client, admin)
        create_user(client, admin, "police.sm4", ["police"], "320571")
        police = as_user(client, "police.sm4", STRONG_PASSWORD)
        created = client.post(
            "/api/v1/persons", json={"id_number": person.id_number, "name": person.name}, headers=police | REG
        )
        assert created.status_code == 201
        read = client.get(f"/api/v1/persons/{created.json()['id']}", headers=police | REG).json()
        assert read["name"] == person.name
        found = client.post("/api/v1/persons/search", json={"id_number": person.id_number}, headers=police | REG)
        assert len(found.json()["items"]) == 1
    runtime.engine.dispose()
    with pytest.raises(ConfigurationError, match="cannot change"):
        initialise(settings, clock=clock, suite=Suite.AES256GCM)
