"""The erasure journal: every crypto-shred is also written here, signed, in a file kept
apart from the database and its backups (PRIVACY.md §1, issue 19).

A backup holds the data keys of everyone erased since it was taken; restored as it is, it
would bring them back. The journal names each key destroyed (owner, compartment, version and
creation time: a key made later for the same owner is another key, never touched), and a
restore replays it before the service serves (`registry.erasures`). Each line is signed with
the key provider's signing key under its own domain prefix, so a line added, changed or
removed by someone with the file alone is found; the key itself never leaves the provider.

A line is written and flushed to disk before the transaction that shreds commits: an
erasure that commits is always in the journal, and one whose transaction failed after the
line was written is completed by a replay (the erasure was decided; the keys it names still
exist only because of the failure). The file holds ids, never a personal value.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from sqlmodel import Session, col

from registry.crypto.models import DataKeyRecord
from registry.crypto.providers.base import KeyProvider
from registry.db import chunked
from registry.errors import IntegrityFailure

__all__ = ["ErasureJournal", "ShreddedKey"]

_DOMAIN = b"registry/erasure-journal/v1\n"  # no checkpoint note or credential starts so


@dataclass(frozen=True)
class ShreddedKey:
    owner: str
    compartment: str
    version: int
    created_at: str  # ISO 8601, as stored: with the version, this key and no later one


class ErasureJournal:
    def __init__(self, path: Path, provider: KeyProvider) -> None:
        self.path, self._provider = path, provider
        self._lock = threading.Lock()

    def record(self, keys: Sequence[ShreddedKey], *, at: datetime) -> None:
        """Append one signed line naming `keys`, and flush it to disk before returning."""
        if not keys:
            return
        entry = {"at": at.isoformat(), "keys": [asdict(k) for k in keys]}
        payload = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode("utf-8")
        signature = base64.b64encode(self._provider.sign(_DOMAIN + payload)).decode("ascii")
        line = json.dumps({"entry": entry, "sig": signature}, sort_keys=True, separators=(",", ":")) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)

    def keys(self) -> Iterator[ShreddedKey]:
        """Every key the journal names, each line's signature checked first; a line that
        fails it stops the reading (`IntegrityFailure` naming the line, never its content)."""
        if not self.path.exists():
            return
        public = self._provider.public_key()
        with self.path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                try:
                    record = json.loads(line)
                    entry = record["entry"]
                    payload = json.dumps(entry, sort_keys=True, separators=(",", ":")).encode("utf-8")
                    public.verify(base64.b64decode(record["sig"], validate=True), _DOMAIN + payload)
                    found = [ShreddedKey(**k) for k in entry["keys"]]
                except (ValueError, KeyError, TypeError, InvalidSignature):
                    raise IntegrityFailure(f"the erasure journal fails its signature at line {number}") from None
                yield from found

    def pending(self, session: Session) -> list[ShreddedKey]:
        """The journal's keys still in the database: what a restore brought back."""
        named = list(self.keys())
        present: set[tuple[str, str, int, str]] = set()
        for owners in chunked(sorted({k.owner for k in named})):
            rows = session.execute(
                sa.select(
                    col(DataKeyRecord.owner_id),
                    col(DataKeyRecord.compartment),
                    col(DataKeyRecord.version),
                    col(DataKeyRecord.created_at),
                ).where(col(DataKeyRecord.owner_id).in_(owners))
            )
            present |= {(o, c, v, at.isoformat()) for o, c, v, at in rows}
        return [k for k in named if (k.owner, k.compartment, k.version, k.created_at) in present]
