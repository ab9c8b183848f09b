"""`registry audit verify --workers N`: processes of their own recompute the leaf hashes of
the batches, and the report is the one a single process gives, findings in the same
order. One pool per test run (starting processes afresh costs a second each)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlmodel import Session

from registry.audit import verify as verify_module
from tests.audit.test_verify import disable_triggers, log, owner, verify
from tests.audit.test_verify_edges import Progress, entry_of_seq, size_of, tamper_nodes

__all__ = ["log", "owner"]  # fixtures, imported for pytest


def summary(report) -> tuple[object, ...]:
    return (
        report.problems,
        report.first_bad_seq,
        report.first_bad_entry_id,
        report.size,
        report.entries,
        report.pending,
        report.covered,
        report.checkpoints_checked,
    )


def test_workers_find_what_one_process_finds(log, owner):
    """An entry altered in the first batch and a node tampered in the second: two workers
    over two batches report both, with the seq and entry id, as one process does."""
    victim = entry_of_seq(log, 20)
    tamper_nodes(owner, [(0, 35)])
    disable_triggers(owner)
    with owner.begin() as conn:
        conn.execute(sa.text("UPDATE audit_entry SET actor_id = 'someone.else' WHERE id = :i"), {"i": victim})
    alone = verify(log, batch=24)
    assert alone.problems[0] == "entry of seq 20 was altered"
    assert (alone.first_bad_seq, alone.first_bad_entry_id) == (20, victim)
    progress = Progress()
    pooled = verify(log, batch=24, workers=2, progress=progress)
    assert summary(pooled) == summary(alone)
    size = size_of(log)
    assert progress.calls == [(24, size), (size, size)]
    assert progress.children == [2, 2]  # alive while the batches are checked
    assert progress.kinds == {"SpawnProcess"}  # started afresh, not forked from this process
    # As many processes as asked for, up to one per batch (not one per core).
    progress = Progress()
    pooled = verify(log, batch=16, workers=3, progress=progress)
    assert summary(pooled) == summary(verify(log, batch=16))
    assert progress.children == [3, 3, 3]


@pytest.mark.parametrize(("batch", "workers"), [(100, 2), (16, 1)])
def test_no_pool_for_one_batch_or_one_worker(log, batch, workers):
    progress = Progress()
    report = verify(log, batch=batch, workers=workers, progress=progress)
    assert report.ok, report.problems
    assert progress.children and set(progress.children) == {0}


def test_a_worker_checks_its_batch_as_the_parent_would(log, owner, database_url):
    """What each worker process runs, run here: its own engine on the same database."""
    altered = {"i": entry_of_seq(log, 3)}
    disable_triggers(owner)
    with owner.begin() as conn:
        conn.execute(sa.text("UPDATE audit_entry SET actor_id = 'someone.else' WHERE id = :i"), altered)
    with Session(log.engine) as session:
        expected = verify_module._checked_leaves(session, 2, 10)
    assert [seq for seq, *_ in expected] == list(range(2, 10))
    assert [seq for seq, _, stored, recomputed in expected if stored != recomputed] == [3]
    verify_module._open_worker(database_url, None)
    try:
        assert verify_module._checked_in_worker((2, 10)) == expected
    finally:
        assert verify_module._worker_engine is not None
        verify_module._worker_engine.dispose()
        verify_module._worker_engine = None
