"""Variant queries: a :class:`VariantQuery` of filters becomes one Lance SQL predicate.

``run_query(store_dir, query)`` answers in two phases and never reads more than it returns when
it can avoid it:

1. selection: the ``limit`` first matching alleles in result order, by (chromosome in natural
   order: 1..22, X, Y, MT, then the rest by name; position; vid, i.e. file order for alleles at one
   position), and how many match in all:

   - a region with positions: its one narrow ``pos`` range is read (vid, pos, end, row id) and
     cut to ``limit`` with a partial selection (``top_positions``);
   - other variant filters: the count comes from the scalar indexes (``count_rows``); up to
     ``SCAN_MAX`` matches are read and cut as above; past that, the store's position-sorted vid
     runs (``StoreLayout.segments``: one per chromosome per sorted file) are walked chromosome by
     chromosome, reading only the first matches of each run (in a run the smallest vids are the
     first positions) by small vid windows, then a Lance top-k for what a window did not find;
   - ``--sample`` (with ``--zygosity`` and/or a whole chromosome, no other filter): the count comes
     from ``call_counts`` (calls per sample, chromosome and zygosity, one pass per table version),
     and the first carried vids of each run are read the same way from ``calls``;
   - other sample/zygosity queries join on vid, the variant side first when there is a variant
     filter (its calls read by vid range), else the calls; stores whose vids do not follow
     positions (more than ``MAX_SEGMENTS`` runs) take these general paths too;
2. the full rows of those ``limit`` alleles are taken by row id, with their carriers (sample
   names, zygosity, GT, GQ, DP) from ``calls``.

The layout (``max_span``, the chromosomes, the runs) and the call counts are derived caches,
computed on the first query after a table changes and kept in ``genomics/spans.json`` and
``genomics/call_counts.json``, keyed by the table versions (safe to delete).

A region becomes one narrow ``pos`` range (``start - max_span .. end``, where ``max_span`` is the
longest allele in the store) with the ``end >= start`` test applied in Arrow: Lance would
otherwise intersect the near-complete result of an ``end`` index range.

Filters and how they match:

- ``region``: ``chr20:1,000,000-2,000,000``, ``20:1000-2000``, ``chrX:5000`` (one position) or
  ``chrX`` alone; the chromosome is normalized (``schema.normalize_chrom``) so ``chr20`` and
  ``20`` are the same; an allele matches when ``[pos, end]`` overlaps the region (both inclusive).
- ``gene``/``consequence``: the most severe annotation's value, or any annotation's (``genes``,
  ``consequences`` list membership).
- ``impact``: one or more of ``HIGH, MODERATE, LOW, MODIFIER`` (comma-separated, any case).
- ``filter``: ``PASS``, or one failed filter name among those joined by ``;``.
- ``clnsig``: one ClinVar term (any case), among those joined by ``/``, ``|`` or ``,``.
- ``min_af``/``max_af``/``min_qual``: inclusive bounds; a null AF or QUAL never matches a bound.
- ``where``: a Lance SQL predicate passed through (``af < 0.01 AND vtype = 'SNV'``); a ``;``
  outside a quoted literal is refused, an unknown column or a bad literal is a one-line error.

Bad input (a region that does not parse, an unknown impact, a bad ``--where``) raises
``ConfigError`` (exit 7); a sample name the store does not know raises ``NoMatchesError``.

``create_filter_indexes(store_dir)`` adds the scalar indexes these predicates use (BTree on
positions, frequencies and ids, Bitmap on low-cardinality strings, LabelList on the list
columns) and commits the new table versions in the manifest, under the writer lock.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from exocortex.errors import ConfigError, NoMatchesError, StoreCorruptError
from exocortex.genomics.schema import IMPACTS, VARIANTS, ZYGOSITIES, normalize_chrom
from exocortex.genomics.store import VariantStore, genomics_dir, read_manifest, write_manifest

DEFAULT_LIMIT = 20
MAX_CARRIERS_PER_VARIANT = 50
"""Carriers listed per returned variant (``n_carriers`` still counts them all)."""
VID_IN_MAX = 2_000
"""Up to this many sample vids go into the predicate as ``vid IN (...)``; more are intersected in NumPy."""

ROW_COLUMNS = [
    "vid", "key", "chrom", "chrom_norm", "pos", "end", "ref", "alt", "vtype", "length", "rsid", "qual",
    "filter", "af", "gene", "consequence", "impact", "hgvs_c", "hgvs_p", "clnsig", "n_carriers",
]  # fmt: skip
"""Columns of a result row (the JSON ``info`` and ``annotations`` blobs are left out)."""

MAX_POS = 2**31 - 1
"""The largest position a region may name: VCF (BCF) positions are signed 32-bit integers."""
_REGION = re.compile(r"^\s*([A-Za-z0-9_.\-]+?)(?::([0-9][0-9,_]*)(?:-([0-9][0-9,_]*))?)?\s*$")


@dataclass(frozen=True)
class Region:
    chrom_norm: str
    start: int | None = None  # 1-based inclusive; None: the whole chromosome
    end: int | None = None


def parse_region(text: str) -> Region:
    """``chr20:1,000,000-2,000,000`` / ``20:1000-2000`` / ``chrX:5000`` / ``chrX`` -> :class:`Region`."""
    match = _REGION.match(text)
    if not match:
        raise ConfigError(
            f"bad region {text!r}: write CHROM, CHROM:POS or CHROM:START-END (e.g. chr20:1,000,000-2,000,000)"
        )
    chrom, start_s, end_s = match.groups()
    if start_s is None:
        return Region(normalize_chrom(chrom))
    start = int(start_s.replace(",", "").replace("_", ""))
    end = int(end_s.replace(",", "").replace("_", "")) if end_s is not None else start
    if start < 1 or end < start:
        raise ConfigError(f"bad region {text!r}: positions are 1-based and START must not exceed END")
    if end > MAX_POS:
        raise ConfigError(f"bad region {text!r}: positions are at most {MAX_POS:,} (VCF POS is a 32-bit integer)")
    return Region(normalize_chrom(chrom), start, end)


@dataclass(frozen=True)
class VariantQuery:
    """The filters of ``exocortex vcf query``; every one given must hold (AND)."""

    region: str | None = None
    gene: str | None = None
    sample: str | None = None
    zygosity: str | None = None
    min_af: float | None = None
    max_af: float | None = None
    min_qual: float | None = None
    filter: str | None = None
    consequence: str | None = None
    impact: str | None = None
    clnsig: str | None = None
    where: str | None = None
    limit: int = DEFAULT_LIMIT


def sql_string(value: str) -> str:
    """A SQL string literal: single quotes doubled."""
    return "'" + value.replace("'", "''") + "'"


def _term_in(column: str, value: str, seps: str, lower: bool = False) -> str:
    """``column`` equals ``value`` or holds it as one ``seps``-separated term."""
    col = f"lower({column})" if lower else column
    v = value.lower() if lower else value
    parts = [f"{col} = {sql_string(v)}"]
    for sep in seps:
        parts += [
            f"{col} LIKE {sql_string(v + sep + '%')}",
            f"{col} LIKE {sql_string('%' + sep + v)}",
            f"{col} LIKE {sql_string('%' + sep + v + sep + '%')}",
        ]
    return "(" + " OR ".join(parts) + ")"


def check_where(where: str) -> str:
    """The user's predicate, refused when it holds a ``;`` outside a quoted literal."""
    quote: str | None = None
    for ch in where:
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"`":
            quote = ch
        elif ch == ";":
            raise ConfigError("--where takes one SQL predicate: ';' (a second statement) is not allowed")
    if quote:
        raise ConfigError(f"--where has an unterminated quote ({quote})")
    if not where.strip():
        raise ConfigError("--where is empty")
    return where


def region_overlap(start: int, end: int, max_span: int | None = None) -> str:
    """Alleles whose ``[pos, end]`` overlaps ``[start, end]``.

    With ``max_span`` (the longest ``end - pos`` in the table) it is one narrow range of the ``pos``
    BTree index: starts at most ``max_span`` before the region and no later than its end. The
    caller then keeps the rows with ``end >= start`` (an ``end`` range in the same predicate
    would make Lance intersect a near-complete index result: measured 10x slower). Without
    ``max_span``, it is the plain overlap test.
    """
    if max_span is None:
        return f"pos <= {end} AND `end` >= {start}"
    return f"pos >= {start - max_span} AND pos <= {end}"


def variant_predicate(query: VariantQuery, max_span: int | None = None) -> str | None:
    """The Lance SQL predicate of every variant-table filter of ``query`` (None when there is none)."""
    parts: list[str] = []
    if query.region:
        region = parse_region(query.region)
        parts.append(f"chrom_norm = {sql_string(region.chrom_norm)}")
        if region.start is not None and region.end is not None:
            parts.append(region_overlap(region.start, region.end, max_span))
    if query.gene:
        g = sql_string(query.gene)
        parts.append(f"(gene = {g} OR array_has_any(genes, [{g}]))")
    if query.consequence:
        c = sql_string(query.consequence)
        parts.append(f"(consequence = {c} OR array_has_any(consequences, [{c}]))")
    if query.impact:
        wanted = [i.strip().upper() for i in query.impact.split(",") if i.strip()]
        unknown = [i for i in wanted if i not in IMPACTS]
        if unknown or not wanted:
            raise ConfigError(f"unknown impact {', '.join(unknown) or query.impact!r} (one of {', '.join(IMPACTS)})")
        parts.append(f"impact IN ({', '.join(sql_string(i) for i in wanted)})")
    for flag, bound in (("--min-af", query.min_af), ("--max-af", query.max_af), ("--min-qual", query.min_qual)):
        if bound is not None and not math.isfinite(bound):  # nan/inf would be written as a column name
            raise ConfigError(f"{flag} must be a finite number (got {bound})")
    if query.min_af is not None:
        parts.append(f"af >= {float(query.min_af)!r}")
    if query.max_af is not None:
        parts.append(f"af <= {float(query.max_af)!r}")
    if query.min_af is not None and query.max_af is not None and query.min_af > query.max_af:
        raise ConfigError(f"--min-af {query.min_af} is above --max-af {query.max_af}")
    if query.min_qual is not None:
        parts.append(f"qual >= {float(query.min_qual)!r}")
    if query.filter:
        f = query.filter.strip()
        parts.append("filter = 'PASS'" if f.upper() == "PASS" else _term_in("filter", f, ";"))
    if query.clnsig:
        parts.append(_term_in("clnsig", query.clnsig.strip(), "/|,", lower=True))
    if query.where:
        parts.append(f"({check_where(query.where)})")
    return " AND ".join(parts) if parts else None


def chrom_order(chroms: Iterable[Any]) -> dict[str, int]:
    """Rank of each chromosome name: 1..22 by number, then X, Y, MT, then the rest by name."""

    def key(c: str) -> tuple[int, int, str]:
        if c.isdigit():
            return (0, int(c), "")
        special = {"X": 1, "Y": 2, "MT": 3}
        return (1, special[c], "") if c in special else (2, 0, c)

    return {c: i for i, c in enumerate(sorted({str(c) for c in chroms}, key=key))}


def sort_positions(chrom_norm: pa.Array | pa.ChunkedArray, pos: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """Indices that sort rows by (chromosome in natural order, position)."""
    chrom = pc.dictionary_encode(chrom_norm.combine_chunks() if isinstance(chrom_norm, pa.ChunkedArray) else chrom_norm)
    names = chrom.dictionary.to_numpy(zero_copy_only=False)
    rank_of = chrom_order(names)
    ranks = np.array([rank_of[str(n)] for n in names], dtype=np.int64)
    chrom_rank = ranks[chrom.indices.to_numpy(zero_copy_only=False)] if len(names) else np.zeros(0, np.int64)
    positions = np.asarray(pc.fill_null(pos, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    return np.lexsort((positions, chrom_rank))


@dataclass
class QueryResult:
    rows: pa.Table
    """The returned variants (``ROW_COLUMNS``), sorted by chromosome and position."""
    carriers: dict[int, list[dict[str, Any]]]
    """vid -> up to ``MAX_CARRIERS_PER_VARIANT`` carriers: sample name, zygosity, gt, gq, dp."""
    matched: int
    """Variants matching every filter (before ``limit``)."""
    predicate: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    incomplete: list[dict[str, Any]] = field(default_factory=list)
    """Files whose ingest was interrupted: the answer holds only their committed part
    (:meth:`VariantStore.incomplete_ingests`, with the command that finishes each)."""

    def to_dict(self) -> dict[str, Any]:
        variants = []
        for row in self.rows.to_pylist():
            row["carriers"] = self.carriers.get(row["vid"], [])
            variants.append(row)
        return {
            "matched": self.matched,
            "returned": len(variants),
            "predicate": self.predicate,
            "variants": variants,
            "incomplete": self.incomplete,
        }


@contextlib.contextmanager
def _lance_errors(what: str) -> Iterator[None]:
    """Lance's errors about a bad predicate as one line (``ConfigError``)."""
    try:
        yield
    except ValueError as exc:  # the store's tables raise ValueError for a predicate Lance cannot plan
        text = str(exc)
        missing = re.search(r"No field named ([^.\s]+)", text)
        if missing:
            raise ConfigError(
                f"unknown column {missing.group(1)} in {what} (columns: {', '.join(ROW_COLUMNS)}, ...)"
            ) from None
        short = re.sub(r"^Invalid (user )?input[:,] ", "", text.splitlines()[0] if text else type(exc).__name__)
        short = re.sub(r", /\S+\.rs:\d+:\d+$", "", short)
        raise ConfigError(f"bad {what}: {short[:200]}") from None


def _run_lance(
    store: VariantStore,
    name: str,
    columns: list[str],
    where: str | None,
    what: str,
    row_id: bool = False,
    top: tuple[list[str], int] | None = None,
) -> pa.Table:
    """The committed rows of ``name`` matching ``where`` (with ``top=(columns, k)``: the first ``k`` by
    those columns, ascending, a top-k in Lance); Lance's errors about a bad predicate as one line."""
    if not store.has(name):
        return store.read(name, columns)
    order_by, limit = top if top is not None else (None, None)
    with _lance_errors(what):
        return store.table(name).scan(columns, where, row_id=row_id, order_by=order_by, limit=limit)


def _count(store: VariantStore, name: str, where: str | None, what: str) -> int:
    """Rows of ``name`` matching ``where``: answered from the scalar indexes when they cover it."""
    if not store.has(name):
        return 0
    with _lance_errors(what):
        return store.table(name).count_rows(where)


# --- the layout of the variants table ----------------------------------------------------------

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


_LAYOUT_CACHE: dict[tuple[Any, ...], StoreLayout] = {}


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

    Kept in memory and in ``genomics/spans.json``, a derived cache keyed by the variants version
    (safe to delete; a file without the layout's keys is computed again).
    """
    import json

    from exocortex.store.meta import _atomic_write

    version = int(store.manifest.tables.get("variants", -1))
    key = _cache_key(store, version)
    if key in _LAYOUT_CACHE:
        return _LAYOUT_CACHE[key]
    path = genomics_dir(store.store_dir) / SPAN_FILE
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        if cached.get("variants_version") == version and "chroms" in cached:
            segments = cached["segments"]
            _LAYOUT_CACHE[key] = StoreLayout(
                int(cached["max_span"]),
                tuple(str(c) for c in cached["chroms"]),
                None if segments is None else tuple((int(a), int(b), str(c)) for a, b, c in segments),
            )
            return _LAYOUT_CACHE[key]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    layout = _compute_layout(store)
    _LAYOUT_CACHE[key] = layout
    data = {
        "variants_version": version,
        "max_span": layout.max_span,
        "chroms": list(layout.chroms),
        "segments": None if layout.segments is None else [list(s) for s in layout.segments],
    }
    with contextlib.suppress(OSError):  # a read-only store: the in-memory cache still serves this process
        _atomic_write(path, json.dumps(data).encode("utf-8"))
    return layout


CACHED_COMMITS = 8
"""Store commits whose layout and call counts stay in memory per process."""


def _cache_key(store: VariantStore, *versions: int) -> tuple[Any, ...]:
    """An in-memory cache key: the store, the table versions, and the manifest's commit time (a
    store removed and written again at the same path restarts its versions; its commit time differs)."""
    key = (str(store.store_dir.resolve()), *versions, float(store.manifest.updated_at))
    for cache in (_LAYOUT_CACHE, _COUNTS_CACHE):  # a few commits' worth: the oldest go first
        while key not in cache and len(cache) >= CACHED_COMMITS:
            cache.pop(next(iter(cache)))
    return key


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


_COUNTS_CACHE: dict[tuple[Any, ...], CallCounts] = {}


def _compute_call_counts(store: VariantStore, layout: StoreLayout) -> CallCounts:
    """One streamed pass over the calls' ``vid``, ``sample`` and ``zygosity`` (a vid's chromosome is its run's)."""
    assert layout.segments is not None
    chroms = layout.chroms
    zygosities = (*ZYGOSITIES, "")
    samples = tuple(sorted(int(s) for s in store.read("samples", ["sample"])["sample"].to_pylist()))
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

    Kept in memory and in ``genomics/call_counts.json``, a derived cache keyed by the variants and
    calls versions (safe to delete).
    """
    import json

    from exocortex.store.meta import _atomic_write

    versions = (int(store.manifest.tables.get("variants", -1)), int(store.manifest.tables.get("calls", -1)))
    key = _cache_key(store, *versions)
    if key in _COUNTS_CACHE:
        return _COUNTS_CACHE[key]
    path = genomics_dir(store.store_dir) / COUNTS_FILE
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        if cached.get("versions") == list(versions):
            _COUNTS_CACHE[key] = CallCounts(
                tuple(int(s) for s in cached["samples"]),
                tuple(str(c) for c in cached["chroms"]),
                tuple(str(z) for z in cached["zygosities"]),
                np.array(cached["counts"], dtype=np.int64).reshape(
                    len(cached["samples"]), len(cached["chroms"]), len(cached["zygosities"])
                ),
            )
            return _COUNTS_CACHE[key]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    counts = _compute_call_counts(store, layout)
    _COUNTS_CACHE[key] = counts
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


# --- samples and carriers --------------------------------------------------------------------


def _samples_of(store: VariantStore, name: str) -> pa.Table:
    """The samples named ``name`` (the samples table is read once per open store: it is small)."""
    table: pa.Table | None = getattr(store, "_samples_table", None)
    if table is None:
        table = store.read("samples", ["sample", "name", "source"])
        store._samples_table = table  # type: ignore[attr-defined]
    samples = table.filter(pc.equal(table["name"], name))
    if not samples.num_rows:
        known = store.read("samples", ["name"])["name"].to_pylist()
        shown = ", ".join(str(n) for n in known[:10]) + (", ..." if len(known) > 10 else "")
        raise NoMatchesError(f"no sample named {name!r} in the variant store (samples: {shown or 'none'})")
    return samples


def sample_ids(store: VariantStore, name: str) -> list[int]:
    """The sample ids named ``name`` (one per source that has it); ``NoMatchesError`` when none."""
    return [int(i) for i in _samples_of(store, name)["sample"].to_pylist()]


def sample_names(store: VariantStore) -> dict[int, str]:
    """Sample id -> name, read once per open store."""
    cached: dict[int, str] | None = getattr(store, "_sample_names", None)
    if cached is None:
        samples = store.read("samples", ["sample", "name"])
        cached = dict(zip(samples["sample"].to_pylist(), samples["name"].to_pylist(), strict=True))
        store._sample_names = cached  # type: ignore[attr-defined]
    return cached


def _calls_predicate(store: VariantStore, query: VariantQuery) -> tuple[str | None, bool, tuple[int, ...] | None]:
    """The ``calls`` predicate of ``query.sample``/``query.zygosity`` (None when neither is given);
    whether its rows are one per matching allele (a sample filter whose ids are all from different
    sources: a vid names its source, so no allele is counted twice); the sample ids."""
    parts = []
    one_per_allele = False
    ids: tuple[int, ...] | None = None
    if query.sample:
        samples = _samples_of(store, query.sample)
        ids = tuple(int(i) for i in samples["sample"].to_pylist())
        parts.append(f"sample IN ({', '.join(str(i) for i in ids)})")
        one_per_allele = len(set(samples["source"].to_pylist())) == len(ids)
    if query.zygosity:
        if query.zygosity not in ZYGOSITIES:
            raise ConfigError(f"unknown zygosity {query.zygosity!r} (one of {', '.join(ZYGOSITIES)})")
        parts.append(f"zygosity = {sql_string(query.zygosity)}")
    return (" AND ".join(parts) if parts else None), one_per_allele, ids


def carriers_of(
    store: VariantStore, vids: list[int], per_variant: int = MAX_CARRIERS_PER_VARIANT
) -> dict[int, list[dict[str, Any]]]:
    """vid -> its carriers (sample name, zygosity, gt, gq, dp), sample order, at most ``per_variant`` each."""
    if not vids or not store.has("calls"):
        return {}
    calls = store.read(
        "calls", ["vid", "sample", "gt", "zygosity", "gq", "dp"], f"vid IN ({', '.join(map(str, vids))})"
    )
    names = sample_names(store)
    calls = calls.sort_by([("vid", "ascending"), ("sample", "ascending")])
    out: dict[int, list[dict[str, Any]]] = {}
    for row in calls.to_pylist():
        group = out.setdefault(row["vid"], [])
        if len(group) < per_variant:
            group.append({
                "sample": names.get(row["sample"], str(row["sample"])),
                "zygosity": row["zygosity"], "gt": row["gt"], "gq": row["gq"], "dp": row["dp"],
            })  # fmt: skip
    return out


# --- selecting the returned alleles ----------------------------------------------------------

SCAN_MAX = 5_000
"""A query (without a sample filter) matching at most this many alleles reads them all and sorts them
in NumPy; a broader one asks Lance for the top ``limit`` of one chromosome at a time (measured at 5M
alleles: reading 22k scattered matches costs 60 ms, a chromosome's top-k 5-20 ms)."""
WINDOW_MIN = 256
"""The narrowest vid window read when walking a position-sorted run for its first matches."""
WINDOW_TRIES = 3
"""Windows tried (each four times as wide) before the rest of a run is asked for with a Lance top-k."""
CALL_WINDOW_ROWS_MAX = 50_000
"""A window of calls is read whole (and filtered on sample and zygosity in NumPy) when it should hold
at most this many calls; else the sample predicate goes to Lance (its index then costs ~10 ms)."""

_HIT_COLUMNS = ["vid", "chrom_norm", "pos"]
_POS_BITS = 40


def top_positions(
    chrom_norm: pa.Array | pa.ChunkedArray, pos: pa.Array | pa.ChunkedArray, vid: pa.Array | pa.ChunkedArray, k: int
) -> np.ndarray:
    """Indices of the first ``k`` rows by (chromosome in natural order, position, vid), in that order.

    A partial selection (``argpartition``) on the chromosome rank and position, then a sort of the
    ``k`` (plus ties) selected: linear in the number of rows rather than a full sort.
    """
    n = len(vid)
    k = max(0, min(k, n))
    if k == 0:
        return np.zeros(0, np.int64)
    chrom = pc.dictionary_encode(chrom_norm.combine_chunks() if isinstance(chrom_norm, pa.ChunkedArray) else chrom_norm)
    names = chrom.dictionary.to_numpy(zero_copy_only=False)
    rank_of = chrom_order(names)
    ranks = np.array([rank_of[str(n)] for n in names], dtype=np.int64)
    chrom_rank = ranks[chrom.indices.to_numpy(zero_copy_only=False)]
    positions = np.asarray(pc.fill_null(pos, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    vids = np.asarray(pc.fill_null(vid, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
    if positions.min() < 0 or positions.max() >= 1 << _POS_BITS:
        return np.lexsort((vids, positions, chrom_rank))[:k]
    key = (chrom_rank << _POS_BITS) | positions
    if k < n:
        kth = key[np.argpartition(key, k - 1)[k - 1]]
        candidates = np.flatnonzero(key <= kth)
    else:
        candidates = np.arange(n)
    return candidates[np.lexsort((vids[candidates], key[candidates]))][:k]


def _top(hits: pa.Table, k: int) -> pa.Table:
    """The first ``k`` rows of ``hits`` in result order."""
    return hits.take(pa.array(top_positions(hits["chrom_norm"], hits["pos"], hits["vid"], k)))


def _and(*parts: str | None) -> str | None:
    kept = [f"({p})" for p in parts if p]
    return " AND ".join(kept) if kept else None


def _vid_range(lo: int, hi: int) -> str:
    return f"vid >= {lo} AND vid <= {hi}"


def _vid_list(vids: np.ndarray) -> str:
    return f"vid IN ({', '.join(map(str, vids.tolist()))})" if len(vids) else "vid < 0"


@dataclass
class _Plan:
    """What ``_select`` needs of a query."""

    store: VariantStore
    query: VariantQuery
    what: str
    region: Region | None
    predicate: str | None
    """Every variants-table filter, the region included."""
    others: str | None
    """The variants-table filters other than the region."""
    calls_where: str | None
    one_per_allele: bool
    sample_ids: tuple[int, ...] | None = None
    zygosity: str | None = None

    def scan(self, where: str | None) -> pa.Table:
        """(vid, chrom_norm, pos, _rowid) of every allele matching ``where`` (and the region's end test)."""
        region = self.region
        if region is None or region.start is None:
            return _run_lance(self.store, "variants", _HIT_COLUMNS, where, self.what, row_id=True)
        found = _run_lance(self.store, "variants", ["vid", "pos", "end"], where, self.what, row_id=True)
        found = found.filter(pc.greater_equal(found["end"], region.start))
        chrom = pa.array([region.chrom_norm] * found.num_rows, pa.string())  # the predicate pins it
        return pa.table({"vid": found["vid"], "chrom_norm": chrom, "pos": found["pos"], "_rowid": found["_rowid"]})

    def chromosome_top(self, chrom: str, where: str | None, k: int) -> pa.Table:
        """The first ``k`` alleles of one chromosome matching ``where``, by (position, vid): a Lance top-k."""
        return _run_lance(
            self.store, "variants", _HIT_COLUMNS, _and(f"chrom_norm = {sql_string(chrom)}", where), self.what,
            row_id=True, top=(["pos", "vid"], k),
        )  # fmt: skip

    def by_vids(self, vids: np.ndarray) -> pa.Table:
        return _run_lance(self.store, "variants", _HIT_COLUMNS, _vid_list(vids), self.what, row_id=True)


def _select(plan: _Plan, k: int) -> tuple[pa.Table, int]:
    """(vid, chrom_norm, pos, _rowid) of the first ``k`` matching alleles in result order, and how many match."""
    if plan.calls_where is None:
        return _select_variants(plan, k)
    region = plan.region
    layout = store_layout(plan.store)
    if (
        plan.others is None
        and (region is None or region.start is None)
        and plan.one_per_allele
        and layout.segments is not None
    ):
        return _select_sample_runs(plan, layout, k)
    return _select_joined(plan, k)


Fetch = Callable[[int, int, "int | None"], pa.Table]
"""``fetch(lo, hi, top)``: the matches (with a ``vid`` column) whose vid is in ``[lo, hi]``; with
``top``, only the ``top`` smallest vids."""


def _smallest_vids(fetch: Fetch, lo: int, hi: int, need: int, density: float) -> pa.Table:
    """The ``need`` matches of ``[lo, hi]`` with the smallest vids, ascending.

    Reads growing vid windows from ``lo`` (the first sized from ``density``, the share of vids that
    match), then asks Lance for a top-k over what is left of the range.
    """
    parts: list[pa.Table] = []
    start = lo
    width = max(WINDOW_MIN, int(need / max(density, 1e-9) * 1.5))
    for _ in range(WINDOW_TRIES):
        if start > hi or need <= 0:
            break
        stop = min(hi, start + width - 1)
        got = fetch(start, stop, None)
        got = got.take(pa.array(np.argsort(got["vid"].to_numpy(), kind="stable")[:need]))
        parts.append(got)
        need -= got.num_rows
        start, width = stop + 1, width * 4
    if need > 0 and start <= hi:
        parts.append(fetch(start, hi, need))
    return pa.concat_tables(parts)


def _first_in_runs(
    plan: _Plan, segments: list[tuple[int, int, str]], chroms: tuple[str, ...], fetch: Fetch, k: int, density: float
) -> pa.Table:
    """The first ``k`` matches by (chromosome, position, vid) among position-sorted vid runs.

    Within a run the smallest vids are the first positions, so a chromosome's first ``k`` are among
    the first ``k`` of each of its runs; chromosomes are visited in natural order until ``k`` are found.
    """
    rank = {c: i for i, c in enumerate(chroms)}
    parts: list[pa.Table] = []
    need = k
    for chrom in sorted({c for _, _, c in segments}, key=lambda c: rank.get(c, len(rank))):
        found = [_smallest_vids(fetch, lo, hi, need, density) for lo, hi, c in segments if c == chrom]
        got = pa.concat_tables(found)
        if not got.num_rows:
            continue
        if "pos" not in got.column_names:
            got = plan.by_vids(got["vid"].to_numpy())
        got = _top(got, need)
        parts.append(got)
        need -= got.num_rows
        if need <= 0:
            break
    return pa.concat_tables(parts) if parts else plan.scan("vid < 0")


def _select_variants(plan: _Plan, k: int) -> tuple[pa.Table, int]:
    """No sample filter: the matches are counted from the indexes; a broad query reads only the first
    matches of each position-sorted vid run (``StoreLayout.segments``), chromosome by chromosome, or,
    on a store without such runs, asks Lance for each chromosome's top-k."""
    region = plan.region
    if region is not None and region.start is not None:  # one narrow position range: read it
        hits = plan.scan(plan.predicate)
        return _top(hits, k), hits.num_rows
    matched = _count(plan.store, "variants", plan.predicate, plan.what)
    if k == 0 or matched == 0:
        return plan.scan("vid < 0"), matched
    if matched <= SCAN_MAX:
        return _top(plan.scan(plan.predicate), k), matched
    layout = store_layout(plan.store)
    if layout.segments is not None:
        segments = [s for s in layout.segments if region is None or s[2] == region.chrom_norm]
        alleles = sum(hi - lo + 1 for lo, hi, _ in segments)

        def fetch(lo: int, hi: int, top: int | None) -> pa.Table:
            where = _and(plan.others, _vid_range(lo, hi))
            return _run_lance(
                plan.store, "variants", _HIT_COLUMNS, where, plan.what, row_id=True,
                top=None if top is None else (["vid"], top),
            )  # fmt: skip

        return _first_in_runs(plan, segments, layout.chroms, fetch, k, matched / max(alleles, 1)), matched
    chroms = [region.chrom_norm] if region is not None else list(layout.chroms)
    parts: list[pa.Table] = []
    need = k
    for chrom in chroms:
        got = plan.chromosome_top(chrom, plan.others, need)
        parts.append(got)
        need -= got.num_rows
        if need <= 0:
            break
    return pa.concat_tables(parts), matched


def _select_sample_runs(plan: _Plan, layout: StoreLayout, k: int) -> tuple[pa.Table, int]:
    """A sample (and zygosity) filter, alone or with a whole chromosome, on a store whose alleles lie
    in position-sorted vid runs: the count comes from :func:`call_counts` (one call per matching
    allele), and only the first carried vids of each run are read."""
    region = plan.region
    assert layout.segments is not None and plan.sample_ids is not None
    segments = [s for s in layout.segments if region is None or s[2] == region.chrom_norm]
    counts = call_counts(plan.store, layout)
    matched = counts.count(plan.sample_ids, None if region is None else region.chrom_norm, plan.zygosity)
    if k == 0 or matched == 0:
        return plan.scan("vid < 0"), matched
    alleles = sum(hi - lo + 1 for lo, hi, _ in segments)
    density = matched / max(alleles, 1)
    ids = np.array(plan.sample_ids, dtype=np.int64)
    # a window read without the sample predicate holds every carrier's call: keep it small
    calls_per_allele = counts.total / max(sum(hi - lo + 1 for lo, hi, _ in layout.segments), 1)
    by_range = calls_per_allele * k / max(density, 1e-9) <= CALL_WINDOW_ROWS_MAX

    def fetch(lo: int, hi: int, top: int | None) -> pa.Table:
        if top is not None or not by_range:
            return _run_lance(
                plan.store, "calls", ["vid"], _and(plan.calls_where, _vid_range(lo, hi)), plan.what,
                top=None if top is None else (["vid"], top),
            )  # fmt: skip
        calls = _run_lance(plan.store, "calls", ["vid", "sample", "zygosity"], _vid_range(lo, hi), plan.what)
        keep = np.isin(calls["sample"].to_numpy(), ids)
        if plan.zygosity:
            keep &= pc.fill_null(pc.equal(calls["zygosity"], plan.zygosity), False).to_numpy(zero_copy_only=False)
        return calls.filter(pa.array(keep)).select(["vid"])

    return _first_in_runs(plan, segments, layout.chroms, fetch, k, density), matched


def _carried_in(plan: _Plan, vids: np.ndarray) -> np.ndarray:
    """The vids among ``vids`` with a call matching the sample/zygosity filter.

    When the calls of the vid range ``[min, max]`` should number at most ``CALL_WINDOW_ROWS_MAX``
    they are read whole and filtered in NumPy (no sample index lookup); else the filter goes to
    Lance with ``vid IN (...)`` (up to ``VID_IN_MAX`` vids) or the vid range.
    """
    if not len(vids):
        return vids
    store = plan.store
    lo, hi = int(vids.min()), int(vids.max())
    calls_per_allele = _count(store, "calls", None, plan.what) / max(_count(store, "variants", None, plan.what), 1)
    if (hi - lo + 1) * calls_per_allele <= CALL_WINDOW_ROWS_MAX:
        calls = _run_lance(store, "calls", ["vid", "sample", "zygosity"], _vid_range(lo, hi), plan.what)
        keep = np.ones(calls.num_rows, dtype=bool)
        if plan.sample_ids is not None:
            keep &= np.isin(calls["sample"].to_numpy(), np.array(plan.sample_ids, dtype=np.int64))
        if plan.zygosity:
            keep &= pc.fill_null(pc.equal(calls["zygosity"], plan.zygosity), False).to_numpy(zero_copy_only=False)
        carried = calls["vid"].to_numpy()[keep]
    else:
        within = _vid_list(vids) if len(vids) <= VID_IN_MAX else _vid_range(lo, hi)
        carried = _run_lance(store, "calls", ["vid"], _and(plan.calls_where, within), plan.what)["vid"].to_numpy()
    return vids[np.isin(vids, carried)]


def _select_joined(plan: _Plan, k: int) -> tuple[pa.Table, int]:
    """A sample/zygosity filter joined on vid with the variant filters, the more selective side first:
    the variant matches when there is a variant filter (their calls looked up in their vid range),
    else the calls."""
    if plan.predicate:
        hits = plan.scan(plan.predicate)
        vids = hits["vid"].to_numpy()
        hits = hits.filter(pa.array(np.isin(vids, _carried_in(plan, vids))))
        return _top(hits, k), hits.num_rows
    carried = np.unique(_run_lance(plan.store, "calls", ["vid"], plan.calls_where, plan.what)["vid"].to_numpy())
    if len(carried) <= VID_IN_MAX:
        hits = plan.by_vids(carried)
    else:
        hits = plan.scan(None)
        hits = hits.filter(pa.array(np.isin(hits["vid"].to_numpy(), carried)))
    return _top(hits, k), hits.num_rows


def _plan(store: VariantStore, query: VariantQuery, what: str) -> _Plan:
    region = parse_region(query.region) if query.region else None
    span = max_span(store) if region is not None and region.start is not None else None
    predicate = variant_predicate(query, span)
    others = variant_predicate(replace(query, region=None))
    calls_where, one_per_allele, ids = _calls_predicate(store, query)
    return _Plan(store, query, what, region, predicate, others, calls_where, one_per_allele, ids, query.zygosity)


def run_query(store_dir: str | Path | VariantStore, query: VariantQuery, *, with_carriers: bool = True) -> QueryResult:
    """The variants matching ``query``, sorted by chromosome and position, at most ``query.limit``.

    ``store_dir`` may be an open :class:`VariantStore`, reused across queries (saves opening the tables).
    """
    import time

    t0 = time.perf_counter()
    if query.limit < 0:
        raise ConfigError(f"--limit must be 0 or more (got {query.limit})")
    store = store_dir if isinstance(store_dir, VariantStore) else VariantStore(store_dir)
    table = store.table("variants")  # IndexNotFoundError when nothing was ingested
    what = "--where predicate" if query.where else "query"
    plan = _plan(store, query, what)
    hits, matched = _select(plan, query.limit)
    t1 = time.perf_counter()
    top = hits["vid"].to_numpy()
    if len(top):
        row_ids = hits["_rowid"].to_numpy()
        rows = table.take([int(r) for r in row_ids], ROW_COLUMNS)
        rank = {int(v): i for i, v in enumerate(top.tolist())}
        rows = rows.take(pa.array(np.argsort([rank[int(v)] for v in rows["vid"].to_pylist()], kind="stable")))
    else:
        rows = VARIANTS.empty_table().select(ROW_COLUMNS)  # not a read: that would scan the whole table
    t2 = time.perf_counter()
    carriers = carriers_of(store, [int(v) for v in top.tolist()]) if with_carriers else {}
    t3 = time.perf_counter()
    return QueryResult(
        rows=rows,
        carriers=carriers,
        matched=matched,
        predicate=plan.predicate,
        timings={"match_s": t1 - t0, "rows_s": t2 - t1, "carriers_s": t3 - t2},
        incomplete=store.incomplete_ingests(),
    )


# --- scalar indexes -------------------------------------------------------------------------

FILTER_INDEXES: dict[str, dict[str, str]] = {
    "variants": {
        "vid": "BTREE", "key": "BTREE", "rsid": "BTREE", "chrom_norm": "BITMAP", "pos": "BTREE", "end": "BTREE",
        "vtype": "BITMAP", "af": "BTREE", "qual": "BTREE", "filter": "BITMAP", "gene": "BTREE",
        "consequence": "BITMAP", "impact": "BITMAP", "clnsig": "BITMAP", "genes": "LABEL_LIST",
        "consequences": "LABEL_LIST",
    },
    "calls": {"vid": "BTREE", "sample": "BTREE", "zygosity": "BITMAP"},
    "samples": {"name": "BTREE"},
}  # fmt: skip
"""Table -> column -> Lance scalar index type, for the columns the query predicates filter on."""


def create_filter_indexes(store_dir: str | Path, wait_s: float = 0.0) -> dict[str, int]:
    """Index the filter columns of the committed tables and commit the new versions; returns them.

    Takes the genomics writer lock. Refuses (``StoreCorruptError``) when a table has versions past
    the committed one (a writer crashed mid-batch): the next ingest rolls those back first.
    """
    from exocortex.genomics.store import DB_DIR, LanceTable, table_path
    from exocortex.store.meta import writer_lock

    folder = genomics_dir(Path(store_dir))
    with writer_lock(folder, wait_s):
        manifest = read_manifest(Path(store_dir))
        for name, columns in FILTER_INDEXES.items():
            if name not in manifest.tables:
                continue
            table = LanceTable(table_path(folder / DB_DIR, name))
            if table.version != manifest.tables[name]:
                raise StoreCorruptError(
                    f"table {name} has uncommitted versions past {manifest.tables[name]}: run an ingest "
                    "(it rolls them back) before indexing"
                )
            present = {c for idx in table.list_indices() for c in idx.columns}
            for column, kind in columns.items():
                if column not in present:
                    table.create_scalar_index(column, kind)
            manifest.tables[name] = table.version
        write_manifest(Path(store_dir), manifest)
    return dict(manifest.tables)


__all__ = [
    "DEFAULT_LIMIT", "QueryResult", "Region", "VariantQuery", "carriers_of", "check_where",
    "StoreLayout", "create_filter_indexes", "parse_region", "run_query", "sample_ids", "sort_positions", "store_layout",
    "top_positions", "variant_predicate",
]  # fmt: skip
