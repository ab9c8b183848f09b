"""Contract fuzzing: schemathesis generates requests for every operation of the service's
own OpenAPI document on both engines, valid and invalid ones, each sent as one of every role
(data roles with a purpose they may declare): no 5xx, every status is one the operation
documents, every response matches its declared schema, invalid input is refused, and every
error is problem+json. A bounded number of examples in the suite; `make fuzz` runs a longer one."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from registry.api.app import create_app
from registry.bootstrap import initialise
from registry.clock import FixedClock
from registry.runtime import open_runtime
from registry.settings import Settings
from tests.api_helpers import STRONG_PASSWORD, as_user, bearer, create_tree, create_user
from tests.conftest import ENGINES
from tests.support import postgres

EXAMPLES = int(os.environ.get("REGISTRY_FUZZ_EXAMPLES", "500"))  # bounded for the suite
# Every role, each with a purpose it may declare (none for the roles without personal data).
ROLES = {
    "police": "registration",
    "civil_affairs": "registration",
    "corrections": "supervision",
    "social_worker": "supervision",
    "verifier": "verification",
    "auditor": None,
    "security_admin": None,
    "admin": None,
}


@pytest.fixture(scope="module", params=ENGINES)
def engine_url(request, tmp_path_factory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('contract') / 'registry.db'}"
        return
    with postgres.scratch_database(request.getfixturevalue("pg_admin_url"), "registry_fuzz") as url:
        yield url


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory, engine_url):
    base = tmp_path_factory.mktemp("contract")
    settings_ = Settings(data_dir=base / "data", database_url=engine_url, profile="dev")
    result = initialise(settings_, clock=FixedClock())
    runtime = open_runtime(settings_, clock=FixedClock())
    app = create_app(runtime)
    with TestClient(app) as client:
        admin = as_user(client, result.admin_username, result.admin_password)
        create_tree(client, admin)
        heads = {"admin": admin, "verifier": _service_account(client, admin) | {"X-Purpose": "verification"}}
        for role, purpose in ROLES.items():
            if role in heads:
                continue
            create_user(client, admin, f"{role}.fuzz", [role], None if purpose is None else "320571")
            heads[role] = as_user(client, f"{role}.fuzz", STRONG_PASSWORD) | ({"X-Purpose": purpose} if purpose else {})
        # Inside the client's lifespan, so the job runner and sequencer are up while fuzzing.
        yield app, heads
    runtime.engine.dispose()


def _service_account(client: TestClient, admin: dict[str, str]) -> dict[str, str]:
    body = {"name": "verifier-fuzz", "roles": ["verifier"], "org_unit": "320571"}
    created = client.post("/api/v1/service-accounts", json=body, headers=admin).json()
    form = {
        "grant_type": "client_credentials",
        "client_id": created["client_id"],
        "client_secret": created["client_secret"],
    }
    return bearer(client.post("/api/v1/auth/token", data=form).json()["access_token"])


def test_no_server_errors_and_every_error_is_problem_json(fuzzed):
    app, heads = fuzzed
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    failures: list[str] = []
    sent: list[bool] = []

    strategies = [op.as_strategy(mode) for op in operations for mode in GenerationMode]

    @given(case=st.one_of(strategies), role=st.sampled_from(sorted(ROLES)))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def fuzz(case, role: str) -> None:  # type: ignore[no-untyped-def]
        # A valid case is sent with a purpose the role may declare; an invalid one keeps its
        # own headers, since an invalid `X-Purpose` may be what makes it invalid.
        negative = case.meta is not None and case.meta.generation.mode is GenerationMode.NEGATIVE
        ours, theirs = heads[role], dict(case.headers or {})
        headers = {**ours, **theirs} if negative else {**theirs, **ours}
        # A generous timeout: the suite asserts answers, not speed (a loaded CI machine stalls).
        response = case.call(headers=headers, timeout=120)
        sent.append(negative)
        where = f"{case.method} {case.path} as {role}: {response.status_code}"
        checks = [not_a_server_error, status_code_conformance, response_schema_conformance, negative_data_rejection]
        try:
            case.validate_response(response, checks=checks)
        except FailureGroup as failure:
            for found in failure.exceptions:
                message = " ".join(str(getattr(found, "message", found)).split())[:400]
                failures.append(f"{where}: {getattr(found, 'title', type(found).__name__)}: {message}")
        if response.status_code >= 400 and "application/problem+json" not in str(response.headers.get("content-type")):
            failures.append(f"{where} not problem+json")

    fuzz()
    print(f"{len(sent)} cases sent, {sum(sent)} of them invalid")
    assert not failures, "\n".join(sorted(set(failures))[:40])
