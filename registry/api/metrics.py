"""Prometheus metrics. Labels are route templates, status codes, job kinds and sweep names:
no ids, no values.

HTTP counters are this process's; the operational figures (`registry.operations`) are read
from the database on each scrape, so every worker answers them alike and a restart loses
nothing (the counters among them are counts of the append-only audit log).
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from registry.operations import Figures, figures
from registry.runtime import Runtime

REQUESTS = Counter("registry_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram("registry_http_request_seconds", "HTTP request latency", ["method", "route"])


def observe(method: str, route: str, status: int, seconds: float) -> None:
    REQUESTS.labels(method, route, str(status)).inc()
    LATENCY.labels(method, route).observe(seconds)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def _maybe(name: str, doc: str, value: float | None) -> GaugeMetricFamily:
    """A gauge with no sample while there is nothing to measure (no checkpoint, no verify run)."""
    family = GaugeMetricFamily(name, doc, labels=[])
    if value is not None:
        family.add_metric([], value)
    return family


def families(f: Figures) -> Iterator[Metric]:
    yield _gauge("registry_audit_tree_size", "Sequenced audit entries (the Merkle tree's size)", f.tree_size)
    yield _gauge("registry_audit_pending_entries", "Committed audit entries not yet sequenced", f.pending_entries)
    yield _gauge(
        "registry_audit_sequencer_lag_seconds",
        "Age of the oldest entry not yet sequenced (0: none)",
        f.oldest_pending_age_s,
    )
    yield _gauge("registry_audit_checkpoint_size", "Tree size the newest signed checkpoint covers", f.checkpoint_size)
    yield _maybe("registry_audit_checkpoint_age_seconds", "Age of the newest signed checkpoint", f.checkpoint_age_s)
    runs = CounterMetricFamily("registry_audit_verify_runs", "Recorded verify runs by result", labels=["result"])
    for outcome, result in (("allowed", "ok"), ("denied", "failed")):
        runs.add_metric([result], f.verify_runs.get(outcome, 0))
    yield runs
    last_ok = None if f.verify_last_ok is None else int(f.verify_last_ok)
    yield _maybe("registry_audit_verify_last_ok", "1 if the newest verify run passed, 0 if it failed", last_ok)
    yield _maybe(
        "registry_audit_verify_last_run_timestamp_seconds",
        "When the newest verify run ended",
        None if f.verify_last_at is None else f.verify_last_at.timestamp(),
    )
    yield CounterMetricFamily("registry_login_failures", "Refused password logins", value=f.login_failures)
    yield CounterMetricFamily("registry_login_lockouts", "Accounts locked by failed attempts", value=f.lockouts)
    yield _gauge("registry_accounts_locked", "Accounts locked now", f.accounts_locked)
    bad = sum(n for (_, status), n in f.jobs.items() if status in ("failed", "interrupted"))
    yield CounterMetricFamily("registry_jobs_ended_badly", "Jobs that failed or were interrupted", value=bad)
    jobs = GaugeMetricFamily("registry_jobs", "Jobs by kind family and status", labels=["kind", "status"])
    for (kind, status), n in sorted(f.jobs.items()):
        jobs.add_metric([kind, status], n)
    yield jobs
    done = GaugeMetricFamily("registry_job_done", "Items done by each running job", labels=["kind"])
    total = GaugeMetricFamily("registry_job_total", "Items to do of each running job (when known)", labels=["kind"])
    for kind, (d, t) in sorted(f.running_done.items()):
        done.add_metric([kind], d)
        if t is not None:
            total.add_metric([kind], t)
    yield done
    yield total
    last = GaugeMetricFamily(
        "registry_sweep_last_run_day_timestamp_seconds",
        "The day of each sweep's newest run (any process)",
        labels=["sweep"],
    )
    for sweep, day in sorted(f.sweeps_last_day.items()):
        last.add_metric([sweep], (day.toordinal() - 719_163) * 86_400.0)  # 719_163: 1970-01-01
    yield last


class _Operations(Collector):
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    def collect(self) -> Iterator[Metric]:
        return families(figures(self.runtime.engine, self.runtime.clock))


def exposition(runtime: Runtime) -> tuple[bytes, str]:
    operations = CollectorRegistry(auto_describe=False)
    operations.register(_Operations(runtime))
    return generate_latest() + generate_latest(operations), CONTENT_TYPE_LATEST
