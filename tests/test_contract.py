"""Contract fuzzing: schemathesis generates requests for every operation of the service's
own OpenAPI document, sent as a data role (with a purpose) and as an administrator: no
5xx, and every error is problem+json. A bounded number of examples in the suite."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry.api.app import create_app
from registry.bootstrap import initialise
from registry.clock import FixedClock
from registry.runtime import open_runtime
from registry.settings import Settings
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user

EXAMPLES = 500  # bounded for the suite; raise it for a longer run


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    base = tmp_path_factory.mktemp("contract")
    settings_ = Settings(data_dir=base / "data", database_url=f"sqlite:///{base / 'registry.db'}", profile="dev")
    result = initialise(settings_, clock=FixedClock())
    runtime = open_runtime(settings_, clock=FixedClock())
    app = create_app(runtime)
    with TestClient(app) as client:
        admin = as_user(client, result.admin_username, result.admin_password)
        create_tree(client, admin)
        create_user(client, admin, "police.fuzz", ["police"], "320571")
        heads = {"admin": admin, "police": as_user(client, "police.fuzz", STRONG_PASSWORD)}
    yield app, heads
    runtime.engine.dispose()


def test_no_server_errors_and_every_error_is_problem_json(fuzzed):
    app, heads = fuzzed
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    failures: list[str] = []

    @given(case=st.one_of([op.as_strategy() for op in operations]))
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def fuzz(case) -> None:  # type: ignore[no-untyped-def]
        for role, purpose in (("police", "registration"), ("admin", None)):
            headers = {**(case.headers or {}), **heads[role]}
            if purpose:
                headers["X-Purpose"] = purpose
            response = case.call(headers=headers)
            if response.status_code >= 500:
                failures.append(f"{case.method} {case.path} as {role}: {response.status_code}")
            elif response.status_code >= 400 and "application/problem+json" not in str(
                response.headers.get("content-type")
            ):
                failures.append(f"{case.method} {case.path} as {role}: {response.status_code} not problem+json")

    fuzz()
    assert not failures, sorted(set(failures))[:20]
