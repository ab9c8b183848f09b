"""`verify_log` at its edges: small batches over an intact log, a checkpoint row that
disagrees with its own note, rows read in another physical order, entries deleted under
their leaves, tree nodes tampered in numbers around the reporting limit, a whole batch of
sequence numbers missing, and the saved checkpoint given with `against`. Both engines."""

from __future__ import annotations

import base64
import multiprocessing

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from registry.audit.models import AuditCheckpoint, AuditLeaf
from registry.audit.verify import VerifyReport
from tests.audit.test_verify import GRACE_S, count, disable_triggers, forged, log, owner, problems, run_sql, verify
from tests.support.audit import append

__all__ = ["log", "owner"]  # fixtures, imported for pytest


def size_of(runtime) -> int:
    return count(runtime, AuditLeaf)


def entry_of_seq(runtime, seq: int) -> int:
    with Session(runtime.engine) as session:
        return session.exec(select(AuditLeaf.entry_id).where(AuditLeaf.seq == seq)).one()


def tamper_nodes(owner, nodes: list[tuple[int, int]]) -> None:
    disable_triggers(owner)
    with owner.begin() as conn:
        for level, index in nodes:
            conn.execute(
                sa.text('UPDATE audit_node SET hash = :h WHERE level = :l AND "index" = :i'),
                {"h": bytes(32), "l": level, "i": index},
            )


def node_problem(level: int, index: int) -> str:
    return f"stored tree node (level {level}, index {index}) differs from the entries"


def named_nodes(report: VerifyReport) -> list[tuple[int, int]]:
    """The (level, index) of every node a problem names, in the report's order."""
    named = []
    for problem in report.problems:
        if problem.startswith("stored tree node (level "):
            level, index = problem.removeprefix("stored tree node (level ").split(")")[0].split(", index ")
            named.append((int(level), int(index)))
    return named


class Progress:
    """Records each progress call, and how many worker processes were alive at it and how
    they were started."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, int]] = []
        self.children: list[int] = []
        self.kinds: set[str] = set()

    def __call__(self, done: int, end: int) -> None:
        self.calls.append((done, end))
        children = multiprocessing.active_children()
        self.children.append(len(children))
        self.kinds |= {type(child).__name__ for child in children}


def second_checkpoint(runtime) -> tuple[int, int]:
    """Five more entries under a second checkpoint: (first size, second size)."""
    first = size_of(runtime)
    append(runtime, 5)
    runtime.sequencer.drain()
    assert runtime.sequencer.checkpoint() is not None
    return first, first + 5


# -- an intact log -------------------------------------------------------------------------


@pytest.mark.parametrize("batch", [4, 16])
def test_an_intact_log_verifies_in_any_batch_size(log, batch):
    """Batches split the sequence numbers and the tree nodes between them: each node is
    queried once, in the batch whose leaves complete it, and no batch overlaps another."""
    size = size_of(log)
    progress = Progress()
    report = verify(log, batch=batch, progress=progress)
    assert report.ok, report.problems
    assert (report.size, report.entries, report.covered, report.pending) == (size, size, size, 0)
    assert report.checkpoints_checked == 1 and report.first_bad_seq is None
    bounds = [min(hi, size) for hi in range(batch, size + batch, batch)]
    assert progress.calls == [(hi, size) for hi in bounds]
    assert progress.children == [0] * len(bounds)  # one worker: no process of its own


def test_an_empty_leaf_table_is_not_a_batch(log, owner):
    disable_triggers(owner)
    run_sql(owner, "DELETE FROM audit_leaf", "DELETE FROM audit_node", "DELETE FROM audit_checkpoint")
    progress = Progress()
    report = verify(log, progress=progress)
    assert report.ok, report.problems  # within the grace period: all pending
    assert progress.calls == []
    assert (report.size, report.covered, report.checkpoints_checked) == (0, 0, 0)
    assert report.pending == report.entries > 0


def test_verify_reads_one_snapshot_while_the_service_appends(log):
    """The service appends, sequences and signs between two batches: the counts, read
    last, must still agree with the leaves read first."""
    size = size_of(log)

    def busy(done: int, _end: int) -> None:
        if done == 8:
            append(log, 5)
            log.sequencer.drain()
            assert log.sequencer.checkpoint() is not None

    report = verify(log, batch=8, progress=busy)
    assert report.ok, report.problems
    assert (report.size, report.entries, report.covered, report.pending) == (size, size, size, 0)
    assert verify(log).size == size + 5


# -- checkpoint rows -----------------------------------------------------------------------


@pytest.mark.parametrize("column", ["root_hash", "timestamp_and_root"])
def test_a_checkpoint_row_that_differs_from_its_note_is_named(log, owner, column):
    """The note is what was signed; a row edited beside it (only its root) is a finding."""
    size = size_of(log)
    disable_triggers(owner)
    zero = "X'" + "00" * 32 + "'" if owner.dialect.name == "sqlite" else "'\\x" + "00" * 32 + "'::bytea"
    extra = ", timestamp = timestamp + 1" if column == "timestamp_and_root" else ""
    run_sql(owner, f"UPDATE audit_checkpoint SET root_hash = {zero}{extra}")
    report = verify(log)
    assert report.problems == [f"checkpoint at size {size}: row differs from its signed note"]
    assert report.checkpoints_checked == 1  # the note itself still verifies and is checked


def test_a_checkpoint_row_whose_size_differs_from_its_note_is_named(log, owner):
    size = size_of(log)
    disable_triggers(owner)
    run_sql(owner, f"UPDATE audit_checkpoint SET size = {size - 1}")
    report = verify(log)
    assert report.problems == [f"checkpoint at size {size - 1}: row differs from its signed note"]


def test_a_forged_note_does_not_stop_the_checks_of_later_ones(log, owner):
    first, second = second_checkpoint(log)
    with Session(log.engine) as session:
        note = session.get(AuditCheckpoint, first).note
    body, signature = note.rstrip("\n").rsplit(" ", 1)
    raw = bytearray(base64.b64decode(signature))
    raw[-1] ^= 1
    broken = f"{body} {base64.b64encode(bytes(raw)).decode()}\n"
    disable_triggers(owner)
    with owner.begin() as conn:
        conn.execute(sa.text("UPDATE audit_checkpoint SET note = :n WHERE size = :s"), {"n": broken, "s": first})
    report = verify(log)
    assert len(report.problems) == 1
    assert report.problems[0].startswith(f"checkpoint at size {first}: signature does not verify (")
    assert report.checkpoints_checked == 1 and report.covered == second


def test_the_newest_checkpoint_is_the_largest_whatever_order_the_rows_are_stored_in(log, owner, clock):
    """Delete and re-insert the older checkpoint row, and the first leaves: a table scan
    now meets them last."""
    first, second = second_checkpoint(log)
    disable_triggers(owner)
    run_sql(
        owner,
        f"CREATE TEMPORARY TABLE kept AS SELECT * FROM audit_checkpoint WHERE size = {first}",
        f"DELETE FROM audit_checkpoint WHERE size = {first}",
        "INSERT INTO audit_checkpoint SELECT * FROM kept",
        "CREATE TEMPORARY TABLE kept_leaves AS SELECT * FROM audit_leaf WHERE seq < 8",
        "DELETE FROM audit_leaf WHERE seq < 8",
        "INSERT INTO audit_leaf SELECT * FROM kept_leaves",
    )
    report = verify(log)
    assert report.ok and report.covered == second and report.checkpoints_checked == 2
    clock.advance(seconds=1_000)  # nothing after the newest checkpoint: still in time
    assert verify(log).ok


# -- entries deleted under their leaves ------------------------------------------------------


def test_an_entry_deleted_under_its_leaf_is_named_by_seq_and_id(log, owner):
    victim = entry_of_seq(log, 5)
    disable_triggers(owner)
    run_sql(owner, f"DELETE FROM audit_entry WHERE id = {victim}")
    report = verify(log)
    expected = ["entry of seq 5 is missing (deleted)"]
    if owner.dialect.name == "sqlite":
        high = size_of(log)
        expected.append(
            f"entry ids run to {high} but the log holds {high - 1} entries: 1 were deleted (first missing id {victim})"
        )
    assert report.problems == expected
    assert (report.first_bad_seq, report.first_bad_entry_id) == (5, victim)
    assert report.checkpoints_checked == 1  # the stored leaf stands in: the history still matches


def test_deleting_the_first_entry_names_id_1(log, owner):
    assert entry_of_seq(log, 0) == 1
    disable_triggers(owner)
    run_sql(owner, "DELETE FROM audit_entry WHERE id = 1")
    report = verify(log)
    assert report.first_bad_entry_id == 1 and "entry of seq 0 is missing (deleted)" in problems(report)
    if owner.dialect.name == "sqlite":
        assert "(first missing id 1)" in problems(report)


# -- tree nodes ------------------------------------------------------------------------------


def test_a_tampered_node_names_the_leaves_its_proofs_cover(log, owner):
    tamper_nodes(owner, [(2, 3)])
    report = verify(log, batch=8)
    assert report.problems == [
        "stored tree node (level 2, index 3) differs from the entries: proofs over seq 12..15 would not verify"
    ]


def test_ten_tampered_nodes_are_all_named(log, owner):
    nodes = [(0, i) for i in range(8)] + [(1, 0), (2, 0)]
    tamper_nodes(owner, nodes)
    report = verify(log)
    assert named_nodes(report) == nodes and len(report.problems) == 10


def test_past_ten_tampered_nodes_the_first_ten_are_named_by_level_then_index(log, owner):
    nodes = [(3, 0), (2, 0), (1, 0)] + [(0, i) for i in range(9)]  # 12
    tamper_nodes(owner, nodes)
    report = verify(log)
    assert named_nodes(report) == [(0, i) for i in range(9)] + [(1, 0)]
    assert report.problems[-1] == "… 2 more stored tree nodes differ" and len(report.problems) == 11


def test_the_limit_on_named_nodes_holds_across_batches(log, owner):
    tamper_nodes(owner, [(0, i) for i in range(11)])
    report = verify(log, batch=8)
    assert named_nodes(report) == [(0, i) for i in range(10)]
    assert report.problems[-1] == "… 1 more stored tree nodes differ"


@pytest.mark.filterwarnings("error::sqlalchemy.exc.SADeprecationWarning")
def test_a_batch_with_every_leaf_deleted_is_a_gap_and_adds_no_node_findings(log, owner):
    """Leaves 8..15 gone: the batch [8, 16) is empty and the tree built from the rest
    shifts, so stored nodes after the gap differ, the same number whatever the batches."""
    disable_triggers(owner)
    run_sql(owner, "DELETE FROM audit_leaf WHERE seq >= 8 AND seq < 16")
    small = verify(log, batch=8)
    assert small.problems[0] == "sequence gap: expected 8, found 16"
    assert small.first_bad_seq == 8
    whole = verify(log)
    more = [p for p in whole.problems if p.endswith("more stored tree nodes differ")]
    assert len(more) == 1 and [p for p in small.problems if p.endswith("more stored tree nodes differ")] == more
    assert small.pending == 8 and "do not add up" not in problems(small)  # unsequenced again


# -- the saved checkpoint ----------------------------------------------------------------------


def test_the_saved_checkpoint_is_a_witness(log):
    held = log.sequencer.sink.newest()
    report = verify(log, against=held)
    assert report.ok and report.witnesses == [f"the saved checkpoint (size {held.size})"]
    assert report.checkpoints_checked == 2
    report = verify(log, against=forged(log, held.size, bytes(32)))
    assert report.problems == [
        f"the saved checkpoint at size {held.size} disagrees with the log's checkpoint of that size",
        f"history up to seq {held.size - 1} differs from the saved checkpoint (size {held.size})",
    ]
    assert report.first_bad_seq == held.size - 1


@pytest.mark.parametrize("size", [10, 60])
def test_a_saved_checkpoint_names_the_first_bad_seq(log, size):
    """Within the log, the last seq of the history it disagrees with; beyond it, where the
    log now ends."""
    report = verify(log, against=forged(log, size, bytes(32)))
    held = size_of(log)
    if size < held:
        assert report.problems == [f"history up to seq {size - 1} differs from the saved checkpoint (size {size})"]
        assert report.first_bad_seq == size - 1
    else:
        assert report.problems == [
            f"the log has {held} entries but the saved checkpoint (size {size}) covers {size}: it was truncated"
        ]
        assert report.first_bad_seq == held


# -- counts and time -------------------------------------------------------------------------


def test_a_leaf_moved_out_of_the_sequence_leaves_the_counts_short(log, owner):
    """A leaf renumbered below 0 is in no batch: its entry is neither sequenced nor pending."""
    disable_triggers(owner)
    run_sql(owner, "UPDATE audit_leaf SET seq = -1 WHERE seq = 0")
    report = verify(log)
    size = size_of(log)
    assert report.problems[0] == "sequence gap: expected 0, found 1"
    assert report.problems[-1] == (
        f"{size - 1} sequenced and 0 pending entries do not add up to the {size} entries in the log: "
        "the leaf table was edited"
    )


def test_the_grace_period_ends_after_exactly_its_length(log, clock):
    """Entries exactly as old as the grace period are still in time, unsigned or unsequenced."""
    size = size_of(log)
    append(log, 2)
    log.sequencer.drain()  # sequenced, not signed
    append(log, 3)  # not sequenced
    clock.advance(seconds=GRACE_S)
    assert verify(log).ok, verify(log).problems
    clock.advance(seconds=1)
    report = verify(log)
    first_pending = size + 3
    assert report.problems == [
        f"3 entries written more than 300 s ago were never sequenced (first: entry id {first_pending}): the "
        "leaf table was wiped, or no sequencer has run since",
        f"the newest checkpoint (size {size}, signed 301 s ago) is older than its interval (5 s) while 2 entries "
        f"older than 300 s follow it (from seq {size}): checkpoints stopped being signed, or newer ones were deleted",
    ]


def test_without_any_checkpoint_every_old_sequenced_entry_is_counted(log, owner, clock):
    disable_triggers(owner)
    run_sql(owner, "DELETE FROM audit_checkpoint")
    clock.advance(seconds=GRACE_S + 1)
    report = verify(log)
    assert report.problems == [
        f"no signed checkpoint covers the log, yet {size_of(log)} sequenced entries are older than 300 s "
        "(from seq 0): the checkpoints were wiped, or none was ever signed"
    ]
