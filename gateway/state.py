"""The gateway's request-time state behind small interfaces: per-key and per-form rate
limits (`RateLimit`), the webhook replay cache (`Replays`) and signed-out browser sessions
(`Revocations`), each made by a `GatewayState`.

The interfaces are async: the gateway serves every request from one event loop, and a check
that waits on the database must not hold up the requests that do not need it.

`InProcessState` (the default, `MOPS_DATABASE_URL` unset) keeps them in this process: with
N gateway replicas a key gets up to N times its rate, a replay can reach another replica
and a sign-out holds only where it was made. `gateway/state_pg.py` `PostgresState` keeps
them in the shared database, so every replica sees the same buckets, keys and sign-outs.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections import OrderedDict


class RateLimit(ABC):
    """A token bucket per key."""

    @abstractmethod
    async def take(self, key: str) -> float | None:
        """Spend a token: None if allowed, else the seconds until one is available."""


class Replays(ABC):
    """Keys (signatures, event ids) seen recently, each remembered for the cache's ttl."""

    @abstractmethod
    async def seen(self, key: str) -> bool: ...

    @abstractmethod
    async def add(self, key: str) -> bool:
        """Remember `key`; False if it was already there (a replay)."""


class Revocations(ABC):
    """Session ids signed out before their expiry (unix seconds)."""

    @abstractmethod
    async def add(self, sid: str, expires: int) -> None: ...

    @abstractmethod
    async def holds(self, sid: str) -> bool:
        """Whether `sid` was signed out."""


class GatewayState(ABC):
    """Where the gateway's rate limits, replay caches and sign-outs live."""

    @abstractmethod
    def rate_limit(self, name: str, rate: float, burst: int) -> RateLimit:
        """The limiter called `name` (its buckets are `name` plus each key): `rate` tokens a
        second, at most `burst` banked."""

    @abstractmethod
    def replays(self, name: str, max_size: int, ttl: float) -> Replays: ...

    @abstractmethod
    def revocations(self) -> Revocations: ...


class RateLimiter(RateLimit):
    """Token bucket per key in this process."""

    def __init__(self, rate: float, burst: int, clock=time.monotonic) -> None:
        self.rate, self.burst, self._clock = rate, burst, clock
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    async def take(self, key: str) -> float | None:
        with self._lock:
            now = self._clock()
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return None
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate


class ReplayCache(Replays):
    """Bounded memory of recently seen keys in this process, each kept `ttl` seconds.

    With several replicas a replay can reach another one, which is why signatures also
    carry a timestamp window and the workflows dedupe by event id."""

    def __init__(self, max_size: int, ttl: float, clock=time.monotonic) -> None:
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._max, self._ttl, self._clock = max_size, ttl, clock
        self._lock = threading.Lock()

    def _expire(self, now: float) -> None:
        while self._seen:
            key, at = next(iter(self._seen.items()))
            if now - at <= self._ttl and len(self._seen) <= self._max:
                break
            self._seen.popitem(last=False)

    async def seen(self, key: str) -> bool:
        with self._lock:
            now = self._clock()
            self._expire(now)
            return key in self._seen

    async def add(self, key: str) -> bool:
        with self._lock:
            now = self._clock()
            self._expire(now)
            if key in self._seen:
                return False
            self._seen[key] = now
            self._expire(now)
            return True


class Revoked(Revocations):
    """Signed-out session ids in this process, dropped once they expire."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._lock = threading.Lock()

    async def add(self, sid: str, expires: int) -> None:
        now = int(time.time())
        with self._lock:
            self._ids = {s: e for s, e in self._ids.items() if e > now}
            self._ids[sid] = expires

    async def holds(self, sid: str) -> bool:
        with self._lock:
            return sid in self._ids


class InProcessState(GatewayState):
    def __init__(self) -> None:
        self._revoked = Revoked()

    def rate_limit(self, name: str, rate: float, burst: int) -> RateLimit:
        return RateLimiter(rate, burst)

    def replays(self, name: str, max_size: int, ttl: float) -> Replays:
        return ReplayCache(max_size, ttl)

    def revocations(self) -> Revocations:
        return self._revoked


__all__ = [
    "GatewayState",
    "InProcessState",
    "RateLimit",
    "RateLimiter",
    "Replays",
    "ReplayCache",
    "Revocations",
    "Revoked",
]
