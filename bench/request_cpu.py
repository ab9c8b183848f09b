"""CPU per iteration of the load's read and write paths, in one process, registry against
baseline: the A/B a code change can be judged by on a shared machine.

    .venv/bin/python -m bench.request_cpu                  # 3 rounds of 400 iterations
    .venv/bin/python -m bench.request_cpu --rounds 5 --iterations 800

`bench.load` measures over HTTP with a client beside the server, and this machine's speed
moves by up to 2x between runs: a 10 % change does not show there. Here both apps of
`bench.statements` (SQLite, same rows) are called through httpx's `ASGITransport`, one
request after the other in one event loop (one root task, so the thread pool's workers live
as they do under uvicorn), and the process's CPU time per iteration is taken, rounds
alternating between the two apps (the client's own work counts for both alike). Read: search
→ read person → read registration; write: create person → create dwelling → create
registration. No HTTP parsing, no sequencer thread (the lifespan is not run), no
concurrency: the work of the requests themselves. Run it on the old and the new code (a
worktree and `PYTHONPATH`) and compare the registry's rows; the baseline's rows show how
fast the machine was in each round.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from bench.statements import Apps, both_apps
from registry.clock import today
from registry.people.synthetic import SyntheticPeople


class _Direct:
    """Calls an ASGI app in this task, without a socket (httpx's `ASGITransport`)."""

    def __init__(self, app: Any, headers: dict[str, str]) -> None:
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bench", headers=headers
        )

    async def __call__(self, method: str, path: str, status: int, body: Any = None) -> Any:
        answer = await self.client.request(method, path, json=body)
        assert answer.status_code == status, (path, answer.status_code, answer.text[:200])
        return answer.json() if answer.content else None


Scenario = Callable[[_Direct, int], Awaitable[None]]


def _scenarios(apps: Apps) -> dict[str, Scenario]:
    people = SyntheticPeople(99)  # seed 99: none of the seeded ID numbers
    made: dict[int, list[str]] = {}
    on = today(apps.runtime.clock).isoformat()

    async def write(call: _Direct, i: int) -> None:
        p = people.person()
        body = {"id_number": p.id_number, "name": p.name, "phone": p.phone, "org_unit": apps.units[0]}
        person = await call("POST", "/api/v1/persons", 201, body)
        place = {"org_unit": apps.units[0], "address": "负载路1号101室", "kind": "owned"}
        dwelling = await call("POST", "/api/v1/dwellings", 201, place)
        registration = {"person_id": person["id"], "dwelling_id": dwelling["id"], "arrived_on": on, "basis": "family"}
        made.setdefault(id(call), []).append(
            (await call("POST", "/api/v1/residence-registrations", 201, registration))["id"]
        )

    async def read(call: _Direct, i: int) -> None:
        row = apps.rows[i % len(apps.rows)]
        found = await call("POST", "/api/v1/persons/search", 200, {"id_number": row.id_number})
        await call("GET", f"/api/v1/persons/{found['items'][0]['id']}", 200)
        mine = made[id(call)]
        await call("GET", f"/api/v1/residence-registrations/{mine[i % len(mine)]}", 200)

    return {"write": write, "read": read}  # write first: the reads read what it registered


async def _measure(apps: Apps, rounds: int, iterations: int) -> dict[str, dict[str, list[float]]]:
    callers = {
        "registry": _Direct(apps.registry, apps.registry_headers),
        "baseline": _Direct(apps.baseline, apps.baseline_headers),
    }
    scenarios = _scenarios(apps)
    cpu: dict[str, dict[str, list[float]]] = {s: {name: [] for name in callers} for s in scenarios}
    for call in callers.values():  # warm-up: caches, statement compilation, thread pool
        for scenario in scenarios.values():
            for i in range(30):
                await scenario(call, i)
    for _ in range(rounds):
        for label, scenario in scenarios.items():
            for name, call in callers.items():
                started = time.process_time()
                for i in range(iterations):
                    await scenario(call, i)
                cpu[label][name].append((time.process_time() - started) / iterations * 1000)
    return cpu


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=400)
    parser.add_argument("--persons", type=int, default=500)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="request-cpu-") as tmp:
        apps = both_apps(Path(tmp), persons=args.persons)
        cpu = asyncio.run(_measure(apps, args.rounds, args.iterations))
        apps.runtime.engine.dispose()
        apps.plain.dispose()
    print("| path | service | CPU ms per iteration, each round | median | registry ÷ baseline (median) |")
    print("|---|---|---|---|---|")
    for label, by_service in cpu.items():
        base = statistics.median(by_service["baseline"])
        for name, figures in by_service.items():
            shown = " / ".join(f"{f:.2f}" for f in figures)
            ratio = f"{statistics.median(figures) / base:.2f}" if name == "registry" else ""
            print(f"| {label} | {name} | {shown} | {statistics.median(figures):.2f} | {ratio} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
