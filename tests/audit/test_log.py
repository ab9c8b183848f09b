"""The audit log on both engines: dense sequencing under concurrency, append-only
triggers and role, and `verify` catching every kind of tampering, naming the entry."""

from __future__ import annotations

import sqlite3
import threading
import time
from contextlib import closing

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from registry.audit.actions import Action
from registry.audit.canonical import entry_leaf_hash
from registry.audit.checkpoints import parse_signed_note
from registry.audit.log import Actor, AuditTrail, Event
from registry.audit.merkle import Frontier
from registry.audit.models import AuditCheckpoint, AuditEntry, AuditLeaf
from registry.audit.sequencer import Sequencer
from registry.audit.verify import verify_log
from registry.db import create_engine
from tests.support.audit import LOG_TABLES, append, disable_triggers


@pytest.fixture
def owner(database_url):
    """A connection as the database owner, as an attacker who controls the database would have."""
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


def verify(runtime, **kwargs):
    return verify_log(runtime.engine, runtime.provider.public_key(), runtime.settings.audit_origin, **kwargs)


@pytest.fixture
def log(runtime):
    """A log of 40 entries (plus those of init) with a checkpoint at its end."""
    append(runtime, 40)
    runtime.sequencer.drain()
    assert runtime.sequencer.checkpoint() is not None
    return runtime


def _seqs(runtime) -> list[int]:
    with Session(runtime.engine) as session:
        return list(session.exec(select(AuditLeaf.seq).order_by(AuditLeaf.seq)))


def test_sequenced_log_verifies_and_checkpoint_is_signed(log):
    seqs = _seqs(log)
    assert seqs == list(range(len(seqs))) and len(seqs) >= 40
    report = verify(log)
    assert report.ok, report.problems
    assert report.size == len(seqs) and report.checkpoints_checked == 1 and report.pending == 0


def test_eight_concurrent_writers_and_two_sequencers_give_a_dense_verifiable_log(runtime):
    other = Sequencer(runtime.engine, runtime.provider, runtime.clock, origin=runtime.settings.audit_origin, batch=7)
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for _ in range(10):
                append(runtime, 3, actor=f"writer-{k}")
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    def sequencing(seq: Sequencer) -> None:
        while not stop.is_set():
            try:
                seq.sequence_batch()
            except sa.exc.OperationalError:
                pass  # SQLite busy beyond the timeout under this load: the batch is simply retried

    sequencers = [threading.Thread(target=sequencing, args=(s,)) for s in (runtime.sequencer, other)]
    writers = [threading.Thread(target=writer, args=(k,)) for k in range(8)]
    for t in sequencers + writers:
        t.start()
    for t in writers:
        t.join()
    stop.set()
    for t in sequencers:
        t.join()
    assert not errors
    runtime.sequencer.drain()
    runtime.sequencer.checkpoint()
    seqs = _seqs(runtime)
    assert seqs == list(range(len(seqs)))
    with Session(runtime.engine) as session:
        written = session.exec(select(sa.func.count()).select_from(AuditEntry)).one()
    assert len(seqs) == written and written >= 240
    assert verify(runtime).ok


@pytest.mark.parametrize("table", LOG_TABLES)
def test_triggers_reject_update_and_delete(log, owner, table):
    if table == "audit_epoch":  # a trigger fires on a row: one declared restore (its statement unchecked here)
        with owner.begin() as conn:
            conn.exec_driver_sql("INSERT INTO audit_epoch (epoch, start_seq, statement) VALUES (1, 0, 'x')")
    for statement in (f"UPDATE {table} SET {_some_column(table)} = {_some_column(table)}", f"DELETE FROM {table}"):
        with pytest.raises(sa.exc.DatabaseError, match="append-only"), owner.begin() as conn:
            conn.exec_driver_sql(statement)


def _some_column(table: str) -> str:
    return {
        "audit_entry": "outcome",
        "audit_leaf": "leaf_hash",
        "audit_node": "hash",
        "audit_checkpoint": "note",
        "audit_epoch": "statement",
    }[table]


def test_the_service_role_may_only_insert_and_select_the_log(log):
    if log.engine.dialect.name != "postgresql":
        pytest.skip("database roles are a PostgreSQL feature")
    with log.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT current_user").scalar() == "registry_app"
    for statement in ("UPDATE audit_entry SET outcome = 'denied'", "DELETE FROM audit_leaf", "TRUNCATE audit_node"):
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"), log.engine.begin() as conn:
            conn.exec_driver_sql(statement)


def _entry_of(log, seq: int) -> int:
    with Session(log.engine) as session:
        return session.get(AuditLeaf, seq).entry_id


def test_edited_entry_is_named(log, owner):
    victim = _entry_of(log, 17)
    disable_triggers(owner)
    with owner.begin() as conn:
        conn.execute(sa.text("UPDATE audit_entry SET outcome = 'denied' WHERE id = :id"), {"id": victim})
    report = verify(log)
    assert not report.ok and report.first_bad_seq == 17 and report.first_bad_entry_id == victim


def test_deleted_entry_is_named(log, owner):
    victim = _entry_of(log, 9)
    disable_triggers(owner)
    if owner.dialect.name == "sqlite":
        # Foreign keys can only be switched off outside a transaction, on a raw connection.
        with closing(sqlite3.connect(owner.url.database)) as raw:
            raw.execute("PRAGMA foreign_keys = OFF")
            raw.execute("DELETE FROM audit_entry WHERE id = ?", (victim,))
            raw.commit()
    else:
        with owner.begin() as conn:
            conn.exec_driver_sql("SET session_replication_role = replica")  # foreign keys off
            conn.execute(sa.text("DELETE FROM audit_entry WHERE id = :id"), {"id": victim})
    report = verify(log)
    assert not report.ok and report.first_bad_seq == 9


def test_reordered_entries_are_named(log, owner):
    a, b = _entry_of(log, 5), _entry_of(log, 6)
    disable_triggers(owner)
    as_json = "CAST(:t AS json)" if owner.dialect.name == "postgresql" else ":t"
    with owner.begin() as conn:
        targets = dict(
            conn.execute(
                sa.text("SELECT id, CAST(targets AS TEXT) FROM audit_entry WHERE id IN (:a, :b)"), {"a": a, "b": b}
            ).all()
        )
        for one, other in ((a, b), (b, a)):
            conn.execute(
                sa.text(f"UPDATE audit_entry SET targets = {as_json} WHERE id = :id"), {"t": targets[other], "id": one}
            )
    report = verify(log)
    assert not report.ok and report.first_bad_seq == 5


def test_truncated_log_is_detected(log, owner):
    size = len(_seqs(log))
    disable_triggers(owner)
    with owner.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_leaf WHERE seq >= :s"), {"s": size - 3})
    report = verify(log)
    assert not report.ok and "truncated" in " ".join(report.problems)


def test_inserted_entry_in_history_is_detected(log, owner):
    """Slip a forged entry in at seq 3, shifting the rest and recomputing every leaf
    hash: the rewritten history no longer matches the signed checkpoint."""
    disable_triggers(owner)
    _rewrite_with_forged_entry(log, owner, at=3)
    report = verify(log)
    assert not report.ok and "differs from the checkpoint" in " ".join(report.problems)


def test_saved_checkpoint_exposes_a_rewrite_even_with_checkpoints_deleted(log, owner):
    with Session(log.engine) as session:
        saved_note = session.exec(select(AuditCheckpoint)).one().note
    saved = parse_signed_note(saved_note, public_key=log.provider.public_key(), origin=log.settings.audit_origin)
    disable_triggers(owner)
    _rewrite_with_forged_entry(log, owner, at=3)
    with owner.begin() as conn:
        conn.exec_driver_sql("DELETE FROM audit_checkpoint")
    assert verify(log).ok  # without a witness, a consistent rewrite of everything unsigned passes
    report = verify(log, against=saved)
    assert not report.ok and report.first_bad_seq is not None


def _rewrite_with_forged_entry(log, owner, *, at: int) -> None:
    """What an attacker with full database access can do: rebuild leaves and nodes."""
    with Session(owner) as session:
        entries = [
            session.get(AuditEntry, leaf.entry_id) for leaf in session.exec(select(AuditLeaf).order_by(AuditLeaf.seq))
        ]
        forged = AuditEntry(**{**entries[at].model_dump(), "id": None, "reason": "forged"})
        session.add(forged)
        session.flush()
        entries.insert(at, forged)
        session.execute(sa.text("DELETE FROM audit_leaf"))
        session.execute(sa.text("DELETE FROM audit_node"))
        frontier = Frontier()
        for seq, entry in enumerate(entries):
            leaf = entry_leaf_hash(entry)
            session.execute(sa.insert(AuditLeaf).values(seq=seq, entry_id=entry.id, leaf_hash=leaf))
            for level, index, digest in frontier.append(leaf):
                session.execute(
                    sa.text('INSERT INTO audit_node (level, "index", hash) VALUES (:l, :i, :h)'),
                    {"l": level, "i": index, "h": digest},
                )
        session.commit()


def test_an_idle_sequencer_takes_no_write_lock(log):
    """With nothing new, a batch must not open a write transaction: on SQLite that would
    queue every request behind the sequencer several times a second."""
    if log.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL has no database-wide write lock")
    blocker = create_engine(log.settings.database_url)
    with blocker.connect() as conn:
        conn.exec_driver_sql("SELECT 1")  # every transaction here begins IMMEDIATE: the write lock is held
        started = time.monotonic()
        assert log.sequencer.sequence_batch() == 0
        assert time.monotonic() - started < 1.0  # a write transaction would wait for the busy timeout (10 s)
    blocker.dispose()


def test_an_entry_committed_below_the_newest_sequenced_one_is_sequenced(runtime):
    """Ids are handed out at insert, so on PostgreSQL an entry can commit after a higher one
    was sequenced; the straggler scan finds it without waiting for a whole-log scan."""
    sequencer = Sequencer(
        runtime.engine,
        runtime.provider,
        runtime.clock,
        origin=runtime.settings.audit_origin,
        straggler_scan_interval_s=0,
    )
    sequencer.drain()
    sqlite = runtime.engine.dialect.name == "sqlite"
    late = Session(runtime.engine)
    # Its id is taken by this insert; it commits only after a higher one.
    AuditTrail(runtime.clock, Actor("late", ("police",), "320571")).append(late, Event(Action.PERSON_READ))
    if sqlite:
        late.commit()  # SQLite's write lock commits ids in order: no straggler is possible
    append(runtime, 1)
    assert sequencer.sequence_batch() == (2 if sqlite else 1)
    late.commit()
    late.close()
    assert sequencer.sequence_batch() == (0 if sqlite else 1)
    assert sequencer.sequence_batch() == 0
    with Session(runtime.engine) as session:
        unsequenced = session.exec(
            select(sa.func.count())
            .select_from(AuditEntry)
            .outerjoin(AuditLeaf, AuditLeaf.entry_id == AuditEntry.id)
            .where(AuditLeaf.seq.is_(None))
        ).one()
    assert unsequenced == 0
    assert verify(runtime).ok


def test_verifying_the_log_does_not_hold_up_writers(log):
    """`registry audit verify` runs beside a live service: while it reads the whole log,
    requests must still write (on SQLite a write transaction would lock them all out)."""
    mid, go = threading.Event(), threading.Event()
    reports = []

    def pause(done: int, total: int) -> None:
        if done < total:
            mid.set()
            go.wait(timeout=30)

    reader = threading.Thread(target=lambda: reports.append(verify(log, batch=10, progress=pause)))
    reader.start()
    assert mid.wait(timeout=30)
    started = time.monotonic()
    try:
        append(log, 1)  # a request's write, while verify is mid-way
    finally:
        go.set()
        reader.join()
    assert time.monotonic() - started < 2
    assert reports[0].ok


def test_worker_processes_find_what_one_process_finds(log, owner):
    """`registry audit verify --workers N`: batches recomputed in other processes (their own
    engines, the same role) give the same report, good log or tampered."""
    assert verify(log, batch=8, workers=2) == verify(log, batch=8)
    victims = _entry_of(log, 11), _entry_of(log, 30)
    disable_triggers(owner)
    with owner.begin() as conn:
        conn.execute(sa.text("UPDATE audit_entry SET reason = 'edited' WHERE id = :id"), {"id": victims[0]})
        conn.execute(sa.text("UPDATE audit_entry SET outcome = 'denied' WHERE id = :id"), {"id": victims[1]})
    parallel, single = verify(log, batch=8, workers=2), verify(log, batch=8)
    assert parallel == single
    assert not parallel.ok and parallel.first_bad_seq == 11 and parallel.first_bad_entry_id == victims[0]
    assert len(parallel.problems) >= 2
