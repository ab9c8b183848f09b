"""Online, batched, resumable key rotation (PRIVACY.md §1).

- KEK: rewrap every DEK and index root under the provider's new KEK; data untouched.
- DEK: one pass over every sealed table; each batch writes a new version for the owners
  it meets (in the same transaction as the rows re-sealed under it, so no row names a key
  that is not there) and re-seals its rows. Then a read-only check of the key versions in
  the ciphertext headers re-seals what a concurrent write left on an older version, until
  nothing is; only then are the old versions destroyed.
- Index: a new root in `writing` state (every write now fills both), backfill, switch
  reads to it, drop the old version's entries.
Each batch is its own transaction and every step is idempotent, so a crash or kill
mid-way is resumed by running the same command again. The tables swept are the callers'
`registry.crypto.sealed.descriptors()`: every sealed table, never a hand-kept list.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from registry.crypto import indexes
from registry.crypto.ciphertext import DataKey, header_key_version
from registry.crypto.fields import seal
from registry.crypto.keyring import Compartment, Keyring, KeyStatus, forget
from registry.crypto.models import BlindIndexEntry, DataKeyRecord, DekRotation, IndexRootKey
from registry.crypto.reveal import open_sealed
from registry.crypto.sealed import SealedTable
from registry.db import chunked, read_only, transaction

Progress = Callable[[int, int], None]  # (done, total)


def _noop(done: int, total: int) -> None:
    pass


def _id_batches(engine: Engine, spec: SealedTable, batch: int) -> Iterator[list[object]]:
    table = spec.table
    last = None
    while True:
        query = sa.select(table.c[spec.id_column]).order_by(table.c[spec.id_column]).limit(batch)
        if spec.erased_column:
            query = query.where(table.c[spec.erased_column].is_(None))
        if last is not None:
            query = query.where(table.c[spec.id_column] > last)
        with engine.connect() as conn:
            ids = list(conn.execute(query).scalars())
        if not ids:
            return
        begun = time.perf_counter()
        yield ids  # the caller's batch runs here
        _step_aside(time.perf_counter() - begun)
        last = ids[-1]


# A batch is one transaction; on SQLite it holds the one write lock, which every request
# needs (its audit entry), and in the server the rotation shares the interpreter with the
# requests. So after each batch the rotation steps aside for a share of the time the batch
# took (not per row: the pause then fits the batch however fast it was), and requests
# waiting meanwhile get in: the rotation keeps ROTATION_SHARE of the wall time at most.
# The DEK pass also sizes its batches to take about a slice each, so that a request never
# waits much longer than that, however slow the machine is. PostgreSQL locks only the
# batch's rows (readers never wait for them): its slices are longer, for fewer commits and
# round trips.
ROTATION_SHARE = 0.8
MIN_PAUSE_S = 0.001
SLICE_S = {"sqlite": 0.05, "postgresql": 0.1}
MIN_BATCH = 20


def _step_aside(took_s: float) -> None:
    time.sleep(max(MIN_PAUSE_S, took_s * (1 - ROTATION_SHARE) / ROTATION_SHARE))


def _next_batch(rows: int, took_s: float, *, current: int, most: int, slice_s: float) -> int:
    """The batch size that should take about `slice_s`, judged by the last batch; it grows
    at most twofold a time (a batch of cached keys is no promise for the next)."""
    if rows < current:  # a short last batch says nothing about the rate
        return current
    fitted = int(rows * slice_s / max(took_s, 1e-6))
    return max(min(MIN_BATCH, most), min(most, 2 * current, fitted))


def _count(engine: Engine, spec: SealedTable) -> int:
    table = spec.table
    query = sa.select(sa.func.count()).select_from(table)
    if spec.erased_column:
        query = query.where(table.c[spec.erased_column].is_(None))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


# -- KEK ---------------------------------------------------------------------------------


def pending_kek_rewraps(session: Session, keyring: Keyring) -> int:
    current = keyring.provider.kek_version
    return session.exec(
        select(sa.func.count()).select_from(DataKeyRecord).where(DataKeyRecord.kek_version < current)
    ).one()


def rotate_kek(
    engine: Engine, keyring: Keyring, *, batch: int = 1000, progress: Progress = _noop, new_version: bool = True
) -> int:
    """Rewrap all DEKs and index roots under a new KEK; returns how many were rewrapped.
    With `new_version=False` it only finishes an interrupted rewrap."""
    if new_version:
        keyring.provider.rotate_kek()
    current = keyring.provider.kek_version
    with transaction(engine) as session:
        total = pending_kek_rewraps(session, keyring)
        for root in session.exec(
            select(IndexRootKey).where(IndexRootKey.kek_version < current, IndexRootKey.status != KeyStatus.RETIRED)
        ):
            keyring.rewrap_index_root(root)
    done = 0
    while True:
        with transaction(engine) as session:
            count = keyring.rewrap(session, below=current, limit=batch)
        if not count:
            return done
        done += count
        progress(done, total)


# -- DEK ---------------------------------------------------------------------------------


def _key_rows(session: Session, owners: set[str], compartment: Compartment) -> dict[str, dict[int, Any]]:
    """Owner → version → stored key row (owner_id, compartment, version, wrapped, created_at),
    one query per thousand owners; nothing is unwrapped yet. Owners without a key (shredded)
    are left out."""
    found: dict[str, dict[int, Any]] = {}
    for chunk in chunked(sorted(owners)):
        rows = session.execute(
            sa.select(*_KEY_ROW).where(
                col(DataKeyRecord.compartment) == compartment, col(DataKeyRecord.owner_id).in_(chunk)
            )
        )
        for row in rows:
            found.setdefault(row.owner_id, {})[row.version] = row
    return found


_KEY_ROW = (
    col(DataKeyRecord.owner_id),
    col(DataKeyRecord.compartment),
    col(DataKeyRecord.version),
    col(DataKeyRecord.wrapped),
    col(DataKeyRecord.created_at),
)


def _sealed_rows(spec: SealedTable) -> sa.Select[Any]:
    """Id, owner and every sealed column of the live (not erased) rows, in id order."""
    table = spec.table
    query = sa.select(table.c[spec.id_column], spec.owner_expression(), *[table.c[f"{c}_ct"] for c in spec.columns])
    if spec.erased_column:
        query = query.where(table.c[spec.erased_column].is_(None))
    return query.order_by(table.c[spec.id_column])


def rotate_deks(
    engine: Engine, keyring: Keyring, specs: list[SealedTable], *, batch: int = 1000, progress: Progress = _noop
) -> int:
    """New DEK version for every owner of every sealed table, every row re-sealed under it,
    the old versions destroyed. Returns rows re-sealed. `batch` bounds the rows per
    transaction; within it, batches are sized to take about SLICE_S."""
    with transaction(engine) as session:
        rotation = session.exec(select(DekRotation).where(col(DekRotation.finished_at).is_(None))).first()
        if rotation is None:
            rotation = DekRotation(started_at=keyring.clock.now())
            session.add(rotation)
            session.flush()
        rotation_id, started = rotation.id, rotation.started_at
    total = sum(_count(engine, s) for s in specs)
    done = resealed = 0
    # An owner appears in several tables (a person's registrations and permits): one new
    # version per owner and compartment in a run, however many rows and tables name it.
    bumped: set[tuple[str, Compartment]] = set()
    size = min(batch, 100)  # a first guess; `_next_batch` fits it to the slice
    slice_s = SLICE_S.get(engine.dialect.name, min(SLICE_S.values()))
    for spec in specs:
        last = None
        while True:
            begun = time.perf_counter()
            with transaction(engine) as session:
                last, seen, count = _rotate_batch(
                    session, keyring, spec, after=last, limit=size, started=started, bumped=bumped
                )
            if not seen:
                break
            took = time.perf_counter() - begun
            resealed += count
            done += seen
            progress(done, total)
            size = _next_batch(seen, took, current=size, most=batch, slice_s=slice_s)
            _step_aside(took)
    # Rows a concurrent write sealed under a version this pass had already superseded.
    resealed += sweep(engine, keyring, specs, batch=batch)
    with transaction(engine) as session:
        session.execute(
            sa.update(DekRotation).where(col(DekRotation.id) == rotation_id).values(finished_at=keyring.clock.now())
        )
    return resealed


def _rotate_batch(
    session: Session,
    keyring: Keyring,
    spec: SealedTable,
    *,
    after: object | None,
    limit: int,
    started: datetime,
    bumped: set[tuple[str, Compartment]],
) -> tuple[object | None, int, int]:
    """The next `limit` rows after id `after`: a new key version for their owners not yet
    given one, and the rows re-sealed under it. Returns (last id, rows seen, rows re-sealed)."""
    table = spec.table
    query = _sealed_rows(spec).limit(limit)
    if after is not None:
        query = query.where(table.c[spec.id_column] > after)
    # FOR UPDATE (PostgreSQL; on SQLite the writer lock serialises already): else a write
    # committed between this read and the UPDATE below is overwritten with the old value.
    rows = session.execute(query.with_for_update(of=table)).all()
    if not rows:
        return after, 0, 0
    compartment = spec.compartment
    stored = _key_rows(session, {str(row[1]) for row in rows if row[1] is not None}, compartment)
    # Resumable: an owner keyed after this rotation started (by a run that was cut short,
    # or by a write) keeps that key.
    wanted = []
    for owner, versions in sorted(stored.items()):
        newest = versions[max(versions)]
        if newest.created_at <= started and (owner, compartment) not in bumped:
            wanted.append((owner, compartment, newest.version + 1))
    # Written in this transaction, before the rows sealed under them (memoised as newest).
    fresh = {key.owner: key for key in keyring.new_keys(session, wanted)}
    bumped.update((owner, compartment) for owner, compartment, _ in wanted)
    newest_keys = _Newest(session, keyring, stored, fresh)
    return rows[-1][0], len(rows), _reseal(session, keyring, spec, rows, newest_keys)


class _Newest:
    """Each owner's newest DEK, unwrapped on first use only (a batch whose rows are already
    under it unwraps nothing); a key made in this batch is at hand."""

    def __init__(
        self, session: Session, keyring: Keyring, stored: dict[str, dict[int, Any]], fresh: dict[str | None, DataKey]
    ) -> None:
        self._session, self._keyring, self.stored, self._fresh = session, keyring, stored, fresh

    def version(self, owner: str) -> int | None:
        fresh = self._fresh.get(owner)
        if fresh is not None:
            return fresh.version
        versions = self.stored.get(owner)
        return max(versions) if versions else None

    def key(self, owner: str) -> DataKey:
        fresh = self._fresh.get(owner)
        if fresh is not None:
            return fresh
        versions = self.stored[owner]
        return self._keyring.open_row(self._session, versions[max(versions)])


def _reseal(session: Session, keyring: Keyring, spec: SealedTable, rows: Sequence[Any], newest: _Newest) -> int:
    """Re-seal the values of `rows` (id, owner, sealed columns, as `_sealed_rows` selects
    them, locked) that are not under their owner's newest key, with one executemany."""
    updates = []
    opened: set[tuple[str, int]] = set()  # (owner, version) whose stored key is memoised
    for rid, owner, *blobs in rows:
        owner = str(owner)
        version = newest.version(owner)
        if version is None:
            continue  # shredded: nothing under this owner can be opened, nor needs to be
        record_id = str(rid)
        values, changed = {"b_id": rid}, False
        for name, blob in zip(spec.columns, blobs, strict=True):
            values[f"b_{name}"] = blob
            # Cleared by erasure (empty) or never set (None): nothing to re-seal.
            if not blob or (old := header_key_version(blob)) == version:
                continue
            if (owner, old) not in opened:
                opened.add((owner, old))
                stored = newest.stored.get(owner, {}).get(old)
                if stored is not None:
                    keyring.open_row(session, stored)  # memoised: `open_sealed` finds it
            value = open_sealed(
                session,
                keyring,
                blob,
                owner=owner,
                compartment=spec.compartment,
                table=spec.table.name,
                column=name,
                record_id=record_id,
            )
            values[f"b_{name}"] = seal(
                newest.key(owner), value, table=spec.table.name, column=name, record_id=record_id
            )
            changed = True
        if changed:
            updates.append(values)
    if updates:
        # One executemany; a column left as it was is written back unchanged (the row is locked).
        table = spec.table
        session.execute(
            sa.update(table)
            .where(table.c[spec.id_column] == sa.bindparam("b_id"))
            .values({f"{name}_ct": sa.bindparam(f"b_{name}") for name in spec.columns}),
            updates,
        )
    return len(updates)


def sweep(
    engine: Engine, keyring: Keyring, specs: list[SealedTable], *, batch: int = 500, progress: Progress = _noop
) -> int:
    """Re-seal every value not under its owner's newest DEK until a check finds none left;
    only then are the older versions destroyed. The check reads the key version in each
    ciphertext's header (no key unwrapped, nothing decrypted; on SQLite as a WAL reader,
    holding no lock), so a finished pass is confirmed at a fraction of its cost."""
    resealed = 0
    while True:
        stale = {spec.name: _stale_ids(engine, spec) for spec in specs}
        total = sum(len(ids) for ids in stale.values())
        if not total:
            break
        done = 0
        for spec in specs:
            for ids in chunked(stale[spec.name], batch):
                begun = time.perf_counter()
                with transaction(engine) as session:
                    resealed += _reseal_batch(session, keyring, spec, list(ids))
                done += len(ids)
                progress(done, total)
                _step_aside(time.perf_counter() - begun)
    with transaction(engine) as session:
        _retire_unused(session)
    return resealed


SCAN_BATCH = 5000


def _stale_ids(engine: Engine, spec: SealedTable) -> list[object]:
    """Ids of the rows with a value under an older DEK version than their owner's newest."""
    table, last = spec.table, None
    stale: list[object] = []
    while True:
        query = _sealed_rows(spec).limit(SCAN_BATCH)
        if last is not None:
            query = query.where(table.c[spec.id_column] > last)
        begun = time.perf_counter()
        with read_only(engine).connect() as conn:
            rows = conn.execute(query).all()
            owners = sorted({str(row[1]) for row in rows if row[1] is not None})
            newest: dict[str, int] = {}
            for chunk in chunked(owners):
                for owner, found in conn.execute(
                    sa.select(col(DataKeyRecord.owner_id), sa.func.max(col(DataKeyRecord.version)))
                    .where(col(DataKeyRecord.compartment) == spec.compartment, col(DataKeyRecord.owner_id).in_(chunk))
                    .group_by(col(DataKeyRecord.owner_id))
                ):
                    newest[owner] = int(found)
        if not rows:
            return stale
        for rid, owner, *blobs in rows:
            version = newest.get(str(owner))
            if version is not None and any(blob and header_key_version(blob) != version for blob in blobs):
                stale.append(rid)
        last = rows[-1][0]
        _step_aside(time.perf_counter() - begun)


def _reseal_batch(session: Session, keyring: Keyring, spec: SealedTable, ids: list[object]) -> int:
    """Re-seal the rows `ids` (locked) under their owners' newest keys."""
    table = spec.table
    rows = session.execute(_sealed_rows(spec).where(table.c[spec.id_column].in_(ids)).with_for_update(of=table)).all()
    stored = _key_rows(session, {str(row[1]) for row in rows if row[1] is not None}, spec.compartment)
    return _reseal(session, keyring, spec, rows, _Newest(session, keyring, stored, {}))


def _retire_unused(session: Session) -> int:
    """Destroy every DEK version older than its owner's newest: the sweep left no row on it."""
    newest = (
        select(DataKeyRecord.owner_id, DataKeyRecord.compartment, sa.func.max(DataKeyRecord.version).label("v"))
        .group_by(DataKeyRecord.owner_id, DataKeyRecord.compartment)
        .subquery()
    )
    stale = session.execute(
        sa.select(col(DataKeyRecord.owner_id), col(DataKeyRecord.compartment), col(DataKeyRecord.version)).join(
            newest,
            sa.and_(
                col(DataKeyRecord.owner_id) == newest.c.owner_id,
                col(DataKeyRecord.compartment) == newest.c.compartment,
                col(DataKeyRecord.version) < newest.c.v,
            ),
        )
    ).all()
    if stale:
        table = DataKeyRecord.__table__  # type: ignore[attr-defined]
        session.execute(
            table.delete().where(
                table.c.owner_id == sa.bindparam("b_owner"),
                table.c.compartment == sa.bindparam("b_compartment"),
                table.c.version == sa.bindparam("b_version"),
            ),
            [{"b_owner": o, "b_compartment": c, "b_version": v} for o, c, v in stale],
        )
    return len(stale)


# -- blind index -------------------------------------------------------------------------


def rotate_index(
    engine: Engine,
    keyring: Keyring,
    specs: list[SealedTable],
    *,
    batch: int = 200,
    progress: Progress = _noop,
    before_retire: Callable[[], object] | None = None,
) -> int:
    """Dual write, backfill, switch reads, drop the old version. Returns entries backfilled.
    `before_retire` runs once everything is under the new root and just before the old
    roots are destroyed: what else keys off the index roots (account seals) moves there."""
    with transaction(engine) as session:
        roots = keyring.index_roots(session)
        writing = [r for r in roots if r.status == KeyStatus.WRITING]
        # Resumable: an interrupted rotation left its `writing` root; keep filling it.
        new_version = (
            writing[-1].version if writing else keyring.add_index_root(session, status=KeyStatus.WRITING).version
        )
    total = sum(_count(engine, s) for s in specs)
    done = filled = 0
    for spec in specs:
        for ids in _id_batches(engine, spec, batch):
            with transaction(engine) as session:
                filled += _backfill_batch(session, keyring, spec, ids, new_version)
            done += len(ids)
            progress(done, total)
    if before_retire is not None:
        before_retire()
    with transaction(engine) as session:
        live = select(IndexRootKey).where(col(IndexRootKey.status) != KeyStatus.RETIRED)
        for root in session.exec(live):
            if root.version < new_version:
                root.status = KeyStatus.RETIRED
                root.wrapped = b""  # the old root key is destroyed, not just set aside
                session.execute(sa.delete(BlindIndexEntry).where(col(BlindIndexEntry.version) == root.version))
            elif root.version == new_version:
                root.status = KeyStatus.ACTIVE
        forget(session)  # the live roots memoised in this session are these no longer
    return filled


def _backfill_batch(session: Session, keyring: Keyring, spec: SealedTable, ids: list[object], version: int) -> int:
    table = spec.table
    needed = spec.index_reads
    if not needed:
        return 0
    rows = session.execute(
        sa.select(table.c[spec.id_column], spec.owner_expression(), *[table.c[f"{c}_ct"] for c in needed]).where(
            table.c[spec.id_column].in_(ids)
        )
    ).all()
    count = 0
    for rid, owner, *blobs in rows:
        record_id = str(rid)
        opened = {
            name: None
            if not blob
            else open_sealed(
                session,
                keyring,
                blob,
                owner=str(owner),
                compartment=spec.compartment,
                table=spec.table.name,
                column=name,
                record_id=record_id,
            )
            for name, blob in zip(needed, blobs, strict=True)
        }
        for index in spec.indexes:
            value = index.normalise(opened)
            if value is not None:
                indexes.put(
                    session,
                    keyring,
                    table=spec.name,
                    field=index.field,
                    record_id=record_id,
                    value=value,
                    version=version,
                )
                count += 1
    return count


@dataclass(frozen=True)
class KeyStatusRow:
    purpose: str
    version: int
    status: str
    count: int
    created_at: datetime | None  # the earliest of the group; the KEK's lives in the provider


def key_status(session: Session, keyring: Keyring) -> list[KeyStatusRow]:
    """What exists, by purpose, version and state; counts only, never material."""
    rows = [KeyStatusRow("kek", keyring.provider.kek_version, "active", 1, None)]
    for compartment, version, status, count, created_at in session.execute(
        sa.select(
            col(DataKeyRecord.compartment),
            col(DataKeyRecord.version),
            col(DataKeyRecord.status),
            sa.func.count(),
            sa.func.min(col(DataKeyRecord.created_at)),
        )
        .group_by(col(DataKeyRecord.compartment), col(DataKeyRecord.version), col(DataKeyRecord.status))
        .order_by(col(DataKeyRecord.compartment), col(DataKeyRecord.version))
    ):
        rows.append(KeyStatusRow(f"dek:{compartment}", version, status, count, created_at))
    for root in session.exec(select(IndexRootKey).order_by(col(IndexRootKey.version))):
        rows.append(KeyStatusRow("index", root.version, root.status, 1, root.created_at))
    return rows
