"""The erasure journal: every crypto-shred is also written here, signed and chained, in a
file kept apart from the database and its backups (PRIVACY.md §1, issue 19).

A backup holds the data keys of everyone erased since it was taken; restored as it is, it
would bring them back. So an erasure is recorded twice:

- in the database, in the shredding transaction (`erasure`: owner, compartment, time), so
  that only an erasure that commits is ever journaled, and none that commits is lost;
- in the journal, right after the commit (and, for one a crash left behind, before the
  service next starts): one line per erasure, numbered as its row, chained to the line
  before by hash, signed with the key provider's signing key under its own domain prefix.

An erasure names no key version: a replay destroys every key of that owner and compartment
made at or before the erasure (a DEK rotation may have replaced the versions a backup holds),
and none made after. The journal must reach at least as far as the database's own record of
erasures, so a journal deleted, cut short or swapped is found at start; a line altered,
reordered or signed by another installation fails its signature or its chain. The file holds
ids, never a personal value.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import os
import stat
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from sqlmodel import Session, col, select

from registry.crypto.models import ErasureRecord
from registry.crypto.providers.base import KeyProvider
from registry.errors import ConfigurationError, IntegrityFailure

__all__ = ["Erasure", "ErasureJournal"]

_DOMAIN = b"registry/erasure-journal/v2\n"  # no checkpoint note or credential starts so
_GENESIS = "0" * 64


@dataclass(frozen=True)
class Erasure:
    seq: int  # the `erasure` row's id
    owner: str
    compartment: str
    at: str  # ISO 8601: keys of this owner and compartment made at or before it are gone

    @property
    def when(self) -> datetime:
        return datetime.fromisoformat(self.at)


def _whole_lines(fd: int, size: int) -> int:
    """The length of the file up to its last newline."""
    if size == 0:
        return 0
    tail = os.pread(fd, min(size, 1 << 16), max(0, size - (1 << 16)))
    end = tail.rfind(b"\n")
    if end == len(tail) - 1:
        return size
    if end < 0 and size > len(tail):
        raise IntegrityFailure("the erasure journal ends in an unterminated line longer than any erasure's")
    return size - (len(tail) - end - 1)


def _canonical(payload: dict[str, object]) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":")).encode("utf-8")


class ErasureJournal:
    def __init__(self, path: Path, provider: KeyProvider) -> None:
        self.path, self._provider = path, provider
        self._lock = threading.Lock()

    # -- writing ---------------------------------------------------------------------------

    def flush(self, session: Session) -> int:
        """Journal every committed erasure not journaled yet and mark them; the caller
        commits. Returns how many lines it wrote. Lines are only parsed here (numbers and the
        last hash); their signatures are checked at start (`check`)."""
        with self._lock, self._file_lock():
            # Under the lock another process's flush is done or not begun: what it journaled
            # is seen here, compared, and not written again.
            known, last = self._scan()
            rows = list(
                session.exec(
                    select(ErasureRecord).where(col(ErasureRecord.journaled).is_(False)).order_by(col(ErasureRecord.id))
                )
            )
            if not rows:
                return 0
            lines = []
            for row in rows:
                assert row.id is not None  # stored rows are numbered
                entry = Erasure(row.id, row.owner_id, row.compartment, row.erased_at.isoformat())
                if row.id in known:
                    if known[row.id] != entry:  # numbers drifted from the journal's: never overwrite
                        raise IntegrityFailure(f"erasure {row.id} differs from the journal's line of that number")
                    continue  # journaled by another process, or before a crash left it unmarked
                line = self._line(entry, last)
                last = hashlib.sha256(line.encode("utf-8")).hexdigest()
                lines.append(line)
            self._append(lines)
        session.execute(
            sa.update(ErasureRecord).where(col(ErasureRecord.id).in_([r.id for r in rows])).values(journaled=True)
        )
        return len(lines)

    def _scan(self) -> tuple[dict[int, Erasure], str]:
        """The journal's erasures by number and the hash of its last line, parsed without
        checking signatures; a torn last line (no newline: an append cut short) is not one."""
        if not self.path.exists():
            return {}, _GENESIS
        known: dict[int, Erasure] = {}
        last = _GENESIS
        with self.path.open("rb") as handle:
            for raw in handle:
                if not raw.endswith(b"\n"):
                    break
                try:
                    payload = json.loads(raw)["entry"]
                    known[int(payload["seq"])] = Erasure(
                        int(payload["seq"]), payload["owner"], payload["compartment"], payload["at"]
                    )
                except (ValueError, KeyError, TypeError):
                    raise IntegrityFailure(f"the erasure journal has a malformed line {len(known) + 1}") from None
                last = hashlib.sha256(raw).hexdigest()
        return known, last

    def _line(self, entry: Erasure, prev: str) -> str:
        payload = {"seq": entry.seq, "owner": entry.owner, "compartment": entry.compartment, "at": entry.at}
        payload["prev"] = prev
        signature = base64.b64encode(self._provider.sign(_DOMAIN + _canonical(payload))).decode("ascii")
        return json.dumps({"entry": payload, "sig": signature}, sort_keys=True, separators=(",", ":")) + "\n"

    def _append(self, lines: Sequence[str]) -> None:
        if not lines:
            return
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        data = "".join(lines).encode("utf-8")
        created = not self.path.exists()
        # Never through a link, and only a file no one else may read or write.
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_mode & 0o077:
                raise ConfigurationError(f"{self.path} must be a regular file of mode 0600")
            size = _whole_lines(fd, info.st_size)  # a torn last line is an unmarked erasure's
            if size != info.st_size:
                os.ftruncate(fd, size)
            try:
                written = os.write(fd, data)
                if written != len(data):
                    raise OSError(f"short write to {self.path}")
                os.fsync(fd)
            except OSError:
                os.ftruncate(fd, size)  # the rows stay unmarked: the next flush writes them
                raise
        finally:
            os.close(fd)
        if created:
            directory = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)

    @contextmanager
    def _file_lock(self) -> Iterator[None]:
        """One flush at a time across processes (workers, the CLI): a lock file beside the
        journal, never the journal itself (it is opened and closed per append)."""
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        lock = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # releases the lock

    # -- reading ---------------------------------------------------------------------------

    def read(self) -> list[Erasure]:
        """Every erasure in the journal, each line's signature and link to the line before
        checked; a line that fails stops the reading (`IntegrityFailure` naming the line,
        never its content)."""
        if not self.path.exists():
            return []
        public = self._provider.public_key()
        found: list[Erasure] = []
        seen: set[int] = set()
        prev = _GENESIS
        with self.path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.endswith(b"\n"):
                    break  # a torn append: its erasure is unmarked, and the next flush rewrites it
                try:
                    record = json.loads(raw)
                    payload = record["entry"]
                    public.verify(base64.b64decode(record["sig"], validate=True), _DOMAIN + _canonical(payload))
                    if payload["prev"] != prev:
                        raise ValueError("chain")
                    entry = Erasure(int(payload["seq"]), payload["owner"], payload["compartment"], payload["at"])
                    # Numbers are unique, not ordered: a PostgreSQL id is drawn at insert
                    # time, so a transaction that began first may commit (and be journaled) last.
                    if entry.seq in seen:
                        raise ValueError("repeated")
                    seen.add(entry.seq)
                except (ValueError, KeyError, TypeError, InvalidSignature):
                    failed = f"the erasure journal fails its signature or chain at line {number}"
                    raise IntegrityFailure(failed) from None
                prev = hashlib.sha256(raw).hexdigest()
                found.append(entry)
        return found

    def check(self, session: Session) -> list[Erasure]:
        """The journal, checked against the database: it must hold every erasure the database
        records as journaled (a journal deleted, cut short or from elsewhere does not), line
        for line. Returns the journal's erasures."""
        recorded = session.execute(
            sa.select(
                col(ErasureRecord.id),
                col(ErasureRecord.owner_id),
                col(ErasureRecord.compartment),
                col(ErasureRecord.erased_at),
            ).where(col(ErasureRecord.journaled).is_(True))
        ).all()
        # Read after the rows: a line is fsynced before its row is marked, so a flush by the
        # running service in between adds lines, never a marked row without one.
        entries = self.read()
        by_seq = {e.seq: e for e in entries}
        for seq, owner, compartment, at in recorded:
            entry = by_seq.get(seq)
            if entry is None or (entry.owner, entry.compartment, entry.at) != (owner, compartment, at.isoformat()):
                raise IntegrityFailure(
                    f"the erasure journal lacks erasure {seq} that the database records: it was deleted, cut "
                    "short or replaced (restore it from its own backup before serving)"
                )
        return entries

    def unknown(self, session: Session, entries: Sequence[Erasure]) -> list[Erasure]:
        """The journal's erasures the database has no record of: it was restored from before
        them. A number the database gave another erasure is no match (a service ran on a
        restored database before its replay): refused, never taken as replayed."""
        rows = session.execute(
            sa.select(
                col(ErasureRecord.id),
                col(ErasureRecord.owner_id),
                col(ErasureRecord.compartment),
                col(ErasureRecord.erased_at),
            )
        ).all()
        known = {seq: (owner, compartment, at.isoformat()) for seq, owner, compartment, at in rows}
        for e in entries:
            if e.seq in known and known[e.seq] != (e.owner, e.compartment, e.at):
                raise IntegrityFailure(
                    f"erasure {e.seq} of the journal is another erasure in the database: the database was "
                    "written to after a restore and before its replay"
                )
        return [e for e in entries if e.seq not in known]

    def behind(self, session: Session) -> bool:
        """Whether the database predates erasures in the journal (checked first): it lacks
        their record, which the erasing transaction wrote with the shred itself. A restored
        backup, until replayed."""
        return bool(self.unknown(session, self.check(session)))
