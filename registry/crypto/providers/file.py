"""`file` key provider: a 0600 JSON key file in the data directory (the default).

The file holds every retained KEK version and the audit signing seed (see
`software.KeySet`). It is written only whole and atomically (temp file + fsync +
rename), so a crash never leaves a half-written key file and never loses a KEK that
already wrapped something.
"""

from __future__ import annotations

import fcntl
import os
import secrets
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from registry.crypto.providers.software import KeySet, SoftwareProvider, self_test
from registry.errors import ConfigurationError, Unavailable

KEY_FILE_MODE = 0o600


class FileKeyProvider(SoftwareProvider):
    name = "file"

    def __init__(self, path: Path) -> None:
        self._path = Path(path)
        self._lock = threading.Lock()
        # The file's (inode, mtime_ns) when last read; None if it could not be stat'ed after a rotation.
        self._stamp: tuple[int, int] | None
        keys, self._stamp = _load(self._path)
        super().__init__(keys)

    @classmethod
    def create(cls, path: Path) -> FileKeyProvider:
        """Generate a key set and write it to a new 0600 file; never overwrites."""
        path = Path(path)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            _write(path, KeySet.generate(), replace=False)
        except FileExistsError:
            pass
        else:
            return cls(path)
        # Overwriting would orphan every key wrapped by the existing KEKs.
        raise ConfigurationError(f"key file {path} already exists; refusing to overwrite it")

    @property
    def path(self) -> Path:
        return self._path

    def rotate_kek(self) -> int:
        # flock serialises rotations across processes (server and CLI); rereading the
        # file under the lock means a concurrent rotation is extended, never lost.
        with self._lock, _rotation_lock(self._path):
            keys, _ = _load(self._path)
            rotated = keys.with_new_kek()
            _write(self._path, rotated, replace=True)
            self._set_keys(rotated)
            self._stamp = _stamp(self._path)
        return rotated.current

    def check(self) -> None:
        try:
            _load(self._path)
        except ConfigurationError as error:
            raise Unavailable(f"key provider file: {error.detail}") from None
        self_test(self)

    def _current_keys(self) -> KeySet:
        # Another process (the CLI) may have rotated: pick up its new current KEK
        # before wrapping, so new DEKs are not wrapped under a KEK being retired.
        with self._lock:
            stamp = _stamp(self._path)
            if stamp is not None and stamp != self._stamp:
                try:
                    keys, self._stamp = _load(self._path)
                except ConfigurationError:
                    # A request must not fail on a file turned bad after startup:
                    # keep the loaded keys and let `check` (/readyz) report it.
                    return self._keys
                self._set_keys(keys)
            return self._keys

    def __repr__(self) -> str:
        return f"FileKeyProvider(path={str(self._path)!r}, kek_version={self._keys.current})"


def _load(path: Path) -> tuple[KeySet, tuple[int, int]]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ConfigurationError(f"key file {path} does not exist; create it at init") from None
    except PermissionError:
        raise ConfigurationError(f"key file {path} is not readable by this user") from None
    try:
        # fstat the open descriptor, not the path, so the checked file is the read file.
        info = os.fstat(fd)
        problem = _mode_problem(path, info)
        raw = b"" if problem else _read_all(fd)
    finally:
        os.close(fd)
    if problem:
        raise ConfigurationError(problem)
    keys = KeySet.from_json(raw, source=f"key file {path}")
    return keys, (info.st_ino, info.st_mtime_ns)


def _mode_problem(path: Path, info: os.stat_result) -> str | None:
    if not stat.S_ISREG(info.st_mode):
        return f"key file {path} is not a regular file"
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        return (
            f"key file {path} has mode {mode:04o} and is readable by group or others; "
            f"it must be 0600: run `chmod 600 {path}`"
        )
    return None


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _stamp(path: Path) -> tuple[int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return info.st_ino, info.st_mtime_ns


def _write(path: Path, keys: KeySet, *, replace: bool) -> None:
    """Write `keys` to a fresh 0600 temp file, fsync, then move it into place.

    `replace=False` links instead of renaming: link fails if `path` exists, which makes
    "create only if absent" atomic.
    """
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, KEY_FILE_MODE)
    try:
        os.fchmod(fd, KEY_FILE_MODE)  # the umask may only have narrowed it; be exact
        with os.fdopen(fd, "wb") as handle:
            handle.write(keys.to_json())
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    # The rename is durable only once the directory entry is on disk.
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _rotation_lock(path: Path) -> Iterator[None]:
    """An exclusive flock on `.<key file>.lock` (the key file itself gets replaced)."""
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_RDWR | os.O_CREAT, KEY_FILE_MODE)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
