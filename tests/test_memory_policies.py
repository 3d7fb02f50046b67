"""Eviction policies and trace readers: hand-checked sequences, bounds, bad input, properties, one real trace.

The expected evictions below are worked out by hand from each algorithm's rules (the
comments give the state after each step), so a policy that merely "evicts something"
fails them.
"""

from __future__ import annotations

import gzip
import json
import lzma
import struct
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exocortex.errors import ConfigError, InputPathError
from exocortex.memory.policies import (
    ARC,
    FIFO,
    LFU,
    LRU,
    MISSING,
    S3FIFO,
    TTL,
    Belady,
    Evicted,
    FrequencySketch,
    OversizeError,
    Policy,
    Random,
    Reason,
    WTinyLFU,
)
from exocortex.memory.traces import TraceError, read_lirs, read_oracle_general, read_scarab, replay

TRACES = Path(__file__).parent / "fixtures" / "traces"  # origin, licence and checksums in its README.md

Factory = Callable[..., Policy[Any, Any]]
FACTORIES: dict[str, Factory] = {
    "LRU": LRU,
    "FIFO": FIFO,
    "LFU": LFU,
    "Random": lambda *a, **k: Random(*a, seed=7, **k),
    "TTL": lambda *a, **k: TTL(*a, default_ttl=1000.0, **k),
    "ARC": ARC,
    "S3-FIFO": S3FIFO,
    "W-TinyLFU": WTinyLFU,
}


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def access(policy: Policy[Any, Any], key: Any) -> list[Any]:
    """One replayed request: get, and on a miss set; returns the keys evicted."""
    if policy.get(key) is MISSING:
        return [e.key for e in policy.set(key, f"v{key}", 1)]
    return []


def test_lru_evicts_least_recently_used() -> None:
    cache: LRU[str, int] = LRU(3)
    for i, key in enumerate("abc"):
        assert cache.set(key, i) == []
    assert cache.get("a") == 0  # order b c a
    assert cache.set("d", 3) == [Evicted("b", 1, Reason.CAPACITY)]  # c a d
    assert cache.get("c") == 2  # a d c
    assert [e.key for e in cache.set("e", 4)] == ["a"]
    assert sorted(cache.keys()) == ["c", "d", "e"]
    assert cache.get("b") is MISSING


def test_fifo_ignores_hits() -> None:
    cache: FIFO[str, int] = FIFO(3)
    for i, key in enumerate("abc"):
        cache.set(key, i)
    assert cache.get("a") == 0  # no reordering: a b c
    assert [e.key for e in cache.set("d", 3)] == ["a"]  # b c d
    assert cache.get("c") == 2
    assert [e.key for e in cache.set("e", 4)] == ["b"]


def test_lfu_evicts_least_frequent_oldest_first() -> None:
    cache: LFU[str, int] = LFU(3, aging_interval=10**6)
    for i, key in enumerate("abc"):
        cache.set(key, i)
    cache.get("a")
    cache.get("a")
    cache.get("b")  # counts a=3 b=2 c=1
    assert [e.key for e in cache.set("d", 3)] == ["c"]  # a=3 b=2 d=1
    cache.get("d")  # a=3 b=2 d=2, b reached 2 first
    assert [e.key for e in cache.set("e", 4)] == ["b"]
    assert (cache.frequency("a"), cache.frequency("d"), cache.frequency("e")) == (3, 2, 1)


def test_lfu_aging_recovers_from_a_phase_change() -> None:
    """Old heavy hitters squat forever in plain LFU; halving the counts lets the new phase in."""

    def run(aging_interval: int) -> float:
        cache: LFU[int, str] = LFU(2, aging_interval=aging_interval)
        for _ in range(50):
            access(cache, 1)
            access(cache, 2)
        hits = sum(not access(cache, key) and key in cache for key in [3, 4] * 100)  # phase two: 3 and 4 only
        return hits / 200

    assert run(10**9) == 0.0  # 1 keeps count 50: 3 and 4 keep evicting each other
    assert run(10) > 0.8


def test_random_is_reproducible_with_a_seed() -> None:
    def evictions(seed: int) -> list[int]:
        cache: Random[int, int] = Random(5, seed=seed)
        return [e.key for i in range(200) for e in cache.set(i % 37, i)]

    first = evictions(1)
    assert len(first) >= 100 and all(0 <= key < 37 for key in first)
    assert first == evictions(1)
    assert first != evictions(2)


def test_ttl_expiry_with_a_fake_clock() -> None:
    clock = FakeClock()
    cache: TTL[str, str] = TTL(10, default_ttl=10, clock=clock)
    cache.set("a", "A")
    cache.set("b", "B", ttl=5)
    clock.now = 4.9
    assert cache.get("a") == "A" and cache.get("b") == "B"
    clock.now = 5.0
    assert "b" not in cache
    assert cache.get("b") is MISSING  # expired: a miss, and purged
    assert len(cache) == 1
    clock.now = 10.0
    assert cache.get("a") is MISSING
    assert len(cache) == 0 and cache.bytes == 0


def test_ttl_purges_expired_before_evicting_live_entries() -> None:
    clock = FakeClock()
    cache: LRU[str, str] = LRU(2, clock=clock)  # ttl works on every policy, not only TTL
    cache.set("short", "s", ttl=1)
    cache.set("long", "l", ttl=100)
    cache.get("short")  # short is now the most recent: plain LRU would evict long
    clock.now = 2
    assert cache.set("new", "n") == [Evicted("short", "s", Reason.EXPIRED)]
    assert sorted(cache.keys()) == ["long", "new"]
    clock.now = 50
    cache.set("long", "L")  # overwriting without a ttl makes it live until evicted
    clock.now = 1000
    assert cache.get("long") == "L"
    cache.set("x", "X", ttl=1)
    clock.now = 2000
    assert cache.expire() == [Evicted("x", "X", Reason.EXPIRED)]


def test_byte_bound() -> None:
    cache: LRU[str, str] = LRU(max_bytes=10)
    cache.set("a", "A", size=4)
    cache.set("b", "B", size=4)
    assert cache.bytes == 8
    assert [e.key for e in cache.set("c", "C", size=4)] == ["a"]
    assert cache.bytes == 8 and len(cache) == 2
    assert [e.key for e in cache.set("d", "D", size=10)] == ["b", "c"]
    assert cache.bytes == 10
    cache.delete("d")
    assert cache.bytes == 0 and len(cache) == 0


def test_growing_an_entry_evicts_others() -> None:
    cache: LRU[str, str] = LRU(max_bytes=10)
    cache.set("a", "A", size=4)
    cache.set("b", "B", size=4)
    assert [e.key for e in cache.set("a", "AA", size=8)] == ["b"]  # a is touched, so b is the LRU
    assert cache.get("a") == "AA" and cache.bytes == 8


def test_both_bounds_apply() -> None:
    cache: LRU[str, str] = LRU(max_entries=2, max_bytes=100)
    cache.set("a", "A", size=1)
    cache.set("b", "B", size=1)
    assert [e.key for e in cache.set("c", "C", size=1)] == ["a"]  # the entry bound
    assert [e.key for e in cache.set("d", "D", size=100)] == ["b", "c"]  # the byte bound
    assert len(cache) == 1 and cache.bytes == 100


def test_default_and_custom_sizeof() -> None:
    cache: LRU[str, object] = LRU(max_bytes=10_000)
    cache.set("bytes", b"abc")
    cache.set("str", "hello")
    cache.set("int", 12345)
    assert cache.bytes == sys.getsizeof(b"abc") + sys.getsizeof("hello") + 1
    by_len: LRU[str, bytes] = LRU(max_bytes=10, sizeof=len)
    by_len.set("a", b"12345")
    assert [e.key for e in by_len.set("b", b"123456")] == ["a"]


@pytest.mark.parametrize("name", list(FACTORIES))
def test_bad_input(name: str) -> None:
    factory = FACTORIES[name]
    with pytest.raises(ValueError, match="needs a bound"):
        factory()
    for bad in (0, -1):
        with pytest.raises(ValueError, match="max_entries must be a positive integer"):
            factory(bad)
        with pytest.raises(ValueError, match="max_bytes must be a positive integer"):
            factory(None, bad)
    cache = factory(10, 100)
    for bad_size in (0, -5):
        with pytest.raises(ValueError, match="size must be a positive integer"):
            cache.set("k", "v", size=bad_size)
    with pytest.raises(ValueError, match="ttl must be a positive"):
        cache.set("k", "v", ttl=0)
    cache.set("small", "v", size=10)
    with pytest.raises(OversizeError, match="can never fit"):
        cache.set("huge", "v", size=101)
    assert cache.keys() == ["small"] and cache.bytes == 10  # nothing was flushed for it
    zero = factory(10, 100, sizeof=lambda value: 0)
    with pytest.raises(ValueError, match="sizeof returned 0"):
        zero.set("k", "v")
    assert len(zero) == 0


def test_arc_hand_checked() -> None:
    """c = 2. Unlike LRU, ARC evicts the once-seen b rather than the twice-seen a, then adapts p."""
    arc: ARC[str, str] = ARC(2)
    assert access(arc, "a") == [] and access(arc, "a") == []  # T1 [] T2 [a]
    assert access(arc, "b") == []  # T1 [b] T2 [a]
    assert access(arc, "c") == ["b"]  # case IV.B: REPLACE, |T1|=1 > p=0: b -> B1
    assert arc.lists() == (["c"], ["a"], ["b"], []) and arc.p == 0
    assert access(arc, "b") == ["a"]  # B1 hit: p = 0 + max(0/1, 1) = 1; |T1|=1 not > 1: T2's a -> B2
    assert arc.lists() == (["c"], ["b"], [], ["a"]) and arc.p == 1
    assert access(arc, "a") == ["c"]  # B2 hit: p = max(0, 1 - 1) = 0; |T1|=1 > 0: c -> B1
    assert arc.lists() == ([], ["b", "a"], ["c"], []) and arc.p == 0
    lru: LRU[str, str] = LRU(2)
    assert [access(lru, k) for k in "aabc"] == [[], [], [], ["a"]]


def test_arc_case_iv_a_drops_t1_without_a_ghost() -> None:
    arc: ARC[int, str] = ARC(2)
    assert [access(arc, k) for k in (1, 2, 3)] == [[], [], [1]]  # |T1| = c: its LRU goes, no ghost
    assert arc.lists() == ([2, 3], [], [], [])


def test_s3fifo_hand_checked() -> None:
    """c = 10: small target 1, ghost 9. A read key is promoted; a ghost's return goes to main."""
    s3: S3FIFO[int, str] = S3FIFO(10)
    access(s3, 0)
    access(s3, 0)  # 0 was read once while in small
    for key in range(1, 10):
        assert access(s3, key) == []  # small is full but the cache is not: straight to main
    assert s3.queues() == ([0], list(range(1, 10)), [])
    assert access(s3, 10) == [1]  # 0 moves to main (freq cleared), small is empty, main's unread head 1 goes
    assert s3.queues() == ([10], [*range(2, 10), 0], [])
    assert access(s3, 11) == [10]  # 10 leaves small unread: into the ghost
    assert s3.queues() == ([11], [*range(2, 10), 0], [10])
    assert access(s3, 10) == [11]  # 10's ghost is remembered: it goes straight to main
    assert s3.queues() == ([], [*range(2, 10), 0, 10], [11])


def test_s3fifo_main_reinserts_read_keys() -> None:
    """c = 2: small target 0.2, so a and b fill main directly; reads buy one more lap each."""
    s3: S3FIFO[str, str] = S3FIFO(2)
    for key in "ab":
        access(s3, key)
        access(s3, key)  # main [a b], both read once
    assert access(s3, "c") == ["a"]  # a and b reinserted with freq 0, then a (the head) goes
    assert s3.queues() == (["c"], ["b"], [])
    access(s3, "b")  # b read again
    s3.delete("c")
    access(s3, "d")
    access(s3, "d")  # room in the cache: d went to main behind b, and is read once
    assert access(s3, "e") == ["b"]  # b and d each spend their read on a lap; b is the head again
    assert s3.queues() == (["e"], ["d"], [])


def test_wtinylfu_hand_checked() -> None:
    """c = 3: window 1, protected max 1. The candidate from the window must beat probation's LRU."""
    w: WTinyLFU[int, str] = WTinyLFU(3, adaptive=False)
    for key in (1, 2, 3):
        assert access(w, key) == []
    assert w.segments() == ([3], [1, 2], [])
    access(w, 1)  # probation hit: 1 -> protected
    access(w, 2)  # 2 -> protected, which overflows: 1 demoted to probation
    assert w.segments() == ([3], [1], [2])
    assert access(w, 4) == [3]  # candidate 3 (freq 1) loses to victim 1 (freq 2)
    assert access(w, 3) == [4]  # 4 (freq 1) loses too
    assert access(w, 4) == [3]  # 3 (freq 2) ties 1 (freq 2): ties lose
    assert access(w, 3) == [4]  # 4 (freq 2) ties
    assert access(w, 4) == [1]  # 3 (freq 3) beats 1 (freq 2)
    assert w.segments() == ([4], [3], [2])


def test_wtinylfu_resists_a_scan() -> None:
    w: WTinyLFU[int, str] = WTinyLFU(100)
    hot = list(range(50))
    for _ in range(20):
        for key in hot:
            access(w, key)
    # The first sample (these 1,000 requests) steps the window from 1 up to 7, moving the 6
    # coldest main entries into it; the scan then flushes the window but not the main space.
    assert w.window_max == 7
    for key in range(1000, 6000):  # one-time keys
        access(w, key)
    assert sum(key in w for key in hot) >= 50 - 7
    lru: LRU[int, str] = LRU(100)
    for key in hot + list(range(1000, 1100)):
        access(lru, key)
    assert not any(key in lru for key in hot)


def test_wtinylfu_sketch_has_four_counters_per_entry_in_each_row() -> None:
    assert WTinyLFU(1000).sketch.width == 4096  # 4 x 1000, rounded up to a power of two
    assert WTinyLFU(3).sketch.width == 16  # the floor


def test_wtinylfu_sketch_is_sized_by_what_is_held_not_by_the_bound() -> None:
    # Bounded at 10**10 entries (or 10**21 bytes) and holding a few: the sketch used to be sized
    # for the bound (40 GB, a MemoryError); it starts small and doubles as entries come in.
    tracemalloc.start()
    try:
        huge: WTinyLFU[int, bool] = WTinyLFU(10**10)
        by_bytes: WTinyLFU[int, bool] = WTinyLFU(None, 10**21)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20
    start = huge.sketch.width
    assert start == by_bytes.sketch.width == 4 * 2**16
    for key in range(2**16 + 1):  # one entry more than the starting size
        huge.set(key, True, 1)
    assert huge.sketch.width == 2 * start and huge.sketch.sample_size == 10 * 2**17
    assert len(huge) == 2**16 + 1 and huge.get(0) is True


def test_a_growing_sketch_keeps_every_estimate() -> None:
    sketch = FrequencySketch(64, 10**9)
    counts = {key: key % 7 + 1 for key in range(300)}  # more keys than counters: collisions too
    for key, n in counts.items():
        for _ in range(n):
            sketch.increment(key)
    before = {key: sketch.frequency(key) for key in counts}
    assert all(before[key] >= min(n, 15) for key, n in counts.items())  # count-min: never below the truth
    sketch.grow(1024, 10**9)
    assert sketch.width == 1024
    assert {key: sketch.frequency(key) for key in counts} == before
    for _ in range(3):
        sketch.increment(0)
    assert sketch.frequency(0) >= before[0] + 3 or sketch.frequency(0) == 15


def test_wtinylfu_sketch_counts_every_request_once() -> None:
    w: WTinyLFU[int, str] = WTinyLFU(10, adaptive=False)
    w.set(5, "x")  # a write with no read before it: one request
    assert w.sketch.frequency(5) == 1
    assert w.get(6) is MISSING
    w.set(6, "x")  # stores the key whose get just missed: the same request, not a second one
    assert w.sketch.frequency(6) == 1
    assert w.get(5) == "x"
    w.set(5, "y")  # a read and then an overwrite: two requests
    assert w.sketch.frequency(5) == 3
    assert w.get(7) is MISSING
    w.set(8, "x")  # a different key than the one that missed: counted
    assert w.sketch.frequency(8) == 1
    assert w.sketch.frequency(7) == 1


def test_wtinylfu_admits_a_key_that_is_only_written() -> None:
    """c = 3: writes build frequency like reads, so a hot write-only key beats a cold victim."""
    w: WTinyLFU[int, str] = WTinyLFU(3, adaptive=False)
    for key in (1, 2, 3):
        w.set(key, "v")
    assert w.segments() == ([3], [1, 2], [])
    for _ in range(3):
        w.set(9, "v")  # 9 -> window; candidate 3 (freq 1) ties victim 1 and loses; then overwrites
    assert w.segments() == ([9], [1, 2], [])
    assert w.set(4, "v") == [Evicted(1, "v", Reason.CAPACITY)]  # candidate 9 (freq 3) beats 1 (freq 1)
    assert w.segments() == ([4], [2, 9], [])


def test_wtinylfu_climber_grows_first_then_follows_the_hit_rate() -> None:
    """c = 100: samples of 1,000 requests, window 1 to start, steps of 6.25 (truncated to 6)."""
    w: WTinyLFU[int, str] = WTinyLFU(100)
    assert w.window_max == 1
    for key in range(1000, 2000):  # sample 1: hit rate 0, no worse than "0 before": step up
        assert w.get(key) is MISSING
    assert w.window_max == 7  # next step 0.98 x 6.25 = 6.125
    w.set(0, "v")
    for _ in range(1000):  # sample 2: hit rate 1, better: up again; a jump >= 5% restarts the step
        assert w.get(0) == "v"
    assert w.window_max == 13
    w.delete(0)
    for key in range(2000, 3000):  # sample 3: hit rate 0, worse: reverse, step down 6.25
        w.get(key)
    assert w.window_max == 7
    for key in range(3000, 4000):  # sample 4: unchanged (not worse): keep going down
        w.get(key)
    assert w.window_max == 1
    for key in range(4000, 5000):  # sample 5: the window cannot shrink below 1
        w.get(key)
    assert w.window_max == 1
    assert len(w) == 0


def test_belady_hand_checked() -> None:
    keys = [1, 2, 3, 1, 2, 1]
    # c = 2: 3 is never requested again, so OPT does not admit it; 1, 2, 1 then hit.
    assert replay(lambda: Belady(keys, 2), keys) == 0.5
    assert replay(lambda: LRU(2), keys) == pytest.approx(1 / 6)
    opt: Belady[int, str] = Belady(keys, 2)
    assert [access(opt, k) for k in keys] == [[], [], [3], [], [], []]
    with pytest.raises(ValueError, match="in order"):
        Belady(keys, 2).get(2)


@settings(max_examples=40, deadline=None)
@given(keys=st.lists(st.integers(0, 12), min_size=1, max_size=120), capacity=st.integers(1, 6))
def test_belady_is_the_upper_bound(keys: list[int], capacity: int) -> None:
    best = replay(lambda: Belady(keys, capacity), keys)
    for name, factory in FACTORIES.items():
        assert replay(lambda f=factory: f(capacity), keys) <= best + 1e-12, name


ops = st.lists(
    st.tuples(st.sampled_from(["set", "get", "delete"]), st.integers(0, 15), st.integers(1, 40)),
    max_size=150,
)


@settings(max_examples=150, deadline=None)
@given(
    name=st.sampled_from(list(FACTORIES)),
    max_entries=st.one_of(st.none(), st.integers(1, 8)),
    max_bytes=st.one_of(st.none(), st.integers(40, 120)),
    ops=ops,
)
def test_bounds_and_values_hold(name: str, max_entries: int | None, max_bytes: int | None, ops: list[Any]) -> None:
    """No policy exceeds a bound, and every value can be read back until the policy says it left."""
    if max_entries is None and max_bytes is None:
        max_entries = 4
    cache = FACTORIES[name](max_entries, max_bytes)
    model: dict[int, tuple[str, int]] = {}  # what the cache must hold: key -> (value, size)
    for step, (op, key, size) in enumerate(ops):
        if op == "set":
            value = f"{key}@{step}"
            for gone in cache.set(key, value, size):
                if gone.key == key:  # not admitted (or pushed out again at once): it is the value just set
                    assert gone.value == value and key not in cache
                else:
                    assert model.pop(gone.key)[0] == gone.value
            if key in cache:
                model[key] = (value, size)
            else:
                model.pop(key, None)
        elif op == "get":
            expected = model.get(key)
            assert cache.get(key) == (MISSING if expected is None else expected[0])
        else:
            assert cache.delete(key) == (key in model)
            model.pop(key, None)
        assert max_entries is None or len(cache) <= max_entries
        assert max_bytes is None or cache.bytes <= max_bytes
        assert len(cache) == len(model) and cache.bytes == sum(size for _, size in model.values())


# -- traces -------------------------------------------------------------------------------


def _needs(name: str) -> Path:
    path = TRACES / name
    if not path.is_file():  # the trace ships with the tests: a missing one is a failure, never a skip
        pytest.fail(f"{path} is missing: restore tests/fixtures/traces (see its README.md)")
    return path


def test_lru_on_lirs_gli_matches_published() -> None:
    keys = list(read_lirs(_needs("lirs-gli.trace.gz")))
    assert len(keys) == 6015
    assert round(100 * replay(lambda: LRU(1000), keys), 2) == 11.21
    assert replay(lambda: LRU(1000), keys) < replay(lambda: Belady(keys, 1000), keys)


def test_wtinylfu_on_lirs_gli_beats_lru() -> None:
    keys = list(read_lirs(_needs("lirs-gli.trace.gz")))

    def make() -> WTinyLFU[int, bool]:
        return WTinyLFU(1000)

    assert replay(make, keys) > 0.45  # LRU: 0.1121 (the window adapts; measured 0.5074)


def test_readers_report_corrupt_files(tmp_path: Path) -> None:
    good = tmp_path / "lirs-x.trace.gz"
    good.write_bytes(gzip.compress(b"* comment\n1\n\n2\n3\n" * 1000))
    assert list(read_lirs(good))[:4] == [1, 2, 3, 1]
    truncated = tmp_path / "lirs-t.trace.gz"
    truncated.write_bytes(good.read_bytes()[:-20])
    with pytest.raises(TraceError, match="corrupt or truncated"):
        list(read_lirs(truncated))
    bad = tmp_path / "lirs-b.trace.gz"
    bad.write_bytes(gzip.compress(b"1\nxyz\n"))
    with pytest.raises(TraceError, match="not an integer"):
        list(read_lirs(bad))

    scarab = tmp_path / "scarab.trace.xz"
    scarab.write_bytes(lzma.compress(struct.pack(">qq", -5, 7)))
    assert list(read_scarab(scarab)) == [-5, 7]
    scarab.write_bytes(lzma.compress(struct.pack(">qq", -5, 7)[:-1]))
    with pytest.raises(TraceError, match="truncated"):
        list(read_scarab(scarab))

    oracle = tmp_path / "x.oracleGeneral.bin"
    oracle.write_bytes(struct.pack("<IQIq", 1, 42, 512, -1) * 2)
    assert [(r.key, r.size, r.next_access) for r in read_oracle_general(oracle)] == [(42, 512, -1)] * 2
    oracle.write_bytes(struct.pack("<IQIq", 1, 42, 512, -1)[:-3])
    with pytest.raises(TraceError, match="truncated"):
        list(read_oracle_general(oracle))


# --- the `exocortex bench cache` command ---------------------------------------------------------


def _lirs_trace(path: Path, keys: list[int]) -> Path:
    with gzip.open(path, "wt") as fh:
        fh.write("* a comment line\n" + "".join(f"{k}\n" for k in keys))
    return path


def test_bench_cache_prints_each_policys_hit_ratio(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from exocortex.cli import main

    keys = [1, 2, 3, 1, 4, 1, 2, 5, 1, 2]
    trace = _lirs_trace(tmp_path / "lirs-tiny.trace.gz", keys)
    assert main(["bench", "cache", "--trace", str(trace), "--size", "2", "--size", "3",
                 "--policy", "LRU", "--policy", "OPT", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["format"] == "lirs" and report["requests"] == len(keys)
    got = {(r["size"], r["policy"]): r["hit_ratio"] for r in report["results"]}
    # LRU at 2: [1] [1,2] [2,3] [3,1] [1,4] hit 1 [4,1] [1,2] [2,5] [5,1] [1,2]: one hit in ten
    assert got[(2, "LRU")] == pytest.approx(1 / 10)
    assert got[(2, "OPT")] >= got[(2, "LRU")] and got[(3, "OPT")] >= got[(3, "LRU")]
    assert got[(3, "LRU")] == pytest.approx(replay(lambda: LRU(3), keys))


def test_bench_cache_refuses_bad_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from exocortex.cli import main

    trace = _lirs_trace(tmp_path / "lirs-tiny.trace.gz", [1, 2, 1])
    assert main(["bench", "cache", "--trace", str(tmp_path / "absent.gz"), "--size", "2"]) == InputPathError.exit_code
    assert main(["bench", "cache", "--trace", str(trace), "--size", "0"]) == ConfigError.exit_code
    assert main(["bench", "cache", "--trace", str(trace), "--size", "2", "--policy", "MRU"]) == ConfigError.exit_code
    odd = tmp_path / "mystery.bin"
    odd.write_bytes(b"\x00" * 10)
    assert main(["bench", "cache", "--trace", str(odd), "--size", "2"]) == InputPathError.exit_code
    errors = capsys.readouterr().err
    assert "no trace file" in errors and "unknown policy 'MRU'" in errors and "trace format" in errors
