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

    def publish(self, checkpoint: Checkpoint, note: str, hashes: HashSource) -> None:
        """Replace the held note by `note` if its tree extends the held one (`hashes` are
        the stored tree's, to build the consistency proof); else WitnessConflict."""
        try:
            held = self.newest()
        except CheckpointError as exc:
            raise WitnessConflict(f"the checkpoint sink holds a note that does not verify ({exc})") from None
        if held is not None:
            if checkpoint.size < held.size:
                raise WitnessConflict(
                    f"the log has {checkpoint.size} entries but the checkpoint sink holds a tree of {held.size}"
                )
            try:
                proof = consistency_proof(hashes, held.size, checkpoint.size)
            except LookupError:
                proof = None
            if proof is None or not verify_consistency(
                held.size, checkpoint.size, held.root_hash, checkpoint.root_hash, proof
            ):
                raise WitnessConflict(
                    f"the log does not extend the tree of {held.size} entries held by the checkpoint sink"
                )
        self._write(note)

    def _write(self, note: str) -> None:
        # Write, fsync, rename over the old note: a crash leaves the old note or the new one.
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=self.directory, prefix=".checkpoint-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(note)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        directory = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
