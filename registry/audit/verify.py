"""`registry audit verify`: recompute the whole log and check it against every signed
checkpoint, and optionally against a checkpoint an auditor saved earlier (a witness).

Someone who controls the database can edit rows, disable triggers and rebuild the tree,
but cannot sign: a rewrite shows up as a root that no longer matches a signature.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy.engine import Engine
from sqlmodel import Session, select

from registry.audit.canonical import ENTRY_COLUMNS, record_bytes
from registry.audit.checkpoints import Checkpoint, CheckpointError, parse_signed_note
from registry.audit.merkle import Frontier, leaf_hash
from registry.audit.models import AuditCheckpoint, AuditEntry, AuditLeaf
from registry.audit.sequencer import stored_hashes
from registry.db import create_engine, read_only

Progress = Callable[[int, int], None]


@dataclass
class VerifyReport:
    size: int = 0
    checkpoints_checked: int = 0
    pending: int = 0  # committed entries not yet sequenced (not an error)
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


def _checkpoints(session: Session, public_key: Ed25519PublicKey, origin: str, report: VerifyReport) -> dict[int, bytes]:
    """Signed roots by size; a row whose note does not verify, or disagrees with its own
    columns, is itself a finding."""
    roots: dict[int, bytes] = {}
    for row in session.exec(select(AuditCheckpoint).order_by(AuditCheckpoint.size)):  # type: ignore[arg-type]
        try:
            signed = parse_signed_note(row.note, public_key=public_key, origin=origin)
        except CheckpointError as exc:
            report.fail(f"checkpoint at size {row.size}: signature does not verify ({exc})")
            continue
        if signed.size != row.size or signed.root_hash != row.root_hash:
            report.fail(f"checkpoint at size {row.size}: row differs from its signed note")
        roots[signed.size] = signed.root_hash
    return roots


def verify_log(
    engine: Engine,
    public_key: Ed25519PublicKey,
    origin: str,
    *,
    against: Checkpoint | None = None,
    progress: Progress | None = None,
    batch: int = 20_000,
    workers: int = 1,
) -> VerifyReport:
    """Recompute the log as it stands when the call begins. With `workers` > 1, processes
    of their own recompute the leaf hashes of batches side by side (the canonical bytes of
    each entry are the cost); this process checks them in order and builds the tree."""
    report = VerifyReport()
    # One snapshot of the log, read without holding up the service's writers.
    with Session(read_only(engine)) as session:
        roots = _checkpoints(session, public_key, origin, report)
        if against is not None:
            roots.setdefault(against.size, against.root_hash)
            if roots[against.size] != against.root_hash:
                report.fail(f"the saved checkpoint at size {against.size} disagrees with the log's checkpoint")
                roots[against.size] = against.root_hash
        newest = session.exec(select(sa.func.max(AuditLeaf.seq))).one()
        end = 0 if newest is None else newest + 1
        report.pending = session.exec(
            select(sa.func.count())
            .select_from(AuditEntry)
            .outerjoin(AuditLeaf, AuditLeaf.entry_id == AuditEntry.id)
            .where(AuditLeaf.seq.is_(None))  # type: ignore[union-attr]
        ).one()
        ranges = [(lo, min(lo + batch, end)) for lo in range(0, end, batch)]
        frontier = Frontier()
        expected = 0
        with contextlib.ExitStack() as stack:
            if workers > 1 and len(ranges) > 1:
                pool = stack.enter_context(_worker_pool(session, min(workers, len(ranges))))
                checked = pool.map(_checked_in_worker, ranges)
            else:
                checked = (_checked_leaves(session, lo, hi) for lo, hi in ranges)
            for leaves in checked:
                for seq, entry_id, stored, recomputed in leaves:
                    if seq != expected:
                        report.fail(f"sequence gap: expected {expected}, found {seq}", seq=expected)
                        expected = seq
                    if recomputed is None:
                        report.fail(f"entry of seq {seq} is missing (deleted)", seq=seq, entry_id=entry_id)
                        recomputed = stored
                    elif recomputed != stored:
                        report.fail(f"entry of seq {seq} was altered", seq=seq, entry_id=entry_id)
                    frontier.append(recomputed)
                    expected += 1
                    if expected in roots:
                        report.checkpoints_checked += 1
                        if frontier.root() != roots[expected]:
                            report.fail(
                                f"history up to seq {expected - 1} differs from the checkpoint signed at size "
                                f"{expected}",
                                seq=expected - 1,
                            )
                if progress is not None:
                    progress(expected, end)
        report.size = expected
        beyond = [size for size in roots if size > expected]
        if beyond:
            report.fail(
                f"the log has {expected} entries but a checkpoint covers {max(beyond)}: it was truncated", seq=expected
            )
        if expected and not report.problems:
            try:
                stored_root = Frontier.from_hash_source(stored_hashes(session), expected).root()
            except LookupError:
                stored_root = None
            if stored_root != frontier.root():
                report.fail("stored tree nodes disagree with the entries (proofs would not verify)")
    return report


Checked = list[tuple[int, int, bytes, bytes | None]]
_LEAF_COLUMNS = (AuditLeaf.seq, AuditLeaf.entry_id.label("leaf_entry_id"), AuditLeaf.leaf_hash)
_ENTRY_NAMES = tuple(c.name for c in ENTRY_COLUMNS)
_ENTRY_ID = _ENTRY_NAMES.index("id")


def _checked_leaves(session: Session, lo: int, hi: int) -> Checked:
    """(seq, entry id, stored leaf hash, leaf hash recomputed from the entry or None if
    the entry is gone) for the sequence numbers in [lo, hi)."""
    # Core rows, not ORM objects: building two objects per entry dominated the cost.
    rows = session.execute(
        sa.select(*_LEAF_COLUMNS, *ENTRY_COLUMNS)
        .select_from(AuditLeaf)
        .outerjoin(AuditEntry, AuditEntry.id == AuditLeaf.entry_id)
        .where(AuditLeaf.seq >= lo, AuditLeaf.seq < hi)
        .order_by(AuditLeaf.seq)
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
    engine = session.get_bind()
    role = None
    if engine.dialect.name == "postgresql":
        current, login = session.execute(sa.text("SELECT current_user, session_user")).one()
        role = current if current != login else None
    url = engine.url.render_as_string(hide_password=False)
    context = multiprocessing.get_context("spawn")
    return ProcessPoolExecutor(workers, mp_context=context, initializer=_open_worker, initargs=(url, role))


def _open_worker(url: str, role: str | None) -> None:
    global _worker_engine
    _worker_engine = read_only(create_engine(url, role=role))


def _checked_in_worker(bounds: tuple[int, int]) -> Checked:
    assert _worker_engine is not None
    with Session(_worker_engine) as session:
        return _checked_leaves(session, *bounds)
