"""Trace readers and `exocortex bench cache` on real traces that ship with the tests, and their bounds.

The traces are in ``tests/fixtures/traces`` (origin, licence, how the prefixes were made and
checksums in its README). Hit ratios are checked against references written here, independent
of ``exocortex.memory``: an LRU over an ``OrderedDict``, readers over NumPy, the analytic
behaviour of a cyclic trace, and Belady's bound. A missing fixture fails; nothing is skipped.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import json
import lzma
import os
import re
import shutil
import struct
import subprocess
import sys
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from exocortex.cli import main
from exocortex.errors import ConfigError, InputPathError
from exocortex.memory.policies import POLICY_NAMES, Belady, make_policy
from exocortex.memory.traces import (
    MAX_LINE_CHARS,
    ReplayTimeoutError,
    TraceError,
    TraceTooLargeError,
    guess_format,
    load_requests,
    load_trace,
    read_arc,
    read_lirs,
    read_oracle_general,
    read_scarab,
    replay,
)

FIXTURES = Path(__file__).parent / "fixtures" / "traces"
SRC = str(Path(__file__).resolve().parents[1] / "src")
ORACLE = np.dtype([("time", "<u4"), ("id", "<u8"), ("size", "<u4"), ("next", "<i8")])


def fixture(name: str) -> Path:
    path = FIXTURES / name
    if not path.is_file():  # shipped with the tests: missing is a failure, never a skip
        pytest.fail(f"{path} is missing: restore tests/fixtures/traces (see its README.md)")
    return path


def reference_lru(keys: Sequence[Any], capacity: int, sizes: Sequence[int] | None = None) -> float:
    """Hit ratio of LRU written the plain way: an OrderedDict, oldest first, bounded by count or bytes."""
    held: OrderedDict[Any, int] = OrderedDict()
    used = hits = 0
    for i, key in enumerate(keys):
        size = 1 if sizes is None else sizes[i]
        if key in held:
            hits += 1
            held.move_to_end(key)
            continue
        if size > capacity:
            continue
        held[key] = size
        used += size
        while used > capacity:
            _, gone = held.popitem(last=False)
            used -= gone
    return hits / len(keys)


def bench(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any] | None, str]:
    code = main(["bench", "cache", *args])
    captured = capsys.readouterr()
    report = json.loads(captured.out) if code == 0 and "--json" in args else None
    return code, report, captured.err


# -- the fixtures themselves ---------------------------------------------------------------


def test_every_fixture_is_listed_in_the_readme_with_its_sha256() -> None:
    readme = fixture("README.md").read_text()
    listed = dict((name, digest) for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$", readme, re.M))
    present = {p.name for p in FIXTURES.iterdir() if p.name != "README.md"}
    assert set(listed) == present
    for name, digest in listed.items():
        assert hashlib.sha256(fixture(name).read_bytes()).hexdigest() == digest, name


# -- readers against independent decoders --------------------------------------------------


def test_lirs_reader_reads_the_paper_traces() -> None:
    for name, requests, distinct in [("lirs-gli.trace.gz", 6015, 2529), ("lirs-multi3.trace.gz", 30241, 7454),
                                     ("lirs-sprite.trace.gz", 133996, 7075)]:  # fmt: skip
        keys = list(read_lirs(fixture(name)))
        with gzip.open(fixture(name), "rt") as fh:
            plain = [int(line.split()[0]) for line in fh if line.strip() and not line.startswith("*")]
        assert keys == plain and len(keys) == requests and len(set(keys)) == distinct, name


def test_scarab_reader_matches_numpy() -> None:
    path = fixture("scarab-recs-prefix.trace.xz")
    expected = np.frombuffer(lzma.decompress(path.read_bytes()), dtype=">i8")
    keys = list(read_scarab(path))
    assert len(keys) == 100_000 and len(set(keys)) == 42_643
    assert keys == expected.tolist()


def test_oracle_general_reader_matches_numpy() -> None:
    path = fixture("cloudPhysicsIO-prefix.oracleGeneral.bin")
    expected = np.fromfile(path, dtype=ORACLE)
    records = list(read_oracle_general(path))
    assert len(records) == 20_000
    assert [r.key for r in records] == expected["id"].tolist()
    assert [r.size for r in records] == expected["size"].tolist()
    assert [r.next_access for r in records] == expected["next"].tolist()


def test_arc_reader_on_the_oltp_prefix_plain_and_zstd() -> None:
    plain = fixture("arc-OLTP-prefix.lis")
    expected: list[int] = []
    for line in plain.read_text().splitlines():
        start, count = (int(x) for x in line.split()[:2])
        expected.extend(range(start, start + count))
    keys = list(read_arc(plain))
    assert keys == expected and len(keys) == 30_000 and len(set(keys)) == 13_257
    compressed = fixture("arc-OLTP-prefix.lis.zst")
    if shutil.which("zstd") or importlib.util.find_spec("zstandard"):
        assert list(read_arc(compressed)) == expected
        assert load_requests(compressed, "arc", 100)[0] == expected[:100]  # a prefix stops the decoder early
    else:  # no decoder on this machine: the reader says what to install
        with pytest.raises(TraceError, match="zstandard"):
            list(read_arc(compressed))


# -- hit ratios against references -------------------------------------------------------------


def test_lru_and_opt_on_the_loop_trace_match_the_analysis() -> None:
    # loop is keys 0..1010 in order, 500 times. With 512 slots LRU (and FIFO, ARC) never hit: each
    # key is evicted 500 requests before it comes back. OPT keeps 511 of the 1010 others:
    # (c - 1) / (L - 1) of the requests after the first cycle hit.
    keys = list(read_lirs(fixture("lirs-loop.trace.gz")))
    assert len(keys) == 505_500 and keys[:1011] == list(range(1011)) and keys[1011:2022] == keys[:1011]
    prefix = keys[: 1011 * 100]  # 100 cycles keep the run short and the analysis the same
    for name in ("LRU", "FIFO", "ARC"):
        assert replay(lambda name=name: make_policy(name, prefix, 512, None), prefix) == 0.0, name
    opt = replay(lambda: Belady(prefix, 512), prefix)
    assert opt == pytest.approx(511 / 1010 * 99 / 100, abs=0.002)
    for name in ("S3-FIFO", "W-TinyLFU"):  # scan-resistant: they keep part of the loop
        got = replay(lambda name=name: make_policy(name, prefix, 512, None), prefix)
        assert 0.40 <= got <= opt, name


@pytest.mark.parametrize(
    ("name", "capacity"),
    [("lirs-multi3.trace.gz", 1000), ("lirs-sprite.trace.gz", 100), ("arc-OLTP-prefix.lis", 1000),
     ("scarab-recs-prefix.trace.xz", 10_000)],  # fmt: skip
)
def test_policies_on_real_traces_agree_with_a_reference_lru_and_stay_under_opt(name: str, capacity: int) -> None:
    path = fixture(name)
    keys, sizes = load_requests(path, guess_format(path))
    assert sizes is None
    lru = replay(lambda: make_policy("LRU", keys, capacity, None), keys)
    assert lru == reference_lru(keys, capacity)
    opt = replay(lambda: make_policy("OPT", keys, capacity, None), keys)
    assert opt > lru > 0.1
    for policy in ("FIFO", "ARC", "S3-FIFO"):
        assert 0 < replay(lambda p=policy: make_policy(p, keys, capacity, None), keys) <= opt, policy


def test_byte_bounded_lru_on_cloudphysics_matches_the_reference(capsys: pytest.CaptureFixture[str]) -> None:
    path = fixture("cloudPhysicsIO-prefix.oracleGeneral.bin")
    records = np.fromfile(path, dtype=ORACLE)
    keys, sizes = records["id"].tolist(), records["size"].tolist()
    capacity = 50 * 2**20
    expected = reference_lru(keys, capacity, sizes)
    assert 0.1 < expected < 0.5
    code, report, _ = bench(["--trace", str(path), "--size", str(capacity), "--policy", "LRU",
                             "--policy", "OPT", "--json"], capsys)  # fmt: skip
    assert code == 0 and report is not None
    assert report["requests"] == 20_000 and report["skipped_zero_size"] == 0
    got = {r["policy"]: r["hit_ratio"] for r in report["results"]}
    assert got["LRU"] == expected and got["OPT"] >= expected
    assert {r["unit"] for r in report["results"]} == {"bytes"}


# -- bounds: no allocation by key or by size, limits with clear errors --------------------------

_HUGE = """
import resource, sys
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))  # 3 GiB: a 40 GB sketch cannot hide
from exocortex.cli import main
sys.exit(main(["bench", "cache", "--trace", sys.argv[1], "--size", sys.argv[2], "--json"]))
"""


@pytest.mark.parametrize("size", ["10000000000", str(2**63 - 1)])
def test_a_one_line_trace_with_a_huge_key_and_size_allocates_nothing_big(tmp_path: Path, size: str) -> None:
    trace = tmp_path / "lirs-one.trace"
    trace.write_text(f"{10**10}\n")
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = subprocess.run([sys.executable, "-c", _HUGE, str(trace), size], capture_output=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr.decode()[-500:]
    report = json.loads(out.stdout)
    assert report["requests"] == 1
    assert {r["policy"] for r in report["results"]} == set(POLICY_NAMES)
    assert all(r["hit_ratio"] == 0.0 for r in report["results"])


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--size", "1e21"], ConfigError.exit_code, "--size must be a whole number from 1 to"),
        (["--size", "100000000000000000000000"], ConfigError.exit_code, "--size must be a whole number"),
        (["--size", "0"], ConfigError.exit_code, "--size must be a whole number"),
        (["--size", "-5"], ConfigError.exit_code, "--size must be a whole number"),
        (["--size", "2.5"], ConfigError.exit_code, "--size must be a whole number"),
        (["--size", "nan"], ConfigError.exit_code, "--size must be a whole number"),
        (["--size", "inf"], ConfigError.exit_code, "--size must be a whole number"),
        (["--size", "lots"], 2, "is not a number"),
        (["--size", "2", "--limit", "0"], ConfigError.exit_code, "--limit must be a whole number"),
        (["--size", "2", "--limit", "100000000000000000000000"], ConfigError.exit_code, "--limit must be"),
        (["--size", "2", "--format", "csv"], ConfigError.exit_code, "unknown trace format 'csv'"),
    ],
)
def test_bad_sizes_and_limits_get_one_line_and_a_documented_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], code: int, message: str
) -> None:
    trace = tmp_path / "lirs-tiny.trace"
    trace.write_text("1\n2\n1\n")
    got, _, err = bench(["--trace", str(trace), *args], capsys)
    assert got == code and message in err and "Traceback" not in err


def test_sizes_may_be_written_with_an_exponent_or_underscores(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    trace = tmp_path / "lirs-tiny.trace"
    trace.write_text("1\n2\n1\n")
    code, report, _ = bench(["--trace", str(trace), "--size", "1e3", "--size", "1_000", "--policy", "LRU",
                             "--json"], capsys)  # fmt: skip
    assert code == 0 and report is not None and [r["size"] for r in report["results"]] == [1000, 1000]


def test_size_zero_records_are_skipped_like_libcachesim(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace = tmp_path / "z.oracleGeneral.bin"
    rec = struct.Struct("<IQIq")
    # key 5 has no bytes: skipped (3 times); key 7 (100 bytes) misses once, then hits.
    trace.write_bytes(rec.pack(1, 5, 0, -1) * 3 + rec.pack(2, 7, 100, -1) * 2)
    code, report, _ = bench(["--trace", str(trace), "--size", "1000", "--json"], capsys)
    assert code == 0 and report is not None
    assert report["requests"] == 2 and report["skipped_zero_size"] == 3
    assert {r["hit_ratio"] for r in report["results"]} == {0.5}
    loaded = load_trace(trace, "oracle-general", limit=1)
    assert loaded.keys == [7] and loaded.sizes == [100] and loaded.skipped_zero_size == 3
    assert replay(lambda: make_policy("LRU", [5, 7, 7], None, 1000), [5, 7, 7], [0, 100, 100]) == 0.5
    with pytest.raises(ValueError, match="negative size"):
        replay(lambda: make_policy("LRU", [7], None, 1000), [7], [-1])
    only_zero = tmp_path / "y.oracleGeneral.bin"
    only_zero.write_bytes(rec.pack(1, 5, 0, -1) * 3)
    code, _, err = bench(["--trace", str(only_zero), "--size", "1000"], capsys)
    assert code == InputPathError.exit_code and "no requests to replay (3 size-0 records skipped)" in err


def test_a_trace_too_large_for_memory_says_so_and_suggests_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXOCORTEX_BENCH_MAX_REQUESTS", "1000")
    huge = tmp_path / "one.lis"
    huge.write_text("1 10000000000 0 0\n")  # one line asking for 10**10 blocks
    code, _, err = bench(["--trace", str(huge), "--size", "10"], capsys)
    assert code == InputPathError.exit_code
    assert "more than 1,000 requests" in err and "--limit 1000" in err and len(err.strip().splitlines()) == 1
    code, report, _ = bench(["--trace", str(huge), "--size", "10", "--limit", "1000", "--policy", "LRU",
                             "--json"], capsys)  # fmt: skip
    assert code == 0 and report is not None and report["requests"] == 1000
    code, _, err = bench(["--trace", str(huge), "--size", "10", "--limit", "1001"], capsys)
    assert code == ConfigError.exit_code and "bench_max_requests" in err
    with pytest.raises(TraceTooLargeError):
        load_trace(huge, "arc", max_requests=10)


def test_replays_stop_at_the_time_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXOCORTEX_BENCH_MAX_SECONDS", "0.000001")
    code, _, err = bench(["--trace", str(fixture("lirs-gli.trace.gz")), "--size", "100", "--policy", "OPT"], capsys)
    assert code == ConfigError.exit_code and "bench_max_seconds" in err and "--limit" in err
    keys = list(range(100_000))
    with pytest.raises(ReplayTimeoutError):
        replay(lambda: make_policy("LRU", keys, 10, None), keys, deadline=0.0)


def test_a_file_with_no_newline_is_refused_without_reading_it_whole(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blob = tmp_path / "lirs-blob.trace"
    with blob.open("w") as fh:
        fh.write("7" * (MAX_LINE_CHARS * 1000))
    with pytest.raises(TraceError, match="longer than 4096 characters"):
        list(read_lirs(blob))
    code, _, err = bench(["--trace", str(blob), "--size", "10"], capsys)
    assert code == InputPathError.exit_code and "line 1 is longer" in err
