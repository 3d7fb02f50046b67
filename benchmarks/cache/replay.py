"""Replay a public cache trace through every eviction policy and print the hit ratios.

The published hit ratios for these traces (LRU, ARC, OPT, ...) are how we check that the
policies in ``exocortex.memory.policies`` are implemented right, so this prints them
beside what we measure.

Usage::

    .venv/bin/python benchmarks/cache/replay.py lirs-gli 1000
    .venv/bin/python benchmarks/cache/replay.py arc-OLTP 1000 2000 --policies LRU ARC W-TinyLFU
    .venv/bin/python benchmarks/cache/replay.py scarab-recs 100000 --policies LRU OPT
    .venv/bin/python benchmarks/cache/replay.py cloudPhysicsIO 1000 --bytes  # sizes from the trace
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from exocortex.memory.policies import POLICY_NAMES, make_policy
from exocortex.memory.traces import guess_format, load_requests, replay

TRACES = Path("/work/shared/bench/cache-traces")

# (trace, size) -> {policy: published hit ratio in %}; see the memory issue.
PUBLISHED: dict[tuple[str, int], dict[str, float]] = {
    ("lirs-gli", 1000): {"LRU": 11.21},
    ("arc-OLTP", 1000): {"LRU": 32.83, "ARC": 38.93},
    ("arc-OLTP", 2000): {"LRU": 42.47},
    ("scarab-recs", 100000): {"LRU": 75.91, "OPT": 79.25},
}
TARGETS: dict[tuple[str, int], dict[str, str]] = {
    ("arc-OLTP", 1000): {"W-TinyLFU": ">= 40.0"},
    ("lirs-loop", 512): {"W-TinyLFU": ">= 40", "S3-FIFO": ">= 40", "LRU": "0"},
}

def find_trace(name: str) -> Path:
    """The trace file whose name starts with ``name`` (e.g. ``arc-OLTP``)."""
    matches = sorted(p for p in TRACES.glob(f"{name}*") if p.name != "SHA256SUMS")
    if not matches:
        sys.exit(f"no trace matching {name!r} in {TRACES}")
    return matches[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("trace", help="trace name prefix, e.g. lirs-gli, arc-OLTP, scarab-recs, cloudPhysicsIO")
    parser.add_argument("sizes", type=int, nargs="+", help="cache sizes (entries, or bytes with --bytes)")
    parser.add_argument("--policies", nargs="+", default=list(POLICY_NAMES), choices=list(POLICY_NAMES))
    parser.add_argument("--bytes", action="store_true", help="bound by bytes, with sizes from an oracleGeneral trace")
    parser.add_argument("--limit", type=int, default=None, help="replay only the first N requests")
    args = parser.parse_args(argv)

    path = find_trace(args.trace)
    short = path.name.split(".")[0]
    t0 = time.perf_counter()
    keys, trace_sizes = load_requests(path, guess_format(path), args.limit)
    if args.bytes and trace_sizes is None:
        sys.exit("--bytes needs a trace with sizes (cloudPhysicsIO.oracleGeneral)")
    sizes = trace_sizes if args.bytes else None
    print(f"{path.name}: {len(keys):,} requests, {len(set(keys)):,} keys (read in {time.perf_counter() - t0:.1f}s)")
    print(f"{'size':>9}  {'policy':<10} {'hit %':>7}  {'published':>9}  {'seconds':>7}")
    for size in args.sizes:
        for name in args.policies:
            n, b = (None, size) if args.bytes else (size, None)
            t0 = time.perf_counter()
            ratio = replay(lambda name=name, n=n, b=b: make_policy(name, keys, n, b), keys, sizes)
            elapsed = time.perf_counter() - t0
            ref = PUBLISHED.get((short, size), {}).get(name)
            target = TARGETS.get((short, size), {}).get(name)
            shown = f"{ref:.2f}" if ref is not None else (target or "")
            print(f"{size:>9}  {name:<10} {100 * ratio:>7.2f}  {shown:>9}  {elapsed:>7.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
