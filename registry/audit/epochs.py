"""Restore epochs (PRIVACY.md §5): a restored database holds a shorter log than the
checkpoints witnesses already keep, which is what verify must call a rewrite. So a restore
is declared: a security administrator, logged in, has the service sign a restore statement

    example.org/registry/audit        origin (and the signing key's name)
    restore 1                         the epoch it starts
    restored 1234 2cF1...Zw=          the restored log's size and root: the link to the old epoch
    anchor 1200 8dE...Q=              its newest checkpoint signed before the restore (or `anchor none`)
    point 1767225000                  the restore point: when its newest entry was written
    superseded 1300 9xQ...= 1767225600   the last witnessed checkpoint known (or `superseded none`)
    timestamp 1767300000              when it was declared
    by 6f1c...                        the account that declared it
    reason disaster                   a code (RestoreReason)

in the same signed-note envelope as checkpoints (a statement never parses as a checkpoint:
its second line is not a size). The new epoch's first entry, at sequence number `restored`,
is an `audit:restore` entry naming the statement's digest, so the statement is in the tree;
verify checks each statement, the restored root and the link, and accepts a witness ahead
of the restore point only where a statement declares it superseded. Entries witnessed
between the restore point and the superseded checkpoint are lost by the restore (its RPO),
declared, never silently.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Literal

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlmodel import Session, col, select

from registry.audit.actions import Action
from registry.audit.canonical import entry_leaf_hash
from registry.audit.checkpoints import Checkpoint, CheckpointError, open_note, sign_note
from registry.audit.log import Actor, AuditTrail, Event
from registry.audit.merkle import Frontier
from registry.audit.models import AuditCheckpoint, AuditEntry, AuditEpoch, AuditLeaf, AuditNode
from registry.audit.tree import Signer, lead, stored_hashes, tree_size
from registry.clock import Clock

if TYPE_CHECKING:  # the sink crosses an epoch by a statement: it imports this module
    from registry.audit.sink import CheckpointSink

_DECIMAL = r"(0|[1-9][0-9]{0,19})"
_ROOT = r"([A-Za-z0-9+/]{43}=)"
_ACCOUNT = r"[A-Za-z0-9-]{1,64}"


class RestoreReason(StrEnum):
    DISASTER = "disaster"  # the database server or its storage was lost
    CORRUPTION = "corruption"  # the database was damaged
    OPERATOR_ERROR = "operator_error"  # a wrong change undone by going back
    DRILL = "drill"  # a rehearsal of the procedure


class RestoreError(ValueError):
    """A restore statement is malformed, unsigned or cannot be declared."""


@dataclass(frozen=True)
class RestoreStatement:
    origin: str
    epoch: int
    restored_size: int
    restored_root: bytes
    anchor: Checkpoint | None  # the restored log's newest checkpoint signed before the restore
    point: int  # Unix seconds of the newest restored entry (0: an empty log)
    superseded: Checkpoint | None
    timestamp: int
    by: str
    reason: RestoreReason

    def body(self) -> str:
        root = base64.b64encode(self.restored_root).decode("ascii")
        anchor = "anchor none"
        if self.anchor is not None:
            anchor = f"anchor {self.anchor.size} {base64.b64encode(self.anchor.root_hash).decode('ascii')}"
        if self.superseded is None:
            superseded = "superseded none"
        else:
            held = self.superseded
            superseded = f"superseded {held.size} {base64.b64encode(held.root_hash).decode('ascii')} {held.timestamp}"
        return (
            f"{self.origin}\nrestore {self.epoch}\nrestored {self.restored_size} {root}\n{anchor}\n"
            f"point {self.point}\n"
            f"{superseded}\ntimestamp {self.timestamp}\nby {self.by}\nreason {self.reason}\n"
        )


_BODY = re.compile(
    rf"(?P<origin>[^\n]+)\nrestore (?P<epoch>[1-9][0-9]{{0,9}})\n"
    rf"restored (?P<size>{_DECIMAL}) (?P<root>{_ROOT})\n"
    rf"anchor (?:none|(?P<anchor_size>{_DECIMAL}) (?P<anchor_root>{_ROOT}))\npoint (?P<point>{_DECIMAL})\n"
    rf"superseded (?:none|(?P<old_size>{_DECIMAL}) (?P<old_root>{_ROOT}) (?P<old_time>{_DECIMAL}))\n"
    rf"timestamp (?P<timestamp>{_DECIMAL})\nby (?P<by>{_ACCOUNT})\nreason (?P<reason>[a-z_]{{1,32}})\n"
)


def statement_digest(note: str) -> str:
    """What the `audit:restore` entry names: SHA-256 of the whole signed note, hex."""
    return hashlib.sha256(note.encode("utf-8")).hexdigest()


def parse_statement(note: str, *, public_key: Ed25519PublicKey, origin: str) -> RestoreStatement:
    """The statement in `note`, once its signature by (`origin`, `public_key`) verifies."""
    try:
        text = open_note(note, public_key=public_key, name=origin)
    except CheckpointError as exc:
        raise RestoreError(f"restore statement does not verify ({exc})") from None
    match = _BODY.fullmatch(text)
    if match is None:
        raise RestoreError("malformed restore statement")
    if match["origin"] != origin:
        raise RestoreError("restore statement of another log")
    try:
        reason = RestoreReason(match["reason"])
        superseded = (
            None
            if match["old_size"] is None
            else Checkpoint(origin, int(match["old_size"]), _root(match["old_root"]), int(match["old_time"]))
        )
        anchor = (
            None
            if match["anchor_size"] is None
            else Checkpoint(origin, int(match["anchor_size"]), _root(match["anchor_root"]), 0)
        )
        return RestoreStatement(
            origin=origin,
            epoch=int(match["epoch"]),
            restored_size=int(match["size"]),
            restored_root=_root(match["root"]),
            anchor=anchor,
            point=int(match["point"]),
            superseded=superseded,
            timestamp=int(match["timestamp"]),
            by=match["by"],
            reason=reason,
        )
    except (ValueError, CheckpointError) as exc:
        raise RestoreError(f"malformed restore statement ({exc})") from None


def _root(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise RestoreError("malformed root hash") from None


def epochs(session: Session) -> list[AuditEpoch]:
    return list(session.exec(select(AuditEpoch).order_by(col(AuditEpoch.epoch))))


def newest_restore(
    session: Session, *, public_key: Ed25519PublicKey, origin: str
) -> tuple[RestoreStatement, str] | None:
    """The newest declared restore and its signed note (None: the log has one epoch)."""
    row = session.exec(select(AuditEpoch).order_by(col(AuditEpoch.epoch).desc()).limit(1)).first()
    if row is None:
        return None
    return parse_statement(row.statement, public_key=public_key, origin=origin), row.statement


def restore_point(session: Session, size: int) -> datetime | None:
    """When the newest entry of a log of `size` entries was written (None: an empty log)."""
    return session.exec(
        select(AuditEntry.at)
        .join(AuditLeaf, col(AuditLeaf.entry_id) == col(AuditEntry.id))
        .where(col(AuditLeaf.seq) == size - 1)
    ).first()


def declare_restore(
    session: Session,
    *,
    signer: Signer,
    clock: Clock,
    origin: str,
    actor: Actor,
    reason: RestoreReason,
    sink: CheckpointSink | None,
) -> RestoreStatement:
    """Start a new epoch on the log as it stands, in `session`'s transaction: sign the
    statement, append the `audit:restore` entry and sequence it first in the new epoch
    (before anything written since, such as the declaring login), record the epoch. The
    caller has sequenced everything the restored database held (`Sequencer.drain`)."""
    lead(session, wait=True)
    size = tree_size(session)
    frontier = Frontier.from_hash_source(stored_hashes(session), size)
    newest_at = restore_point(session, size)
    try:
        superseded = None if sink is None else sink.newest()
        kept = 0 if sink is None else sink.last_epoch()
    except CheckpointError as exc:
        raise RestoreError(f"the checkpoint sink holds a note that does not verify ({exc})") from None
    # Numbered past every epoch the database or the sink knows: a backup from before an
    # earlier restore knows none, the sink keeps its statement.
    last = max(session.exec(select(sa.func.max(AuditEpoch.epoch))).one() or 0, kept)
    anchor = session.exec(
        select(AuditCheckpoint).where(col(AuditCheckpoint.size) <= size).order_by(col(AuditCheckpoint.size).desc())
    ).first()
    # Never stamped before what it supersedes (a clock behind the lost server's).
    stamp = max(int(clock.now().timestamp()), 0 if superseded is None else superseded.timestamp + 1)
    statement = RestoreStatement(
        origin=origin,
        epoch=last + 1,
        restored_size=size,
        restored_root=frontier.root(),
        anchor=None if anchor is None else Checkpoint(origin, anchor.size, anchor.root_hash, 0),
        point=0 if newest_at is None else int(newest_at.timestamp()),
        superseded=superseded,
        timestamp=stamp,
        by=actor.account_id or "system",
        reason=reason,
    )
    note = sign_note(statement.body(), name=origin, sign=signer.sign, public_key=signer.public_key())
    before = session.exec(select(sa.func.max(AuditEntry.id))).one() or 0
    AuditTrail(clock, actor).append(
        session,
        Event(Action.AUDIT_RESTORE, targets=(f"epoch:{statement.epoch}", statement_digest(note)), reason=str(reason)),
    )
    entry = session.exec(select(AuditEntry).where(col(AuditEntry.id) > before).order_by(col(AuditEntry.id))).one()
    # Sequenced here, not by the sequencer: the entries pending now (written after the
    # restore point: the declaring login) must follow it, and the sequencer goes by id.
    assert entry.id is not None
    leaf = entry_leaf_hash(entry)
    session.add(AuditLeaf(seq=size, entry_id=entry.id, leaf_hash=leaf))
    session.add_all(AuditNode(level=lv, index=ix, hash=h) for lv, ix, h in frontier.append(leaf))
    session.add(AuditEpoch(epoch=statement.epoch, start_seq=size, statement=note))
    return statement


def undeclared_restore(session: Session, sink: CheckpointSink) -> str | None:
    """Why the service must not serve on this log, or None: the sink holds a checkpoint the
    stored tree does not extend, and no declared restore supersedes it (a restored backup
    not yet declared, or a log rewritten). O(log n) reads."""
    try:
        held = sink.newest()
    except (CheckpointError, OSError) as exc:
        return f"the checkpoint sink's note cannot be read or does not verify ({type(exc).__name__})"
    if held is None:
        return None
    size = tree_size(session)
    if held.size <= size:
        try:
            if Frontier.from_hash_source(stored_hashes(session), held.size).root() == held.root_hash:
                return None
        except LookupError:
            pass
    try:
        restore = newest_restore(session, public_key=sink.public_key, origin=sink.origin)
    except RestoreError as exc:
        return f"the newest restore statement does not verify ({exc})"
    if restore is not None and restore[0].superseded == held:
        statement = restore[0]
        try:
            extends = statement.restored_size <= size and (
                Frontier.from_hash_source(stored_hashes(session), statement.restored_size).root()
                == statement.restored_root
            )
        except LookupError:
            extends = False
        if extends:
            return None  # declared; the next checkpoint moves the sink across
        return f"the audit log does not extend the log the restore of epoch {statement.epoch} declared"
    return (
        f"the audit log ({size} entries) does not extend the checkpoint of {held.size} entries the checkpoint sink "
        "holds: after a restore, declare it (`registry audit declare-restore`); otherwise run `registry audit verify`"
    )


WitnessStatus = Literal["in_step", "behind", "ahead", "restore_declared", "conflict", "none", "does_not_verify"]


def witness_status(
    session: Session, sink: CheckpointSink, newest_size: int | None
) -> tuple[WitnessStatus, Checkpoint | None]:
    """What the witness (the checkpoint sink) holds beside the newest checkpoint of `newest_size`,
    judged against the stored tree as the service's start is (`undeclared_restore`):
    `conflict` when the log does not extend the witnessed tree (rolled back, truncated,
    rewritten, restored undeclared); `restore_declared` when a declared restore supersedes it
    and the next checkpoint moves the witness across; `ahead` when the witness holds a
    checkpoint signed but not yet stored (the sequencer hands it over before its commit);
    `behind` when the witness lags; `in_step`, `none`, `does_not_verify`."""
    try:
        held = sink.newest()
    except (CheckpointError, OSError, UnicodeDecodeError):
        return "does_not_verify", None
    if held is None:
        return "none", None
    if undeclared_restore(session, sink) is not None:
        return "conflict", held
    restore = newest_restore(session, public_key=sink.public_key, origin=sink.origin)
    if restore is not None and restore[0].superseded == held:
        return "restore_declared", held
    if newest_size is None or held.size > newest_size:
        return "ahead", held
    return ("in_step" if held.size == newest_size else "behind"), held
