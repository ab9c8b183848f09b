"""Online, batched, resumable key rotation (PRIVACY.md §1).

- KEK: rewrap every DEK and index root under the provider's new KEK; data untouched.
- DEK: a new version per owner and compartment (written before any row uses it); the
  sweeper re-encrypts rows still on an older version; old versions are destroyed only
  when a full pass finds zero rows using them.
- Index: a new root in `writing` state (every write now fills both), backfill, switch
  reads to it, drop the old version's entries.
Each batch is its own transaction and every step is idempotent, so a crash or kill
mid-way is resumed by running the same command again. The tables swept are the callers'
`registry.crypto.sealed.descriptors()`: every sealed table, never a hand-kept list.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from registry.crypto import indexes
from registry.crypto.ciphertext import header_key_version
from registry.crypto.fields import seal
from registry.crypto.keyring import Compartment, Keyring, KeyStatus
from registry.crypto.models import BlindIndexEntry, DataKeyRecord, DekRotation, IndexRootKey
from registry.crypto.reveal import open_sealed
from registry.crypto.sealed import SealedTable
from registry.db import chunked, transaction

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
        yield ids
        last = ids[-1]
        _yield_to_requests(engine, len(ids))


# SQLite has one writer, and every request writes (its audit entry): between batches the
# rotation steps aside, in proportion to how long it held the lock (up to a busy handler's
# longest sleep, 100 ms), so that waiting requests get in and the rotation stays online.
SQLITE_PAUSE_PER_ROW_S = 0.0005
SQLITE_PAUSE_MAX_S = 0.1


def _yield_to_requests(engine: Engine, rows: int) -> None:
    if engine.dialect.name == "sqlite":
        time.sleep(min(SQLITE_PAUSE_MAX_S, rows * SQLITE_PAUSE_PER_ROW_S))


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


def _owners(session: Session, spec: SealedTable, ids: list[object]) -> dict[object, str]:
    table = spec.table
    rows = session.execute(
        sa.select(table.c[spec.id_column], spec.owner_expression()).where(table.c[spec.id_column].in_(ids))
    )
    return {rid: str(owner) for rid, owner in rows if owner is not None}


def _newest_keys(session: Session, owners: set[str], compartment: Compartment) -> dict[str, tuple[int, datetime]]:
    """Owner → (newest DEK version, when it was made), one query per thousand owners; owners
    without a key (shredded) are left out."""
    newest: dict[str, tuple[int, datetime]] = {}
    for chunk in chunked(sorted(owners)):
        rows = session.execute(
            sa.select(col(DataKeyRecord.owner_id), col(DataKeyRecord.version), col(DataKeyRecord.created_at)).where(
                col(DataKeyRecord.compartment) == compartment,
                col(DataKeyRecord.owner_id).in_(chunk),
            )
        )
        for owner, version, created_at in rows:
            if owner not in newest or version > newest[owner][0]:
                newest[owner] = (version, created_at)
    return newest


def rotate_deks(
    engine: Engine, keyring: Keyring, specs: list[SealedTable], *, batch: int = 200, progress: Progress = _noop
) -> int:
    """New DEK version for every owner of every sealed table, then sweep. Returns rows re-sealed."""
    with transaction(engine) as session:
        rotation = session.exec(select(DekRotation).where(col(DekRotation.finished_at).is_(None))).first()
        if rotation is None:
            rotation = DekRotation(started_at=keyring.clock.now())
            session.add(rotation)
            session.flush()
        rotation_id, started = rotation.id, rotation.started_at
    total = sum(_count(engine, s) for s in specs)
    done = 0
    # An owner appears in several tables (a person's registrations and permits): one new
    # version per owner and compartment in a run, however many rows and tables name it.
    bumped: set[tuple[str, Compartment]] = set()
    for spec in specs:
        for ids in _id_batches(engine, spec, batch):
            with transaction(engine) as session:
                owners = set(_owners(session, spec, ids).values())
                newest = _newest_keys(session, owners, spec.compartment)
                # Resumable: an owner keyed after this rotation started (by a run that was
                # cut short, or by a write) keeps that key.
                wanted = [
                    (owner, spec.compartment, version + 1)
                    for owner, (version, created_at) in sorted(newest.items())
                    if created_at <= started and (owner, spec.compartment) not in bumped
                ]
                keyring.new_keys(session, wanted)
                bumped.update((owner, compartment) for owner, compartment, _ in wanted)
            done += len(ids)
            progress(done, total * 2)
    resealed = sweep(engine, keyring, specs, batch=batch, progress=lambda d, t: progress(total + d, total * 2))
    with transaction(engine) as session:
        session.execute(
            sa.update(DekRotation).where(col(DekRotation.id) == rotation_id).values(finished_at=keyring.clock.now())
        )
    return resealed


def sweep(
    engine: Engine, keyring: Keyring, specs: list[SealedTable], *, batch: int = 200, progress: Progress = _noop
) -> int:
    """Re-seal every value not under its owner's newest DEK, pass after pass until a pass
    finds nothing left; only then are the older versions destroyed."""
    total = sum(_count(engine, s) for s in specs)
    resealed = 0
    while True:
        this_pass = done = 0
        for spec in specs:
            for ids in _id_batches(engine, spec, batch):
                with transaction(engine) as session:
                    this_pass += _reseal_batch(session, keyring, spec, ids)
                done += len(ids)
                progress(done, total)
        resealed += this_pass
        if this_pass == 0:
            break
    with transaction(engine) as session:
        _retire_unused(session)
    return resealed


def _reseal_batch(session: Session, keyring: Keyring, spec: SealedTable, ids: list[object]) -> int:
    table = spec.table
    cols = [table.c[f"{c}_ct"] for c in spec.columns]
    # FOR UPDATE (PostgreSQL; on SQLite the writer lock serialises already): else a write
    # committed between this read and the UPDATE below is overwritten with the old value.
    rows = session.execute(
        sa.select(table.c[spec.id_column], spec.owner_expression(), *cols)
        .where(table.c[spec.id_column].in_(ids))
        .with_for_update(of=table)
    ).all()
    # Every key version of the batch's owners in one query, so `open_sealed` below finds
    # them memoised instead of querying per row.
    newest = keyring.load_keys(session, owners={str(row[1]) for row in rows}, compartment=spec.compartment)
    updates = []
    for rid, owner, *blobs in rows:
        key = newest.get(str(owner))
        if key is None:
            continue  # shredded: nothing under this owner can be opened, nor needs to be
        owner = str(owner)
        record_id = str(rid)
        values, changed = {"b_id": rid}, False
        for name, blob in zip(spec.columns, blobs, strict=True):
            values[f"b_{name}"] = blob
            # Cleared by erasure (empty) or never set (None): nothing to re-seal.
            if not blob or header_key_version(blob) == key.version:
                continue
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
            values[f"b_{name}"] = seal(key, value, table=spec.table.name, column=name, record_id=record_id)
            changed = True
        if changed:
            updates.append(values)
    if updates:
        # One executemany; a column left as it was is written back unchanged (the row is locked).
        session.execute(
            sa.update(table)
            .where(table.c[spec.id_column] == sa.bindparam("b_id"))
            .values({f"{name}_ct": sa.bindparam(f"b_{name}") for name in spec.columns}),
            updates,
        )
    return len(updates)


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
    engine: Engine, keyring: Keyring, specs: list[SealedTable], *, batch: int = 200, progress: Progress = _noop
) -> int:
    """Dual write, backfill, switch reads, drop the old version. Returns entries backfilled."""
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
    with transaction(engine) as session:
        for root in keyring.index_roots(session):
            if root.version < new_version:
                root.status = KeyStatus.RETIRED
                root.wrapped = b""  # the old root key is destroyed, not just set aside
                session.execute(sa.delete(BlindIndexEntry).where(col(BlindIndexEntry.version) == root.version))
            elif root.version == new_version:
                root.status = KeyStatus.ACTIVE
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
