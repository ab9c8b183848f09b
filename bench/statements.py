"""SQL statements per request of the load scenarios, registry against baseline.

    .venv/bin/python -m bench.statements           # the table
    .venv/bin/python -m bench.statements --show    # and each registry statement, per request

Not a timing: a count that explains the load figures (`bench.load`). Both apps run in this
process over SQLite in a temp directory (the registry: `initialise`, `registry.demo.seed` of
200 persons, sequencer drained; the baseline: the same rows by plain inserts), called through
FastAPI's `TestClient` as the load client calls them over HTTP (the registry as a police
account over the demo city with `X-Purpose: registration`). Every statement the app's engine
sends to the driver is counted by a `before_cursor_execute` listener, per request, after one
warm-up round of the read requests. The registry's `BEGIN IMMEDIATE` is a statement of its
own; the baseline's implicit `BEGIN` is not counted (the driver sends it).
"""

from __future__ import annotations

import collections
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI
from fastapi.testclient import TestClient

from bench.accounts import found_second_admin, staff_account
from bench.baseline.app import create_app as baseline_app
from bench.baseline.app import create_engine as baseline_engine
from bench.baseline.app import create_schema
from bench.baseline.seed import seed_baseline
from registry.api.app import create_app
from registry.bootstrap import initialise
from registry.clock import today
from registry.db import transaction
from registry.demo import DEMO_ROOT, leaf_units, seed, seed_rows
from registry.people.synthetic import SyntheticPeople
from registry.runtime import Runtime, open_runtime
from registry.settings import Settings

PERSONS = 200


SHOW = "--show" in sys.argv  # print each registry statement as it is sent


def _counter(engine: sa.Engine, show: bool = False) -> collections.Counter[str]:
    kinds: collections.Counter[str] = collections.Counter()

    @sa.event.listens_for(engine, "before_cursor_execute")
    def _count(conn, cursor, statement, params, context, executemany) -> None:  # type: ignore[no-untyped-def]
        kinds[statement.split(None, 1)[0].upper()] += 1
        if show:
            print("   ", " ".join(statement.split())[:160])

    return kinds


class _Caller:
    """One request, its statements by kind recorded under `label`."""

    def __init__(
        self,
        client: TestClient,
        headers: dict[str, str],
        kinds: collections.Counter[str],
        counts: dict[str, dict[str, int]],
    ) -> None:
        self.client, self.headers, self.kinds, self.counts = client, headers, kinds, counts

    def __call__(self, label: str, method: str, url: str, status: int, **kw: Any) -> Any:
        self.kinds.clear()
        if SHOW:
            print(f"-- {label}")
        response = self.client.request(method, url, headers=self.headers, **kw)
        assert response.status_code == status, response.text
        self.counts[label] = dict(self.kinds)
        return response.json()


@dataclass
class Apps:
    """Both services over SQLite in `base`, seeded alike, and how to call each."""

    runtime: Runtime
    registry: FastAPI
    registry_headers: dict[str, str]
    baseline: FastAPI
    baseline_headers: dict[str, str]
    plain: sa.Engine
    rows: list[Any]
    units: list[str]


def both_apps(base: Path, persons: int = PERSONS) -> Apps:
    """The registry (`initialise`, `registry.demo.seed`, sequencer drained, a police account
    over the demo city) and the baseline (the same rows by plain inserts)."""
    settings = Settings(data_dir=base / "data", database_url=f"sqlite:///{base / 'registry.db'}", profile="dev")
    init = initialise(settings)
    runtime = open_runtime(settings)
    seed(runtime, persons=persons, seed=1)
    runtime.sequencer.drain()
    with transaction(runtime.engine) as session:
        units = leaf_units(session, DEMO_ROOT)
    rows = seed_rows(persons, seed=1, units=units, on=today(runtime.clock))
    plain = baseline_engine(f"sqlite:///{base / 'baseline.db'}")
    create_schema(plain)
    seed_baseline(plain, rows)
    registry = create_app(runtime)
    found_second_admin(runtime.engine, runtime.clock)
    assert init.admin_username is not None and init.admin_password is not None
    admin = (init.admin_username, init.admin_password)
    police = staff_account(TestClient(registry), admin, "bench.police", "police", DEMO_ROOT)["Authorization"]
    token = "statements"
    return Apps(
        runtime=runtime,
        registry=registry,
        registry_headers={"Authorization": police, "X-Purpose": "registration"},
        baseline=baseline_app(plain, token),
        baseline_headers={"Authorization": f"Bearer {token}"},
        plain=plain,
        rows=rows,
        units=units,
    )


def main() -> int:
    print("command: .venv/bin/python -m bench.statements")
    with tempfile.TemporaryDirectory(prefix="statements-") as tmp:
        apps = both_apps(Path(tmp))
        runtime, rows, units, plain = apps.runtime, apps.rows, apps.units, apps.plain
        clients: dict[str, tuple[TestClient, dict[str, str], collections.Counter[str]]] = {
            "registry": (TestClient(apps.registry), apps.registry_headers, _counter(runtime.engine, SHOW)),
            "baseline": (TestClient(apps.baseline), apps.baseline_headers, _counter(plain)),
        }
        newcomer = SyntheticPeople(99).person()  # seed 99: not among the seeded ID numbers (checked below)
        assert newcomer.id_number not in {r.id_number for r in rows}
        table: dict[str, dict[str, dict[str, int]]] = {}
        for name, (client, headers, kinds) in clients.items():
            counts: dict[str, dict[str, int]] = {}

            call = _Caller(client, headers, kinds, counts)
            for _ in range(2):  # the second round is the one kept: caches warm
                found = call("search", "POST", "/api/v1/persons/search", 200, json={"id_number": rows[5].id_number})
                person = found["items"][0]["id"]
                call("read person", "GET", f"/api/v1/persons/{person}", 200)
            body = {"id_number": newcomer.id_number, "name": newcomer.name, "phone": newcomer.phone}
            created = call("create person", "POST", "/api/v1/persons", 201, json=body | {"org_unit": units[0]})
            place = {"org_unit": units[0], "address": "负载路1号101室", "kind": "owned"}
            dwelling = call("create dwelling", "POST", "/api/v1/dwellings", 201, json=place)
            registration = {
                "person_id": created["id"],
                "dwelling_id": dwelling["id"],
                "arrived_on": today(runtime.clock).isoformat(),
                "basis": "family",
            }
            made = call("create registration", "POST", "/api/v1/residence-registrations", 201, json=registration)
            call("read registration", "GET", f"/api/v1/residence-registrations/{made['id']}", 200)
            table[name] = counts
        runtime.engine.dispose()
        plain.dispose()

    print("\n| request | registry statements | baseline statements | registry detail |\n|---|---|---|---|")
    for label in table["registry"]:
        reg, base = table["registry"][label], table["baseline"][label]
        detail = ", ".join(f"{k} {v}" for k, v in sorted(reg.items()))
        print(f"| {label} | {sum(reg.values())} | {sum(base.values())} | {detail} |")
    for path, labels in (
        ("read", ("search", "read person", "read registration")),
        ("write", ("create person", "create dwelling", "create registration")),
    ):
        reg = sum(sum(table["registry"][x].values()) for x in labels)
        base = sum(sum(table["baseline"][x].values()) for x in labels)
        print(f"| **{path} path** | **{reg}** | **{base}** | |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
