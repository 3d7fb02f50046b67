"""Tests for the on-disk cache level: serializers, persistence, bounds, expiry, corruption, crashes, locking."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import structlog
import structlog.testing

from exocortex.memory import DiskLevel, DiskLevelLockedError
from exocortex.memory.cache import Level, MultiLevelCache, Record
from exocortex.memory.disk import (
    HEADER_SIZE,
    MAX_KEY_DEPTH,
    TAG_BYTES,
    _pack_header,
    decode_key,
    encode_key,
    key_digest,
)
from exocortex.memory.policies import LRU, MISSING, OversizeError, Reason

SRC = str(Path(__file__).resolve().parents[1] / "src")


class FakeClock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Opaque:
    """An arbitrary object: only pickle can store it."""

    def __init__(self, x: int) -> None:
        self.x = x

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque) and other.x == self.x

    def __hash__(self) -> int:
        return hash(self.x)


def rec(value: Any, expires_at: float | None = None, size: int = 1) -> Record[Any]:
    return Record(value, expires_at, size)


def entry_files(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("??/*.xc"))


def temp_files(root: Path) -> list[Path]:
    return sorted(p for p in root.glob("??/.tmp-*"))


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[DiskLevel]:
    level = DiskLevel(tmp_path / "cache", clock=FakeClock())
    yield level
    level.close()


# -- serializers --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        b"\x00\xffraw bytes",
        b"",
        bytearray(b"mutable"),
        "unicode: \u00e9\u4e2d\U0001f600",
        "",
        {"a": [1, 2.5, None, True, {"nested": "x"}], "b": -(10**30)},
        [1, "two", 3.0, False, None, []],
        42,
        3.25,
        None,
        True,
    ],
    ids=lambda v: type(v).__name__,
)
def test_round_trip_plain_types(disk: DiskLevel, value: Any) -> None:
    disk.set("k", rec(value, size=7))
    got = disk.get("k")
    assert got is not MISSING
    assert got.value == value
    assert type(got.value) is type(value)
    assert got.size == 7  # the cache's size estimate travels unchanged
    assert got.expires_at is None


def test_round_trip_numpy_and_arrow(disk: DiskLevel) -> None:
    arr = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    table = pa.table({"id": [1, 2, 3], "name": ["a", "b", None]})
    disk.set(("np", 1), rec(arr))
    disk.set(("pa", 1), rec(table))
    got_arr = disk.get(("np", 1))
    got_table = disk.get(("pa", 1))
    assert got_arr is not MISSING and got_table is not MISSING
    assert isinstance(got_arr.value, np.ndarray)
    assert got_arr.value.dtype == np.float32 and got_arr.value.shape == (2, 3, 4)
    np.testing.assert_array_equal(got_arr.value, arr)
    assert isinstance(got_table.value, pa.Table)
    assert got_table.value.equals(table)


def test_arbitrary_object_refused_without_pickle(disk: DiskLevel) -> None:
    with pytest.raises(TypeError, match="Opaque.*allow_pickle=True"):
        disk.set("obj", rec(Opaque(1)))
    with pytest.raises(TypeError, match="allow_pickle"):
        disk.set("tup", rec({"a": (1, 2)}))  # a tuple would silently come back as a list via JSON
    with pytest.raises(TypeError, match="dtype object"):
        disk.set("objarr", rec(np.array([Opaque(1)], dtype=object)))
    assert len(disk) == 0 and entry_files(disk.root) == [] and temp_files(disk.root) == []


def test_arbitrary_object_accepted_with_pickle(tmp_path: Path) -> None:
    with DiskLevel(tmp_path / "c", allow_pickle=True) as level:
        level.set("obj", rec(Opaque(5)))
        level.set("tup", rec((1, "a")))
        got = level.get("obj")
        assert got is not MISSING and got.value == Opaque(5)
        got2 = level.get("tup")
        assert got2 is not MISSING and got2.value == (1, "a")
    # A directory written with pickle, reopened without it: the pickled entries are not loaded.
    with DiskLevel(tmp_path / "c") as level:
        assert level.get("obj") is MISSING
        assert level.stats()["corrupt"] == 1


def test_keys_encoding_is_deterministic_and_typed() -> None:
    for key in ["a", b"a", 1, 0, -(10**40), 10**6000, ("a", 1, (b"x", ())), ()]:
        assert decode_key(encode_key(key)) == key
        assert encode_key(key) == encode_key(key)
    assert encode_key("1") != encode_key(1) != encode_key(b"1")
    assert encode_key(("a", "b")) != encode_key(("ab",))
    bad: object
    for bad in [True, 1.5, None, frozenset(), ("ok", 2.0)]:
        with pytest.raises(TypeError):
            encode_key(bad)


# -- persistence, bounds, expiry ----------------------------------------------------------


def test_persistence_across_close_and_reopen(tmp_path: Path) -> None:
    root = tmp_path / "c"
    values = {f"k{i}": f"value {i}" * i for i in range(20)}
    with DiskLevel(root) as level:
        for k, v in values.items():
            level.set(k, rec(v, size=len(v) + 1))
        level.delete("k3")
        bytes_before = level.bytes
    with DiskLevel(root) as level:
        assert len(level) == 19
        assert "k3" not in level and level.get("k3") is MISSING
        assert level.bytes == bytes_before
        for k, v in values.items():
            if k == "k3":
                continue
            got = level.get(k)
            assert got is not MISSING and got.value == v and got.size == len(v) + 1
        assert level.stats()["corrupt"] == 0


def test_bounds_by_entries_evict_and_delete_files(tmp_path: Path) -> None:
    with DiskLevel(tmp_path / "c", max_entries=3, max_bytes=None) as level:
        evicted = []
        for i in range(5):
            evicted += level.set(i, rec(f"v{i}"))
        assert [(e.key, e.value.value, e.reason) for e in evicted] == [
            (0, "v0", Reason.CAPACITY),
            (1, "v1", Reason.CAPACITY),
        ]
        assert sorted(level.keys()) == [2, 3, 4]
        assert len(entry_files(level.root)) == 3
        level.get(2)  # LRU: 2 is now the most recent, 3 goes next
        (ev,) = level.set(5, rec("v5"))
        assert ev.key == 3
        assert sorted(level.keys()) == [2, 4, 5]
        assert len(entry_files(level.root)) == 3


def test_bounds_by_bytes_use_payload_sizes(tmp_path: Path) -> None:
    with DiskLevel(tmp_path / "c", max_entries=None, max_bytes=1000) as level:
        level.set("a", rec(b"x" * 400))
        level.set("b", rec(b"y" * 400))
        assert level.bytes == 800
        evicted = level.set("c", rec(b"z" * 300))
        assert [e.key for e in evicted] == ["a"] and evicted[0].value.value == b"x" * 400
        assert level.bytes == 700
        assert len(entry_files(level.root)) == 2
        with pytest.raises(OversizeError):
            level.set("huge", rec(b"h" * 1001))
        assert level.bytes == 700 and "huge" not in level and temp_files(level.root) == []


def test_reopen_with_lower_bounds_evicts_excess(tmp_path: Path) -> None:
    root = tmp_path / "c"
    with DiskLevel(root) as level:
        for i in range(6):
            level.set(i, rec(i))
    with DiskLevel(root, max_entries=2) as level:
        assert len(level) == 2
        assert level.stats()["evicted_on_open"] == 4
        assert len(entry_files(root)) == 2


@pytest.mark.parametrize("kwargs", [{"max_entries": 0}, {"max_entries": -1}, {"max_bytes": 0}, {"max_bytes": -5}])
def test_bad_limits(tmp_path: Path, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        DiskLevel(tmp_path / "c", **kwargs)


def test_other_policies_and_bad_policy(tmp_path: Path) -> None:
    with DiskLevel(tmp_path / "a", policy="FIFO", max_entries=2) as level:
        level.set(1, rec(1))
        level.set(2, rec(2))
        level.get(1)
        (ev,) = level.set(3, rec(3))
        assert ev.key == 1 and level.policy_name == "FIFO"
    with DiskLevel(tmp_path / "b", policy=LRU(max_entries=5)) as level:
        assert level.max_entries == 5 and level.max_bytes is None
    with pytest.raises(ValueError):
        DiskLevel(tmp_path / "c", policy="nope")
    with pytest.raises(ValueError):
        DiskLevel(tmp_path / "d", policy=LRU(5, default_ttl=3))


def test_ttl_deadline_honoured_after_reopen(tmp_path: Path) -> None:
    root = tmp_path / "c"
    clock = FakeClock(1000.0)
    with DiskLevel(root, clock=clock) as level:
        level.set("short", rec("s", expires_at=1010.0))
        level.set("long", rec("l", expires_at=2000.0))
        level.set("forever", rec("f"))
        assert level.deadline("short") == 1010.0 and level.deadline("forever") is None
        assert level.deadline("absent") is MISSING
    clock.now = 1005.0
    with DiskLevel(root, clock=clock) as level:
        assert sorted(level.keys()) == ["forever", "long", "short"]
        got = level.get("short")
        assert got is not MISSING and got.expires_at == 1010.0
    clock.now = 1500.0
    with DiskLevel(root, clock=clock) as level:
        assert sorted(level.keys()) == ["forever", "long"]
        assert level.stats()["expired_on_open"] == 1
        assert len(entry_files(root)) == 2
        clock.now = 3000.0
        (ev,) = level.expire()
        assert ev.key == "long" and ev.reason is Reason.EXPIRED and ev.value.value == "l"
        assert level.keys() == ["forever"] and len(entry_files(root)) == 1


# -- corruption ---------------------------------------------------------------------------


def _only_file(level: DiskLevel, key: Any) -> Path:
    before = set(entry_files(level.root))
    level.set(key, rec(b"payload-" * 50))
    (path,) = set(entry_files(level.root)) - before
    return path


def test_flipped_payload_byte_is_reported_not_returned(tmp_path: Path) -> None:
    with DiskLevel(tmp_path / "c") as level:
        path = _only_file(level, "k")
        data = bytearray(path.read_bytes())
        data[-10] ^= 0x01
        path.write_bytes(bytes(data))
        with structlog.testing.capture_logs() as logs:
            assert level.get("k") is MISSING  # payload checksum caught it
        assert [e["event"] for e in logs] == ["disk_cache.corrupt_entry"] and logs[0]["log_level"] == "warning"
        st = level.stats()
        assert st["corrupt"] == 1 and "payload checksum mismatch" in st["corrupt_reasons"]
        assert "k" not in level and not path.exists()


def test_corrupt_files_skipped_at_open(tmp_path: Path) -> None:
    root = tmp_path / "c"
    with DiskLevel(root) as level:
        truncated = _only_file(level, "trunc")
        flipped_header = _only_file(level, "hdr")
        _only_file(level, "good")
        garbage_name = _only_file(level, "garbage")
    truncated.write_bytes(truncated.read_bytes()[:-7])
    data = bytearray(flipped_header.read_bytes())
    data[HEADER_SIZE - 20] ^= 0x80  # inside the header: the deadline / crc fields
    flipped_header.write_bytes(bytes(data))
    garbage_name.write_bytes(os.urandom(300))
    (root / "zz").mkdir(exist_ok=True)
    (root / "zz" / ("0" * 40 + ".xc")).write_bytes(b"EXL3")  # too short to be anything
    with DiskLevel(root, quarantine=True) as level:
        assert level.keys() == ["good"]
        st = level.stats()
        assert st["corrupt"] == 4
        assert len(list((root / "quarantine").iterdir())) == 4
        assert level.get("trunc") is MISSING and level.get("garbage") is MISSING
        got = level.get("good")
        assert got is not MISSING and got.value == b"payload-" * 50
    with DiskLevel(root) as level:  # quarantined files are not entries any more
        assert level.keys() == ["good"] and level.stats()["corrupt"] == 0


def test_payload_flip_detected_after_reopen(tmp_path: Path) -> None:
    root = tmp_path / "c"
    with DiskLevel(root) as level:
        path = _only_file(level, "k")
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    with DiskLevel(root) as level:
        assert "k" in level  # the header is fine, so the index lists it...
        assert level.get("k") is MISSING  # ...but it is never returned
        assert level.stats()["corrupt"] == 1 and len(level) == 0


def test_file_deleted_behind_our_back(disk: DiskLevel) -> None:
    path = _only_file(disk, "k")
    path.unlink()
    assert disk.get("k") is MISSING
    assert disk.stats()["lost"] == 1 and "k" not in disk


# -- crash safety ---------------------------------------------------------------------------

_WRITER = textwrap.dedent(
    """
    import sys
    from exocortex.memory.cache import Record
    from exocortex.memory.disk import DiskLevel

    def value(i):
        return bytes([i % 251]) * (600_000 + i * 997)

    level = DiskLevel(sys.argv[1], max_entries=1000, max_bytes=10**10)
    i = 0
    while True:
        level.set(("big", i), Record(value(i), None, 1))
        if i == 3:
            print("ready", flush=True)
        i += 1
    """
)


def test_killed_writer_leaves_only_complete_entries(tmp_path: Path) -> None:
    root = tmp_path / "c"
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(root)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == b"ready", proc.stderr.read() if proc.stderr else b""
        time.sleep(0.15)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    left = len(temp_files(root))
    assert left <= 1  # at most the one write in flight
    with DiskLevel(root, max_entries=1000, max_bytes=10**10) as level:  # the dead writer's lock is gone
        assert temp_files(root) == [] and level.stats()["temp_files_removed"] == left
        keys = level.keys()
        assert len(keys) >= 4
        for key in keys:
            _, i = key
            got = level.get(key)
            assert got is not MISSING
            assert got.value == bytes([i % 251]) * (600_000 + i * 997)
        assert level.stats()["corrupt"] == 0
        assert sorted(k[1] for k in keys) == list(range(len(keys)))  # no hole: each write was complete


# -- locking --------------------------------------------------------------------------------


def test_second_writer_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "c"
    first = DiskLevel(root)
    with pytest.raises(DiskLevelLockedError, match="already open"):
        DiskLevel(root)
    code = f"from exocortex.memory.disk import DiskLevel; DiskLevel({str(root)!r})"
    env = {**os.environ, "PYTHONPATH": SRC}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, env=env, timeout=60)
    assert out.returncode != 0 and b"DiskLevelLockedError" in out.stderr and str(os.getpid()).encode() in out.stderr
    first.close()
    with pytest.raises(ValueError, match="closed"):
        first.get("x")
    DiskLevel(root).close()  # free again once closed


# -- as the L3 of a MultiLevelCache ---------------------------------------------------------


def test_disk_as_l3_of_multilevel_cache(tmp_path: Path) -> None:
    clock = FakeClock(0.0)
    dropped: list[Any] = []
    disk = DiskLevel(tmp_path / "c", max_entries=3, clock=clock)
    cache: MultiLevelCache[Any, Any] = MultiLevelCache(
        [Level("L1", LRU(1)), Level("L2", LRU(1)), disk],
        clock=clock,
        on_drop=lambda k, v, r: dropped.append((k, v, r)),
    )
    cache.set("a", "A")
    cache.set("b", "B")
    cache.set("c", {"C": [1]})  # a: L1 -> L2 -> L3
    assert disk.keys() == ["a"] and len(entry_files(disk.root)) == 1
    assert cache.get("a") == "A"  # comes back from disk, promoted into L1
    st = cache.stats()
    assert st["hits"]["L3"] == 1 and st["promotions"] == 1
    # Exclusive mode: a left L3; the promotion pushed c down to L2 and b down to disk.
    assert disk.keys() == ["b"] and len(entry_files(disk.root)) == 1
    for k in "defg":
        cache.set(k, k.upper())
    assert set(disk.keys()) == {"a", "d", "e"} and len(entry_files(disk.root)) == 3
    # What the last level evicts is dropped, with its value read back from disk.
    assert dropped == [("b", "B", Reason.CAPACITY), ("c", {"C": [1]}, Reason.CAPACITY)]
    assert len(cache) == 5
    # Expiry on the cache's clock is honoured for entries that went to disk.
    cache.set("t", "T", ttl=5)
    cache.set("u", "U")
    cache.set("v", "V")
    assert "t" in disk
    clock.now = 10.0
    assert cache.get("t") is None
    assert "t" not in disk and cache.stats()["evictions"]["L3"]["expired"] == 1
    disk.close()


def test_admission_filter_keeps_files_and_index_in_step(tmp_path: Path) -> None:
    # W-TinyLFU refuses one-hit newcomers in favour of the popular keys: whatever it rejects or
    # evicts leaves no file behind, and every indexed key still reads back.
    with DiskLevel(tmp_path / "c", policy="W-TinyLFU", max_entries=4, max_bytes=None) as level:
        for _ in range(20):
            for k in range(4):
                if k in level:
                    level.get(k)
                else:
                    level.set(k, rec(k))
        gone = set()
        for k in range(100, 140):
            gone |= {e.key for e in level.set(k, rec(k))}
        held = level.keys()
        assert gone and not gone & set(held)
        assert sum(k < 4 for k in held) >= 2  # the popular keys mostly survived the scan
        assert len(level) == len(entry_files(level.root)) <= 4
        assert temp_files(level.root) == []
        for key in held:
            got = level.get(key)
            assert got is not MISSING and got.value == key


def test_inclusive_mode_writes_through_to_disk(tmp_path: Path) -> None:
    with DiskLevel(tmp_path / "c", clock=time.time) as disk:
        cache: MultiLevelCache[Any, Any] = MultiLevelCache(
            [Level("L1", LRU(2)), disk], mode="inclusive", clock=time.time
        )
        cache.set("a", [1, 2])
        assert "a" in disk and cache.get("a") == [1, 2]
    with DiskLevel(tmp_path / "c", clock=time.time) as disk:  # a restart: L1 is gone, disk still has it
        cache = MultiLevelCache([Level("L1", LRU(2)), disk], mode="inclusive", clock=time.time)
        assert cache.get("a") == [1, 2]
        assert cache.stats()["hits"][disk.name] == 1


def test_an_entry_too_big_for_the_disk_level_is_dropped_and_reported_on_demotion(tmp_path: Path) -> None:
    dropped: list[Any] = []
    with DiskLevel(tmp_path / "c", max_bytes=1000) as disk:
        cache: MultiLevelCache[Any, Any] = MultiLevelCache(
            [Level("L1", LRU(1)), disk], clock=time.time, on_drop=lambda k, v, r: dropped.append((k, r)),
        )
        big = {"text": "x" * 5000}  # counts as 1 unit in memory, ~5 KB once serialized
        cache.set("big", big)
        cache.set("small", "s")  # demotes "big", which the disk level cannot hold
        assert dropped == [("big", Reason.CAPACITY)]
        assert cache.get("small") == "s" and cache.get("big") is None
        assert "big" not in disk and cache.stats()["dropped"] == 1


# -- things put in the directory that are not entries (issue 13, item 11) ------------------


def _key_in_shard(shard: str, prefix: str = "k") -> str:
    """A str key whose entry file lands in ``shard`` (the first two hex digits of its digest)."""
    i = 0
    while key_digest(encode_key(f"{prefix}{i}"))[:2] != shard:
        i += 1
    return f"{prefix}{i}"


def _entry_path(root: Path, key: Any) -> Path:
    digest = key_digest(encode_key(key))
    return root / digest[:2] / f"{digest}.xc"


def test_a_key_nested_150000_deep_in_a_file_is_corrupt_not_a_crash(tmp_path: Path) -> None:
    # Python hashes a nested tuple recursively in C: building such a key from a file would crash
    # the process; decoding it recursively raised RecursionError out of open().
    root = tmp_path / "c"
    root.mkdir()
    key_bytes = b"t\x01\x00\x00\x00" * 150_000 + b"i\x01\x00\x00\x001"
    payload = b"value"
    digest = key_digest(key_bytes)
    (root / digest[:2]).mkdir()
    path = root / digest[:2] / f"{digest}.xc"
    path.write_bytes(_pack_header(TAG_BYTES, key_bytes, payload, 1, None) + key_bytes + payload)
    with DiskLevel(root) as level:
        assert len(level) == 0
        st = level.stats()
        assert st["corrupt"] == 1 and any("deep" in reason for reason in st["corrupt_reasons"])
        assert not path.exists()


def test_keys_nested_too_deep_are_refused_with_a_value_error(disk: DiskLevel) -> None:
    deep: Any = 1
    for _ in range(150_000):
        deep = (deep,)
    with pytest.raises(ValueError, match="at most 64 deep"):
        encode_key(deep)
    ok: Any = "x"
    for _ in range(MAX_KEY_DEPTH):
        ok = (ok,)
    disk.set(ok, rec(b"v"))
    got = disk.get(ok)
    assert got is not MISSING and got.value == b"v"
    with pytest.raises(ValueError, match="deep"):
        disk.set((ok,), rec(b"w"))
    assert len(disk) == 1 and len(entry_files(disk.root)) == 1 and temp_files(disk.root) == []


def test_a_symlinked_shard_is_never_followed_out_of_the_cache(tmp_path: Path) -> None:
    victim = tmp_path / "precious"
    victim.mkdir()
    precious = {
        ".tmp-notes": b"a temp-looking file",  # open() deleted 'temp files' in the shard
        "ab" + "0" * 38 + ".xc": b"not an entry",  # ... and 'corrupt entries'
        "keep.txt": b"data",
    }
    for name, data in precious.items():
        (victim / name).write_bytes(data)
    root = tmp_path / "c"
    root.mkdir()
    (root / "ab").symlink_to(victim, target_is_directory=True)
    with DiskLevel(root) as level:
        st = level.stats()
        assert st["corrupt_reasons"].get("shard is a symlink") == 1
        assert not (root / "ab").is_symlink()  # the link went, never what it points to
        key = _key_in_shard("ab")
        level.set(key, rec(b"payload"))
        assert _entry_path(root, key).is_file() and not (root / "ab").is_symlink()
        # A shard swapped for a symlink while open: a delete does not reach into its target.
        (root / "ab").rename(tmp_path / "moved")
        (root / "ab").symlink_to(victim, target_is_directory=True)
        (victim / _entry_path(root, key).name).write_bytes(b"the target's own file")
        assert level.delete(key)
        level.set(_key_in_shard("ab", "j"), rec(b"again"))  # writes go to a real shard again
        assert not (root / "ab").is_symlink()
    assert sorted(p.name for p in victim.iterdir()) == sorted([*precious, _entry_path(root, key).name])
    for name, data in precious.items():
        assert (victim / name).read_bytes() == data


def test_an_entry_that_is_a_symlink_is_not_served_and_its_target_is_kept(tmp_path: Path) -> None:
    root = tmp_path / "c"
    with DiskLevel(root) as level:
        level.set("k", rec(b"real"))
    path = _entry_path(root, "k")
    outside = tmp_path / "outside.xc"
    path.rename(outside)  # a valid entry, outside the cache directory
    path.symlink_to(outside)
    with DiskLevel(root) as level:
        assert level.get("k") is MISSING and len(level) == 0
        assert level.stats()["corrupt_reasons"] == {"not a regular file": 1}
    assert not path.is_symlink() and outside.is_file()


def test_a_symlinked_lock_file_or_quarantine_is_not_followed(tmp_path: Path) -> None:
    root = tmp_path / "c"
    root.mkdir()
    target = tmp_path / "precious.txt"
    target.write_text("do not truncate me")
    (root / ".lock").symlink_to(target)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (root / "quarantine").symlink_to(elsewhere, target_is_directory=True)
    (root / "ab").mkdir()
    (root / "ab" / ("ab" + "1" * 38 + ".xc")).write_bytes(b"garbage")
    with DiskLevel(root, quarantine=True) as level:
        assert level.stats()["corrupt"] == 3  # the lock link, the quarantine link, the garbage entry
    assert target.read_text() == "do not truncate me"
    assert list(elsewhere.iterdir()) == []
    assert (root / ".lock").is_file() and not (root / ".lock").is_symlink()
    assert len(list((root / "quarantine").iterdir())) == 1


def test_a_directory_in_place_of_an_entry_is_replaced_on_set(tmp_path: Path) -> None:
    root = tmp_path / "c"
    with DiskLevel(root) as level:
        level.set("k", rec(b"one"))
        path = _entry_path(root, "k")
        path.unlink()
        path.mkdir()
        (path / "inner").write_bytes(b"x")
        level.set("k", rec(b"two"))  # used to raise IsADirectoryError
        got = level.get("k")
        assert got is not MISSING and got.value == b"two"
        assert level.stats()["corrupt_reasons"] == {"entry is a directory": 1}
        other = _entry_path(root, "fresh")  # not indexed: a directory there before the first set
        other.parent.mkdir(exist_ok=True)
        other.mkdir()
        level.set("fresh", rec(b"new"))
        assert other.is_file()
    with DiskLevel(root) as level:
        assert sorted(level.keys()) == ["fresh", "k"] and level.stats()["corrupt"] == 0
        path.unlink()
        path.mkdir()
        assert level.get("k") is MISSING  # read: reported and removed, never raised
        assert level.stats()["corrupt_reasons"] == {"not a regular file": 1} and not path.exists()


def test_directories_and_fifos_in_a_shard_are_cleaned_at_open(tmp_path: Path) -> None:
    root = tmp_path / "c"
    with DiskLevel(root) as level:
        level.set("k", rec(b"v"))
    shard = _entry_path(root, "k").parent
    (shard / ".tmp-leftover").mkdir()  # a temp 'file' that is a directory made open() raise
    (shard / ("f" * 40 + ".xc")).mkdir()
    os.mkfifo(shard / ("e" * 40 + ".xc"))
    (shard / "zz").write_bytes(b"")  # a non-shard file in the root level and odd names are left alone
    odd = os.fsencode(str(shard)) + b"/\xff\xfe" + b".xc"
    with open(odd, "wb") as fh:
        fh.write(b"garbage with an undecodable name")
    with structlog.testing.capture_logs() as logs, DiskLevel(root) as level:
        assert level.keys() == ["k"]
        st = level.stats()
        assert st["temp_files_removed"] == 1 and st["corrupt"] == 3
    assert sorted(os.listdir(os.fsencode(str(shard)))) == sorted([b"zz", os.fsencode(_entry_path(root, "k").name)])
    assert any("\\xff" in str(e.get("path", "")) for e in logs)  # escaped, not raw bytes, in the log


_FIFO_READER = textwrap.dedent(
    """
    import os, sys
    from exocortex.memory.cache import Record
    from exocortex.memory.disk import DiskLevel, encode_key, key_digest

    root = sys.argv[1]
    level = DiskLevel(root)
    level.set("k", Record(b"value", None, 1))
    digest = key_digest(encode_key("k"))
    path = f"{root}/{digest[:2]}/{digest}.xc"
    os.unlink(path)
    os.mkfifo(path)
    print("get", repr(level.get("k")), flush=True)
    print("reasons", level.stats()["corrupt_reasons"], flush=True)
    print("fifo left", os.path.exists(path), flush=True)
    level.close()
    os.mkfifo(path)
    level = DiskLevel(root)
    print("reopen", len(level), level.stats()["corrupt"], os.path.exists(path), flush=True)
    """
)


def test_a_fifo_in_place_of_an_entry_does_not_block_get(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    try:
        out = subprocess.run(
            [sys.executable, "-c", _FIFO_READER, str(tmp_path / "c")], capture_output=True, env=env, timeout=60
        )
    except subprocess.TimeoutExpired:
        pytest.fail("DiskLevel.get blocked on a FIFO in place of an entry")
    assert out.returncode == 0, out.stderr.decode()
    lines = out.stdout.decode().splitlines()
    assert lines[0] == "get MISSING"
    assert lines[1] == "reasons {'not a regular file': 1}"
    assert lines[2] == "fifo left False"
    assert lines[3] == "reopen 0 1 False"


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda d: d[: HEADER_SIZE - 1], "truncated header"),
        (lambda d: d[:8] + (2**32 - 1).to_bytes(4, "little") + d[12:], "implausible key length"),
        (lambda d: d[:12] + (2**63).to_bytes(8, "little") + d[20:], "header checksum mismatch"),
    ],
    ids=["truncated-header", "huge-key-length", "huge-payload-length"],
)
def test_damaged_headers_are_corrupt_without_allocating(
    tmp_path: Path, damage: Callable[[bytes], bytes], reason: str
) -> None:
    root = tmp_path / "c"
    with DiskLevel(root) as level:
        level.set("k", rec(b"v" * 100))
    path = _entry_path(root, "k")
    path.write_bytes(damage(path.read_bytes()))
    with DiskLevel(root) as level:
        assert len(level) == 0 and level.stats()["corrupt_reasons"] == {reason: 1}
