"""`registry audit verify`: recompute the whole log and check it against every signed
checkpoint, and optionally against a checkpoint an auditor saved earlier (a witness).

Someone who controls the database can edit rows, disable triggers and rebuild the tree,
but cannot sign: a rewrite shows up as a root that no longer matches a signature.
"""

from __future__ import annotations

from collections.abc import Callable
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
from registry.db import read_only

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
) -> VerifyReport:
    report = VerifyReport()
    # One snapshot of the log, read without holding up the service's writers.
    with Session(read_only(engine)) as session:
        roots = _checkpoints(session, public_key, origin, report)
        if against is not None:
            roots.setdefault(against.size, against.root_hash)
            if roots[against.size] != against.root_hash:
                report.fail(f"the saved checkpoint at size {against.size} disagrees with the log's checkpoint")
                roots[against.size] = against.root_hash
        total = session.exec(select(sa.func.count()).select_from(AuditLeaf)).one()
        report.pending = session.exec(
            select(sa.func.count())
            .select_from(AuditEntry)
            .outerjoin(AuditLeaf, AuditLeaf.entry_id == AuditEntry.id)
            .where(AuditLeaf.seq.is_(None))  # type: ignore[union-attr]
        ).one()
        frontier = Frontier()
        expected = 0
        leaf_columns = (AuditLeaf.seq, AuditLeaf.entry_id.label("leaf_entry_id"), AuditLeaf.leaf_hash)
        while True:
            # Core rows, not ORM objects: building two objects per entry dominated the cost.
            rows = session.execute(
                sa.select(*leaf_columns, *ENTRY_COLUMNS)
                .select_from(AuditLeaf)
                .outerjoin(AuditEntry, AuditEntry.id == AuditLeaf.entry_id)
                .where(AuditLeaf.seq >= expected)
                .order_by(AuditLeaf.seq)
                .limit(batch)
            ).all()
            if not rows:
                break
            for row in rows:
                values = row._mapping
                seq, entry_id = values["seq"], values["leaf_entry_id"]
                if seq != expected:
                    report.fail(f"sequence gap: expected {expected}, found {seq}", seq=expected)
                    expected = seq
                if values["id"] is None:
                    report.fail(f"entry of seq {seq} is missing (deleted)", seq=seq, entry_id=entry_id)
                    recomputed = values["leaf_hash"]
                else:
                    recomputed = leaf_hash(record_bytes({c.name: values[c.name] for c in ENTRY_COLUMNS}))
                    if recomputed != values["leaf_hash"]:
                        report.fail(f"entry of seq {seq} was altered", seq=seq, entry_id=entry_id)
                frontier.append(recomputed)
                expected += 1
                if expected in roots:
                    report.checkpoints_checked += 1
                    if frontier.root() != roots[expected]:
                        report.fail(
                            f"history up to seq {expected - 1} differs from the checkpoint signed at size {expected}",
                            seq=expected - 1,
                        )
            if progress is not None:
                progress(expected, total)
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
