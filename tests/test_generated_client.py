"""A client generated from `/openapi.json` by a maintained generator (openapi-python-client)
runs a real workflow against a running service (issue 21): log in, create a person, a
dwelling, a residence registration, apply for a permit, accept and issue it, verify it
as a partner service. The generator lives in a virtualenv of its own (it pins a typer
older than ours), kept in the user's cache between runs; the generated code runs there
too, speaking HTTP to `registry serve`, so nothing of the registry is imported by it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

from fastapi.testclient import TestClient

from registry.api.app import create_app
from registry.bootstrap import initialise
from registry.clock import SystemClock
from registry.people.synthetic import SyntheticPeople
from registry.runtime import open_runtime
from registry.settings import Settings
from tests.api_helpers import STRONG_PASSWORD, as_user, create_tree, create_user

GENERATOR = "openapi-python-client==0.29.1"
CLIENT_RUNTIME = "python-dateutil==2.9.0.post0"  # what the generated models import beside attrs and httpx
TOOLS = (
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "registry-tests" / "openapi-python-client-0.29.1"
)

WORKFLOW = textwrap.dedent(
    """
    import json, os, sys
    from datetime import date, timedelta
    from registry_client import AuthenticatedClient, Client
    from registry_client.api.authentication import token
    from registry_client.api.persons import create_person
    from registry_client.api.residence import (
        accept, apply_for_permit, create_dwelling, create_registration, issue, verify_permit,
    )
    from registry_client.models import (
        BodyToken, DwellingCreate, PermitCreate, PersonCreate, Problem, Purpose, RegistrationCreate,
        VerificationRequest,
    )

    base, given = os.environ["BASE"], json.loads(os.environ["GIVEN"])

    def login(**form):
        answer = token.sync(client=Client(base_url=base), body=BodyToken.from_dict(form))
        assert not isinstance(answer, Problem) and answer is not None, answer
        return AuthenticatedClient(base_url=base, token=answer.access_token)

    def ok(answer):
        assert answer is not None and not isinstance(answer, Problem), answer
        return answer

    police = login(grant_type="password", username="police.a", password=given["password"])
    reg = Purpose.REGISTRATION
    identity = PersonCreate.from_dict({"id_number": given["id_number"], "name": given["name"]})
    person = ok(create_person.sync(client=police, x_purpose=reg, body=identity))
    home = ok(create_dwelling.sync(client=police, x_purpose=reg, body=DwellingCreate.from_dict(
        {"org_unit": "320571001", "address": given["address"], "kind": "owned"})))
    arrived = (date.today() - timedelta(days=200)).isoformat()
    registration = ok(create_registration.sync(client=police, x_purpose=reg, body=RegistrationCreate.from_dict(
        {"person_id": str(person.id), "dwelling_id": str(home.id), "arrived_on": arrived,
         "registered_on": arrived, "basis": "family"})))
    permit = ok(apply_for_permit.sync(client=police, x_purpose=reg, body=PermitCreate.from_dict(
        {"person_id": str(person.id), "registration_id": str(registration.id), "basis": "residence"})))
    ok(accept.sync(permit.id, client=police, x_purpose=reg))
    issued = ok(issue.sync(permit.id, client=police, x_purpose=reg))
    partner = login(grant_type="client_credentials", client_id=given["client_id"], client_secret=given["client_secret"])
    result = ok(verify_permit.sync(client=partner, body=VerificationRequest(
        permit_no=issued.permit_no, holder_name=given["name"])))
    refused = create_person.sync_detailed(client=police, x_purpose=reg, body=identity)
    print(json.dumps({"status": str(issued.status), "valid": result.valid,
                      "duplicate": refused.status_code.value, "problem": type(refused.parsed).__name__}))
    """
)


def _tools() -> Path:
    """The generator's own virtualenv, made once per machine."""
    python = TOOLS / "bin" / "python"
    if not (TOOLS / "ok").exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(TOOLS)], check=True)
        subprocess.run(
            [python, "-m", "pip", "install", "-q", GENERATOR, CLIENT_RUNTIME],
            check=True,
            capture_output=True,
            timeout=600,
        )
        (TOOLS / "ok").write_text(GENERATOR)
    return python


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310  (loopback, our own server)
            return r.status == 200
    except OSError:
        return False


def test_a_generated_client_runs_the_permit_workflow(tmp_path):
    python = _tools()
    data = tmp_path / "data"
    settings = Settings(data_dir=data, database_url=f"sqlite:///{tmp_path / 'registry.db'}", profile="dev")
    made = initialise(settings, clock=SystemClock())
    runtime = open_runtime(settings, clock=SystemClock())
    with TestClient(create_app(runtime)) as client:  # the accounts, set up as an administrator would
        admin = as_user(client, made.admin_username, made.admin_password)
        create_tree(client, admin)
        create_user(client, admin, "police.a", ["police"], "320571")
        body = {"name": "school-svc", "roles": ["verifier"], "org_unit": "320571"}
        partner = client.post("/api/v1/service-accounts", json=body, headers=admin).json()
        (tmp_path / "openapi.json").write_text(json.dumps(client.get("/openapi.json").json()))
    runtime.engine.dispose()

    generated = subprocess.run(
        [python, "-m", "openapi_python_client", "generate", "--path", str(tmp_path / "openapi.json")]
        + ["--meta", "none", "--output-path", str(tmp_path / "gen" / "registry_client")],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert generated.returncode == 0, generated.stdout[-2000:] + generated.stderr[-2000:]
    # Every JSON operation generated; only the PDF answers are beyond the generator.
    skipped = [line for line in generated.stdout.splitlines() if line.startswith("WARNING parsing")]
    assert all("/documents/" in line or "/metrics" in line for line in skipped), skipped

    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}
    env |= {
        "REGISTRY_DATA_DIR": str(data),
        "REGISTRY_DATABASE_URL": settings.database_url,
        "REGISTRY_PROFILE": "dev",
        "REGISTRY_SCHEDULER_INTERVAL_S": "3600",
    }
    registry = Path(sys.executable).with_name("registry")
    server = subprocess.Popen(
        [registry, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while not _ready(f"http://127.0.0.1:{port}/readyz"):
            assert time.monotonic() < deadline and server.poll() is None, "the service did not start"
            time.sleep(0.3)
        person = SyntheticPeople(2121).person()
        given = {
            "password": STRONG_PASSWORD,
            "id_number": person.id_number,
            "name": person.name,
            "address": SyntheticPeople(2122).address(),
            "client_id": partner["client_id"],
            "client_secret": partner["client_secret"],
        }
        run = subprocess.run(
            [python, "-c", WORKFLOW],
            env={"PYTHONPATH": str(tmp_path / "gen"), "BASE": f"http://127.0.0.1:{port}", "GIVEN": json.dumps(given)},
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert run.returncode == 0, run.stderr[-3000:]
    outcome = json.loads(run.stdout.strip().splitlines()[-1])
    # Issued and valid; a duplicate person is the documented 409, parsed as the Problem model.
    assert outcome == {"status": "issued", "valid": True, "duplicate": 409, "problem": "Problem"}
