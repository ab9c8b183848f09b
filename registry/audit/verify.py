"""`registry audit verify`: recompute the whole log and check it against every signed
checkpoint, and against witnesses: checkpoints kept outside the database (the checkpoint
sink, a note an auditor saved earlier).

Someone who controls the database can edit rows, disable triggers and rebuild the tree,
but cannot sign: a rewrite shows up as a root that no longer matches a signature. A wipe
of the signed state itself (leaves, nodes, checkpoints) shows up as entries that no
checkpoint covers long after the service would have signed one, as entry ids that the
counts do not account for, and as a log shorter than, or different from, a witness.

A restore (PRIVACY.md §5) starts a new log epoch from a signed restore statement
(`registry.audit.epochs`): verify checks each statement, that the log it restored has the
root it declares (the link), and that the new epoch begins with the entry naming it. A
witness that predates a statement and lies beyond its restore point is accepted only
where the statement declares it superseded; anywhere else a witness beyond the log is a
truncation, and one that differs is a rewrite.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from registry.audit.actions import Action, Outcome
from registry.audit.canonical import ENTRY_COLUMNS, record_bytes
from registry.audit.checkpoints import Checkpoint, CheckpointError, parse_signed_note
from registry.audit.epochs import RestoreError, RestoreStatement, epochs, parse_statement, statement_digest
from registry.audit.log import AuditTrail, Event
from registry.audit.merkle import Frontier, leaf_hash
from registry.audit.models import AuditCheckpoint, AuditEntry, AuditLeaf, AuditNode
from registry.audit.sink import CheckpointSink
from registry.db import create_engine, is_sqlite, read_only, same_login

Progress = Callable[[int, int], None]
_MAX_NODE_PROBLEMS = 10  # a rebuilt tree differs everywhere: name the first few nodes


@dataclass(frozen=True)
class Witness:
    """A checkpoint held outside the database, and where it came from (for the report)."""

    source: str
    checkpoint: Checkpoint


@dataclass(frozen=True)
class Timeliness:
    """What "covered in time" means: an entry older than `grace_s` at `now` must be under a
    signed checkpoint (the service signs one every `checkpoint_interval_s` while entries
    arrive)."""

    now: datetime
    grace_s: float
    checkpoint_interval_s: float

    @property
    def cutoff(self) -> datetime:
        return self.now - timedelta(seconds=self.grace_s)


@dataclass
class VerifyReport:
    size: int = 0  # sequenced entries (tree size)
    entries: int = 0  # entries in the entry table
    checkpoints_checked: int = 0
    covered: int = 0  # tree size of the newest signed checkpoint in the database
    pending: int = 0  # committed entries not yet sequenced (an error only past the grace period)
    witnesses: list[str] = field(default_factory=list)  # the witnesses checked, described
    epochs: list[str] = field(default_factory=list)  # declared restores, described
    problems: list[str] = field(default_factory=list)
    first_bad_seq: int | None = None
    first_bad_entry_id: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, problem: str, *, seq: int | None = None, entry_id: int | None = None) -> None:
        self.problems.append(problem)
        if seq is not None and self.first_bad_seq is None:
            self.first_bad_seq, self.first_bad_entry_id = seq, entry_id


# Roots the recomputed tree must reach, by size: (what signed or witnessed it, root).
Expected = dict[int, list[tuple[str, bytes]]]


def _checkpoints(
    session: Session, public_key: Ed25519PublicKey, origin: str, report: VerifyReport
) -> tuple[Expected, AuditCheckpoint | None]:
    """Signed roots by size, and the newest row whose note verifies; a row whose note does
    not verify, or disagrees with its own columns, is itself a finding."""
    roots: Expected = {}
    newest = None
    for row in session.exec(select(AuditCheckpoint).order_by(AuditCheckpoint.size)):  # type: ignore[arg-type]
        try:
            signed = parse_signed_note(row.note, public_key=public_key, origin=origin)
        except CheckpointError as exc:
            report.fail(f"checkpoint at size {row.size}: signature does not verify ({exc})")
            continue
        if signed.size != row.size or signed.root_hash != row.root_hash:
            report.fail(f"checkpoint at size {row.size}: row differs from its signed note")
        roots.setdefault(signed.size, []).append((f"the checkpoint signed at size {signed.size}", signed.root_hash))
        newest = row
    return roots, newest


def _epochs(
    session: Session, public_key: Ed25519PublicKey, origin: str, roots: Expected, report: VerifyReport
) -> list[RestoreStatement]:
    """The declared restores, in order; each restored root becomes a root the recomputed
    tree must reach at the restore point (the link between the epochs)."""
    statements: list[RestoreStatement] = []
    for row in epochs(session):
        try:
            statement = parse_statement(row.statement, public_key=public_key, origin=origin)
        except RestoreError as exc:
            report.fail(f"the restore statement of epoch {row.epoch}: {exc}")
            continue
        if statement.epoch != row.epoch or statement.restored_size != row.start_seq:
            report.fail(f"epoch {row.epoch}: the row differs from its signed restore statement")
        # Numbers rise, with gaps: a restore to before an earlier one loses that one's row.
        if statements and statement.restored_size <= statements[-1].restored_size:
            report.fail(f"epoch {statement.epoch} starts before epoch {statements[-1].epoch} does")
        label = f"the restore statement of epoch {statement.epoch}"
        roots.setdefault(statement.restored_size, []).append((label, statement.restored_root))
        if statement.anchor is not None:  # the restored part is pinned by a signature of its own
            anchor = (f"the anchor of epoch {statement.epoch}", statement.anchor.root_hash)
            roots.setdefault(statement.anchor.size, []).append(anchor)
        statements.append(statement)
        report.epochs.append(_describe(statement))
    return statements


def _describe(statement: RestoreStatement) -> str:
    lost = ""
    if statement.superseded is not None and statement.superseded.size > statement.restored_size:
        lost = (
            f"; it superseded the witnessed tree of {statement.superseded.size} entries "
            f"(seq {statement.restored_size}..{statement.superseded.size - 1} of the earlier epoch are lost)"
        )
    return (
        f"epoch {statement.epoch} from seq {statement.restored_size}: restore declared at {statement.timestamp} "
        f"by account {statement.by} ({statement.reason}), restore point {statement.point}{lost}"
    )


def _check_restore_entries(session: Session, report: VerifyReport) -> None:
    """Each epoch begins with the `audit:restore` entry naming its statement (read from
    the rows: one whose statement does not parse still needs its entry), and no such entry
    stands without its statement."""
    query = (
        sa.select(col(AuditLeaf.seq), col(AuditEntry.action), col(AuditEntry.targets))
        .select_from(AuditEntry)
        .join(AuditLeaf, col(AuditLeaf.entry_id) == col(AuditEntry.id), isouter=True)
        .where(col(AuditEntry.action) == Action.AUDIT_RESTORE)
    )
    found = {tuple(targets): seq for seq, _, targets in session.execute(query)}
    for row in epochs(session):
        named = (f"epoch:{row.epoch}", statement_digest(row.statement))
        seq = found.pop(named, None)
        if seq != row.start_seq:
            where = "is missing" if seq is None else f"is at seq {seq}"
            report.fail(f"epoch {row.epoch} must begin with its audit:restore entry at seq {row.start_seq}: it {where}")
    for targets, seq in found.items():
        report.fail(f"an audit:restore entry (seq {seq}, {targets[0] if targets else '?'}) has no restore statement")


def _witnessed(
    roots: Expected, witnesses: Sequence[Witness], statements: Sequence[RestoreStatement], report: VerifyReport
) -> None:
    for witness in witnesses:
        size, root = witness.checkpoint.size, witness.checkpoint.root_hash
        report.witnesses.append(f"{witness.source} (size {size})")
        if _superseded(witness, statements, report):
            continue
        if any(signed != root for _, signed in roots.get(size, ())):
            report.fail(f"{witness.source} at size {size} disagrees with the log's checkpoint of that size")
        roots.setdefault(size, []).append((f"{witness.source} (size {size})", root))


def _superseded(witness: Witness, statements: Sequence[RestoreStatement], report: VerifyReport) -> bool:
    """Whether a declared restore accounts for `witness`: it was signed before the first
    restore declared after it and lies beyond that restore's point, within the checkpoint
    the restore declared superseded. One beyond that is a finding: the restore hid it."""
    held = witness.checkpoint
    # Signed before the statement (in the same second only the checkpoint it supersedes:
    # the first checkpoint of the new epoch is signed in the second it was declared).
    after = next((s for s in statements if held.timestamp < s.timestamp or held == s.superseded), None)
    if after is None or held.size <= after.restored_size:
        return False  # the current tree, or the part of it a restore kept: checked as usual
    old = after.superseded
    if old is not None and held.size <= old.size and held.timestamp <= old.timestamp:
        if held.size == old.size and held.root_hash != old.root_hash:
            report.fail(f"{witness.source} differs from the checkpoint the restore of epoch {after.epoch} superseded")
        else:
            report.epochs.append(
                f"{witness.source} is of the epoch before {after.epoch}, superseded by its restore (what it "
                f"witnessed beyond seq {after.restored_size - 1} was lost: it is not checked)"
            )
        return True
    report.fail(
        f"{witness.source} (size {held.size}) predates the restore of epoch {after.epoch} and lies beyond both its "
        "restore point and the checkpoint it declared superseded: the restore statement hides history"
    )
    return True


def verify_log(
    engine: Engine,
    public_key: Ed25519PublicKey,
    origin: str,
    *,
    against: Checkpoint | None = None,
    witnesses: Sequence[Witness] = (),
    timeliness: Timeliness | None = None,
    progress: Progress | None = None,
    batch: int = 20_000,
    workers: int = 1,
    kept_restores: Sequence[RestoreStatement] = (),
) -> VerifyReport:
    """Recompute the log as it stands when the call begins. With `workers` > 1, processes
    of their own recompute the leaf hashes of batches side by side (the canonical bytes of
    each entry are the cost); this process checks them in order, builds the tree and
    compares every stored node. Without `timeliness`, entries left uncovered are counted
    but not judged (the CLI always judges them)."""
    report = VerifyReport()
    witnesses = [*witnesses, *([Witness("the saved checkpoint", against)] if against is not None else [])]
    # One snapshot of the log, read without holding up the service's writers: the counts
    # below must agree with each other while the service keeps appending.
    with Session(read_only(engine)) as session:
        if engine.dialect.name == "postgresql":
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        roots, newest_checkpoint = _checkpoints(session, public_key, origin, report)
        report.covered = 0 if newest_checkpoint is None else newest_checkpoint.size
        statements = _epochs(session, public_key, origin, roots, report)
        # Statements the sink kept (signed: their own evidence) account for witnesses too,
        # also one whose epoch a later restore to an earlier point took from the database.
        known = {(s.epoch, s.timestamp) for s in statements}
        extra = [s for s in kept_restores if (s.epoch, s.timestamp) not in known]
        _witnessed(roots, witnesses, sorted([*statements, *extra], key=lambda s: s.timestamp), report)
        newest = session.exec(select(sa.func.max(AuditLeaf.seq))).one()
        end = 0 if newest is None else newest + 1
        ranges = [(lo, min(lo + batch, end)) for lo in range(0, end, batch)]
        frontier = Frontier()
        expected = present = node_problems = 0
        with contextlib.ExitStack() as stack:
            if workers > 1 and len(ranges) > 1:
                pool = stack.enter_context(_worker_pool(session, min(workers, len(ranges))))
                checked = pool.map(_checked_in_worker, ranges)
            else:
                checked = (_checked_leaves(session, lo, hi) for lo, hi in ranges)
            for leaves in checked:
                first = frontier.size
                nodes: list[tuple[int, int, bytes]] = []
                for seq, entry_id, stored, recomputed in leaves:
                    if seq != expected:
                        report.fail(f"sequence gap: expected {expected}, found {seq}", seq=expected)
                        expected = seq
                    if recomputed is None:
                        report.fail(f"entry of seq {seq} is missing (deleted)", seq=seq, entry_id=entry_id)
                        recomputed = stored
                    else:
                        present += 1
                        if recomputed != stored:
                            report.fail(f"entry of seq {seq} was altered", seq=seq, entry_id=entry_id)
                    nodes += frontier.append(recomputed)
                    expected += 1
                    for label, root in roots.get(expected, ()):
                        report.checkpoints_checked += 1
                        if frontier.root() != root:
                            report.fail(f"history up to seq {expected - 1} differs from {label}", seq=expected - 1)
                node_problems += _compare_nodes(session, nodes, first, frontier.size, report, node_problems)
                if progress is not None:
                    progress(expected, end)
        report.size = expected
        for size in sorted(size for size in roots if size > expected):
            for label, _ in roots[size]:
                report.fail(f"the log has {expected} entries but {label} covers {size}: it was truncated", seq=expected)
        if node_problems > _MAX_NODE_PROBLEMS:
            report.fail(f"… {node_problems - _MAX_NODE_PROBLEMS} more stored tree nodes differ")
        _check_counts(session, report, present, timeliness)
        _check_restore_entries(session, report)
        if timeliness is not None:
            _check_coverage(session, report, newest_checkpoint, end, timeliness)
    return report


def _compare_nodes(
    session: Session, nodes: list[tuple[int, int, bytes]], lo: int, hi: int, report: VerifyReport, known: int
) -> int:
    """Compare the subtrees completed by leaves [lo, hi) with the stored ones (proofs are
    built from those, so a tampered node would serve proofs that fail). Returns how many differ."""
    if hi <= lo:
        return 0
    # At level l, leaves [lo, hi) complete exactly the nodes [lo >> l, hi >> l).
    ranges: list[sa.ColumnElement[bool]] = []
    level = 0
    while hi >> level > lo >> level:
        ranges.append(
            sa.and_(
                col(AuditNode.level) == level, col(AuditNode.index) >= lo >> level, col(AuditNode.index) < hi >> level
            )
        )
        level += 1
    query = sa.select(col(AuditNode.level), col(AuditNode.index), col(AuditNode.hash)).where(sa.or_(*ranges))
    stored = {(level, index): digest for level, index, digest in session.execute(query)}
    differing = 0
    for level, index, digest in sorted(nodes):  # named by level, then index
        found = stored.get((level, index))
        if found == digest:
            continue
        differing += 1
        if known + differing <= _MAX_NODE_PROBLEMS:
            state = "is missing" if found is None else "differs from the entries"
            report.fail(
                f"stored tree node (level {level}, index {index}) {state}: proofs over seq "
                f"{index << level}..{((index + 1) << level) - 1} would not verify"
            )
    return differing


def _check_counts(session: Session, report: VerifyReport, present: int, timeliness: Timeliness | None) -> None:
    """Every entry is either sequenced once or pending, and (where ids are dense) no id is
    missing: a deleted entry whose leaf was wiped too leaves a hole in the ids."""
    entries, low, high = session.execute(
        sa.select(sa.func.count(), sa.func.min(col(AuditEntry.id)), sa.func.max(col(AuditEntry.id)))
    ).one()
    report.entries = entries
    unsequenced = (
        sa.select(sa.func.count())
        .select_from(AuditEntry)
        .outerjoin(AuditLeaf, col(AuditLeaf.entry_id) == col(AuditEntry.id))
        .where(col(AuditLeaf.seq).is_(None))
    )
    report.pending = session.execute(unsequenced).one()[0]
    if present + report.pending != entries:
        report.fail(
            f"{present} sequenced and {report.pending} pending entries do not add up to the {entries} entries "
            "in the log: the leaf table was edited"
        )
    # On SQLite ids are dense: a rolled-back insert gives its id back. On PostgreSQL a
    # rolled-back request burns sequence values, so a hole there is no evidence.
    if is_sqlite(session.get_bind().engine) and entries and high != entries:
        report.fail(
            f"entry ids run to {high} but the log holds {entries} entries: {high - entries} were deleted "
            f"(first missing id {_first_missing_id(session, low)})"
        )
    if timeliness is not None and report.pending:
        stale, oldest = session.execute(
            unsequenced.with_only_columns(sa.func.count(), sa.func.min(col(AuditEntry.id))).where(
                col(AuditEntry.at) < timeliness.cutoff
            )
        ).one()
        if stale:
            report.fail(
                f"{stale} entries written more than {timeliness.grace_s:g} s ago were never sequenced "
                f"(first: entry id {oldest}): the leaf table was wiped, or no sequencer has run since"
            )


def _first_missing_id(session: Session, low: int) -> int:
    if low > 1:
        return 1
    after = sa.orm.aliased(AuditEntry)
    gap = session.execute(
        # Asked only when ids have a hole: the smallest id without a successor is below the largest.
        sa.select(sa.func.min(col(AuditEntry.id))).where(~sa.exists().where(col(after.id) == col(AuditEntry.id) + 1))
    ).scalar_one()
    return int(gap) + 1


def _check_coverage(
    session: Session, report: VerifyReport, newest: AuditCheckpoint | None, end: int, timeliness: Timeliness
) -> None:
    """Sequenced entries beyond the newest checkpoint are fine for an interval; past the
    grace period the signer has stopped, or the checkpoints were wiped."""
    covered = 0 if newest is None else newest.size
    if end <= covered:
        return
    stale, first = session.execute(
        sa.select(sa.func.count(), sa.func.min(col(AuditLeaf.seq)))
        .select_from(AuditLeaf)
        .join(AuditEntry, col(AuditEntry.id) == col(AuditLeaf.entry_id))
        .where(col(AuditLeaf.seq) >= covered, col(AuditLeaf.seq) < end, col(AuditEntry.at) < timeliness.cutoff)
    ).one()
    if not stale:
        return
    if newest is None:
        report.fail(
            f"no signed checkpoint covers the log, yet {stale} sequenced entries are older than "
            f"{timeliness.grace_s:g} s (from seq {first}): the checkpoints were wiped, or none was ever signed"
        )
        return
    age = int(timeliness.now.timestamp()) - newest.timestamp
    report.fail(
        f"the newest checkpoint (size {newest.size}, signed {age} s ago) is older than its interval "
        f"({timeliness.checkpoint_interval_s:g} s) while {stale} entries older than {timeliness.grace_s:g} s "
        f"follow it (from seq {first}): checkpoints stopped being signed, or newer ones were deleted"
    )


Checked = list[tuple[int, int, bytes, bytes | None]]
_LEAF_COLUMNS: tuple[sa.SQLColumnExpression[int], sa.SQLColumnExpression[int], sa.SQLColumnExpression[bytes]] = (
    col(AuditLeaf.seq),
    col(AuditLeaf.entry_id).label("leaf_entry_id"),
    col(AuditLeaf.leaf_hash),
)
_ENTRY_NAMES = tuple(c.name for c in ENTRY_COLUMNS)
_ENTRY_ID = _ENTRY_NAMES.index("id")


def _checked_leaves(session: Session, lo: int, hi: int) -> Checked:
    """(seq, entry id, stored leaf hash, leaf hash recomputed from the entry or None if
    the entry is gone) for the sequence numbers in [lo, hi)."""
    # Core rows, not ORM objects: building two objects per entry dominated the cost.
    rows = session.execute(
        sa.select(*_LEAF_COLUMNS, *ENTRY_COLUMNS)
        .select_from(AuditLeaf)
        .outerjoin(AuditEntry, col(AuditEntry.id) == col(AuditLeaf.entry_id))
        .where(col(AuditLeaf.seq) >= lo, col(AuditLeaf.seq) < hi)
        .order_by(col(AuditLeaf.seq))
    ).all()
    checked: Checked = []
    for row in rows:
        entry = row[len(_LEAF_COLUMNS) :]
        recomputed = (
            None if entry[_ENTRY_ID] is None else leaf_hash(record_bytes(dict(zip(_ENTRY_NAMES, entry, strict=True))))
        )
        checked.append((row[0], row[1], row[2], recomputed))
    return checked


# -- worker processes --------------------------------------------------------------------

_worker_engine: Engine | None = None


def _worker_pool(session: Session, workers: int) -> ProcessPoolExecutor:
    """Processes started afresh (not forked from a process that may run threads), each with
    an engine of its own on the same database, acting as the same role."""
    url, role = same_login(session.connection())
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_open_worker, initargs=(url, role))


def _open_worker(url: str, role: str | None) -> None:
    global _worker_engine
    _worker_engine = read_only(create_engine(url, role=role))


def _checked_in_worker(bounds: tuple[int, int]) -> Checked:
    assert _worker_engine is not None
    with Session(_worker_engine) as session:
        return _checked_leaves(session, *bounds)


def sink_witness(sink: CheckpointSink, *, in_data_dir: bool) -> Witness | None:
    """The checkpoint sink's newest note as a witness (None while it holds none); raises
    `CheckpointError` or `OSError` when the note cannot be used."""
    held = sink.newest()
    if held is None:
        return None
    where = " inside the data directory, so not independent" if in_data_dir else ""
    return Witness(f"the checkpoint sink {sink}{where}", held)


def record(session: Session, trail: AuditTrail, report: VerifyReport) -> None:
    """A verify run on the record (`/metrics` and the alerts read it): allowed when the log
    verified, denied with its first problem otherwise (sizes and sequence numbers only)."""
    if report.ok:
        event = Event(Action.AUDIT_VERIFY, Outcome.ALLOWED, reason=f"verified {report.size} entries")
    else:
        event = Event(Action.AUDIT_VERIFY, Outcome.DENIED, reason=report.problems[0][:200])
    trail.append(session, event)
