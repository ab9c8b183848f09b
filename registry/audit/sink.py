"""The checkpoint sink: every signed checkpoint is also written outside the database.

Whoever controls the database can wipe its checkpoints and let the service sign a new
tree; a note kept elsewhere still pins the old root, so `registry audit verify` uses the
sink's note as a witness. The sink behaves like one: it only moves forward to a tree that
a consistency proof shows extends the tree it holds, and refuses (keeping its note as
evidence) otherwise. Today the sink is a directory, ideally on another machine or mount.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from urllib.parse import quote

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from registry.audit.checkpoints import Checkpoint, CheckpointError, parse_signed_note
from registry.audit.epochs import RestoreStatement, parse_statement
from registry.audit.merkle import HashSource, consistency_proof, verify_consistency


class WitnessConflict(Exception):
    """The log is not an extension of the tree the witness holds: history was rewritten
    (or restored without a declared epoch, PRIVACY.md §5). Nothing is signed over it."""


class CheckpointSink:
    """One file per log origin in a directory, holding the newest accepted signed note."""

    def __init__(self, directory: Path, *, origin: str, public_key: Ed25519PublicKey) -> None:
        self.directory, self.origin, self.public_key = Path(directory), origin, public_key
        # The origin may hold "/" (e.g. "registry/audit"): percent-encoded, one flat file.
        self.path = self.directory / f"{quote(origin, safe='')}.checkpoint"

    def __str__(self) -> str:
        return str(self.directory)

    def newest_note(self) -> str | None:
        try:
            return self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def newest(self) -> Checkpoint | None:
        """The checkpoint held, or None before the first; CheckpointError if the file does
        not verify under our key (tampered or foreign): that is a finding, not an absence."""
        note = self.newest_note()
        return None if note is None else parse_signed_note(note, public_key=self.public_key, origin=self.origin)

    def publish(
        self,
        checkpoint: Checkpoint,
        note: str,
        hashes: HashSource,
        restore: tuple[RestoreStatement, str] | None = None,
    ) -> None:
        """Replace the held note by `note` if its tree extends the held one (`hashes` are
        the stored tree's, to build the consistency proof), or if `restore` (the newest
        restore statement and its signed note) supersedes exactly the held checkpoint and
        the tree extends the restored one: then the held note and the statement are kept
        beside it as evidence of the declared epoch. Else WitnessConflict."""
        try:
            held = self.newest()
        except CheckpointError as exc:
            raise WitnessConflict(f"the checkpoint sink holds a note that does not verify ({exc})") from None
        if held is None or _extends(hashes, held, checkpoint):
            self._write(note)
            return
        if restore is not None:
            statement, statement_note = restore
            restored = Checkpoint(self.origin, statement.restored_size, statement.restored_root, statement.timestamp)
            if statement.superseded == held and _extends(hashes, restored, checkpoint):
                self._keep(f"epoch-{statement.epoch - 1}.checkpoint", self.newest_note() or "")
                self._keep(f"restore-{statement.epoch}.note", statement_note)
                self._write(note)
                return
        if checkpoint.size < held.size:
            raise WitnessConflict(
                f"the log has {checkpoint.size} entries but the checkpoint sink holds a tree of {held.size}"
            )
        raise WitnessConflict(f"the log does not extend the tree of {held.size} entries held by the checkpoint sink")

    def superseded(self) -> list[tuple[str, Checkpoint]]:
        """The notes kept when the sink crossed a declared restore, by file name."""
        kept = []
        for path in sorted(self.directory.glob(f"{self.path.stem}.epoch-*.checkpoint")):
            note = path.read_text(encoding="utf-8")
            kept.append((path.name, parse_signed_note(note, public_key=self.public_key, origin=self.origin)))
        return kept

    def restores(self) -> list[RestoreStatement]:
        """The restore statements the sink kept when it crossed each declared restore."""
        kept = []
        for path in sorted(self.directory.glob(f"{self.path.stem}.restore-*.note")):
            note = path.read_text(encoding="utf-8")
            kept.append(parse_statement(note, public_key=self.public_key, origin=self.origin))
        return kept

    def last_epoch(self) -> int:
        """The newest epoch whose restore statement the sink keeps (0: none)."""
        numbers = [0]
        for path in self.directory.glob(f"{self.path.stem}.restore-*.note"):
            number = path.name.removeprefix(f"{self.path.stem}.restore-").removesuffix(".note")
            if number.isdecimal():
                numbers.append(int(number))
        return max(numbers)

    def _keep(self, suffix: str, text: str) -> None:
        path = self.directory / f"{self.path.stem}.{suffix}"
        if path.exists():  # a crossing retried after a crash: the first copy stands
            return
        self._write(text, path)

    def _write(self, note: str, path: Path | None = None) -> None:
        # Write, fsync, rename over the old note: a crash leaves the old note or the new one.
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".checkpoint-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(note)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path or self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def _extends(hashes: HashSource, old: Checkpoint, new: Checkpoint) -> bool:
    """Whether the stored tree of `new` extends `old` (a consistency proof from the stored hashes)."""
    if new.size < old.size:
        return False
    try:
        proof = consistency_proof(hashes, old.size, new.size)
    except LookupError:
        return False
    return verify_consistency(old.size, new.size, old.root_hash, new.root_hash, proof)
