"""Per-person, per-compartment data keys (DEKs) and blind-index keys, wrapped by the KEK.

Every read selects the wrapped key row, so a shredded key is gone for every process at
once; only the unwrap (the costly part, on an HSM a round trip) is cached, keyed by the
wrapped bytes themselves, so a KEK rewrap or a shred can never serve a stale key.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Collection, Sequence
from datetime import datetime
from enum import StrEnum
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlmodel import Session, col, select

from registry.clock import Clock
from registry.crypto.blind_index import IndexKey
from registry.crypto.ciphertext import DataKey as DataKey  # re-exported: domains hold keys, never open with them
from registry.crypto.erasure_journal import ErasureJournal
from registry.crypto.models import CryptoConfig, DataKeyRecord, ErasureRecord, IndexRootKey
from registry.crypto.providers import KeyProvider
from registry.crypto.suites import Suite
from registry.db import chunked, insert_many, table_of
from registry.errors import ConfigurationError, Gone

ROOT_KEY_BYTES = 32


class Compartment(StrEnum):
    IDENTITY = "identity"
    RESIDENCE = "residence"
    CASEFILE = "casefile"


class KeyStatus(StrEnum):
    WRITING = "writing"
    ACTIVE = "active"
    RETIRED = "retired"


class RootRef(NamedTuple):
    """What deriving an index key needs of a root, when a query selected just that."""

    version: int
    wrapped: bytes


class LiveRoot(NamedTuple):
    """A live index root as its readers need it (`Keyring.index_roots`): read at every
    search, so plain columns, not an ORM object to build and track."""

    version: int
    wrapped: bytes
    status: str


class _KeyRow(NamedTuple):
    owner_id: str
    compartment: str
    version: int
    wrapped: bytes


class KeyErased(Gone):
    def __init__(self) -> None:
        super().__init__("the record was erased (its keys were destroyed)")


log = logging.getLogger("registry.crypto")
_JOURNAL_HOOK = "registry.erasure_journal_hook"
_JOURNAL_PENDING = "registry.erasure_journal_pending"


def _journal_after_commit(session: Session, journal: ErasureJournal) -> None:
    """Once the shredding transaction commits, journal its erasures in one of their own. A
    failure there leaves them recorded in the database, journaled before the service next
    starts (`open_runtime`) or with the next erasure: never lost, never journaled before
    they are sure. The listeners stay for the session's life; a flag says there is work."""
    session.info[_JOURNAL_PENDING] = True
    if session.info.get(_JOURNAL_HOOK):
        return
    session.info[_JOURNAL_HOOK] = True
    engine = session.get_bind()

    def journal_them(done: Session) -> None:
        if done.get_nested_transaction() is not None or not done.info.pop(_JOURNAL_PENDING, False):
            return  # a savepoint released (not committed yet), or no erasure since the last
        try:
            with Session(engine) as side:
                journal.flush(side)
                side.commit()
        except Exception as exc:  # the erasure stands; its journal line follows later
            log.error("erasure journal not written yet: %s", type(exc).__name__)

    def forget_it(done: Session) -> None:
        if done.get_nested_transaction() is None:  # the outermost rolled back: nothing to journal
            done.info.pop(_JOURNAL_PENDING, None)

    sa.event.listen(session, "after_commit", journal_them)
    sa.event.listen(session, "after_rollback", forget_it)


def _dek_aad(owner: str, compartment: str, version: int) -> bytes:
    return f"registry|dek|{owner}|{compartment}|{version}".encode()


def _index_aad(version: int) -> bytes:
    return f"registry|index-root|{version}".encode()


# One stored DEK version, as plain columns (every disclosure reads one; no ORM object needed).
_KEY_COLUMNS = (
    col(DataKeyRecord.owner_id),
    col(DataKeyRecord.compartment),
    col(DataKeyRecord.version),
    col(DataKeyRecord.wrapped),
)
_KEY_QUERY = sa.select(*_KEY_COLUMNS).where(
    col(DataKeyRecord.owner_id) == sa.bindparam("owner"),
    col(DataKeyRecord.compartment) == sa.bindparam("compartment"),
    col(DataKeyRecord.version) == sa.bindparam("version"),
)


_REWRAP = (
    sa.update(table_of(DataKeyRecord))
    .where(
        col(DataKeyRecord.owner_id) == sa.bindparam("k_owner"),
        col(DataKeyRecord.compartment) == sa.bindparam("k_compartment"),
        col(DataKeyRecord.version) == sa.bindparam("k_version"),
        col(DataKeyRecord.wrapped) == sa.bindparam("k_wrapped"),
    )
    .values(wrapped=sa.bindparam("new_wrapped"), kek_version=sa.bindparam("new_kek"))
)


class _UnwrapCache:
    """Bounded LRU of unwrapped keys by wrapped bytes. Holds key objects whose repr hides them."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[bytes, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, wrapped: bytes) -> bytes | None:
        with self._lock:
            value = self._items.get(wrapped)
            if value is not None:
                self._items.move_to_end(wrapped)
            return value

    def put(self, wrapped: bytes, secret: bytes) -> None:
        with self._lock:
            self._items[wrapped] = secret
            self._items.move_to_end(wrapped)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def __repr__(self) -> str:
        return f"_UnwrapCache(size={len(self._items)}/{self._size})"


def _memo(session: Session) -> dict[object, Any]:
    """Keys looked up in this session's transaction; a shred or rotation step clears it.
    Sessions live for one request or one batch, so another process's shred is seen at once.
    Values: a `DataKey` under a ("dek" | "newest", ...) tuple, the index roots under "roots"."""
    memo: dict[object, Any] = session.info.setdefault("registry.keyring", {})
    return memo


def forget(session: Session) -> None:
    _memo(session).clear()


def configured_suite(session: Session) -> tuple[Suite, int]:
    config = session.get(CryptoConfig, 1)
    if config is None:
        raise ConfigurationError("the key tables are not initialised: run `registry init`")
    return Suite(config.suite), config.index_bits


def record_suite(session: Session, clock: Clock, *, suite: Suite, index_bits: int) -> None:
    """At init: record the suite; a different one on an initialised database is refused."""
    config = session.get(CryptoConfig, 1)
    if config is None:
        session.add(CryptoConfig(suite=suite, index_bits=index_bits, created_at=clock.now()))
    elif config.suite != suite:
        raise ConfigurationError(f"this database uses the {config.suite} suite; it cannot change to {suite}")


# Every search and index write reads them (once per transaction): built once.
_LIVE_ROOTS = (
    sa.select(col(IndexRootKey.version), col(IndexRootKey.wrapped), col(IndexRootKey.status))
    .where(col(IndexRootKey.status) != KeyStatus.RETIRED)
    .order_by(col(IndexRootKey.version))
)


class Keyring:
    def __init__(
        self,
        provider: KeyProvider,
        suite: Suite,
        clock: Clock,
        *,
        index_bits: int,
        cache_size: int = 10_000,
        journal: ErasureJournal | None = None,
    ) -> None:
        self.provider, self.suite, self.clock, self.index_bits = provider, suite, clock, index_bits
        # Where every shred is also written (the runtime always gives one; tools that never
        # shred may go without).
        self.journal = journal
        self._cache = _UnwrapCache(cache_size)
        # Derived per-field index keys, by (wrapped root, table, field): a handful of entries.
        self._index_keys: dict[tuple[bytes, str, str], IndexKey] = {}

    def __repr__(self) -> str:
        return f"Keyring(suite={self.suite}, provider={self.provider.name})"

    # -- data keys -------------------------------------------------------------------------

    def _unwrap(self, row: DataKeyRecord) -> DataKey:
        secret = self._cache.get(row.wrapped)
        if secret is None:
            secret = self.provider.unwrap(row.wrapped, aad=_dek_aad(row.owner_id, row.compartment, row.version))
            self._cache.put(row.wrapped, secret)
        return DataKey(secret, suite=self.suite, version=row.version, owner=row.owner_id, compartment=row.compartment)

    def _generate(
        self, owner: str, compartment: str, version: int, kek_version: int, now: datetime
    ) -> tuple[DataKey, dict[str, Any]]:
        """A fresh DEK and its wrapped key row (column values), not yet written. `kek_version`
        is read before wrapping: if the KEK rotates in between, the row names the older
        version and the rewrap sweep picks it up, never the other way round."""
        key = DataKey.generate(self.suite, version=version, owner=owner, compartment=compartment)
        row = {
            "owner_id": owner,
            "compartment": compartment,
            "version": version,
            "wrapped": self.provider.wrap(key.get_secret_value(), aad=_dek_aad(owner, compartment, version)),
            "kek_version": kek_version,
            "status": KeyStatus.ACTIVE,
            "created_at": now,
        }
        return key, row

    def _new_key(self, session: Session, owner: str, compartment: str, version: int) -> DataKey:
        key, row = self._generate(owner, compartment, version, self.provider.kek_version, self.clock.now())
        # The key row commits in the same transaction as any row that uses it, or before.
        session.add(DataKeyRecord(**row))
        _memo(session)[("dek", owner, compartment, version)] = key
        return key

    def write_key(self, session: Session, *, owner: str, compartment: Compartment) -> DataKey:
        """The newest DEK of the owner's compartment, created on first use."""
        memo = _memo(session)
        cached: DataKey | None = memo.get(("newest", owner, compartment))
        if cached is not None:
            return cached
        row = session.exec(
            select(DataKeyRecord)
            .where(DataKeyRecord.owner_id == owner, DataKeyRecord.compartment == compartment)
            .order_by(col(DataKeyRecord.version).desc())
            .limit(1)
        ).first()
        key = self._new_key(session, owner, compartment, 1) if row is None else self._unwrap(row)
        memo[("newest", owner, compartment)] = key
        return key

    def new_owner_key(self, session: Session, *, owner: str, compartment: Compartment) -> DataKey:
        """The first DEK of an owner created in this transaction (no lookup needed)."""
        key = self._new_key(session, owner, compartment, 1)
        _memo(session)[("newest", owner, compartment)] = key
        return key

    def new_keys(self, session: Session, wanted: Sequence[tuple[str, Compartment, int]]) -> list[DataKey]:
        """New DEKs for many (owner, compartment, version) at once, written with one
        executemany and memoised as each owner's newest: a bulk import's `new_owner_key`
        (version 1), a rotation batch's `add_version` (the newest + 1)."""
        memo = _memo(session)
        keys, rows = [], []
        kek_version, now = self.provider.kek_version, self.clock.now()
        for owner, compartment, version in wanted:
            key, row = self._generate(owner, compartment, version, kek_version, now)
            memo[("dek", owner, compartment, version)] = memo[("newest", owner, compartment)] = key
            keys.append(key)
            rows.append(row)
        insert_many(session, table_of(DataKeyRecord), rows)
        return keys

    def load_keys(self, session: Session, *, owners: Collection[str], compartment: Compartment) -> dict[str, DataKey]:
        """Every stored DEK version of many owners with one query per thousand owners, memoised
        as `read_key` and `write_key` would; returns each owner's newest (owners without a key
        are left out). A bulk import's lookups, instead of one query per record."""
        memo = _memo(session)
        newest: dict[str, DataKey] = {}
        for chunk in chunked(sorted(owners)):
            rows = session.execute(
                sa.select(*_KEY_COLUMNS)
                .where(col(DataKeyRecord.compartment) == compartment, col(DataKeyRecord.owner_id).in_(chunk))
                .order_by(col(DataKeyRecord.version))
            )
            for row in rows:
                cached = ("dek", row.owner_id, compartment, row.version)
                key = memo.get(cached)
                if key is None:
                    key = memo[cached] = self._unwrap(row)  # type: ignore[arg-type]
                newest[row.owner_id] = key
        for owner, key in newest.items():
            memo.setdefault(("newest", owner, compartment), key)
        return newest

    def open_row(self, session: Session, row: Any) -> DataKey:
        """The DEK of a key row the caller selected (its `owner_id`, `compartment`, `version`
        and `wrapped`), memoised as `read_key` would: a sweep that reads many owners' rows
        at once unwraps only the versions it actually uses."""
        memo = _memo(session)
        cached = ("dek", row.owner_id, row.compartment, row.version)
        key: DataKey | None = memo.get(cached)
        if key is None:
            key = memo[cached] = self._unwrap(row)
        return key

    @staticmethod
    def newest_key_columns(
        *, owner: str | sa.ColumnElement[str], compartment: Compartment
    ) -> list[sa.ScalarSelect[Any]]:
        """The owner's newest key row (version, wrapped) as two scalar subqueries, for a read
        that selects the record and its key in one statement, then hands them to `remember`:
        the row is still read in the reader's own statement, so a shredded key is gone."""
        newest = (
            sa.select(col(DataKeyRecord.version))
            .where(col(DataKeyRecord.owner_id) == owner, col(DataKeyRecord.compartment) == compartment)
            .order_by(col(DataKeyRecord.version).desc())
            .limit(1)
        )
        wrapped = newest.with_only_columns(col(DataKeyRecord.wrapped))
        return [newest.scalar_subquery(), wrapped.scalar_subquery()]

    def remember(
        self, session: Session, *, owner: str, compartment: Compartment, version: int | None, wrapped: bytes | None
    ) -> None:
        """A key row selected by `newest_key_columns`, memoised as `read_key` would (nothing
        when the owner has no key: `read_key` then says so)."""
        if version is not None and wrapped is not None:
            self.open_row(session, _KeyRow(owner, compartment, version, bytes(wrapped)))

    def read_key(self, session: Session, *, owner: str, compartment: Compartment, version: int) -> DataKey:
        memo = _memo(session)
        cached: DataKey | None = memo.get(("dek", owner, compartment, version))
        if cached is not None:
            return cached
        row = session.execute(_KEY_QUERY, {"owner": owner, "compartment": compartment, "version": version}).first()
        if row is None:
            raise KeyErased
        key = memo[("dek", owner, compartment, version)] = self._unwrap(row)  # type: ignore[arg-type]
        return key

    def add_version(self, session: Session, *, owner: str, compartment: Compartment) -> DataKey:
        newest = session.exec(
            select(sa.func.max(DataKeyRecord.version)).where(
                DataKeyRecord.owner_id == owner, DataKeyRecord.compartment == compartment
            )
        ).one()
        key = self._new_key(session, owner, compartment, (newest or 0) + 1)
        _memo(session)[("newest", owner, compartment)] = key
        return key

    def shred(self, session: Session, *, owner: str, compartment: Compartment) -> int:
        """Crypto-shredding: delete every version of the owner's compartment key, and record
        the erasure in the same transaction; the erasure journal outside the database takes
        it once the transaction commits (a restored backup is shredded again from it)."""
        if self.journal is None:
            raise ConfigurationError("crypto-shredding needs the erasure journal (REGISTRY_ERASURE_JOURNAL)")
        _memo(session).clear()
        session.add(ErasureRecord(owner_id=owner, compartment=str(compartment), erased_at=self.clock.now()))
        _journal_after_commit(session, self.journal)
        result = session.exec(
            sa.delete(DataKeyRecord).where(
                col(DataKeyRecord.owner_id) == owner, col(DataKeyRecord.compartment) == compartment
            )
        )
        return result.rowcount or 0

    def rewrap(self, session: Session, *, below: int, limit: int) -> int:
        """KEK rotation: up to `limit` DEKs wrapped under a KEK older than `below`, the same
        DEKs wrapped under the provider's current KEK, with one select and one executemany
        (no ORM objects: at tens of thousands of keys a second they cost more than the
        wraps). A key shredded or rewrapped by someone else meanwhile is left alone."""
        rows = session.execute(
            sa.select(*_KEY_COLUMNS).where(col(DataKeyRecord.kek_version) < below).limit(limit)
        ).all()
        kek_version = self.provider.kek_version
        changes = []
        for row in rows:
            aad = _dek_aad(row.owner_id, row.compartment, row.version)
            rewrapped = self.provider.wrap(self.provider.unwrap(row.wrapped, aad=aad), aad=aad)
            changes.append(
                {
                    "k_owner": row.owner_id,
                    "k_compartment": row.compartment,
                    "k_version": row.version,
                    "k_wrapped": row.wrapped,
                    "new_wrapped": rewrapped,
                    "new_kek": kek_version,
                }
            )
        if changes:
            session.execute(_REWRAP, changes)
        return len(rows)

    # -- blind-index keys ------------------------------------------------------------------

    def index_roots(self, session: Session) -> list[LiveRoot]:
        """The live roots, oldest first, once per session: whatever writes a root in it
        (`add_index_root`, `rewrap_index_root`, the index rotation's retire step) clears it."""
        memo = _memo(session)
        if "roots" not in memo:
            memo["roots"] = [LiveRoot(*row) for row in session.execute(_LIVE_ROOTS)]
        roots: list[LiveRoot] = memo["roots"]
        return roots

    def index_key(self, root: IndexRootKey | LiveRoot | RootRef, *, table: str, field: str) -> IndexKey:
        cache_key = (root.wrapped, table, field)
        derived = self._index_keys.get(cache_key)
        if derived is None:
            secret = self._cache.get(root.wrapped)
            if secret is None:
                secret = self.provider.unwrap(root.wrapped, aad=_index_aad(root.version))
                self._cache.put(root.wrapped, secret)
            derived = IndexKey.derive(secret, suite=self.suite, table=table, field=field, version=root.version)
            self._index_keys[cache_key] = derived
        return derived

    def add_index_root(self, session: Session, *, status: KeyStatus) -> IndexRootKey:
        newest = session.exec(select(sa.func.max(IndexRootKey.version))).one()
        version = (newest or 0) + 1
        secret = DataKey.generate(Suite.AES256GCM, version=version).get_secret_value()  # 32 random bytes
        root = IndexRootKey(
            version=version,
            wrapped=self.provider.wrap(secret, aad=_index_aad(version)),
            kek_version=self.provider.kek_version,
            status=status,
            created_at=self.clock.now(),
        )
        session.add(root)
        session.flush()
        _memo(session).pop("roots", None)
        return root

    def rewrap_index_root(self, root: IndexRootKey) -> None:
        aad = _index_aad(root.version)
        root.wrapped = self.provider.wrap(self.provider.unwrap(root.wrapped, aad=aad), aad=aad)
        root.kek_version = self.provider.kek_version
        session = sa.orm.object_session(root)
        if session is not None:
            _memo(session).pop("roots", None)  # type: ignore[arg-type]
