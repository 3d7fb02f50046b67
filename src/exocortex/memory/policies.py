"""Cache eviction policies behind one small interface, bounded by entries and by bytes.

Why several: no eviction policy wins on every workload. LRU is the baseline everybody
knows, FIFO and Random are the cheap floors, LFU keeps what is popular, TTL bounds
staleness, and ARC, S3-FIFO and W-TinyLFU are the modern adaptive designs that resist
scans and loops. Belady's OPT needs the future, so it only works offline, but it gives the
upper bound against which the others are judged on replayed traces.

The interface (``Policy``):

- ``get(key)`` returns the value or ``MISSING`` (a sentinel, so ``None`` can be cached).
- ``set(key, value, size=None, ttl=None)`` stores and returns the list of ``Evicted``
  ``(key, value, reason)`` entries it pushed out, so a multi-level cache can demote them
  instead of losing them. An entry evicted by ``set`` is *always* reported; nothing is
  dropped silently. Entries found expired by ``get`` are simply gone (stale data is not
  worth demoting); call ``expire()`` to collect expired entries explicitly.
- ``delete(key)``, ``key in policy``, ``len(policy)`` and ``policy.bytes``.

Bounds: every policy honours both ``max_entries`` and ``max_bytes`` (either may be
``None`` for unbounded, not both). The size of an entry is the explicit ``size`` argument,
else ``sizeof(value)``; the default ``sizeof`` is ``sys.getsizeof(value)`` for ``bytes``,
``bytearray`` and ``str`` (what the object really holds in memory, header included) and 1
for anything else (we cannot measure an arbitrary object graph cheaply, so unknown values
count as one unit; pass ``sizeof`` or ``size`` when bytes matter). A value larger than the
whole ``max_bytes`` raises ``OversizeError`` rather than flushing the cache for nothing.

Adaptive policies split their capacity (ARC's target ``p``, S3-FIFO's 10% small queue,
W-TinyLFU's window and segments) in one *primary unit*: bytes when ``max_bytes`` is given,
else entries. The other bound, when both are given, is enforced as a hard cap by evicting
further victims chosen the same way.

Every operation is O(1) amortised (OrderedDicts and dicts) or O(log n) (heaps for TTL and
OPT), so replaying a million requests takes seconds in CPython.

Thread safety: none. The policies mutate shared structures on ``get`` (recency,
frequency) as well as on ``set``, and take no lock: a caller that shares one between
threads (the multi-level cache) must serialise every call.
"""

from __future__ import annotations

import heapq
import random
import sys
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from enum import Enum, StrEnum
from typing import Any, ClassVar, Final, Generic, NamedTuple, TypedDict, TypeVar, Unpack

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_MASK64: Final = (1 << 64) - 1


class _Missing(Enum):
    """Type of the ``MISSING`` sentinel: an enum so that ``value is MISSING`` narrows for mypy."""

    MISSING = "MISSING"

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing.MISSING


class Reason(StrEnum):
    """Why an entry left the cache."""

    CAPACITY = "capacity"  # pushed out (or not admitted) to respect max_entries / max_bytes
    EXPIRED = "expired"  # its time to live ran out


class Evicted(NamedTuple, Generic[K, V]):
    """One entry that left the cache, with enough to demote it to a lower level."""

    key: K
    value: V
    reason: Reason


class OversizeError(ValueError):
    """The value alone is larger than the cache's whole ``max_bytes``: it can never be held."""


def default_sizeof(value: object) -> int:
    """The default size estimate: ``sys.getsizeof`` for bytes, bytearray and str, else 1."""
    if isinstance(value, bytes | bytearray | str):
        return sys.getsizeof(value)
    return 1


class Options(TypedDict, Generic[V], total=False):
    """Keyword options every policy accepts (see ``Policy``)."""

    sizeof: Callable[[V], int] | None
    clock: Callable[[], float]
    default_ttl: float | None


def _check_positive(name: str, value: int | None) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
    return value


class Policy(Generic[K, V]):
    """Base class: stores values, sizes and expiry times, and enforces both bounds.

    Subclasses keep only their ordering metadata and implement the hooks ``_link`` (a new
    key came in), ``_unlink`` (a key is removed from outside), ``_touch`` (a hit),
    ``_pop_victim`` (choose, and unlink, the next key to evict) and optionally ``_resized``
    and ``_on_access``. Policies whose admission is more than "make room, then insert"
    override ``_admit``.
    """

    name: ClassVar[str] = "policy"

    def __init__(
        self,
        max_entries: int | None = None,
        max_bytes: int | None = None,
        *,
        sizeof: Callable[[V], int] | None = None,
        clock: Callable[[], float] = time.monotonic,
        default_ttl: float | None = None,
    ) -> None:
        if max_entries is None and max_bytes is None:
            raise ValueError(f"{type(self).__name__} needs a bound: give max_entries, max_bytes or both")
        self.max_entries = _check_positive("max_entries", max_entries)
        self.max_bytes = _check_positive("max_bytes", max_bytes)
        if default_ttl is not None and not default_ttl > 0:
            raise ValueError(f"default_ttl must be a positive number of seconds or None, got {default_ttl!r}")
        self.default_ttl = default_ttl
        self._sizeof: Callable[[V], int] = sizeof if sizeof is not None else default_sizeof
        self._clock = clock
        self._values: dict[K, V] = {}
        self._sizes: dict[K, int] = {}
        self._bytes = 0
        self._expires: dict[K, float] = {}
        self._expiry_heap: list[tuple[float, int, K]] = []
        self._seq = 0
        self._by_bytes = max_bytes is not None
        # The primary unit in which adaptive policies split their capacity (see module docstring).
        self.capacity: int = self.max_bytes if self.max_bytes is not None else (self.max_entries or 1)

    # -- public interface -------------------------------------------------------------

    def get(self, key: K) -> V | _Missing:
        """The cached value, or ``MISSING``; a hit counts as an access for the policy."""
        value = self._values.get(key, MISSING)
        if value is MISSING:
            self._on_access(key, False)
            return MISSING
        if self._expires and key in self._expires and self._expires[key] <= self._clock():
            self._unlink(key)
            self._forget(key)
            self._on_access(key, False)
            return MISSING
        self._on_access(key, True)
        self._touch(key)
        return value

    def set(self, key: K, value: V, size: int | None = None, ttl: float | None = None) -> list[Evicted[K, V]]:
        """Store ``value`` and return what had to leave (possibly ``key`` itself, if not admitted).

        ``size`` overrides ``sizeof(value)``; ``ttl`` (seconds on ``clock``) overrides
        ``default_ttl``. Overwriting a key counts as an access and replaces its size and ttl.
        """
        if size is None:
            size = self._sizeof(value)
            if isinstance(size, bool) or not isinstance(size, int) or size <= 0:
                raise ValueError(f"sizeof returned {size!r} for {key!r}; sizes must be positive integers")
        elif isinstance(size, bool) or not isinstance(size, int) or size <= 0:
            raise ValueError(f"size must be a positive integer, got {size!r}")
        if self.max_bytes is not None and size > self.max_bytes:
            raise OversizeError(f"entry {key!r} of {size} bytes can never fit in max_bytes={self.max_bytes}")
        if ttl is None:
            ttl = self.default_ttl
        elif not ttl > 0:
            raise ValueError(f"ttl must be a positive number of seconds, got {ttl!r}")
        evicted = self.put(key, value, size)
        if ttl is not None and key in self._values:
            self._set_expiry(key, self._clock() + ttl)
        return evicted

    def put(self, key: K, value: V, size: int) -> list[Evicted[K, V]]:
        """``set`` without a ttl, for callers that measured ``size`` (a positive int) themselves.

        A cache level calls this on every write, promotion and demotion: it skips the checks
        of ``size`` that the cache has already made, not the bound on ``max_bytes``.
        """
        if self.max_bytes is not None and size > self.max_bytes:
            raise OversizeError(f"entry {key!r} of {size} bytes can never fit in max_bytes={self.max_bytes}")
        evicted: list[Evicted[K, V]] = []
        if self._expiry_heap:
            self._purge_expired(self._clock(), evicted)
        if key in self._values:
            self._update(key, value, size, evicted)
            if self._expires:
                self._expires.pop(key, None)
        else:
            self._admit(key, value, size, evicted)
        return evicted

    def delete(self, key: K) -> bool:
        """Remove ``key``; True if it was there. Deleted keys leave no ghost or history behind."""
        if key not in self._values:
            return False
        self._unlink(key)
        self._forget(key)
        return True

    def evict(self, nbytes: int) -> list[Evicted[K, V]]:
        """Evict entries in the policy's own order until ``nbytes`` are freed or none is left.

        For memory pressure (the governor's "shrink the caches"): the entries the policy would
        have given up next go first, so what stays is what the policy judges hottest.
        """
        evicted: list[Evicted[K, V]] = []
        freed = 0
        while self._values and freed < nbytes:
            key = self._pop_victim(None)
            freed += self._sizes[key]
            self._evict(key, evicted)
        return evicted

    def expire(self) -> list[Evicted[K, V]]:
        """Purge every entry whose ttl has run out now and return them."""
        evicted: list[Evicted[K, V]] = []
        self._purge_expired(self._clock(), evicted)
        return evicted

    def __contains__(self, key: object) -> bool:
        if key not in self._values:
            return False
        when = self._expires.get(key)
        return when is None or when > self._clock()

    def __len__(self) -> int:
        """Entries held, counting expired ones not yet purged (they are purged on get and set)."""
        return len(self._values)

    @property
    def bytes(self) -> int:
        """Sum of the sizes of the entries held."""
        return self._bytes

    def keys(self) -> list[K]:
        """The keys held, in no particular order (for inspection and tests)."""
        return list(self._values)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(entries={len(self)}/{self.max_entries}, bytes={self._bytes}/{self.max_bytes})"

    # -- shared machinery -------------------------------------------------------------

    def _over(self, entries: int, nbytes: int) -> bool:
        """Would adding ``entries`` entries of ``nbytes`` bytes break a bound?"""
        return (self.max_entries is not None and len(self._values) + entries > self.max_entries) or (
            self.max_bytes is not None and self._bytes + nbytes > self.max_bytes
        )

    def _w(self, key: K) -> int:
        """Weight of a held key in the primary unit."""
        return self._sizes[key] if self._by_bytes else 1

    def _store(self, key: K, value: V, size: int) -> None:
        self._values[key] = value
        self._sizes[key] = size
        self._bytes += size

    def _forget(self, key: K) -> V:
        """Drop ``key`` from the base stores (the subclass has already unlinked it)."""
        self._bytes -= self._sizes.pop(key)
        if self._expires:
            self._expires.pop(key, None)
        return self._values.pop(key)

    def _evict(self, key: K, evicted: list[Evicted[K, V]], reason: Reason = Reason.CAPACITY) -> None:
        evicted.append(Evicted(key, self._forget(key), reason))

    def _admit(self, key: K, value: V, size: int, evicted: list[Evicted[K, V]]) -> None:
        # ``_over(1, size)`` and ``_store`` inlined: every miss, promotion and demotion comes here.
        values, max_entries, max_bytes = self._values, self.max_entries, self.max_bytes
        while (max_entries is not None and len(values) >= max_entries) or (
            max_bytes is not None and self._bytes + size > max_bytes
        ):
            self._evict(self._pop_victim(key), evicted)
        values[key] = value
        self._sizes[key] = size
        self._bytes += size
        self._link(key)

    def _update(self, key: K, value: V, size: int, evicted: list[Evicted[K, V]]) -> None:
        old = self._sizes[key]
        self._values[key] = value
        self._sizes[key] = size
        self._bytes += size - old
        if self._by_bytes and size != old:
            self._resized(key, old, size)
        self._touch(key)
        while self._over(0, 0):
            self._evict(self._pop_victim(None), evicted)

    def _set_expiry(self, key: K, when: float) -> None:
        self._expires[key] = when
        self._seq += 1
        heapq.heappush(self._expiry_heap, (when, self._seq, key))
        if len(self._expiry_heap) > 2 * len(self._expires) + 64:  # drop stale heap entries now and then
            self._expiry_heap = [(w, i, k) for i, (k, w) in enumerate(self._expires.items())]
            heapq.heapify(self._expiry_heap)

    def _purge_expired(self, now: float, evicted: list[Evicted[K, V]]) -> None:
        heap = self._expiry_heap
        while heap and heap[0][0] <= now:
            when, _, key = heapq.heappop(heap)
            if self._expires.get(key) == when and key in self._values:
                self._unlink(key)
                self._evict(key, evicted, Reason.EXPIRED)

    # -- hooks ------------------------------------------------------------------------

    def _link(self, key: K) -> None:
        raise NotImplementedError

    def _unlink(self, key: K) -> None:
        raise NotImplementedError

    def _touch(self, key: K) -> None:
        raise NotImplementedError

    def _pop_victim(self, incoming: K | None) -> K:
        """Choose the next key to evict, remove it from the policy's structures, return it."""
        raise NotImplementedError

    def _resized(self, key: K, old: int, new: int) -> None:
        """A held key changed size (byte-unit policies only); adjust segment totals."""

    def _on_access(self, key: K, hit: bool) -> None:
        """Every ``get``, hit or miss (frequency sketches and hit-rate samplers listen here)."""


class LRU(Policy[K, V]):
    """Least recently used: evict the entry that was read or written longest ago."""

    name = "LRU"

    def __init__(
        self, max_entries: int | None = None, max_bytes: int | None = None, **options: Unpack[Options[V]]
    ) -> None:
        super().__init__(max_entries, max_bytes, **options)
        self._order: OrderedDict[K, None] = OrderedDict()

    def get(self, key: K) -> V | _Missing:
        """``Policy.get`` with the hooks inlined (LRU has no access hook): the hit path is hot."""
        value = self._values.get(key, MISSING)
        if value is MISSING:
            return MISSING
        if self._expires and key in self._expires and self._expires[key] <= self._clock():
            self._unlink(key)
            self._forget(key)
            return MISSING
        self._order.move_to_end(key)
        return value

    def _link(self, key: K) -> None:
        self._order[key] = None

    def _unlink(self, key: K) -> None:
        del self._order[key]

    def _touch(self, key: K) -> None:
        self._order.move_to_end(key)

    def _pop_victim(self, incoming: K | None) -> K:
        return self._order.popitem(last=False)[0]


class FIFO(LRU[K, V]):
    """First in, first out: hits do not reorder, the oldest insertion goes first."""

    name = "FIFO"
    get = Policy.get  # hits must not reorder, so not LRU's move-to-end fast path

    def _touch(self, key: K) -> None:
        pass


class TTL(LRU[K, V]):
    """Entries expire ``default_ttl`` seconds (or their own ``ttl``) after being set.

    Expired entries are misses and are purged (on get, and from a heap on every set, so
    they free their room before anything live is evicted); when the bounds still bite, the
    least recently used live entry goes. ``clock`` is injectable so tests need not sleep.
    Every policy accepts ``ttl``; this one just makes a default ttl the point.
    """

    name = "TTL"

    def __init__(
        self,
        max_entries: int | None = None,
        max_bytes: int | None = None,
        *,
        default_ttl: float,
        sizeof: Callable[[V], int] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(max_entries, max_bytes, sizeof=sizeof, clock=clock, default_ttl=default_ttl)
        if default_ttl is None:
            raise ValueError("TTL needs a default_ttl (seconds); other policies take ttl per entry")


class Random(Policy[K, V]):
    """Evict a uniformly random entry; ``seed`` makes the choice sequence reproducible."""

    name = "Random"

    def __init__(
        self,
        max_entries: int | None = None,
        max_bytes: int | None = None,
        *,
        seed: int | None = None,
        **options: Unpack[Options[V]],
    ) -> None:
        super().__init__(max_entries, max_bytes, **options)
        self._rng = random.Random(seed)
        self._slots: list[K] = []  # dense array for O(1) uniform choice ...
        self._slot_of: dict[K, int] = {}  # ... and O(1) removal by swapping with the last

    def _link(self, key: K) -> None:
        self._slot_of[key] = len(self._slots)
        self._slots.append(key)

    def _unlink(self, key: K) -> None:
        i = self._slot_of.pop(key)
        last = self._slots.pop()
        if last != key:
            self._slots[i] = last
            self._slot_of[last] = i

    def _touch(self, key: K) -> None:
        pass

    def _pop_victim(self, incoming: K | None) -> K:
        key = self._slots[self._rng.randrange(len(self._slots))]
        self._unlink(key)
        return key


class LFU(Policy[K, V]):
    """Least frequently used, ties broken by recency, with aging.

    Counts live in buckets (count -> OrderedDict of keys, oldest first) so a hit and an
    eviction are O(1). Plain LFU never forgets: keys that were hot in an old phase keep
    their huge counts and squat in the cache. So every ``aging_interval`` accesses all
    counts are halved (floored at 1), an O(n) pass that costs O(1) amortised when the
    interval is at least the cache size; the default is ten times the number of entries
    held (at least 640).
    """

    name = "LFU"

    def __init__(
        self,
        max_entries: int | None = None,
        max_bytes: int | None = None,
        *,
        aging_interval: int | None = None,
        **options: Unpack[Options[V]],
    ) -> None:
        super().__init__(max_entries, max_bytes, **options)
        self._aging_interval = _check_positive("aging_interval", aging_interval)
        self._count: dict[K, int] = {}
        self._buckets: dict[int, OrderedDict[K, None]] = {}
        self._min = 1
        self._ops = 0

    def _bucket(self, count: int) -> OrderedDict[K, None]:
        bucket = self._buckets.get(count)
        if bucket is None:
            bucket = self._buckets[count] = OrderedDict()
        return bucket

    def _tick(self) -> None:
        self._ops += 1
        interval = self._aging_interval or 10 * max(len(self._values), 64)
        if self._ops >= interval:
            self._age()

    def _age(self) -> None:
        self._ops = 0
        old = self._buckets
        self._buckets = {}
        for count in sorted(old):  # lower counts first, so merged buckets keep "least frequent first"
            halved = max(1, count >> 1)
            bucket = self._bucket(halved)
            for key in old[count]:
                bucket[key] = None
                self._count[key] = halved
        self._min = min(self._buckets, default=1)

    def _link(self, key: K) -> None:
        self._count[key] = 1
        self._bucket(1)[key] = None
        self._min = 1
        self._tick()

    def _unlink(self, key: K) -> None:
        count = self._count.pop(key)
        bucket = self._buckets[count]
        del bucket[key]
        if not bucket:
            del self._buckets[count]

    def _touch(self, key: K) -> None:
        count = self._count[key]
        bucket = self._buckets[count]
        del bucket[key]
        if not bucket:
            del self._buckets[count]
            if self._min == count:
                self._min = count + 1
        self._count[key] = count + 1
        self._bucket(count + 1)[key] = None
        self._tick()

    def _pop_victim(self, incoming: K | None) -> K:
        if self._min not in self._buckets:
            self._min = min(self._buckets)
        bucket = self._buckets[self._min]
        key = bucket.popitem(last=False)[0]
        if not bucket:
            del self._buckets[self._min]
        del self._count[key]
        return key

    def frequency(self, key: K) -> int:
        """The (aged) access count of a held key, 0 if absent."""
        return self._count.get(key, 0)


class ARC(Policy[K, V]):
    """Adaptive Replacement Cache (Megiddo & Modha, FAST 2003).

    T1 holds keys seen once recently, T2 keys seen at least twice; the ghost lists B1 and
    B2 remember keys recently evicted from each. A ghost hit in B1 says "recency was
    undervalued" and grows the target size ``p`` of T1; a ghost hit in B2 shrinks it. With
    entry bounds this is the paper's algorithm case for case; in byte units every length
    becomes a weight and the adaptation steps are scaled by the entry's size.
    """

    name = "ARC"

    def __init__(
        self, max_entries: int | None = None, max_bytes: int | None = None, **options: Unpack[Options[V]]
    ) -> None:
        super().__init__(max_entries, max_bytes, **options)
        self._t1: OrderedDict[K, None] = OrderedDict()
        self._t2: OrderedDict[K, None] = OrderedDict()
        self._b1: OrderedDict[K, int] = OrderedDict()  # ghost key -> its weight
        self._b2: OrderedDict[K, int] = OrderedDict()
        self._t1w = self._t2w = self._b1w = self._b2w = 0
        self._p = 0.0

    @property
    def p(self) -> float:
        """The current target weight of T1."""
        return self._p

    def lists(self) -> tuple[list[K], list[K], list[K], list[K]]:
        """T1, T2, B1, B2 from LRU to MRU (for inspection and tests)."""
        return list(self._t1), list(self._t2), list(self._b1), list(self._b2)

    def _admit(self, key: K, value: V, size: int, evicted: list[Evicted[K, V]]) -> None:
        c = self.capacity
        w = size if self._by_bytes else 1
        if key in self._b1:  # case II: recency would have hit, favour T1
            self._p = min(float(c), self._p + max(self._b2w / self._b1w, 1.0) * w)
            self._make_room(False, size, evicted)
            self._b1w -= self._b1.pop(key)
            to_t2 = True
        elif key in self._b2:  # case III: frequency would have hit, favour T2
            self._p = max(0.0, self._p - max(self._b1w / self._b2w, 1.0) * w)
            self._make_room(True, size, evicted)
            self._b2w -= self._b2.pop(key)
            to_t2 = True
        else:  # case IV: a completely new key
            to_t2 = False
            if self._t1w + self._b1w + w > c:  # case IV.A: L1 = T1 + B1 is full
                if self._b1:
                    while self._b1 and self._t1w + self._b1w + w > c:
                        self._b1w -= self._b1.popitem(last=False)[1]
                else:  # T1 alone fills the cache: drop its LRU outright, no ghost
                    while self._t1 and self._over(1, size):
                        key_out = self._t1.popitem(last=False)[0]
                        self._t1w -= self._w(key_out)
                        self._evict(key_out, evicted)
            elif self._t1w + self._t2w + self._b1w + self._b2w + w > c:  # case IV.B
                while self._t1w + self._t2w + self._b1w + self._b2w + w > 2 * c and (self._b2 or self._b1):
                    if self._b2:
                        self._b2w -= self._b2.popitem(last=False)[1]
                    else:
                        self._b1w -= self._b1.popitem(last=False)[1]
            self._make_room(False, size, evicted)
        self._store(key, value, size)
        if to_t2:
            self._t2[key] = None
            self._t2w += w
        else:
            self._t1[key] = None
            self._t1w += w

    def _make_room(self, in_b2: bool, size: int, evicted: list[Evicted[K, V]]) -> None:
        while self._over(1, size):
            self._evict(self._replace(in_b2), evicted)

    def _replace(self, in_b2: bool) -> K:
        """The paper's REPLACE: demote T1's LRU to B1 if T1 exceeds its target, else T2's LRU to B2."""
        if self._t1 and ((in_b2 and self._t1w >= self._p) or self._t1w > self._p or not self._t2):
            key = self._t1.popitem(last=False)[0]
            w = self._w(key)
            self._t1w -= w
            self._b1[key] = w
            self._b1w += w
        else:
            key = self._t2.popitem(last=False)[0]
            w = self._w(key)
            self._t2w -= w
            self._b2[key] = w
            self._b2w += w
        return key

    def _link(self, key: K) -> None:  # pragma: no cover - _admit is overridden
        raise AssertionError("ARC admits through _admit")

    def _unlink(self, key: K) -> None:
        w = self._w(key)
        if key in self._t1:
            del self._t1[key]
            self._t1w -= w
        else:
            del self._t2[key]
            self._t2w -= w

    def _touch(self, key: K) -> None:  # case I: any hit moves the key to T2's MRU end
        if key in self._t1:
            del self._t1[key]
            w = self._w(key)
            self._t1w -= w
            self._t2[key] = None
            self._t2w += w
        else:
            self._t2.move_to_end(key)

    def _resized(self, key: K, old: int, new: int) -> None:
        if key in self._t1:
            self._t1w += new - old
        else:
            self._t2w += new - old

    def _pop_victim(self, incoming: K | None) -> K:
        return self._replace(False)


class S3FIFO(Policy[K, V]):
    """S3-FIFO (Yang et al., SOSP 2023): three static FIFO queues.

    New keys enter a small FIFO (10% of capacity). Most objects are one-hit wonders, so a
    key leaving the small queue unread goes to a ghost FIFO (keys only, as large as the
    main queue) and out; one read at least ``move_threshold`` times moves to the main FIFO.
    A key whose ghost is still remembered goes straight to main, and so does a new key
    while the cache still has room but the small queue is full (as in libCacheSim's
    current S3FIFO.c: without it, a cache filling up is all small queue and main starts
    empty, which loses loops just longer than the cache). Main is a FIFO with a
    2-bit frequency (0..3): the head is reinserted with its count decremented while it is
    non-zero, so popular keys cycle and cold ones fall out. Hits only bump a counter, which
    is what makes the design lock-free friendly in the original.
    """

    name = "S3-FIFO"

    def __init__(
        self,
        max_entries: int | None = None,
        max_bytes: int | None = None,
        *,
        small_ratio: float = 0.1,
        move_threshold: int = 1,
        **options: Unpack[Options[V]],
    ) -> None:
        super().__init__(max_entries, max_bytes, **options)
        if not 0.0 < small_ratio < 1.0:
            raise ValueError(f"small_ratio must be between 0 and 1, got {small_ratio!r}")
        self._small_target = small_ratio * self.capacity
        self._ghost_capacity = self.capacity - self._small_target
        self._move_threshold = _check_positive("move_threshold", move_threshold) or 1
        self._small: OrderedDict[K, None] = OrderedDict()
        self._main: OrderedDict[K, None] = OrderedDict()
        self._ghost: OrderedDict[K, int] = OrderedDict()
        self._freq: dict[K, int] = {}
        self._sw = self._mw = self._gw = 0

    def queues(self) -> tuple[list[K], list[K], list[K]]:
        """Small, main and ghost queues, oldest first (for inspection and tests)."""
        return list(self._small), list(self._main), list(self._ghost)

    def _admit(self, key: K, value: V, size: int, evicted: list[Evicted[K, V]]) -> None:
        full = self._over(1, size)
        while self._over(1, size):
            self._evict(self._pop_victim(key), evicted)
        self._store(key, value, size)
        w = self._w(key)
        self._freq[key] = 0
        ghost_w = self._ghost.pop(key, None)
        if ghost_w is not None:
            self._gw -= ghost_w
        if ghost_w is not None or (not full and self._sw + w > self._small_target):
            self._main[key] = None
            self._mw += w
        else:
            self._small[key] = None
            self._sw += w

    def _link(self, key: K) -> None:  # pragma: no cover - _admit is overridden
        raise AssertionError("S3-FIFO admits through _admit")

    def _unlink(self, key: K) -> None:
        w = self._w(key)
        del self._freq[key]
        if key in self._small:
            del self._small[key]
            self._sw -= w
        else:
            del self._main[key]
            self._mw -= w

    def _touch(self, key: K) -> None:
        f = self._freq[key]
        if f < 3:
            self._freq[key] = f + 1

    def _resized(self, key: K, old: int, new: int) -> None:
        if key in self._small:
            self._sw += new - old
        else:
            self._mw += new - old

    def _pop_victim(self, incoming: K | None) -> K:
        freq = self._freq
        while True:
            if self._small and (self._sw >= self._small_target or not self._main):
                key = self._small.popitem(last=False)[0]
                w = self._w(key)
                self._sw -= w
                if freq[key] >= self._move_threshold:
                    freq[key] = 0  # its reads earned the move; in main it must earn its stay anew
                    self._main[key] = None
                    self._mw += w
                    continue
                del freq[key]
                self._ghost[key] = w
                self._gw += w
                while self._gw > self._ghost_capacity:
                    self._gw -= self._ghost.popitem(last=False)[1]
                return key
            key = self._main.popitem(last=False)[0]
            f = freq[key]
            if f > 0:
                freq[key] = f - 1
                self._main[key] = None
                continue
            del freq[key]
            self._mw -= self._w(key)
            return key


_HALVE: Final = bytes(i >> 1 for i in range(256))
_SKETCH_START_ENTRIES: Final = 1 << 16
"""W-TinyLFU's sketch starts sized for this many entries (1 MiB) and grows with what is held."""
_ROW_SEEDS: Final = (0x97CB3127F6A8E5B1, 0xB492B66FBE98F273, 0x9AE16A3B2F90404F, 0xCBF29CE484222325)


def _spread(key: Hashable) -> int:
    """A 64-bit mix of ``hash(key)``: ints hash to themselves, which would cluster in the sketch."""
    h = (hash(key) * 0x9E3779B97F4A7C15) & _MASK64
    return h ^ (h >> 31)


class FrequencySketch:
    """Count-min sketch of 4 rows with 4-bit saturating counters, halved periodically.

    It estimates how often each key was requested recently in a few bytes per cached
    entry. Counters saturate at 15 (4 bits, as in TinyLFU; stored one per byte because a
    bytearray is the fast structure in CPython). After ``sample_size`` increments every
    counter is halved, which makes the estimate a decaying *recent* frequency. The optional
    doorkeeper (a Bloom filter, cleared at each reset) absorbs the first occurrence of a
    key, so one-hit wonders never reach the counters.

    Indexes derive from ``hash(key)``: str keys therefore sketch differently in each
    process unless PYTHONHASHSEED is fixed (ints are stable).

    ``grow`` doubles the rows without losing what they know: a row index is the top bits of a
    hash, so after doubling each counter's two children both start from the parent's count,
    and every key's estimate is unchanged (still an upper bound on its true count).
    """

    def __init__(self, width: int, sample_size: int, *, doorkeeper: bool = False) -> None:
        bits = max(4, (max(1, width) - 1).bit_length())
        self._width = 1 << bits
        self._shift = 64 - bits
        self._rows = [bytearray(self._width) for _ in _ROW_SEEDS]
        self.sample_size = max(1, sample_size)
        self._added = 0
        self._door: bytearray | None = bytearray(self._width) if doorkeeper else None  # 8 bits per byte

    @property
    def width(self) -> int:
        return self._width

    def grow(self, width: int, sample_size: int) -> None:
        """Widen each row to at least ``width`` counters (a power of two) and set the reset period."""
        while self._width < width:
            rows = []
            for row in self._rows:
                wide = bytearray(2 * self._width)
                wide[0::2] = row
                wide[1::2] = row
                rows.append(wide)
            self._rows = rows
            self._width *= 2
            self._shift -= 1
        if self._door is not None and len(self._door) != self._width:
            self._door = bytearray(self._width)  # bit positions move with the width: start it afresh
        self.sample_size = max(1, sample_size)

    def _indexes(self, h: int) -> list[int]:
        shift = self._shift
        return [((h * seed) & _MASK64) >> shift for seed in _ROW_SEEDS]

    def _door_bits(self, h: int) -> tuple[int, int]:
        bits = self._width * 8 - 1
        return h & bits, (h >> 32) & bits

    def increment(self, key: Hashable) -> None:
        h = _spread(key)
        door = self._door
        if door is not None:
            a, b = self._door_bits(h)
            if not (door[a >> 3] >> (a & 7) & 1 and door[b >> 3] >> (b & 7) & 1):
                door[a >> 3] |= 1 << (a & 7)
                door[b >> 3] |= 1 << (b & 7)
                return
        added = False
        for row, i in zip(self._rows, self._indexes(h), strict=True):
            if row[i] < 15:
                row[i] += 1
                added = True
        if added:
            self._added += 1
            if self._added >= self.sample_size:
                self.reset()

    def frequency(self, key: Hashable) -> int:
        h = _spread(key)
        count = min(row[i] for row, i in zip(self._rows, self._indexes(h), strict=True))
        door = self._door
        if door is not None:
            a, b = self._door_bits(h)
            if door[a >> 3] >> (a & 7) & 1 and door[b >> 3] >> (b & 7) & 1:
                count += 1
        return count

    def reset(self) -> None:
        """Halve every counter (and forget the doorkeeper): old popularity fades."""
        self._rows = [row.translate(_HALVE) for row in self._rows]
        self._added //= 2
        if self._door is not None:
            self._door = bytearray(self._width)


class WTinyLFU(Policy[K, V]):
    """W-TinyLFU (Einziger, Friedman & Manes 2017) with Caffeine's hill-climbing window.

    New keys land in a small LRU *window* (1% of capacity to start), which lets bursts
    build up frequency. The window's overflow becomes a *candidate* for the main space, a
    segmented LRU (20% probation, 80% protected). The candidate is admitted only if the
    frequency sketch says it is requested more often than the main space's victim (the
    LRU end of probation): this is what keeps scans and loops from flushing popular keys.
    A hit in probation promotes to protected, whose overflow is demoted back to probation.

    The window size adapts: after each sample of ``10 x capacity`` requests the climber
    compares the hit rate with the previous sample's and keeps stepping the window in the
    direction that helped (step 6.25% of capacity, decaying by 0.98, restarting after a
    hit-rate jump of 5%), as Caffeine does, except that the first step grows the window
    (it starts at its floor, so shrinking first could gain nothing). Candidates at least 6
    hits warm that lose are still admitted with probability 1/128 (seeded), Caffeine's
    guard against an attacker pinning a victim by raising its frequency.

    The sketch counts every request: each ``get``, and each ``set`` except the one that
    stores the key whose ``get`` just missed (that is the same request, counted once).
    """

    name = "W-TinyLFU"

    def __init__(
        self,
        max_entries: int | None = None,
        max_bytes: int | None = None,
        *,
        window_ratio: float = 0.01,
        protected_ratio: float = 0.8,
        doorkeeper: bool = False,
        adaptive: bool = True,
        seed: int | None = 0,
        **options: Unpack[Options[V]],
    ) -> None:
        super().__init__(max_entries, max_bytes, **options)
        if not 0.0 <= window_ratio < 1.0 or not 0.0 < protected_ratio < 1.0:
            raise ValueError("window_ratio must be in [0, 1) and protected_ratio in (0, 1)")
        c = self.capacity
        self._window_max = max(1, round(c * window_ratio)) if c > 1 else 0
        self._protected_max = int((c - self._window_max) * protected_ratio)
        self._window: OrderedDict[K, None] = OrderedDict()
        self._probation: OrderedDict[K, None] = OrderedDict()
        self._protected: OrderedDict[K, None] = OrderedDict()
        self._ww = self._pw = self._qw = 0  # window, probation, protected weights
        entries = max_entries if max_entries is not None else max(1024, c // 4096)
        # 4 counters per entry in each row, as Caffeine's sketch (16 per entry in all): with
        # one per entry, collisions add several phantom requests to every estimate. The sketch
        # is sized for what the cache holds, not for its bound: it starts at most
        # _SKETCH_START_ENTRIES wide and doubles as entries come in, so a cache bounded at
        # 10**10 entries (or 10**21 bytes) that holds a thousand does not allocate 40 GB.
        self._sketch_max = entries
        self._sketch_entries = min(entries, _SKETCH_START_ENTRIES)
        self.sketch = FrequencySketch(4 * self._sketch_entries, 10 * self._sketch_entries, doorkeeper=doorkeeper)
        self._rng = random.Random(seed)
        self._adaptive = adaptive
        self._sample = 10 * entries
        self._hits = self._misses = 0
        self._prev_hit_rate = 0.0
        # The window starts at its 1% floor, where a shrinking step can gain at most 1%: the
        # first probe grows it (Caffeine starts downwards, which wastes the first sample).
        self._step = 0.0625 * c
        self._missed: object = MISSING  # the key whose get just missed (its set is the same request)

    @property
    def window_max(self) -> int:
        return self._window_max

    def segments(self) -> tuple[list[K], list[K], list[K]]:
        """Window, probation and protected, LRU first (for inspection and tests)."""
        return list(self._window), list(self._probation), list(self._protected)

    # -- recording and adaptation -----------------------------------------------------

    def _on_access(self, key: K, hit: bool) -> None:
        self.sketch.increment(key)
        self._missed = MISSING if hit else key
        if not self._adaptive:
            return
        if hit:
            self._hits += 1
        else:
            self._misses += 1
        if self._hits + self._misses >= self._sample:
            self._climb()

    def _climb(self) -> None:
        c = self.capacity
        hit_rate = self._hits / (self._hits + self._misses)
        change = hit_rate - self._prev_hit_rate
        amount = self._step if change >= 0 else -self._step
        if abs(change) >= 0.05:
            self._step = 0.0625 * c * (1 if amount >= 0 else -1)
        else:
            self._step = 0.98 * amount
        self._prev_hit_rate = hit_rate
        self._hits = self._misses = 0
        adjust = int(amount)
        if adjust > 0:
            self._grow_window(adjust)
        elif adjust < 0:
            self._shrink_window(-adjust)

    def _grow_window(self, quota: int) -> None:
        quota = min(quota, self._protected_max)
        self._protected_max -= quota
        self._window_max += quota
        self._demote_protected()
        moved = 0
        while moved < quota and (self._probation or self._protected):
            source = self._probation if self._probation else self._protected
            key = source.popitem(last=False)[0]
            w = self._w(key)
            if source is self._probation:
                self._pw -= w
            else:
                self._qw -= w
            self._window[key] = None
            self._ww += w
            moved += w

    def _shrink_window(self, quota: int) -> None:
        quota = min(quota, max(0, self._window_max - 1))
        self._protected_max += quota
        self._window_max -= quota
        moved = 0
        while moved < quota and self._window:
            key = self._window.popitem(last=False)[0]
            w = self._w(key)
            self._ww -= w
            self._probation[key] = None
            self._pw += w
            moved += w

    def _demote_protected(self) -> None:
        while self._qw > self._protected_max and self._protected:
            key = self._protected.popitem(last=False)[0]
            w = self._w(key)
            self._qw -= w
            self._probation[key] = None
            self._pw += w

    # -- admission and eviction -------------------------------------------------------

    def _record_write(self, key: K) -> None:
        """A ``set`` is an access too, unless it stores the key whose ``get`` just missed."""
        if self._missed is MISSING or self._missed != key:
            self.sketch.increment(key)
        self._missed = MISSING

    def _update(self, key: K, value: V, size: int, evicted: list[Evicted[K, V]]) -> None:
        self._record_write(key)
        super()._update(key, value, size, evicted)

    def _admit(self, key: K, value: V, size: int, evicted: list[Evicted[K, V]]) -> None:
        self._record_write(key)
        self._store(key, value, size)
        if len(self._values) > self._sketch_entries < self._sketch_max:
            self._grow_sketch()
        self._window[key] = None
        self._ww += self._w(key)
        candidates: list[K] = []  # moved from the window into probation this time, oldest first
        while self._ww > self._window_max and self._window:
            cand = self._window.popitem(last=False)[0]
            w = self._w(cand)
            self._ww -= w
            self._probation[cand] = None
            self._pw += w
            candidates.append(cand)
        while self._over(0, 0):
            victim = self._main_victim()
            while candidates and candidates[-1] not in self._probation:  # an earlier victim was a candidate
                candidates.pop()
            if candidates:
                cand = candidates[-1]
                if cand == victim or not self._admit_candidate(cand, victim):
                    self._remove_probation(cand)
                    candidates.pop()
                    self._evict(cand, evicted)
                    continue
                candidates.pop()
            self._unlink(victim)
            self._evict(victim, evicted)

    def _grow_sketch(self) -> None:
        """Double the sketch until it is sized for the entries held (or for the bound)."""
        n = self._sketch_entries
        while n < len(self._values) and n < self._sketch_max:
            n *= 2
        self._sketch_entries = n = min(n, self._sketch_max)
        self.sketch.grow(4 * n, 10 * n)

    def _admit_candidate(self, candidate: K, victim: K) -> bool:
        cf = self.sketch.frequency(candidate)
        vf = self.sketch.frequency(victim)
        if cf > vf:
            return True
        return cf >= 6 and self._rng.random() < 1 / 128

    def _main_victim(self) -> K:
        for queue in (self._probation, self._protected, self._window):
            if queue:
                return next(iter(queue))
        raise AssertionError("over the bounds with nothing held")

    def _remove_probation(self, key: K) -> None:
        del self._probation[key]
        self._pw -= self._w(key)

    def _link(self, key: K) -> None:  # pragma: no cover - _admit is overridden
        raise AssertionError("W-TinyLFU admits through _admit")

    def _unlink(self, key: K) -> None:
        w = self._w(key)
        if key in self._window:
            del self._window[key]
            self._ww -= w
        elif key in self._probation:
            del self._probation[key]
            self._pw -= w
        else:
            del self._protected[key]
            self._qw -= w

    def _touch(self, key: K) -> None:
        if key in self._window:
            self._window.move_to_end(key)
        elif key in self._probation:
            del self._probation[key]
            w = self._w(key)
            self._pw -= w
            self._protected[key] = None
            self._qw += w
            self._demote_protected()
        else:
            self._protected.move_to_end(key)

    def _resized(self, key: K, old: int, new: int) -> None:
        if key in self._window:
            self._ww += new - old
        elif key in self._probation:
            self._pw += new - old
        else:
            self._qw += new - old

    def _pop_victim(self, incoming: K | None) -> K:
        key = self._main_victim()
        self._unlink(key)
        return key


class Belady(Policy[K, V]):
    """Belady's optimal policy (OPT/MIN): evict the key whose next request is farthest away.

    It needs the future, so it is only for offline replay, as the upper bound for the
    others. Give it the whole request sequence (or precomputed next-use positions); it then
    expects ``get`` to be called once per request, in that order, and ``set`` only for the
    key just requested. A key requested again later than everything held is not admitted
    at all (bypass, reported as evicted), which is what makes it optimal.
    """

    name = "OPT"

    def __init__(
        self,
        keys: Sequence[K],
        max_entries: int | None = None,
        max_bytes: int | None = None,
        *,
        next_use: Sequence[int] | None = None,
        **options: Unpack[Options[V]],
    ) -> None:
        super().__init__(max_entries, max_bytes, **options)
        self._trace = keys
        self._never = len(keys)  # "never again" sorts after every real position
        if next_use is None:
            nxt = [self._never] * len(keys)
            seen: dict[K, int] = {}
            for i in range(len(keys) - 1, -1, -1):
                k = keys[i]
                nxt[i] = seen.get(k, self._never)
                seen[k] = i
            next_use = nxt
        elif len(next_use) != len(keys):
            raise ValueError("next_use must have one position per request")
        self._next_use = next_use
        self._cursor = 0
        self._current: K | None = None
        self._current_next = self._never
        self._next: dict[K, int] = {}  # held key -> position of its next request
        self._heap: list[tuple[int, int, K]] = []  # (-next position, tiebreak, key), lazily invalidated
        self._tiebreak = 0

    def get(self, key: K) -> V | _Missing:
        if self._cursor >= len(self._trace) or self._trace[self._cursor] != key:
            raise ValueError(f"Belady replays its trace in order: request {self._cursor} is not {key!r}")
        nxt = self._next_use[self._cursor]
        self._current, self._current_next = key, (nxt if 0 <= nxt < self._never else self._never)
        self._cursor += 1
        return super().get(key)

    def _push(self, key: K) -> None:
        nxt = self._current_next
        self._next[key] = nxt
        self._tiebreak += 1
        heapq.heappush(self._heap, (-nxt, self._tiebreak, key))
        if len(self._heap) > 4 * len(self._next) + 1024:  # drop stale entries now and then
            self._heap = [(-n, i, k) for i, (k, n) in enumerate(self._next.items())]
            heapq.heapify(self._heap)

    def _farthest(self) -> tuple[int, K]:
        heap = self._heap
        while True:
            neg, _, key = heap[0]
            if self._next.get(key) == -neg:
                return -neg, key
            heapq.heappop(heap)

    def _admit(self, key: K, value: V, size: int, evicted: list[Evicted[K, V]]) -> None:
        if key != self._current:
            raise ValueError(f"Belady can only set the key just requested ({self._current!r}), not {key!r}")
        if self._over(1, size) and self._next and self._current_next >= self._farthest()[0]:
            self._current = None
            evicted.append(Evicted(key, value, Reason.CAPACITY))  # bypass: everything held is needed sooner
            return
        super()._admit(key, value, size, evicted)

    def _link(self, key: K) -> None:
        self._push(key)

    def _unlink(self, key: K) -> None:
        del self._next[key]

    def _touch(self, key: K) -> None:
        if key == self._current:
            self._push(key)

    def _pop_victim(self, incoming: K | None) -> K:
        _, key = self._farthest()
        heapq.heappop(self._heap)
        del self._next[key]
        return key


POLICY_NAMES = ("LRU", "FIFO", "Random", "LFU", "ARC", "S3-FIFO", "W-TinyLFU", "OPT")


def make_policy(name: str, keys: list[Any], max_entries: int | None, max_bytes: int | None) -> Policy[Any, Any]:
    """A fresh policy by its name in ``POLICY_NAMES``; OPT (Belady) is given the whole request sequence."""
    if name == "OPT":
        return Belady(keys, max_entries, max_bytes)
    factories: dict[str, Callable[[], Policy[Any, Any]]] = {
        "LRU": lambda: LRU(max_entries, max_bytes),
        "FIFO": lambda: FIFO(max_entries, max_bytes),
        "Random": lambda: Random(max_entries, max_bytes, seed=1),
        "LFU": lambda: LFU(max_entries, max_bytes),
        "ARC": lambda: ARC(max_entries, max_bytes),
        "S3-FIFO": lambda: S3FIFO(max_entries, max_bytes),
        "W-TinyLFU": lambda: WTinyLFU(max_entries, max_bytes),
    }
    if name not in factories:
        raise ValueError(f"unknown policy {name!r} (choose from {', '.join(POLICY_NAMES)})")
    return factories[name]()
