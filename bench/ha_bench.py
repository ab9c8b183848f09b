"""Write throughput of `registry serve` on the HA cluster (deploy/ha: three PostgreSQL nodes
under Patroni, synchronous replication) against one plain PostgreSQL server, in one run,
with the same clients (8 by default) creating persons with Idempotency-Keys.

    .venv/bin/python -m bench.ha_bench [--seconds 20] [--clients 8] [--json]

Both servers run with fsync on. Everything shares the machine's cores: the cluster's three
servers, etcd, Patroni, the service and the clients. So the ratio is what synchronous
replication costs in work and round trips on one host, not on a network of hosts (where a
commit also waits for the standby's network round trip). Needs root or the `postgres`
user, Patroni and etcd (scripts/system-deps).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from tests.support import ha, postgres


def _measure(settings, admin, seconds: float, clients: int, log: Path) -> dict[str, float]:
    server = ha.serve(settings, admin, log)
    try:
        writers = ha.Writers(server.base_url, count=clients)
        writers.start()
        time.sleep(2.0)  # warm up: connections, caches
        start = time.monotonic()
        time.sleep(seconds)
        end = time.monotonic()
        writers.stop()
        assert not writers.failures, writers.failures
    finally:
        server.stop()
    done = sum(1 for when, _, _ in writers.acked if start <= when < end)
    return {"writes": done, "seconds": end - start, "writes_per_s": done / (end - start), "load": os.getloadavg()[0]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--json", action="store_true", help="also bench/results/ha_bench-<UTC>.json")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="registry-ha-bench-"))
    results: dict[str, dict[str, float]] = {}

    password = secrets.token_hex(16)
    single = postgres.ThrowawayServer(password=password, options="-c fsync=on -c full_page_writes=on")
    single.start()
    try:

        def login(user: str, secret: str, database: str) -> str:
            return f"postgresql+psycopg://{user}:{secret}@127.0.0.1:{single.port}/{database}"

        settings, admin = ha.deploy(login, password, work / "single")
        results["single"] = _measure(settings, admin, args.seconds, args.clients, work / "single.log")
    finally:
        single.stop()
    with ha.cluster() as cluster:
        settings, admin = ha.deploy(cluster.login, cluster.secrets["SUPERUSER_PASSWORD"], work / "cluster")
        results["cluster"] = _measure(settings, admin, args.seconds, args.clients, work / "cluster.log")

    ratio = results["cluster"]["writes_per_s"] / results["single"]["writes_per_s"]
    print(f"clients {args.clients}, {args.seconds:g} s each, {platform.node()}, {os.cpu_count()} cores")
    for name, row in results.items():
        print(f"{name:8} {row['writes_per_s']:8.1f} writes/s ({row['writes']} writes; load {row['load']:.2f})")
    print(f"cluster / single = {ratio:.2f}")
    if args.json:
        out = Path("bench/results") / f"ha_bench-{datetime.now(UTC):%Y%m%dT%H%M%SZ}.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"args": vars(args), "results": results, "ratio": ratio}, indent=2))
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
