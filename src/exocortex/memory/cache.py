"""A thread-safe multi-level cache over eviction policies, with single-flight loading and warmers.

Why levels: a small, fast L1 keeps the hottest entries while a larger L2 (and, later, an on-disk
L3) catches what L1 has to let go, so a capacity eviction from the top costs a slower hit instead
of a reload. Each level is a ``CacheLevel``: a name and a handful of operations (get, set that
reports what it evicted, delete, membership, deadline peek, size, clear). ``Level`` is the
in-memory implementation over any ``Policy``; a disk level only has to offer the same methods.

Modes:

- ``exclusive`` (default): an entry lives in exactly one level. ``set`` writes L1; what L1 evicts
  for capacity is *demoted* into L2, what L2 evicts goes to L3, and what the last level evicts is
  gone (counted as ``dropped``). A hit in a lower level moves the entry up into L1 (promotion).
  The cache holds the sum of the levels' capacities.
- ``inclusive``: ``set`` writes every level and a hit in a lower level is copied into the levels
  above it. An upper-level eviction is demoted only if the next level does not already hold the
  key (a lower level's admission filter may have refused it), so in both modes an entry leaves
  the cache only from the last level, and ``dropped`` counts keys held by no level afterwards.

Expiry is the cache's, not the policies': each value is wrapped in a ``Record`` that carries its
absolute deadline (on the cache's ``clock``) and its size, so a demoted or promoted entry keeps
its original deadline and size whichever level it is in. Policies are given no ttl (a policy
with a ``default_ttl`` is refused) because a policy silently drops the expired entries it finds
on ``get``, which would make expiries uncountable. Expired entries are misses and are dropped
wherever they are found: on lookup, and when a level evicts them (they are never demoted).

Sizes come from ``sizeof(value)``, by default the policies' ``default_sizeof`` (``sys.getsizeof``
for bytes, bytearray and str, 1 for anything else: an arbitrary object graph cannot be measured
cheaply, so pass ``sizeof`` when byte limits matter). A value larger than any level's whole
``max_bytes`` raises ``OversizeError`` before anything is changed: it could never pass through
that level, and dropping it silently would hide a bug.

Statistics count each request once: ``get`` and ``get_or_load`` (and ``aget_or_load``) are one
request each, which is a hit at exactly one level or a miss, so ``sum(hits) + misses ==
requests``. Single-flight waiters are misses too (they are also counted as ``coalesced``).
Warming, ``in`` and ``set`` are not requests.

Thread safety: one lock serialises every level operation (the policies are not thread-safe, and
a promotion or demotion touches several levels at once). Loaders and warmers' key functions run
outside the lock, so a slow load never blocks hits on other keys.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Literal, Protocol, TypeVar

from exocortex.memory.policies import (
    LRU,
    MISSING,
    Evicted,
    OversizeError,
    Policy,
    Reason,
    _Missing,
    default_sizeof,
    make_policy,
)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

Mode = Literal["exclusive", "inclusive"]

MIB = 1024 * 1024
_CAPACITY, _EXPIRED = Reason.CAPACITY.value, Reason.EXPIRED.value  # (an enum's .value is a property call)


@dataclass(frozen=True, slots=True)
class Record(Generic[V]):
    """What a level stores: the value plus what must survive moves between levels."""

    value: V
    expires_at: float | None  # absolute deadline on the cache's clock; None never expires
    size: int

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and self.expires_at <= now


class CacheLevel(Protocol):
    """The small interface a level offers the cache (an on-disk level implements the same).

    Not thread-safe by contract: the cache calls it under its own lock.
    """

    name: str

    @property
    def max_entries(self) -> int | None: ...

    @property
    def max_bytes(self) -> int | None: ...

    @property
    def policy_name(self) -> str: ...

    def get(self, key: Any) -> Record[Any] | _Missing: ...

    def set(self, key: Any, record: Record[Any]) -> list[Evicted[Any, Record[Any]]]: ...

    def delete(self, key: Any) -> bool: ...

    def deadline(self, key: Any) -> float | None | _Missing:
        """The held entry's deadline without counting an access, or ``MISSING`` if not held."""
        ...

    def __contains__(self, key: object) -> bool: ...

    def __len__(self) -> int: ...

    @property
    def bytes(self) -> int: ...

    def keys(self) -> list[Any]: ...

    def clear(self) -> None: ...


class PolicyLevel:
    """What every level driven by an eviction policy shares: its bounds and byte count are the policy's."""

    name: str
    policy: Policy[Any, Any]

    @staticmethod
    def check_name(name: object) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"a level needs a non-empty name, got {name!r}")

    @property
    def max_entries(self) -> int | None:
        return self.policy.max_entries

    @property
    def max_bytes(self) -> int | None:
        return self.policy.max_bytes

    @property
    def policy_name(self) -> str:
        return type(self.policy).name

    @property
    def bytes(self) -> int:
        """What ``max_bytes`` bounds: the sizes the policy was given for the held entries."""
        return self.policy.bytes


class Level(PolicyLevel):
    """An in-memory level: a name and a policy holding ``Record`` values.

    The level keeps its own key -> deadline map (for entries with a ttl) so the cache can ask
    whether a key is held and live without touching the policy's recency or frequency state.
    """

    def __init__(self, name: str, policy: Policy[Any, Any]) -> None:
        self.check_name(name)
        if not isinstance(policy, Policy):
            raise ValueError(f"level {name!r} needs a Policy instance, got {type(policy).__name__}")
        if policy.default_ttl is not None:
            raise ValueError(f"level {name!r}: the cache owns expiry (pass ttl to set); give the policy no default_ttl")
        self.name = name
        self.policy = policy
        self._deadlines: dict[Any, float] = {}
        # A lookup is the policy's own get: one call per level on the hit path, not two.
        self.get = policy.get  # type: ignore[method-assign]

    def get(self, key: Any) -> Record[Any] | _Missing:
        record: Record[Any] | _Missing = self.policy.get(key)
        return record

    def set(self, key: Any, record: Record[Any]) -> list[Evicted[Any, Record[Any]]]:
        evicted: list[Evicted[Any, Record[Any]]] = self.policy.put(key, record, record.size)
        deadlines = self._deadlines
        if deadlines:
            for ev in evicted:
                deadlines.pop(ev.key, None)
        if record.expires_at is None:
            if deadlines:
                deadlines.pop(key, None)
        elif key in self.policy:  # an admission filter may have refused it
            deadlines[key] = record.expires_at
        return evicted

    def delete(self, key: Any) -> bool:
        if self._deadlines:
            self._deadlines.pop(key, None)
        return self.policy.delete(key)

    def evict(self, nbytes: int) -> list[Evicted[Any, Record[Any]]]:
        """Give up at least ``nbytes`` (by record size) in the policy's eviction order."""
        evicted: list[Evicted[Any, Record[Any]]] = self.policy.evict(nbytes)
        for ev in evicted:
            self._deadlines.pop(ev.key, None)
        return evicted

    def deadline(self, key: Any) -> float | None | _Missing:
        if key not in self.policy:
            return MISSING
        return self._deadlines.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self.policy

    def __len__(self) -> int:
        return len(self.policy)

    def keys(self) -> list[Any]:
        return self.policy.keys()

    def clear(self) -> None:
        held = self.policy.keys()  # a list copy: safe to delete while walking it
        for key in held:
            self.policy.delete(key)
        self._deadlines.clear()

    def __repr__(self) -> str:
        return f"Level({self.name!r}, {self.policy!r})"


@dataclass
class _Flight:
    """One in-progress load that concurrent threads wait on."""

    done: threading.Event = field(default_factory=threading.Event)
    value: Any = None
    error: BaseException | None = None


@dataclass
class _Warmer:
    keys_fn: Callable[[], Iterable[Any]]
    loader: Callable[[Any], Any]
    ttl: float | None


@dataclass
class _Stats:
    requests: int = 0
    misses: int = 0
    promotions: int = 0
    demotions: int = 0
    dropped: int = 0
    loads: int = 0
    load_errors: int = 0
    coalesced: int = 0
    hits: dict[str, int] = field(default_factory=dict)
    evictions: dict[str, dict[str, int]] = field(default_factory=dict)


def _fits(max_bytes: int | None, size: int) -> bool:
    return max_bytes is None or size <= max_bytes


class MultiLevelCache(Generic[K, V]):
    """Levels searched top-down; see the module docstring for the modes, expiry and statistics.

    ``on_drop(key, value, reason)``, if given, is called (under the lock: keep it quick, do not
    call back into the cache) for every entry that leaves the cache entirely by eviction: from
    the last level for capacity, or from any level because it expired.
    """

    def __init__(
        self,
        levels: Sequence[CacheLevel],
        mode: Mode = "exclusive",
        clock: Callable[[], float] = time.monotonic,
        *,
        sizeof: Callable[[V], int] | None = None,
        on_drop: Callable[[K, V, Reason], None] | None = None,
    ) -> None:
        levels = list(levels)
        if not levels:
            raise ValueError("a MultiLevelCache needs at least one level")
        names = [level.name for level in levels]
        if len(set(names)) != len(names):
            raise ValueError(f"level names must be unique, got {names}")
        if mode not in ("exclusive", "inclusive"):
            raise ValueError(f"mode must be 'exclusive' or 'inclusive', got {mode!r}")
        self.levels: list[CacheLevel] = levels
        self.mode: Mode = mode
        self._clock = clock
        self._sizeof: Callable[[V], int] = sizeof if sizeof is not None else default_sizeof
        self._on_drop = on_drop
        self._lock = threading.RLock()
        self._flights: dict[Any, _Flight] = {}
        self._aflights: dict[tuple[asyncio.AbstractEventLoop, Any], asyncio.Future[Any]] = {}
        self._warmers: dict[str, _Warmer] = {}
        self._stats = _Stats(
            hits={name: 0 for name in names},
            evictions={name: {Reason.CAPACITY.value: 0, Reason.EXPIRED.value: 0} for name in names},
        )

    @classmethod
    def default(
        cls,
        *,
        mode: Mode = "exclusive",
        l2_policy: str = "LRU",
        sizeof: Callable[[Any], int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> MultiLevelCache[Any, Any]:
        """L1: LRU, 100 entries / 10 MiB; L2: ``l2_policy`` (LRU by default), 1,000 entries / 100 MiB.

        LRU for L2 because, as a victim cache, L2 only sees L1's misses and demotions: an
        admission filter such as W-TinyLFU's judges by the requests it sees, so it undervalues
        a key that was hot in L1 (its hits never reached L2) and may refuse it on demotion.
        Pass ``l2_policy="W-TinyLFU"`` (any name ``make_policy`` knows) for scan-heavy loads.
        Sizes are ``sizeof`` or the policies' default estimate (see the module docstring).
        """
        l1 = Level("L1", LRU(100, 10 * MIB))
        l2 = Level("L2", make_policy(l2_policy, [], 1000, 100 * MIB))
        return cls([l1, l2], mode=mode, clock=clock, sizeof=sizeof)

    # -- reads ----------------------------------------------------------------------

    def get(self, key: K, default: V | None = None) -> V | None:
        """The value, or ``default``; a hit below L1 promotes the entry. One request."""
        with self._lock:
            value = self._lookup(key, count=True)
        return default if value is MISSING else value

    def __contains__(self, key: object) -> bool:
        """Whether a live copy is held anywhere; no request is counted and no recency changes."""
        with self._lock:
            now = self._clock()
            for level in self.levels:
                d = level.deadline(key)
                if d is not MISSING and (d is None or d > now):
                    return True
            return False

    def __len__(self) -> int:
        """Distinct keys held (expired ones not yet found included)."""
        with self._lock:
            if self.mode == "exclusive":
                return sum(len(level) for level in self.levels)
            seen: set[Any] = set()
            for level in self.levels:
                seen.update(level.keys())
            return len(seen)

    def _lookup(self, key: Any, *, count: bool) -> Any:
        """Search the levels top-down (lock held); promote on a lower hit; count if asked.

        The hot path of every hit: the clock is read only for a record that has a deadline.
        """
        st = self._stats
        if count:
            st.requests += 1
        now: float | None = None
        for i, level in enumerate(self.levels):
            record = level.get(key)
            if record is MISSING:
                continue
            deadline = record.expires_at
            if deadline is not None:
                if now is None:
                    now = self._clock()
                if deadline <= now:
                    level.delete(key)
                    self._expired(level, key, record)
                    continue
            if count:
                st.hits[level.name] += 1
            if i:
                self._promote(i, key, record)
            return record.value
        if count:
            st.misses += 1
        return MISSING

    def _promote(self, i: int, key: Any, record: Record[Any]) -> None:
        # Only into the levels that can hold it: an entry found on disk may be larger than an
        # upper level that was made smaller since it was written. It is served from where it is.
        targets = [j for j in range(i) if _fits(self.levels[j].max_bytes, record.size)]
        if not targets:
            return
        self._stats.promotions += 1
        if self.mode == "exclusive":
            self.levels[i].delete(key)
            self._place(targets[0], key, record)
        else:
            for j in reversed(targets):  # bottom-up, so upper evictions find the key below
                self._place(j, key, record)

    # -- writes ---------------------------------------------------------------------

    def set(self, key: K, value: V, ttl: float | None = None) -> None:
        """Store ``value`` (in L1, or in every level when inclusive) for ``ttl`` seconds or forever."""
        record = self._record(key, value, ttl)
        with self._lock:
            self._set_locked(key, record)

    def _record(self, key: Any, value: Any, ttl: float | None) -> Record[Any]:
        """Validate and wrap before any level changes, so bad input leaves the cache untouched."""
        if ttl is not None and (isinstance(ttl, bool) or not isinstance(ttl, int | float) or not ttl > 0):
            raise ValueError(f"ttl must be a positive number of seconds or None, got {ttl!r}")
        size = self._sizeof(value)
        if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise ValueError(f"sizeof returned {size!r} for {key!r}; sizes must be positive integers")
        for level in self.levels:
            if level.max_bytes is not None and size > level.max_bytes:
                raise OversizeError(
                    f"value for {key!r} is {size} bytes, larger than level {level.name!r}'s whole "
                    f"max_bytes={level.max_bytes}: it can never be cached there (raise the limit or shrink the value)"
                )
        expires_at = None if ttl is None else self._clock() + ttl
        return Record(value, expires_at, size)

    def _set_locked(self, key: Any, record: Record[Any]) -> None:
        if self.mode == "exclusive":
            for level in self.levels[1:]:
                level.delete(key)  # the new value supersedes a demoted old one
            self._place(0, key, record)
        else:
            for j in range(len(self.levels) - 1, -1, -1):
                self._place(j, key, record)

    def _place(self, i: int, key: Any, record: Record[Any]) -> None:
        """Write into level ``i`` and route what it evicts: demote, or drop from the last level."""
        level = self.levels[i]
        evicted = level.set(key, record)
        if not evicted:
            return
        last = i == len(self.levels) - 1
        for ev in evicted:
            rec = ev.value
            if ev.reason is Reason.EXPIRED or (rec.expires_at is not None and rec.expires_at <= self._clock()):
                self._expired(level, ev.key, rec)
                continue
            self._stats.evictions[level.name][_CAPACITY] += 1
            if last:
                if self.mode == "exclusive" or not any(ev.key in lv for lv in self.levels):
                    self._drop(ev.key, rec, Reason.CAPACITY)
                continue
            below = self.levels[i + 1]
            if self.mode == "inclusive" and ev.key in below:
                continue
            self._stats.demotions += 1
            try:
                self._place(i + 1, ev.key, rec)
            except OversizeError:
                # The level below measures differently (a disk level counts serialized bytes) and
                # cannot hold it: the entry leaves the cache, reported like any other drop.
                self._drop(ev.key, rec, Reason.CAPACITY)

    def _expired(self, level: CacheLevel, key: Any, record: Record[Any]) -> None:
        self._stats.evictions[level.name][_EXPIRED] += 1
        if self.mode == "exclusive" or not any(key in lv for lv in self.levels):
            self._drop(key, record, Reason.EXPIRED)

    def _drop(self, key: Any, record: Record[Any], reason: Reason) -> None:
        self._stats.dropped += 1
        if self._on_drop is not None:
            self._on_drop(key, record.value, reason)

    def delete(self, key: K) -> bool:
        """Remove ``key`` from every level; True if any level held it."""
        with self._lock:
            found = False
            for level in self.levels:
                found = level.delete(key) or found
            return found

    def clear(self, level: str | int | None = None) -> None:
        """Empty every level, or only the one named (or indexed); nothing is demoted or counted."""
        with self._lock:
            targets = self.levels if level is None else [self._level(level)]
            for lv in targets:
                lv.clear()

    def shrink(self, nbytes: int, levels: Iterable[str | int] | None = None) -> int:
        """Free about ``nbytes`` of memory: evict from the in-memory levels, the coldest first.

        Each level gives up entries in its policy's own eviction order, so the hottest stay.
        Nothing is demoted (the point is to hold less), entries leave the cache (counted as
        evictions of reason ``capacity`` and as ``dropped``, and passed to ``on_drop``).
        ``levels`` (names or indexes) defaults to the ``Level`` instances: a disk level holds
        no RAM. Returns the bytes freed as the cache measures sizes (see ``sizeof``).
        """
        if isinstance(nbytes, bool) or not isinstance(nbytes, int) or nbytes < 0:
            raise ValueError(f"nbytes must be a non-negative integer, got {nbytes!r}")
        with self._lock:
            chosen: list[CacheLevel]
            if levels is None:
                chosen = [lv for lv in self.levels if isinstance(lv, Level)]
            else:
                chosen = [self._level(name) for name in levels]
            freed = 0
            for level in reversed(chosen):
                if freed >= nbytes:
                    break
                if not isinstance(level, Level):
                    raise ValueError(f"level {level.name!r} is not an in-memory Level; it cannot shrink")
                for ev in level.evict(nbytes - freed):
                    freed += ev.value.size
                    self._stats.evictions[level.name][_CAPACITY] += 1
                    self._drop(ev.key, ev.value, Reason.CAPACITY)
            return freed

    def _level(self, level: str | int) -> CacheLevel:
        if isinstance(level, int) and not isinstance(level, bool):
            if not -len(self.levels) <= level < len(self.levels):
                raise ValueError(f"no level at index {level} (there are {len(self.levels)})")
            return self.levels[level]
        for lv in self.levels:
            if lv.name == level:
                return lv
        raise ValueError(f"no level named {level!r} (levels: {[lv.name for lv in self.levels]})")

    # -- loading ----------------------------------------------------------------------

    def get_or_load(self, key: K, loader: Callable[[K], V], ttl: float | None = None) -> V:
        """The cached value, else ``loader(key)`` stored with ``ttl``; one request.

        Single-flight: concurrent misses on one key run the loader once; the other threads wait
        and get the same value, or the same exception (which is not cached: the next call retries).
        """
        with self._lock:
            value = self._lookup(key, count=True)
            if value is not MISSING:
                return value  # type: ignore[no-any-return]
        return self._load(key, loader, ttl)  # type: ignore[no-any-return]

    def _load(self, key: Any, loader: Callable[[Any], Any], ttl: float | None) -> Any:
        with self._lock:
            flight = self._flights.get(key)
            if flight is not None:
                self._stats.coalesced += 1
                leader = False
            else:
                # Another flight may have finished between our miss and now: look again, uncounted.
                value = self._lookup(key, count=False)
                if value is not MISSING:
                    return value
                flight = self._flights[key] = _Flight()
                leader = True
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return flight.value
        try:
            value = loader(key)
            record = self._record(key, value, ttl)
            with self._lock:
                self._stats.loads += 1
                self._set_locked(key, record)
            flight.value = value
            return value
        except BaseException as exc:
            with self._lock:
                self._stats.load_errors += 1
            flight.error = exc
            raise
        finally:
            with self._lock:
                self._flights.pop(key, None)
            flight.done.set()

    async def aget_or_load(self, key: K, async_loader: Callable[[K], Awaitable[V]], ttl: float | None = None) -> V:
        """``get_or_load`` for asyncio: concurrent tasks on one key (in one event loop) await one load.

        If the loading task is cancelled, the tasks waiting on it see ``CancelledError`` too.
        """
        loop = asyncio.get_running_loop()
        with self._lock:
            value = self._lookup(key, count=True)
            if value is not MISSING:
                return value  # type: ignore[no-any-return]
            fkey = (loop, key)
            fut = self._aflights.get(fkey)
            if fut is not None:
                self._stats.coalesced += 1
                leader = False
            else:
                fut = self._aflights[fkey] = loop.create_future()
                leader = True
        if not leader:
            return await asyncio.shield(fut)
        try:
            value = await async_loader(key)
            record = self._record(key, value, ttl)
            with self._lock:
                self._stats.loads += 1
                self._set_locked(key, record)
                self._aflights.pop(fkey, None)
            fut.set_result(value)
            return value
        except asyncio.CancelledError:
            with self._lock:
                self._aflights.pop(fkey, None)
            fut.cancel()
            raise
        except BaseException as exc:
            with self._lock:
                self._stats.load_errors += 1
                self._aflights.pop(fkey, None)
            fut.set_exception(exc)
            fut.exception()  # mark it retrieved: with no waiters asyncio would log it as lost
            raise

    # -- warmers ----------------------------------------------------------------------

    def register_warmer(
        self,
        name: str,
        keys_fn: Callable[[], Iterable[K]],
        loader: Callable[[K], V],
        ttl: float | None = None,
    ) -> None:
        """Remember how to pre-load a set of keys (e.g. at start-up), to be run by ``warm``."""
        if not isinstance(name, str) or not name:
            raise ValueError(f"a warmer needs a non-empty name, got {name!r}")
        self._warmers[name] = _Warmer(keys_fn, loader, ttl)

    def warm(self, name: str | None = None) -> dict[str, dict[str, int]]:
        """Run one warmer (or all): load the keys not already held, through the single-flight path.

        Warming is not counted as requests. A key whose loader raises is counted as failed and
        skipped, so one bad key does not stop the rest. Returns per warmer
        ``{"loaded": n, "skipped": n, "failed": n}``.
        """
        if name is not None and name not in self._warmers:
            raise ValueError(f"no warmer named {name!r} (registered: {sorted(self._warmers)})")
        names = [name] if name is not None else list(self._warmers)
        report: dict[str, dict[str, int]] = {}
        for wname in names:
            warmer = self._warmers[wname]
            counts = {"loaded": 0, "skipped": 0, "failed": 0}
            for key in warmer.keys_fn():
                if key in self:
                    counts["skipped"] += 1
                    continue
                try:
                    self._load(key, warmer.loader, warmer.ttl)
                except Exception:
                    counts["failed"] += 1
                else:
                    counts["loaded"] += 1
            report[wname] = counts
        return report

    # -- statistics -------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """A JSON-able snapshot of the counters and of each level's occupancy."""
        with self._lock:
            st = self._stats
            hits = dict(st.hits)
            total_hits = sum(hits.values())
            return {
                "mode": self.mode,
                "requests": st.requests,
                "hits": hits,
                "misses": st.misses,
                "hit_ratio": total_hits / st.requests if st.requests else 0.0,
                "promotions": st.promotions,
                "demotions": st.demotions,
                "dropped": st.dropped,
                "loads": st.loads,
                "load_errors": st.load_errors,
                "coalesced": st.coalesced,
                "evictions": {name: dict(by_reason) for name, by_reason in st.evictions.items()},
                "levels": {
                    level.name: {
                        "policy": level.policy_name,
                        "entries": len(level),
                        "bytes": level.bytes,
                        "max_entries": level.max_entries,
                        "max_bytes": level.max_bytes,
                    }
                    for level in self.levels
                },
            }

    def __repr__(self) -> str:
        return f"MultiLevelCache({self.levels!r}, mode={self.mode!r})"


__all__ = ["CacheLevel", "Level", "MultiLevelCache", "Record"]
