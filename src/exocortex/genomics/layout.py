"""What the query planner knows of a committed variants table, computed once per table version.

- :class:`StoreLayout` (``store_layout``): the longest allele (``max_span``, which bounds a region
  predicate), the chromosomes in natural order, and the position-sorted vid runs (``segments``:
  one per chromosome per sorted file) that let a broad query read only the first matches of each
  run; one streamed pass over the variants.
- :class:`CallCounts` (``call_counts``): calls per sample, chromosome and zygosity, which count a
  sample query without reading its calls; one streamed pass over the calls.

Both are derived caches at two levels. On disk, ``genomics/spans.json`` and
``genomics/call_counts.json`` keyed by the table versions (safe to delete). In memory, one
memory-layer cache per process (``planner_cache``): an LRU bounded in bytes by the setting
``variant_layout_cache_bytes`` (``EXOCORTEX_VARIANT_LAYOUT_CACHE_BYTES``; 0 keeps none), each value
measured (NumPy ``nbytes``, ``sys.getsizeof`` of the tuples), registered with the process's
memory governor as ``variant-layouts`` so it can be freed under pressure, and shown by
``exocortex status``. Its keys are the store's path, the table versions and the manifest's commit
time (a store removed and written again at the same path restarts its versions; its commit time
differs).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow.compute as pc

from exocortex.genomics.schema import ZYGOSITIES
from exocortex.genomics.store import VariantStore, genomics_dir
from exocortex.memory.cache import Level, MultiLevelCache
from exocortex.memory.policies import LRU, OversizeError

CACHE_NAME = "variant-layouts"
"""The planner cache's name in the governor's releasers and in ``EngineMemory.stats()``."""


def chrom_order(chroms: Iterable[Any]) -> dict[str, int]:
    """Rank of each chromosome name: 1..22 by number, then X, Y, MT, then the rest by name."""

    def key(c: str) -> tuple[int, int, str]:
        if c.isdigit():
            return (0, int(c), "")
        special = {"X": 1, "Y": 2, "MT": 3}
        return (1, special[c], "") if c in special else (2, 0, c)

    return {c: i for i, c in enumerate(sorted({str(c) for c in chroms}, key=key))}


SPAN_FILE = "spans.json"
MAX_SEGMENTS = 10_000
"""More vid runs than this (an unsorted input): the layout keeps no segments and sample queries
take the general path."""


@dataclass(frozen=True)
class StoreLayout:
    """What the query planner knows of the committed variants, computed once per table version."""

    max_span: int
    """The longest ``end - pos`` (bounds the region predicate)."""
    chroms: tuple[str, ...]
    """Every ``chrom_norm`` in the table, in natural order."""
    segments: tuple[tuple[int, int, str], ...] | None
    """``(first vid, last vid, chrom_norm)`` of each maximal run of alleles, in vid order, on one
    chromosome whose positions never decrease as the vid grows (one run per chromosome per sorted
    file); every allele lies in exactly one. None when there are more than ``MAX_SEGMENTS``."""


def planner_cache() -> MultiLevelCache[tuple[Any, ...], StoreLayout | CallCounts] | None:
    """This process's in-memory layouts and call counts (None when ``variant_layout_cache_bytes`` is 0).

    Registered with the process's ``EngineMemory`` (so its governor) the first time; its bound is
    read from the configuration then (defaults < ``EXOCORTEX_*``: the planner has no project root).
    """
    from exocortex.config import load_config
    from exocortex.memory.engine import deep_size, engine_memory

    memory = engine_memory()
    cache = memory.registered.get(CACHE_NAME)
    if cache is None:
        max_bytes = load_config().variant_layout_cache_bytes
        if max_bytes <= 0:
            return None
        cache = memory.register_cache(
            CACHE_NAME, lambda: MultiLevelCache([Level("layouts", LRU(max_bytes=max_bytes))], sizeof=deep_size)
        )
    return cache


def _cached(key: tuple[Any, ...]) -> Any:
    cache = planner_cache()
    return None if cache is None else cache.get(key)


def _keep(key: tuple[Any, ...], value: StoreLayout | CallCounts) -> None:
    cache = planner_cache()
    if cache is not None:
        with contextlib.suppress(OversizeError):  # larger than the whole cache: the file still serves it
            cache.set(key, value)


def _cache_key(kind: str, store: VariantStore, *versions: int) -> tuple[Any, ...]:
    """An in-memory cache key: what it holds, the store, the table versions, and the manifest's commit time."""
    return (kind, str(store.store_dir.resolve()), *versions, float(store.manifest.updated_at))


def _compute_layout(store: VariantStore) -> StoreLayout:
    """One streamed pass over ``vid``, ``chrom_norm``, ``pos`` and ``end``."""
    span = 0
    names: dict[str, int] = {}
    vids: list[np.ndarray] = []
    positions: list[np.ndarray] = []
    codes: list[np.ndarray] = []
    if store.has("variants"):
        for batch in store.table("variants").batches(["vid", "chrom_norm", "pos", "end"], batch_rows=262_144):
            pos = pc.fill_null(batch.column("pos"), 0)
            diff = pc.subtract(pc.fill_null(batch.column("end"), 0), pos)
            span = max(span, int(pc.max(diff).as_py() or 0))
            chrom = pc.dictionary_encode(pc.fill_null(batch.column("chrom_norm"), ""))
            local = np.array([names.setdefault(str(n), len(names)) for n in chrom.dictionary.to_pylist()], np.int64)
            codes.append(local[chrom.indices.to_numpy(zero_copy_only=False)] if len(local) else np.zeros(0, np.int64))
            vids.append(np.asarray(batch.column("vid").to_numpy(zero_copy_only=False), dtype=np.int64))
            positions.append(np.asarray(pos.to_numpy(zero_copy_only=False), dtype=np.int64))
    by_code = list(names)
    rank = chrom_order(names)
    chroms = tuple(sorted((c for c in names if c), key=lambda c: rank[c]))
    if not vids or not sum(len(v) for v in vids):
        return StoreLayout(span, chroms, ())
    vid, pos, code = np.concatenate(vids), np.concatenate(positions), np.concatenate(codes)
    if np.any(np.diff(vid) < 0):
        order = np.argsort(vid, kind="stable")
        vid, pos, code = vid[order], pos[order], code[order]
    breaks = np.flatnonzero((np.diff(code) != 0) | (np.diff(pos) < 0)) + 1
    if len(breaks) + 1 > MAX_SEGMENTS:
        return StoreLayout(span, chroms, None)
    first = np.concatenate([[0], breaks])
    last = np.concatenate([breaks - 1, [len(vid) - 1]])
    segments = tuple((int(vid[a]), int(vid[b]), by_code[int(code[a])]) for a, b in zip(first, last, strict=True))
    return StoreLayout(span, chroms, segments)


def store_layout(store: VariantStore) -> StoreLayout:
    """The :class:`StoreLayout` of the committed variants.

    Kept in memory (``planner_cache``) and in ``genomics/spans.json``, a derived cache keyed by the
    variants version (safe to delete; a file without the layout's keys is computed again).
    """
    from exocortex.store.meta import _atomic_write

    version = int(store.manifest.tables.get("variants", -1))
    key = _cache_key("layout", store, version)
    held = _cached(key)
    if isinstance(held, StoreLayout):
        return held
    path = genomics_dir(store.store_dir) / SPAN_FILE
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        if cached.get("variants_version") == version and "chroms" in cached:
            segments = cached["segments"]
            layout = StoreLayout(
                int(cached["max_span"]),
                tuple(str(c) for c in cached["chroms"]),
                None if segments is None else tuple((int(a), int(b), str(c)) for a, b, c in segments),
            )
            _keep(key, layout)
            return layout
    except (OSError, ValueError, KeyError, TypeError):
        pass
    layout = _compute_layout(store)
    _keep(key, layout)
    data = {
        "variants_version": version,
        "max_span": layout.max_span,
        "chroms": list(layout.chroms),
        "segments": None if layout.segments is None else [list(s) for s in layout.segments],
    }
    with contextlib.suppress(OSError):  # a read-only store: the in-memory cache still serves this process
        _atomic_write(path, json.dumps(data).encode("utf-8"))
    return layout


def max_span(store: VariantStore) -> int:
    """The longest ``end - pos`` among the committed alleles (bounds the region predicate)."""
    return store_layout(store).max_span


COUNTS_FILE = "call_counts.json"


@dataclass(frozen=True)
class CallCounts:
    """Calls per (sample, chromosome, zygosity) of the committed tables, computed once per version."""

    samples: tuple[int, ...]
    chroms: tuple[str, ...]
    zygosities: tuple[str, ...]
    counts: np.ndarray
    """``[sample, chrom, zygosity]`` -> calls."""

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def count(self, samples: Iterable[int], chrom: str | None, zygosity: str | None) -> int:
        """Calls of these samples (on ``chrom``, of ``zygosity``; None: any)."""
        s_index = {s: i for i, s in enumerate(self.samples)}
        rows = [s_index[s] for s in samples if s in s_index]
        sub = self.counts[rows]
        if chrom is not None:
            sub = sub[:, [i for i, c in enumerate(self.chroms) if c == chrom], :]
        if zygosity is not None:
            sub = sub[:, :, [i for i, z in enumerate(self.zygosities) if z == zygosity]]
        return int(sub.sum())


def _compute_call_counts(store: VariantStore, layout: StoreLayout) -> CallCounts:
    """One streamed pass over the calls' ``vid``, ``sample`` and ``zygosity`` (a vid's chromosome is its run's)."""
    assert layout.segments is not None
    chroms = layout.chroms
    zygosities = (*ZYGOSITIES, "")
    samples = tuple(sorted({int(s) for s in store.read("samples", ["sample"])["sample"].to_pylist()}))  # once per id
    counts = np.zeros((len(samples), len(chroms), len(zygosities)), dtype=np.int64)
    if not store.has("calls") or not samples or not layout.segments:
        return CallCounts(samples, chroms, zygosities, counts)
    seg_lo = np.array([s[0] for s in layout.segments], dtype=np.int64)
    seg_hi = np.array([s[1] for s in layout.segments], dtype=np.int64)
    c_index = {c: i for i, c in enumerate(chroms)}
    seg_chrom = np.array([c_index.get(s[2], -1) for s in layout.segments], dtype=np.int64)
    sample_arr = np.array(samples, dtype=np.int64)
    z_index = {z: i for i, z in enumerate(zygosities)}
    for batch in store.table("calls").batches(["vid", "sample", "zygosity"], batch_rows=1 << 20):
        vid = np.asarray(batch.column("vid").to_numpy(zero_copy_only=False), dtype=np.int64)
        seg = np.searchsorted(seg_lo, vid, side="right") - 1
        ok = (seg >= 0) & (vid <= seg_hi[np.maximum(seg, 0)])
        chrom = np.where(ok, seg_chrom[np.maximum(seg, 0)], -1)
        sample = np.asarray(pc.fill_null(batch.column("sample"), -1).to_numpy(zero_copy_only=False), dtype=np.int64)
        s_pos = np.minimum(np.searchsorted(sample_arr, sample), len(samples) - 1)
        ok &= (sample_arr[s_pos] == sample) & (chrom >= 0)
        zyg = pc.dictionary_encode(pc.fill_null(batch.column("zygosity"), ""))
        local = np.array([z_index.get(str(z), len(zygosities) - 1) for z in zyg.dictionary.to_pylist()], np.int64)
        z = local[zyg.indices.to_numpy(zero_copy_only=False)] if len(local) else np.zeros(len(vid), np.int64)
        flat = (s_pos[ok] * len(chroms) + chrom[ok]) * len(zygosities) + z[ok]
        counts += np.bincount(flat, minlength=counts.size).reshape(counts.shape)
    return CallCounts(samples, chroms, zygosities, counts)


def call_counts(store: VariantStore, layout: StoreLayout) -> CallCounts:
    """The :class:`CallCounts` of the committed calls (needs ``layout.segments``).

    Kept in memory (``planner_cache``) and in ``genomics/call_counts.json``, a derived cache keyed
    by the variants and calls versions (safe to delete).
    """
    from exocortex.store.meta import _atomic_write

    versions = (int(store.manifest.tables.get("variants", -1)), int(store.manifest.tables.get("calls", -1)))
    key = _cache_key("counts", store, *versions)
    held = _cached(key)
    if isinstance(held, CallCounts):
        return held
    path = genomics_dir(store.store_dir) / COUNTS_FILE
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        if cached.get("versions") == list(versions):
            counts = CallCounts(
                tuple(int(s) for s in cached["samples"]),
                tuple(str(c) for c in cached["chroms"]),
                tuple(str(z) for z in cached["zygosities"]),
                np.array(cached["counts"], dtype=np.int64).reshape(
                    len(cached["samples"]), len(cached["chroms"]), len(cached["zygosities"])
                ),
            )
            _keep(key, counts)
            return counts
    except (OSError, ValueError, KeyError, TypeError):
        pass
    counts = _compute_call_counts(store, layout)
    _keep(key, counts)
    data = {
        "versions": list(versions),
        "samples": list(counts.samples),
        "chroms": list(counts.chroms),
        "zygosities": list(counts.zygosities),
        "counts": counts.counts.ravel().tolist(),
    }
    with contextlib.suppress(OSError):  # a read-only store: the in-memory cache still serves this process
        _atomic_write(path, json.dumps(data).encode("utf-8"))
    return counts


__all__ = [
    "CACHE_NAME", "COUNTS_FILE", "MAX_SEGMENTS", "SPAN_FILE", "CallCounts", "StoreLayout", "call_counts",
    "chrom_order", "max_span", "planner_cache", "store_layout",
]  # fmt: skip
