"""Login throttling: failure limits per username and per client address, and a bound on
how many argon2 verifications run at once.

Both are checked before any password is hashed, so a flood of bad logins costs a
dictionary look-up each, never a core. Counted in memory, per process (the `limits`
library's moving window): with `serve --workers N` each worker counts its own attempts,
and the lockout kept in the database stays the bound they share.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter

from registry.errors import RateLimited

# How long an attempt waits for a verification slot before it is told to come back.
VERIFY_WAIT_S = 5.0
BUSY = "too many logins at once; try again shortly"
THROTTLED = "too many failed attempts; try again later"


@dataclass(frozen=True)
class Refusal:
    retry_after: int
    # The first refusal of its key in the current window: audited (once, not per attempt,
    # so a flood cannot turn into a flood of audit writes).
    first: bool


class LoginThrottle:
    def __init__(self, *, per_username: int, per_client: int, concurrent_verifications: int) -> None:
        self._limiter = MovingWindowRateLimiter(MemoryStorage())
        self._username = RateLimitItemPerMinute(per_username)
        self._client = RateLimitItemPerMinute(per_client)
        self._slots = threading.BoundedSemaphore(concurrent_verifications)
        self._reported: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self._waiting = 0
        self._in_flight: dict[tuple[str, str], int] = {}

    def admit(self, *, username: str | None, client: str | None) -> Refusal | None:
        """None if an attempt may go on (then `settle` it when its password is checked);
        else how long to wait. Attempts still being checked count with the failures, so
        a burst of concurrent guesses is refused at once, not after each was hashed."""
        keys = self._keys(username, client)
        with self._lock:
            for kind, item, key in keys:
                stats = self._limiter.get_window_stats(item, kind, key)
                if stats.remaining - self._in_flight.get((kind, key), 0) > 0:
                    continue
                now = time.time()
                # Refused by failures: until the oldest leaves the window. By attempts in
                # flight alone: as soon as one of them settles.
                retry_after = max(1, math.ceil(stats.reset_time - now)) if stats.remaining <= 0 else 1
                first = self._reported.get((kind, key), 0.0) <= now
                if first:
                    self._reported[(kind, key)] = now + retry_after
                    self._forget_expired(now)
                return Refusal(retry_after=retry_after, first=first)
            for kind, _item, key in keys:
                self._in_flight[(kind, key)] = self._in_flight.get((kind, key), 0) + 1
        return None

    def refused_client(self, client: str | None) -> int | None:
        """Retry-After for a client already refused (and audited) whose refusal still holds,
        else None: the cheap check at the door, which neither counts nor audits."""
        if client is None:
            return None
        key, now = ("client", client), time.time()
        with self._lock:
            until = self._reported.get(key, 0.0)
            if until <= now:
                return None
            stats = self._limiter.get_window_stats(self._client, *key)
            if stats.remaining - self._in_flight.get(key, 0) > 0:
                return None
        return max(1, math.ceil(until - now))

    def settle(self, *, username: str | None, client: str | None) -> None:
        """An admitted attempt's password has been checked (or the attempt ended)."""
        with self._lock:
            for kind, _item, key in self._keys(username, client):
                left = self._in_flight.pop((kind, key), 1) - 1
                if left > 0:
                    self._in_flight[(kind, key)] = left

    def failed(self, *, username: str | None, client: str | None) -> None:
        """Count a failed attempt against the username and the client."""
        for kind, item, key in self._keys(username, client):
            self._limiter.hit(item, kind, key)

    @contextmanager
    def verifying(self) -> Iterator[None]:
        """A verification slot: argon2 is slow and memory-hard by design, and unbounded
        concurrent verifications would take every core from the rest of the service."""
        with self._lock:
            self._waiting += 1
        try:
            acquired = self._slots.acquire(timeout=VERIFY_WAIT_S)
        finally:
            with self._lock:
                self._waiting -= 1
        if not acquired:
            raise RateLimited(BUSY, retry_after=1)
        try:
            yield
        finally:
            self._slots.release()

    @property
    def waiting(self) -> int:
        """Attempts queued for a verification slot now (a gauge for operators and tests)."""
        return self._waiting

    def _keys(self, username: str | None, client: str | None) -> list[tuple[str, RateLimitItemPerMinute, str]]:
        keys = []
        if username is not None:
            keys.append(("username", self._username, username.casefold()))
        if client is not None:
            keys.append(("client", self._client, client))
        return keys

    def _forget_expired(self, now: float) -> None:
        if len(self._reported) > 1024:
            for key in [k for k, until in self._reported.items() if until <= now]:
                del self._reported[key]
