"""The variant query planner: ``run_query(store_dir, query)`` answers a :class:`VariantQuery`
(its filters and their one Lance predicate: ``genomics.filters``) and never reads more than it
returns when it can avoid it. It answers in two phases:

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

The layout (``max_span``, the chromosomes, the runs) and the call counts come from
``genomics.layout``: derived per table version, kept on disk and in a memory-layer cache.

A bad ``--where`` (an unknown column, a bad literal) raises ``ConfigError`` (exit 7) when Lance
plans it; a sample name the store does not know raises ``NoMatchesError``.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from exocortex.errors import ConfigError, NoMatchesError
from exocortex.genomics.filters import (
    DEFAULT_LIMIT,
    Region,
    VariantQuery,
    annotation_predicate,
    check_where,
    create_filter_indexes,
    parse_region,
    sql_string,
    variant_predicate,
)
from exocortex.genomics.layout import StoreLayout, call_counts, chrom_order, max_span, store_layout
from exocortex.genomics.schema import VARIANTS, ZYGOSITIES
from exocortex.genomics.store import VariantStore

MAX_CARRIERS_PER_VARIANT = 50
"""Carriers listed per returned variant (``n_carriers`` still counts them all)."""
VID_IN_MAX = 2_000
"""Up to this many sample vids go into the predicate as ``vid IN (...)``; more are intersected in NumPy."""

ROW_COLUMNS = [
    "vid", "key", "chrom", "chrom_norm", "pos", "end", "ref", "alt", "vtype", "length", "rsid", "qual",
    "filter", "af", "gene", "consequence", "impact", "transcript", "hgvs_c", "hgvs_p", "lof", "clnsig",
    "clinvar_stars", "pop_af", "pop_af_source", "n_carriers",
]  # fmt: skip
"""Columns of a result row (the JSON ``info`` blob is left out)."""


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
    """The sample ids named ``name`` (one since files of one sample merge; stores of older ingests may
    hold one per file); ``NoMatchesError`` when none."""
    return sorted({int(i) for i in _samples_of(store, name)["sample"].to_pylist()})


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
        ids = tuple(sorted({int(i) for i in samples["sample"].to_pylist()}))  # one id per name in several files
        parts.append(f"sample IN ({', '.join(str(i) for i in ids)})")
        one_per_allele = len(ids) == 1 or len(set(samples["source"].to_pylist())) == len(ids)
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
    entry_where: str | None = None
    """With several annotation-entry filters: the ``annotations`` predicate one entry must match."""

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
    if plan.entry_where is not None:
        return _select_entries(plan, k)
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


def _select_entries(plan: _Plan, k: int) -> tuple[pa.Table, int]:
    """Several annotation-entry filters: the variant-row matches (each entry filter alone is a
    necessary condition there, narrowed by its index) kept when one of their entries matches them
    all (the entries read by those vids, or their vid range); then the sample filter."""
    hits = plan.scan(plan.predicate)
    vids = hits["vid"].to_numpy()
    if len(vids):
        within = _vid_list(vids) if len(vids) <= VID_IN_MAX else _vid_range(int(vids.min()), int(vids.max()))
        found = _run_lance(plan.store, "annotations", ["vid"], _and(plan.entry_where, within), plan.what)
        hits = hits.filter(pa.array(np.isin(vids, found["vid"].to_numpy())))
    if plan.calls_where is not None:
        vids = hits["vid"].to_numpy()
        hits = hits.filter(pa.array(np.isin(vids, _carried_in(plan, vids))))
    return _top(hits, k), hits.num_rows


def _plan(store: VariantStore, query: VariantQuery, what: str) -> _Plan:
    region = parse_region(query.region) if query.region else None
    span = max_span(store) if region is not None and region.start is not None else None
    predicate = variant_predicate(query, span)
    others = variant_predicate(replace(query, region=None))
    calls_where, one_per_allele, ids = _calls_predicate(store, query)
    return _Plan(
        store, query, what, region, predicate, others, calls_where, one_per_allele, ids, query.zygosity,
        annotation_predicate(query) if store.has("annotations") else None,
    )  # fmt: skip


def _matching_summary(store: VariantStore, rows: pa.Table, query: VariantQuery, what: str) -> pa.Table:
    """``rows`` with their summary columns taken from the most severe entry that matched the entry
    filters (``--gene DDX11L1`` shows the DDX11L1 entry, not a more severe one of another gene)."""
    from exocortex.genomics.annotations import SUMMARY_COLUMNS, most_severe

    if not store.has("annotations"):
        return rows
    vids = rows["vid"].to_pylist()
    where = _and(annotation_predicate(query, at_least=1), _vid_list(np.array(vids, dtype=np.int64)))
    found = _run_lance(store, "annotations", ["vid", "entry", *SUMMARY_COLUMNS], where, what)
    found = found.sort_by([("vid", "ascending"), ("entry", "ascending")])
    by_vid: dict[int, list[dict[str, Any]]] = {}
    for entry in found.to_pylist():
        by_vid.setdefault(entry["vid"], []).append(entry)
    best = {vid: entry for vid, entries in by_vid.items() if (entry := most_severe(entries)) is not None}
    for name in SUMMARY_COLUMNS:
        old = rows[name].to_pylist()
        new = [best[v][name] if v in best else o for v, o in zip(vids, old, strict=True)]
        rows = rows.set_column(rows.schema.get_field_index(name), name, pa.array(new, pa.string()))
    return rows


def run_query(
    store_dir: str | Path | VariantStore,
    query: VariantQuery,
    *,
    with_carriers: bool = True,
    max_carriers: int = MAX_CARRIERS_PER_VARIANT,
) -> QueryResult:
    """The variants matching ``query``, sorted by chromosome and position, at most ``query.limit``,
    each with up to ``max_carriers`` carriers.

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
    if len(top) and query.entry_filters():
        rows = _matching_summary(store, rows, query, what)
    t2 = time.perf_counter()
    carriers = carriers_of(store, [int(v) for v in top.tolist()], max_carriers) if with_carriers else {}
    t3 = time.perf_counter()
    return QueryResult(
        rows=rows,
        carriers=carriers,
        matched=matched,
        predicate=plan.predicate,
        timings={"match_s": t1 - t0, "rows_s": t2 - t1, "carriers_s": t3 - t2},
        incomplete=store.incomplete_ingests(),
    )


__all__ = [
    "DEFAULT_LIMIT", "QueryResult", "Region", "VariantQuery", "carriers_of", "check_where", "chrom_order",
    "StoreLayout", "create_filter_indexes", "parse_region", "run_query", "sample_ids", "sample_names",
    "sort_positions", "sql_string", "store_layout", "top_positions", "variant_predicate",
]  # fmt: skip
