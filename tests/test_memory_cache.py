"""Tests for the multi-level cache: moves between levels, expiry, statistics, single-flight, warmers."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exocortex.memory.cache import Level, MultiLevelCache
from exocortex.memory.policies import LRU, TTL, OversizeError, Reason, make_policy


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def level_keys(cache: MultiLevelCache[Any, Any], name: str) -> set[Any]:
    return set(next(lv for lv in cache.levels if lv.name == name).keys())


def tiny(
    mode: str = "exclusive", l1: int = 2, l2: int = 2, clock: Any = time.monotonic
) -> tuple[MultiLevelCache[Any, Any], list[tuple[Any, Any, Reason]]]:
    dropped: list[tuple[Any, Any, Reason]] = []
    cache: MultiLevelCache[Any, Any] = MultiLevelCache(
        [Level("L1", LRU(l1)), Level("L2", LRU(l2))],
        mode=mode,  # type: ignore[arg-type]
        clock=clock,
        on_drop=lambda k, v, r: dropped.append((k, v, r)),
    )
    return cache, dropped


# -- promotion and demotion -------------------------------------------------------------


def test_exclusive_demotes_promotes_and_drops_from_last_level() -> None:
    cache, dropped = tiny()
    cache.set("a", 1)
    cache.set("b", 2)
    cache.set("c", 3)  # L1 full: a (least recent) is demoted
    assert level_keys(cache, "L1") == {"b", "c"}
    assert level_keys(cache, "L2") == {"a"}

    assert cache.get("a") == 1  # L2 hit: moves up, pushes b down
    assert level_keys(cache, "L1") == {"c", "a"}
    assert level_keys(cache, "L2") == {"b"}

    cache.set("d", 4)  # c demoted: L2 = b, c
    cache.set("e", 5)  # a demoted, L2 full: b (its LRU) leaves the cache
    assert level_keys(cache, "L1") == {"d", "e"}
    assert level_keys(cache, "L2") == {"c", "a"}
    assert dropped == [("b", 2, Reason.CAPACITY)]
    assert cache.get("b") is None

    s = cache.stats()
    assert s["promotions"] == 1
    assert s["demotions"] == 4  # a, b, c, a
    assert s["dropped"] == 1
    assert s["evictions"]["L1"]["capacity"] == 4
    assert s["evictions"]["L2"]["capacity"] == 1
    assert s["hits"] == {"L1": 0, "L2": 1}
    assert s["misses"] == 1
    assert s["levels"]["L1"]["entries"] == 2 and s["levels"]["L2"]["entries"] == 2
    assert len(cache) == 4


def test_exclusive_set_replaces_a_demoted_copy() -> None:
    cache, _ = tiny()
    for k in "abc":
        cache.set(k, k)
    assert "a" in level_keys(cache, "L2")
    cache.set("a", "new")
    assert "a" not in level_keys(cache, "L2") and "a" in level_keys(cache, "L1")
    assert cache.get("a") == "new"
    assert len(cache) == 3


def test_inclusive_writes_everywhere_and_copies_up_on_hit() -> None:
    cache, dropped = tiny("inclusive", l1=2, l2=3)
    for k in "abc":
        cache.set(k, k.upper())
    assert level_keys(cache, "L2") == {"a", "b", "c"}
    assert level_keys(cache, "L1") == {"b", "c"}  # a left L1 but is still in L2: no demotion
    assert cache.stats()["demotions"] == 0

    assert cache.get("a") == "A"  # L2 hit copied into L1, kept in L2
    assert level_keys(cache, "L1") == {"c", "a"}
    assert level_keys(cache, "L2") == {"a", "b", "c"}

    cache.set("d", "D")  # L2 evicts b (its LRU; a was touched), which no level holds any more
    assert level_keys(cache, "L2") == {"c", "a", "d"}
    assert level_keys(cache, "L1") == {"a", "d"}
    assert dropped == [("b", "B", Reason.CAPACITY)]
    s = cache.stats()
    assert s["promotions"] == 1 and s["dropped"] == 1
    assert len(cache) == 3


def test_inclusive_demotes_when_the_lower_level_lacks_the_key() -> None:
    cache, _ = tiny("inclusive", l1=2, l2=3)
    cache.set("a", 1)
    cache.levels[1].delete("a")  # as if L2's admission filter had refused it
    cache.set("b", 2)
    cache.set("c", 3)  # L1 evicts a, which L2 does not hold: demoted rather than lost
    assert "a" in level_keys(cache, "L2")
    assert cache.stats()["demotions"] == 1
    assert cache.get("a") == 1


# -- expiry -------------------------------------------------------------------------------


def test_ttl_deadline_survives_demotion_and_promotion() -> None:
    clock = FakeClock()
    cache, dropped = tiny(l2=4, clock=clock)
    cache.set("x", "X", ttl=10)
    cache.set("y", "Y")
    cache.set("z", "Z")  # x demoted at t=0 with its deadline 10
    assert cache.levels[1].deadline("x") == 10
    clock.now = 5
    assert cache.get("x") == "X"  # promoted at t=5: the deadline stays 10, not 15
    assert cache.levels[0].deadline("x") == 10
    cache.set("w", "W")
    cache.set("v", "V")  # x demoted again
    assert "x" in level_keys(cache, "L2")
    clock.now = 9.9
    assert "x" in cache
    clock.now = 10
    assert "x" not in cache
    assert cache.get("x") is None  # expired in L2: a miss, and dropped there
    assert "x" not in level_keys(cache, "L2")
    assert dropped == [("x", "X", Reason.EXPIRED)]
    s = cache.stats()
    assert s["evictions"]["L2"]["expired"] == 1
    assert s["misses"] == 1 and s["hits"]["L2"] == 1


def test_expired_entry_evicted_for_capacity_is_not_demoted() -> None:
    clock = FakeClock()
    cache, dropped = tiny(clock=clock)
    cache.set("old", 1, ttl=1)
    cache.set("b", 2)
    clock.now = 2
    cache.set("c", 3)  # L1 evicts "old", already expired: dropped, not demoted
    assert level_keys(cache, "L2") == set()
    assert cache.stats()["demotions"] == 0
    assert cache.stats()["evictions"]["L1"] == {"capacity": 0, "expired": 1}
    assert dropped == [("old", 1, Reason.EXPIRED)]


def test_inclusive_expiry_drops_every_copy() -> None:
    clock = FakeClock()
    cache, dropped = tiny("inclusive", l1=2, l2=3, clock=clock)
    cache.set("k", "v", ttl=3)
    clock.now = 3
    assert cache.get("k") is None
    assert level_keys(cache, "L1") == set() and level_keys(cache, "L2") == set()
    assert dropped == [("k", "v", Reason.EXPIRED)]  # reported once, when the last copy went
    assert cache.stats()["evictions"]["L1"]["expired"] == 1
    assert cache.stats()["evictions"]["L2"]["expired"] == 1


# -- statistics ------------------------------------------------------------------------


def test_stats_count_each_request_once() -> None:
    cache, _ = tiny()
    for k in "abc":
        cache.set(k, k)
    assert cache.get("c") == "c"  # L1
    assert cache.get("a") == "a"  # L2, promoted
    assert cache.get("a") == "a"  # now L1
    assert cache.get("nope", "dflt") == "dflt"  # miss
    assert cache.get_or_load("b", lambda k: "never") == "b"  # L2 hit via get_or_load
    assert cache.get_or_load("n", lambda k: k * 2) == "nn"  # miss + load
    "a" in cache  # noqa: B015 - membership is not a request
    s = cache.stats()
    assert s["requests"] == 6
    assert s["hits"] == {"L1": 2, "L2": 2}
    assert s["misses"] == 2
    assert sum(s["hits"].values()) + s["misses"] == s["requests"]
    assert s["hit_ratio"] == pytest.approx(4 / 6)
    assert s["loads"] == 1
    json.dumps(s)  # plain data


def test_default_cache_levels() -> None:
    cache = MultiLevelCache.default()
    s = cache.stats()
    assert s["levels"]["L1"] == {
        "policy": "LRU",
        "entries": 0,
        "bytes": 0,
        "max_entries": 100,
        "max_bytes": 10 * 1024 * 1024,
    }
    assert s["levels"]["L2"]["max_entries"] == 1000
    assert s["levels"]["L2"]["max_bytes"] == 100 * 1024 * 1024
    assert s["hit_ratio"] == 0.0
    other = MultiLevelCache.default(l2_policy="W-TinyLFU")
    assert other.stats()["levels"]["L2"]["policy"] == "W-TinyLFU"
    cache.set("k", b"x" * 100)
    assert cache.stats()["levels"]["L1"]["bytes"] > 100  # default sizeof: sys.getsizeof of bytes


# -- single-flight ----------------------------------------------------------------------


def _wait_for(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.001)


def test_single_flight_threads_one_call_same_value() -> None:
    cache, _ = tiny(l1=4, l2=4)
    calls = 0
    release = threading.Event()
    n = 16

    def loader(key: str) -> str:
        nonlocal calls
        calls += 1
        release.wait(5)
        time.sleep(0.01)
        return f"value-{key}"

    results: list[Any] = [None] * n

    def worker(i: int) -> None:
        results[i] = cache.get_or_load("k", loader)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    _wait_for(lambda: cache.stats()["coalesced"] == n - 1)  # everyone else is waiting on the flight
    release.set()
    for t in threads:
        t.join(5)
    assert calls == 1
    assert results == ["value-k"] * n
    s = cache.stats()
    assert s["requests"] == n and s["misses"] == n and s["loads"] == 1
    assert cache.get("k") == "value-k"


def test_single_flight_threads_share_the_exception_and_retry_later() -> None:
    cache, _ = tiny(l1=4, l2=4)
    calls = 0
    release = threading.Event()
    n = 16
    boom = RuntimeError("backend down")

    def loader(key: str) -> str:
        nonlocal calls
        calls += 1
        release.wait(5)
        raise boom

    errors: list[BaseException | None] = [None] * n

    def worker(i: int) -> None:
        try:
            cache.get_or_load("k", loader)
        except BaseException as exc:
            errors[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    _wait_for(lambda: cache.stats()["coalesced"] == n - 1)
    release.set()
    for t in threads:
        t.join(5)
    assert calls == 1
    assert all(e is boom for e in errors)
    assert "k" not in cache  # errors are not cached
    assert cache.get_or_load("k", lambda k: "ok") == "ok"  # a later call retries
    assert cache.stats()["load_errors"] == 1


def test_async_single_flight() -> None:
    cache, _ = tiny(l1=4, l2=4)
    calls = 0

    async def loader(key: str) -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        return key.upper()

    async def failing(key: str) -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        raise KeyError(key)

    async def main() -> None:
        nonlocal calls
        values = await asyncio.gather(*(cache.aget_or_load("k", loader) for _ in range(16)))
        assert values == ["K"] * 16
        assert calls == 1
        assert await cache.aget_or_load("k", loader) == "K"  # now a hit
        assert calls == 1

        calls = 0
        outcomes = await asyncio.gather(
            *(cache.aget_or_load("bad", failing) for _ in range(16)), return_exceptions=True
        )
        assert calls == 1
        assert all(isinstance(o, KeyError) for o in outcomes)
        assert all(o is outcomes[0] for o in outcomes)
        assert await cache.aget_or_load("bad", loader) == "BAD"  # retried

    asyncio.run(main())
    s = cache.stats()
    assert s["requests"] == 16 + 1 + 16 + 1
    assert sum(s["hits"].values()) + s["misses"] == s["requests"]
    assert s["coalesced"] == 30


# -- warmers ------------------------------------------------------------------------------


def test_warmers_load_only_missing_keys() -> None:
    cache, _ = tiny(l1=4, l2=4)
    cache.set(2, "held")
    loaded: list[int] = []

    def loader(k: int) -> str:
        loaded.append(k)
        if k == 4:
            raise ValueError("bad key")
        return f"v{k}"

    cache.register_warmer("nums", lambda: [1, 2, 3, 4], loader)
    cache.register_warmer("more", lambda: [5], lambda k: "five", ttl=60)
    assert cache.warm("nums") == {"nums": {"loaded": 2, "skipped": 1, "failed": 1}}
    assert loaded == [1, 3, 4]
    assert cache.get(1) == "v1" and cache.get(2) == "held"
    assert cache.warm() == {
        "nums": {"loaded": 0, "skipped": 3, "failed": 1},
        "more": {"loaded": 1, "skipped": 0, "failed": 0},
    }
    assert cache.stats()["requests"] == 2  # only the two gets above; warming is not a request
    with pytest.raises(ValueError, match="no warmer"):
        cache.warm("nope")


# -- delete and clear ------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["exclusive", "inclusive"])
def test_delete_and_clear(mode: str) -> None:
    cache, dropped = tiny(mode, l1=2, l2=4)
    for k in "abc":
        cache.set(k, k)
    assert cache.delete("a") is True
    assert cache.delete("a") is False
    assert "a" not in cache and cache.get("a") is None
    cache.clear("L1")
    assert level_keys(cache, "L1") == set()
    assert ("b" in cache) == (mode == "inclusive")  # inclusive keeps the L2 copy
    cache.set("z", 1)
    cache.clear(1)
    assert level_keys(cache, "L2") == set()
    cache.clear()
    assert len(cache) == 0
    assert cache.stats()["levels"]["L1"]["bytes"] == 0
    assert dropped == []
    with pytest.raises(ValueError, match="no level named"):
        cache.clear("L9")
    with pytest.raises(ValueError, match="no level at index"):
        cache.clear(5)


# -- bad input ----------------------------------------------------------------------------


def test_oversize_is_rejected_before_any_change() -> None:
    cache: MultiLevelCache[str, bytes] = MultiLevelCache(
        [Level("L1", LRU(10, 100)), Level("L2", LRU(10, 1000))], sizeof=len
    )
    cache.set("small", b"x" * 50)
    with pytest.raises(OversizeError, match=r"200 bytes.*'L1'.*max_bytes=100"):
        cache.set("big", b"x" * 200)
    assert "big" not in cache and cache.get("small") == b"x" * 50
    with pytest.raises(OversizeError):
        cache.get_or_load("big", lambda k: b"y" * 500)
    assert "big" not in cache
    assert cache.stats()["levels"]["L1"]["bytes"] == 50


def test_invalid_configuration_and_arguments() -> None:
    with pytest.raises(ValueError, match="at least one level"):
        MultiLevelCache([])
    with pytest.raises(ValueError, match="unique"):
        MultiLevelCache([Level("L1", LRU(2)), Level("L1", LRU(2))])
    with pytest.raises(ValueError, match="mode"):
        MultiLevelCache([Level("L1", LRU(2))], mode="sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Level("L1", LRU(0))
    with pytest.raises(ValueError):
        Level("L1", LRU(None, None))
    with pytest.raises(ValueError, match="owns expiry"):
        Level("L1", TTL(2, default_ttl=5))
    with pytest.raises(ValueError, match="name"):
        Level("", LRU(2))
    cache, _ = tiny()
    for bad in (0, -1, float("nan")):
        with pytest.raises(ValueError, match="ttl"):
            cache.set("k", 1, ttl=bad)
    bad_size: MultiLevelCache[str, int] = MultiLevelCache([Level("L1", LRU(2))], sizeof=lambda v: 0)
    with pytest.raises(ValueError, match="sizeof"):
        bad_size.set("k", 1)


# -- property: bounds hold and set-then-get is faithful ----------------------------------

ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("set"),
            st.integers(0, 7),
            st.integers(1, 5),
            st.one_of(st.none(), st.integers(1, 6)),
        ),
        st.tuples(st.just("get"), st.integers(0, 7)),
        st.tuples(st.just("del"), st.integers(0, 7)),
        st.tuples(st.just("tick"), st.integers(1, 3)),
    ),
    max_size=60,
)


@settings(max_examples=120, deadline=None)
@given(
    ops=ops,
    mode=st.sampled_from(["exclusive", "inclusive"]),
    l2_name=st.sampled_from(["LRU", "FIFO", "LFU", "ARC", "S3-FIFO", "W-TinyLFU"]),
)
def test_property_bounds_and_faithful_gets(ops: list[tuple[Any, ...]], mode: str, l2_name: str) -> None:
    clock = FakeClock()
    model: dict[int, tuple[tuple[int, int, int], float | None]] = {}
    serial = 0

    def on_drop(key: int, value: tuple[int, int, int], reason: Reason) -> None:
        if key in model and model[key][0] == value:
            del model[key]

    cache: MultiLevelCache[int, tuple[int, int, int]] = MultiLevelCache(
        [Level("L1", LRU(3, 8)), Level("L2", make_policy(l2_name, [], 4, 12))],
        mode=mode,  # type: ignore[arg-type]
        clock=clock,
        sizeof=lambda v: v[1],
        on_drop=on_drop,
    )
    for op in ops:
        if op[0] == "set":
            _, key, size, ttl = op
            serial += 1
            value = (key, size, serial)
            cache.set(key, value, ttl=ttl)
            model[key] = (value, None if ttl is None else clock.now + ttl)
        elif op[0] == "get":
            key = op[1]
            got = cache.get(key)
            if key in model:
                value, deadline = model[key]
                if deadline is None or deadline > clock.now:
                    assert got == value
                else:
                    assert got is None
                    del model[key]
            else:
                assert got is None
        elif op[0] == "del":
            cache.delete(op[1])
            model.pop(op[1], None)
        else:
            clock.now += op[1]
        for level in cache.levels:
            assert level.max_entries is not None and level.max_bytes is not None
            assert len(level) <= level.max_entries
            assert level.bytes <= level.max_bytes
            if mode == "exclusive":
                for other in cache.levels:
                    if other is not level:
                        assert not set(level.keys()) & set(other.keys())
    s = cache.stats()
    assert sum(s["hits"].values()) + s["misses"] == s["requests"]


@pytest.mark.parametrize("mode", ["exclusive", "inclusive"])
def test_entry_on_disk_larger_than_a_smaller_upper_level_is_served_not_raised(tmp_path, mode: str) -> None:
    from exocortex.memory.disk import DiskLevel

    disk = DiskLevel(tmp_path / "l3")
    writer = MultiLevelCache([disk], sizeof=len)
    writer.set("big", b"x" * 5000)
    writer.set("small", b"y" * 10)
    disk.close()
    # Reopened later with an L1 made smaller than the entry: the hit is served from disk.
    cache = MultiLevelCache([Level("L1", LRU(10, 1000)), DiskLevel(tmp_path / "l3")], mode=mode, sizeof=len)
    assert cache.get("big") == b"x" * 5000
    assert cache.get("big") == b"x" * 5000
    assert "big" not in cache.levels[0] and cache.stats()["hits"]["L3"] == 2
    assert cache.get("small") == b"y" * 10  # one that fits is promoted as before
    assert "small" in cache.levels[0]
