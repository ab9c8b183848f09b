"""A restore never runs under a live service: every process that serves or acts on the
registry holds a shared lock on `registry.lock` in the data directory for as long as it
runs, and `registry restore` takes it exclusively or refuses. (flock: the lock dies with
the process, so a crash leaves none behind. It covers the processes of one host; a
PostgreSQL deployment of several hosts stops the others by its own procedure,
docs/operations.md.)"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

from registry.errors import ConfigurationError

__all__ = ["exclusive", "shared"]

_NAME = "registry.lock"


def _open(data_dir: Path) -> int:
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    return os.open(data_dir / _NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


def shared(data_dir: Path) -> int:
    """Hold the lock shared for the life of the process (the returned descriptor); refused
    while a restore holds it."""
    fd = _open(data_dir)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ConfigurationError("a restore is running on this data directory: start again when it is done") from None
    return fd


@contextlib.contextmanager
def exclusive(data_dir: Path) -> Iterator[None]:
    """Held by a restore: refused while the service or any other registry command runs."""
    fd = _open(data_dir)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigurationError(
                "the service or another registry command is running on this data directory: stop it before a restore"
            ) from None
        yield
    finally:
        os.close(fd)
