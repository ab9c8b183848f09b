"""The sequencer: one leader assigns dense sequence numbers to committed entries, in
batches, extends the Merkle tree, and signs checkpoints while entries arrive.

Requests only insert entries (in their own transaction); the sequencer picks up whatever
has committed. Leadership is a PostgreSQL advisory lock taken per batch transaction (on
SQLite the database write lock serialises batches), so two sequencers never interleave
and a crash mid-batch rolls the whole batch back: the next batch redoes it.
"""

from __future__ import annotations

import logging
import threading
import time

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from registry.audit.canonical import entry_leaf_hash
from registry.audit.checkpoints import Checkpoint, sign_checkpoint
from registry.audit.epochs import RestoreError, newest_restore
from registry.audit.merkle import Frontier
from registry.audit.models import AuditCheckpoint, AuditEntry, AuditLeaf, AuditNode
from registry.audit.sink import CheckpointSink, WitnessConflict
from registry.audit.tree import Signer, lead, stored_hashes, tree_size
from registry.clock import Clock
from registry.db import insert_many, is_sqlite, read_only, table_of, transaction

log = logging.getLogger("registry.audit")
LOOKBACK_IDS = 50_000
STRAGGLER_SCAN_INTERVAL_S = 5.0
FULL_SCAN_INTERVAL_S = 60.0
_WHOLE_LOG = 0  # entry ids start at 1

_NEWEST_IDS = sa.select(
    sa.select(sa.func.max(AuditEntry.id)).scalar_subquery(),
    sa.select(sa.func.max(AuditLeaf.entry_id)).scalar_subquery(),
)


def _still_stored(session: Session, cached: Frontier, size: int) -> bool:
    """Whether the cached frontier is the stored tree's: the same size, and its smallest
    peak the stored node (one lookup). The size alone is not enough: a database put back
    to an earlier point under a running sequencer can grow to the cached size again with
    other entries, and nodes built on the old frontier would not verify."""
    if cached.size != size:
        return False
    if size == 0:
        return True
    height, digest = cached.peaks[-1]
    node = session.get(AuditNode, (height, (size >> height) - 1))
    return node is not None and node.hash == digest


class Sequencer:
    def __init__(
        self,
        engine: Engine,
        signer: Signer,
        clock: Clock,
        *,
        origin: str,
        batch: int = 1000,
        straggler_scan_interval_s: float = STRAGGLER_SCAN_INTERVAL_S,
        sink: CheckpointSink | None = None,
    ) -> None:
        self.engine, self.signer, self.clock, self.origin, self.batch = engine, signer, clock, origin, batch
        self.sink = sink
        self.straggler_scan_interval_s = straggler_scan_interval_s
        # On SQLite the write lock commits ids in order: nothing commits below a sequenced id.
        self._stragglers = not is_sqlite(engine)
        self._reader = read_only(engine)
        self._frontier: Frontier | None = None
        self._last_full_scan: float | None = None
        self._last_window_scan = 0.0
        self._checked_checkpoint_at: float | None = None

    def sequence_batch(self, *, wait: bool = False) -> int:
        """Sequence up to `batch` committed entries; returns how many. `wait` (PostgreSQL):
        when another process or thread leads, wait for its batch to commit, then look."""
        floor = self._scan_floor()
        if floor is None:
            return 0  # no write transaction: on SQLite it would queue every request behind it
        with transaction(self.engine) as session:
            if not lead(session, wait=wait):
                return 0
            size = tree_size(session)
            cached = self._frontier
            frontier = (
                Frontier.from_bytes(cached.to_bytes())
                if cached is not None and _still_stored(session, cached, size)
                else Frontier.from_hash_source(stored_hashes(session), size)
            )
            query = (
                select(AuditEntry)
                .outerjoin(AuditLeaf, col(AuditLeaf.entry_id) == col(AuditEntry.id))
                .where(col(AuditLeaf.seq).is_(None), col(AuditEntry.id) > floor)
                .order_by(col(AuditEntry.id))
                .limit(self.batch)
            )
            entries = session.exec(query).all()
            leaves: list[dict[str, object]] = []
            nodes: list[dict[str, object]] = []
            for offset, entry in enumerate(entries):
                assert entry.id is not None
                leaf = entry_leaf_hash(entry)
                leaves.append({"seq": size + offset, "entry_id": entry.id, "leaf_hash": leaf})
                nodes.extend({"level": lv, "index": ix, "hash": h} for lv, ix, h in frontier.append(leaf))
            if leaves:
                insert_many(session, table_of(AuditLeaf), leaves)
                insert_many(session, table_of(AuditNode), nodes)
        self._frontier = frontier
        return len(leaves)

    def _scan_floor(self) -> int | None:
        """The id above which to look for unsequenced entries, or None if nothing is new:
        above the newest sequenced one, an index lookup read without the write lock. Ids
        are handed out at insert, and on PostgreSQL an entry can commit below the newest
        sequenced one, so there a window behind it is searched every few seconds and the
        whole log every minute. The first batch of a process searches the whole log."""
        now = time.monotonic()
        if self._last_full_scan is None or (self._stragglers and now - self._last_full_scan >= FULL_SCAN_INTERVAL_S):
            self._last_full_scan = self._last_window_scan = now
            return _WHOLE_LOG
        with self._reader.connect() as conn:
            newest_entry, newest_sequenced = conn.execute(_NEWEST_IDS).one()
        if self._stragglers and now - self._last_window_scan >= self.straggler_scan_interval_s:
            self._last_window_scan = now
            return max(_WHOLE_LOG, (newest_sequenced or 0) - LOOKBACK_IDS)
        if newest_entry is None or (newest_sequenced is not None and newest_entry <= newest_sequenced):
            return None
        return newest_sequenced or _WHOLE_LOG

    def checkpoint(self, *, min_interval_s: float = 0.0) -> AuditCheckpoint | None:
        """Sign the current tree if it grew since the last checkpoint (and that is old enough)."""
        now_s = time.monotonic()
        checked = self._checked_checkpoint_at
        if min_interval_s and checked is not None and now_s - checked < min_interval_s:
            return None  # nothing can be due yet: spare the database a write transaction
        self._checked_checkpoint_at = now_s
        with transaction(self.engine) as session:
            if not lead(session):
                return None
            size = tree_size(session)
            last = session.exec(select(AuditCheckpoint).order_by(AuditCheckpoint.size.desc()).limit(1)).first()  # type: ignore[attr-defined]
            now = int(self.clock.now().timestamp())
            if size == 0 or (last is not None and (last.size >= size or now - last.timestamp < min_interval_s)):
                return None
            root = Frontier.from_hash_source(stored_hashes(session), size).root()
            checkpoint = Checkpoint(origin=self.origin, size=size, root_hash=root, timestamp=now)
            note = sign_checkpoint(checkpoint, sign=self.signer.sign, public_key=self.signer.public_key())
            self._publish(session, checkpoint, note)
            row = AuditCheckpoint(size=size, root_hash=root, timestamp=now, key_id=self.signer.key_id, note=note)
            session.add(row)
            return row

    def _publish(self, session: Session, checkpoint: Checkpoint, note: str) -> None:
        """Hand the note to the sink while holding leadership, so sinks see notes in order.
        A tree the sink's note does not extend is not signed into the database either
        (WitnessConflict rolls the transaction back); a sink that cannot be written only
        costs the witness its freshness, not the log its checkpoints."""
        if self.sink is None:
            return
        try:
            restore = newest_restore(session, public_key=self.signer.public_key(), origin=self.origin)
        except RestoreError as exc:
            raise WitnessConflict(f"the newest restore statement does not verify ({exc})") from None
        try:
            self.sink.publish(checkpoint, note, stored_hashes(session), restore)
        except WitnessConflict as exc:
            log.error("checkpoint refused: the log does not extend the witnessed tree", extra={"error": str(exc)})
            raise
        except OSError as exc:
            log.error("checkpoint sink could not be written", extra={"error": type(exc).__name__})

    def drain(self) -> int:
        """Sequence everything committed so far (CLI, tests, shutdown)."""
        self._last_full_scan = None  # look at the whole log once: no straggler is left behind
        total = 0
        # Waiting for the lead: a background sequencer's batch in flight is committed before
        # this one looks, so on return everything committed before the call is sequenced.
        while count := self.sequence_batch(wait=True):
            total += count
        return total


class SequencerThread:
    """Runs the sequencer in the background of a server process."""

    def __init__(self, sequencer: Sequencer, *, interval_s: float, checkpoint_interval_s: float) -> None:
        self.sequencer = sequencer
        self.interval_s, self.checkpoint_interval_s = interval_s, checkpoint_interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="audit-sequencer", daemon=True)
        self.last_success: float | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    @property
    def healthy(self) -> bool:
        return self._thread.is_alive() and self.last_success is not None

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.sequencer.sequence_batch() == self.sequencer.batch
                self.sequencer.checkpoint(min_interval_s=self.checkpoint_interval_s)
                self.last_success = time.monotonic()
            except Exception as exc:  # keep leading; the batch rolled back and is retried
                log.error("sequencer batch failed", extra={"error": type(exc).__name__})
                busy = False
            if not busy:
                self._stop.wait(self.interval_s)
        # Leave nothing committed unsequenced that this process could still do.
        try:
            self.sequencer.drain()
            self.sequencer.checkpoint()
        except Exception as exc:
            log.error("sequencer drain failed", extra={"error": type(exc).__name__})
