"""Variant queries: a :class:`VariantQuery` of filters becomes one Lance SQL predicate.

``run_query(store_dir, query)`` answers in two phases so a broad filter stays cheap:

1. the predicate selects only ``vid``, ``chrom_norm``, ``pos`` and the Lance row id of every
   matching allele; a ``--sample``/``--zygosity`` filter is joined on vid with the ``calls``
   table, the more selective side first (NumPy ``isin`` for large sets); the survivors are
   sorted by chromosome (natural order: 1..22, X, Y, MT, then the rest by name) and position,
   and cut to ``limit``;
2. the full rows of those ``limit`` alleles are taken by row id, with their carriers (sample
   names, zygosity, GT, GQ, DP) from ``calls``.

A region becomes one narrow ``pos`` range (``start - max_span .. end``, where ``max_span`` is the
longest allele in the store, cached per variants version in ``genomics/spans.json``) with the
``end >= start`` test applied in Arrow: Lance would otherwise intersect the near-complete
result of an ``end`` index range.

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
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from exocortex.errors import ConfigError, NoMatchesError, StoreCorruptError
from exocortex.genomics.schema import IMPACTS, ZYGOSITIES, normalize_chrom
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

    def to_dict(self) -> dict[str, Any]:
        variants = []
        for row in self.rows.to_pylist():
            row["carriers"] = self.carriers.get(row["vid"], [])
            variants.append(row)
        return {"matched": self.matched, "returned": len(variants), "predicate": self.predicate, "variants": variants}


def _run_lance(
    store: VariantStore, name: str, columns: list[str], where: str | None, what: str, row_id: bool = False
) -> pa.Table:
    """The committed rows of ``name`` matching ``where``; Lance's errors about a bad predicate as one line."""
    if not store.has(name):
        return store.read(name, columns)
    scan = store.table(name).search()
    if where:
        scan = scan.where(where)
    if row_id:
        scan = scan.with_row_id(True)
    try:
        return scan.select(columns).limit(None).to_arrow()
    except ValueError as exc:  # lancedb raises ValueError for a predicate it cannot plan
        text = str(exc)
        missing = re.search(r"No field named ([^.\s]+)", text)
        if missing:
            raise ConfigError(
                f"unknown column {missing.group(1)} in {what} (columns: {', '.join(ROW_COLUMNS)}, ...)"
            ) from None
        short = re.sub(r"^Invalid input, ", "", text.splitlines()[0] if text else type(exc).__name__)
        short = re.sub(r", /\S+\.rs:\d+:\d+$", "", short)
        raise ConfigError(f"bad {what}: {short[:200]}") from None


_SPAN_CACHE: dict[tuple[str, int], int] = {}
SPAN_FILE = "spans.json"


def max_span(store: VariantStore) -> int:
    """The longest ``end - pos`` among the committed alleles (bounds the region predicate).

    Computed once per variants version (two columns, streamed) and kept in memory and in
    ``genomics/spans.json``, a derived cache keyed by that version (safe to delete).
    """
    import json

    from exocortex.store.meta import _atomic_write

    version = int(store.manifest.tables.get("variants", -1))
    key = (str(store.store_dir.resolve()), version)
    if key in _SPAN_CACHE:
        return _SPAN_CACHE[key]
    path = genomics_dir(store.store_dir) / SPAN_FILE
    try:
        cached = json.loads(path.read_text(encoding="utf-8"))
        if cached.get("variants_version") == version:
            _SPAN_CACHE[key] = int(cached["max_span"])
            return _SPAN_CACHE[key]
    except (OSError, ValueError, KeyError, TypeError):
        pass
    span = 0
    if store.has("variants"):
        for batch in store.table("variants").search().select(["pos", "end"]).limit(None).to_batches(262_144):
            diff = pc.subtract(pc.fill_null(batch.column("end"), 0), pc.fill_null(batch.column("pos"), 0))
            span = max(span, int(pc.max(diff).as_py() or 0))
    _SPAN_CACHE[key] = span
    with contextlib.suppress(OSError):  # a read-only store: the in-memory cache still serves this process
        _atomic_write(path, json.dumps({"variants_version": version, "max_span": span}).encode("utf-8"))
    return span


def sample_ids(store: VariantStore, name: str) -> list[int]:
    """The sample ids named ``name`` (one per source that has it); ``NoMatchesError`` when none."""
    samples = store.read("samples", ["sample", "name"], f"name = {sql_string(name)}")
    ids = samples["sample"].to_pylist()
    if not ids:
        known = store.read("samples", ["name"])["name"].to_pylist()
        shown = ", ".join(str(n) for n in known[:10]) + (", ..." if len(known) > 10 else "")
        raise NoMatchesError(f"no sample named {name!r} in the variant store (samples: {shown or 'none'})")
    return [int(i) for i in ids]


def sample_names(store: VariantStore) -> dict[int, str]:
    """Sample id -> name, read once per open store."""
    cached: dict[int, str] | None = getattr(store, "_sample_names", None)
    if cached is None:
        samples = store.read("samples", ["sample", "name"])
        cached = dict(zip(samples["sample"].to_pylist(), samples["name"].to_pylist(), strict=True))
        store._sample_names = cached  # type: ignore[attr-defined]
    return cached


def _calls_predicate(store: VariantStore, query: VariantQuery) -> str | None:
    """The ``calls`` predicate of ``query.sample``/``query.zygosity``, or None when neither is given."""
    parts = []
    if query.sample:
        parts.append(f"sample IN ({', '.join(str(i) for i in sample_ids(store, query.sample))})")
    if query.zygosity:
        if query.zygosity not in ZYGOSITIES:
            raise ConfigError(f"unknown zygosity {query.zygosity!r} (one of {', '.join(ZYGOSITIES)})")
        parts.append(f"zygosity = {sql_string(query.zygosity)}")
    return " AND ".join(parts) if parts else None


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


def _vid_list(vids: np.ndarray) -> str:
    return f"vid IN ({', '.join(map(str, vids.tolist()))})" if len(vids) else "vid < 0"


def _matches(store: VariantStore, query: VariantQuery, what: str) -> tuple[pa.Table, str | None]:
    """(vid, chrom_norm, pos, _rowid) of every allele matching ``query``, and the variants predicate.

    With a sample/zygosity filter, the more selective side goes first: the variant predicate when
    it leaves at most ``VID_IN_MAX`` alleles (their calls are then looked up by vid), else the calls.
    """
    columns = ["vid", "chrom_norm", "pos"]
    region = parse_region(query.region) if query.region else None
    predicate = variant_predicate(query, max_span(store) if region else None)
    calls_where = _calls_predicate(store, query)

    def scan(where: str | None) -> pa.Table:
        if region is None or region.start is None:
            return _run_lance(store, "variants", columns, where, what, row_id=True)
        found = _run_lance(store, "variants", [*columns, "end"], where, what, row_id=True)
        return found.filter(pc.greater_equal(found["end"], region.start))

    if calls_where is None:
        return scan(predicate), predicate
    hits: pa.Table | None = None
    if predicate:
        hits = scan(predicate)
        if hits.num_rows <= VID_IN_MAX:
            vids = hits["vid"].to_numpy()
            carried = store.read("calls", ["vid"], f"{calls_where} AND {_vid_list(vids)}")["vid"].to_numpy()
            return hits.filter(pa.array(np.isin(vids, carried))), predicate
    carried = np.unique(store.read("calls", ["vid"], calls_where)["vid"].to_numpy())
    if hits is None:
        if len(carried) <= VID_IN_MAX:
            return _run_lance(store, "variants", columns, _vid_list(carried), what, row_id=True), predicate
        hits = _run_lance(store, "variants", columns, None, what, row_id=True)
    return hits.filter(pa.array(np.isin(hits["vid"].to_numpy(), carried))), predicate


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
    hits, predicate = _matches(store, query, what)
    t1 = time.perf_counter()
    order = sort_positions(hits["chrom_norm"], hits["pos"])[: query.limit]
    top = hits["vid"].to_numpy()[order]
    if len(top):
        row_ids = hits["_rowid"].to_numpy()[order]
        rows = table.take_row_ids([int(r) for r in row_ids]).select(ROW_COLUMNS).to_arrow()
        rank = {int(v): i for i, v in enumerate(top.tolist())}
        rows = rows.take(pa.array(np.argsort([rank[int(v)] for v in rows["vid"].to_pylist()], kind="stable")))
    else:
        rows = store.read("variants", ROW_COLUMNS).slice(0, 0)
    t2 = time.perf_counter()
    carriers = carriers_of(store, [int(v) for v in top.tolist()]) if with_carriers else {}
    t3 = time.perf_counter()
    return QueryResult(
        rows=rows,
        carriers=carriers,
        matched=hits.num_rows,
        predicate=predicate,
        timings={"match_s": t1 - t0, "rows_s": t2 - t1, "carriers_s": t3 - t2},
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
    import lancedb
    from lancedb.index import Bitmap, BTree, LabelList

    from exocortex.genomics.store import DB_DIR
    from exocortex.store.meta import writer_lock

    configs: dict[str, Any] = {"BTREE": BTree, "BITMAP": Bitmap, "LABEL_LIST": LabelList}
    folder = genomics_dir(Path(store_dir))
    with writer_lock(folder, wait_s):
        manifest = read_manifest(Path(store_dir))
        db = lancedb.connect(str(folder / DB_DIR))
        for name, columns in FILTER_INDEXES.items():
            if name not in manifest.tables:
                continue
            table = db.open_table(name)
            if table.version != manifest.tables[name]:
                raise StoreCorruptError(
                    f"table {name} has uncommitted versions past {manifest.tables[name]}: run an ingest "
                    "(it rolls them back) before indexing"
                )
            present = {c for idx in table.list_indices() for c in idx.columns}
            for column, kind in columns.items():
                if column not in present:
                    table.create_index(column, config=configs[kind]())
            manifest.tables[name] = table.version
        write_manifest(Path(store_dir), manifest)
    return dict(manifest.tables)


__all__ = [
    "DEFAULT_LIMIT", "QueryResult", "Region", "VariantQuery", "carriers_of", "check_where",
    "create_filter_indexes", "parse_region", "run_query", "sample_ids", "sort_positions", "variant_predicate",
]  # fmt: skip
