"""The load client for `bench.load`: one process, N threads, closed loop, over real HTTP.

    .venv/bin/python -m bench.load_client PLAN.json OUT.json

`bench.load` writes the plan (base URL, headers, scenario, concurrency, warm-up and
duration, and the scenario's inputs) and reads the result. Each thread has its own
keep-alive `httpx.Client` and runs iterations back to back until the deadline (closed
loop: a new iteration starts when the previous one has answered). Iterations that start
during the warm-up are not recorded; the others are timed with `time.perf_counter`, as a
whole and per request. An answer with an unexpected status counts as an error (the first
few are kept, with their status and up to 200 characters of body: the bodies carry only
synthetic data).

Scenarios (the registry's and the baseline's routes have the same paths and bodies):
- `read`: `POST /api/v1/persons/search {id_number}` → `GET /api/v1/persons/{id}` →
  `GET /api/v1/residence-registrations/{id}` (the person's active registration, whose id
  the harness looked up beforehand: neither API lists registrations by person);
- `write`: `POST /api/v1/persons` → `POST /api/v1/dwellings` (kind `owned`) →
  `POST /api/v1/residence-registrations` for a new synthetic person each iteration;
- `casefile`: `GET /api/v1/casefiles/{id}` → `GET /api/v1/casefiles/{id}/events?limit=20`.
"""

from __future__ import annotations

import itertools
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx

from registry.people.synthetic import SyntheticPeople

STEPS = {
    "read": ("search", "read_person", "read_registration"),
    "write": ("create_person", "create_dwelling", "create_registration"),
    "casefile": ("read_casefile", "read_events"),
}


class Unexpected(Exception):
    def __init__(self, step: str, response: httpx.Response) -> None:
        super().__init__(step)
        self.record = {"step": step, "status": response.status_code, "body": response.text[:200]}


@dataclass
class Recorder:
    """Per-thread timings, merged at the end (no lock on the hot path)."""

    iterations: list[float] = field(default_factory=list)
    steps: dict[str, list[float]] = field(default_factory=dict)
    errors: int = 0
    first_errors: list[dict[str, Any]] = field(default_factory=list)


def _expect(response: httpx.Response, step: str, status: int) -> httpx.Response:
    if response.status_code != status:
        raise Unexpected(step, response)
    return response


def _timed(
    http: httpx.Client, timings: dict[str, float], step: str, status: int, method: str, url: str, **kw: Any
) -> Any:
    t0 = time.perf_counter()
    response = http.request(method, url, **kw)
    timings[step] = time.perf_counter() - t0
    return _expect(response, step, status).json()


Iteration = Callable[[httpx.Client, dict[str, float]], None]


def _read(plan: dict[str, Any]) -> Callable[[], Iteration]:
    targets: list[list[str]] = plan["targets"]  # [id_number, registration id]
    shared = itertools.count()

    def make() -> Iteration:
        def one(http: httpx.Client, timings: dict[str, float]) -> None:
            id_number, registration = targets[next(shared) % len(targets)]
            found = _timed(
                http, timings, "search", 200, "POST", "/api/v1/persons/search", json={"id_number": id_number}
            )
            if len(found["items"]) != 1:
                raise AssertionError(f"search found {len(found['items'])} persons")
            person = found["items"][0]["id"]
            _timed(http, timings, "read_person", 200, "GET", f"/api/v1/persons/{person}")
            read = _timed(
                http, timings, "read_registration", 200, "GET", f"/api/v1/residence-registrations/{registration}"
            )
            if read["person_id"] != person or read["status"] != "active":
                raise AssertionError("registration does not belong to the person found")

        return one

    return make


def _fresh_people(seed: int, exclude: set[str]) -> Iterator[Any]:
    """Synthetic persons for the write path, none with a seeded ID number."""
    for person in SyntheticPeople(seed).people(10**9):
        if person.id_number not in exclude:
            yield person


def _write(plan: dict[str, Any]) -> Callable[[], Iteration]:
    exclude = set(Path(plan["seeded_id_numbers_file"]).read_text().split())
    people = _fresh_people(plan["people_seed"], exclude)
    take = threading.Lock()
    units: list[str] = plan["units"]
    today = date.fromisoformat(plan["today"])
    arrived, registered = (today - timedelta(days=2)).isoformat(), today.isoformat()

    def make() -> Iteration:
        def one(http: httpx.Client, timings: dict[str, float]) -> None:
            with take:
                p = next(people)
            unit = units[int(p.id_number[14:17]) % len(units)]
            person = _timed(
                http,
                timings,
                "create_person",
                201,
                "POST",
                "/api/v1/persons",
                json={
                    "id_number": p.id_number,
                    "name": p.name,
                    "phone": p.phone,
                    "hukou_address": p.hukou_address,
                    "org_unit": unit,
                },
            )
            address = f"负载路{p.phone[-6:]}号{p.id_number[10:14]}室"  # synthetic and distinct enough
            dwelling = _timed(
                http,
                timings,
                "create_dwelling",
                201,
                "POST",
                "/api/v1/dwellings",
                json={"org_unit": unit, "address": address, "kind": "owned"},
            )
            _timed(
                http,
                timings,
                "create_registration",
                201,
                "POST",
                "/api/v1/residence-registrations",
                json={
                    "person_id": person["id"],
                    "dwelling_id": dwelling["id"],
                    "arrived_on": arrived,
                    "registered_on": registered,
                    "basis": "family",
                },
            )

        return one

    return make


def _casefile(plan: dict[str, Any]) -> Callable[[], Iteration]:
    casefiles: list[str] = plan["casefiles"]
    shared = itertools.count()

    def make() -> Iteration:
        def one(http: httpx.Client, timings: dict[str, float]) -> None:
            casefile = casefiles[next(shared) % len(casefiles)]
            _timed(http, timings, "read_casefile", 200, "GET", f"/api/v1/casefiles/{casefile}")
            events = _timed(http, timings, "read_events", 200, "GET", f"/api/v1/casefiles/{casefile}/events?limit=20")
            if len(events) != 20:
                raise AssertionError(f"{len(events)} events instead of 20")

        return one

    return make


SCENARIOS = {"read": _read, "write": _write, "casefile": _casefile}


def _worker(plan: dict[str, Any], one: Iteration, recorder: Recorder, start: float) -> None:
    measure_from = start + plan["warmup_s"]
    until = measure_from + plan["duration_s"]
    steps = {name: recorder.steps.setdefault(name, []) for name in STEPS[plan["scenario"]]}
    with httpx.Client(base_url=plan["base_url"], headers=plan["headers"], timeout=60.0) as http:
        while True:
            t0 = time.perf_counter()
            if t0 >= until:
                return
            timings: dict[str, float] = {}
            try:
                one(http, timings)
            except (Unexpected, AssertionError, ValueError, httpx.HTTPError) as exc:  # ValueError: a body not JSON
                if t0 >= measure_from:
                    recorder.errors += 1
                    if len(recorder.first_errors) < 3:
                        record = (
                            exc.record if isinstance(exc, Unexpected) else {"error": f"{type(exc).__name__}: {exc}"}
                        )
                        recorder.first_errors.append(record)
                continue
            if t0 >= measure_from:
                recorder.iterations.append(time.perf_counter() - t0)
                for name, seconds in timings.items():
                    steps[name].append(seconds)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest rank."""
    if not sorted_values:
        return float("nan")
    rank = max(1, round(q / 100 * len(sorted_values) + 0.4999999))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summary_ms(values: list[float]) -> dict[str, float | int]:
    ordered = sorted(values)
    out: dict[str, float | int] = {"n": len(ordered)}
    for q in (50, 90, 99):
        out[f"p{q}_ms"] = percentile(ordered, q) * 1000
    out["mean_ms"] = sum(ordered) / len(ordered) * 1000 if ordered else float("nan")
    out["max_ms"] = ordered[-1] * 1000 if ordered else float("nan")
    return out


def run(plan: dict[str, Any]) -> dict[str, Any]:
    make = SCENARIOS[plan["scenario"]](plan)
    recorders = [Recorder() for _ in range(plan["concurrency"])]
    start = time.perf_counter() + 0.2  # every thread starts its clock at the same instant
    cpu0 = time.process_time()
    threads = [threading.Thread(target=_worker, args=(plan, make(), r, start), daemon=True) for r in recorders]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cpu_s = time.process_time() - cpu0
    iterations = [v for r in recorders for v in r.iterations]
    steps = {name: [v for r in recorders for v in r.steps.get(name, [])] for name in STEPS[plan["scenario"]]}
    return {
        "iterations": len(iterations),
        "iterations_per_s": len(iterations) / plan["duration_s"],
        "requests_per_s": len(iterations) * len(STEPS[plan["scenario"]]) / plan["duration_s"],
        "errors": sum(r.errors for r in recorders),
        # The client's own CPU over warm-up + run: near 1 s per second means the client, not the
        # service, may be what limits the rate (one process, one GIL).
        "client_cpu_s": cpu_s,
        "first_errors": [e for r in recorders for e in r.first_errors][:3],
        "latency": summary_ms(iterations),
        "steps": {name: summary_ms(values) for name, values in steps.items()},
    }


def main(argv: list[str] | None = None) -> int:
    plan_path, out_path = (sys.argv[1:] if argv is None else argv)[:2]
    plan = json.loads(Path(plan_path).read_text())
    Path(out_path).write_text(json.dumps(run(plan)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
