"""Failover of the PostgreSQL cluster under load (issue 19, Deliver 2): Patroni with etcd,
three nodes, synchronous replication (deploy/ha/cluster). `registry serve` connects with a
multi-host URL and `target_session_attrs=read-write`; 8 clients write persons, each write
with an Idempotency-Key it sends again on any failure (a write whose commit outcome was
lost with the primary is then done once, never twice). The primary's postmaster is
SIGKILLed; Patroni promotes a replica (the leader changes) and the writes go on.

Afterwards every acknowledged write is stored, no write is stored twice, every audit entry
is sequenced exactly once and the log verifies. The unavailability window (the longest time
without an acknowledgement, around the kill) is printed; bench/README reports it.
Skipped where Patroni or etcd is absent (scripts/system-deps installs them as root)."""

from __future__ import annotations

import os
import signal
import time

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from registry.audit.models import AuditEntry, AuditLeaf
from registry.audit.verify import verify_log
from registry.people.models import Person
from registry.runtime import open_runtime
from tests.support import ha

BEFORE_KILL_S, AFTER_FAILOVER_S = 3.0, 4.0

pytestmark = pytest.mark.skipif(
    not ha.available(),
    reason="Patroni and etcd are absent (Debian's patroni, etcd-server, etcd-client: scripts/system-deps as root)",
)


@pytest.fixture(scope="module")
def cluster():
    with ha.cluster() as running:
        yield running


@pytest.fixture(scope="module")
def deployment(cluster, tmp_path_factory):
    return ha.deploy(cluster.login, cluster.secrets["SUPERUSER_PASSWORD"], tmp_path_factory.mktemp("ha") / "data")


def _assert_synchronous(cluster: ha.Cluster, leader: str) -> None:
    """The primary has a synchronous standby (an acknowledged commit is on two nodes), and
    no login gets in without its password."""
    engine = sa.create_engine(cluster.node_url(leader))
    with engine.connect() as conn:
        states = conn.exec_driver_sql("SELECT sync_state FROM pg_stat_replication").scalars().all()
        assert "sync" in states and conn.exec_driver_sql("SHOW synchronous_commit").scalar() == "on"
    engine.dispose()
    with pytest.raises(sa.exc.OperationalError, match="password"):
        sa.create_engine(cluster.node_url(leader, password=False)).connect()


def test_writes_survive_the_loss_of_the_primary(cluster, deployment, tmp_path):
    settings, admin = deployment
    server = ha.serve(settings, admin, tmp_path / "server.log")
    try:
        writers = ha.Writers(server.base_url)
        writers.start()
        time.sleep(BEFORE_KILL_S)
        old = cluster.leader()
        _assert_synchronous(cluster, old)
        postmaster = int((cluster.directory / old / "data" / "postmaster.pid").read_text().split()[0])
        killed_at = time.monotonic()
        os.kill(postmaster, signal.SIGKILL)
        new = old
        while new == old and time.monotonic() - killed_at < 60:
            time.sleep(0.5)
            try:
                new = cluster.leader()
            except AssertionError:
                continue
        assert new != old, "Patroni restarted the primary in place instead of promoting a replica"
        time.sleep(AFTER_FAILOVER_S)
        stopped_at = writers.stop()
        assert not writers.failures, writers.failures
    finally:
        server.stop()

    times = sorted(when for when, _, _ in writers.acked)
    assert any(when > killed_at + 1 for when in times), "no write was acknowledged after the failover"
    # The longest time without an acknowledgement from the kill on (writes in flight at the
    # kill may still be acknowledged just after it).
    around = [killed_at, *(when for when in times if when > killed_at), stopped_at]
    window = max(b - a for a, b in zip(around, around[1:], strict=False))
    assert window < 60  # a bound, not the goal (15 s): bench/README reports the figure
    print(
        f"\nfailover: leader {old} -> {new}; unavailability window {window:.2f} s; {len(writers.acked)} writes "
        f"acknowledged, {writers.retries} attempts sent again, {writers.replays} answered as done before (303)"
    )

    ids = [made for _, _, made in writers.acked]
    assert len(set(ids)) == len(ids)  # no two keys answered with one record
    runtime = open_runtime(settings)
    try:
        runtime.sequencer.drain()
        with Session(runtime.engine) as session:
            stored = {str(i) for i in session.exec(select(Person.id))}
            created = session.exec(
                select(sa.func.count()).select_from(AuditEntry).where(AuditEntry.action == "person:create")
            ).one()
            sequenced = session.exec(select(sa.func.count()).select_from(AuditLeaf)).one()
            entries = session.exec(select(sa.func.count()).select_from(AuditEntry)).one()
        assert set(ids) <= stored  # every acknowledged write is there …
        assert len(stored) == len(ids)  # … once: a write retried after the failover was not done again
        assert created == len(stored) and sequenced == entries
        report = verify_log(runtime.engine, runtime.provider.public_key(), settings.audit_origin)
        assert report.ok, report.problems
    finally:
        runtime.close()
