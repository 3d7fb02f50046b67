"""Variant filters: a :class:`VariantQuery` of filters becomes one Lance SQL predicate over the
``variants`` table, and ``create_filter_indexes`` adds the scalar indexes those predicates use.

Filters and how they match:

- ``region``: ``chr20:1,000,000-2,000,000``, ``20:1000-2000``, ``chrX:5000`` (one position) or
  ``chrX`` alone; the chromosome is normalized (``schema.normalize_chrom``) so ``chr20`` and
  ``20`` are the same; an allele matches when ``[pos, end]`` overlaps the region (both inclusive).
  Given ``max_span`` (the longest allele in the store, from ``genomics.layout``), a region becomes
  one narrow ``pos`` range (``start - max_span .. end``) and the planner applies the
  ``end >= start`` test in Arrow: Lance would otherwise intersect the near-complete result of an
  ``end`` index range.
- ``gene``, ``consequence``, ``impact`` (one or more of ``HIGH, MODERATE, LOW, MODIFIER``,
  comma-separated, any case) and ``lof`` are about annotation *entries* (VEP/snpEff transcripts,
  ClinVar's gene): they hold together on one and the same entry. One of them alone is exact on
  the variant row's any-entry columns (``genes``, ``consequences``, ``impacts``, ``lof``); two or
  more also need :func:`annotation_predicate` over the ``annotations`` table, whose matching vids
  the planner intersects with the variant-row matches (which still carry each filter alone as a
  necessary condition, so the scalar indexes narrow both sides).
- ``max_pop_af``: the reference-population frequency (``pop_af``, see ``genomics.clinical``); an
  allele without population data never matches it.
- ``filter``: ``PASS``, or one failed filter name among those joined by ``;``.
- ``clnsig``: one ClinVar term (any case), among those joined by ``/``, ``|`` or ``,``.
- ``min_af``/``max_af``/``min_qual``: inclusive bounds; a null AF or QUAL never matches a bound.
- ``where``: a Lance SQL predicate passed through (``af < 0.01 AND vtype = 'SNV'``); a ``;``
  outside a quoted literal is refused (an unknown column or a bad literal is a one-line error
  when the planner runs it).

Bad input (a region that does not parse, an unknown impact, a bad ``--where``) raises
``ConfigError`` (exit 7). ``sample``/``zygosity`` filter the ``calls`` table: the planner
(``genomics.query``) resolves the sample names and joins on vid.

``create_filter_indexes(store_dir)`` adds the scalar indexes these predicates use (BTree on
positions, frequencies and ids, Bitmap on low-cardinality strings, LabelList on the list
columns) and commits the new table versions in the manifest, under the writer lock.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

from exocortex.errors import ConfigError, StoreCorruptError
from exocortex.genomics.schema import IMPACTS, normalize_chrom
from exocortex.genomics.store import genomics_dir, read_manifest, write_manifest

DEFAULT_LIMIT = 20
"""Variants a query returns when it names no ``limit``."""
MAX_POS = 2**62
"""The largest position a region may name: htslib reads text VCF positions as 64-bit (BCF's are 32-bit)."""
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
        raise ConfigError(f"bad region {text!r}: positions are at most {MAX_POS:,} (htslib's 64-bit limit)")
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
    lof: bool = False
    max_pop_af: float | None = None
    min_stars: int | None = None

    def entry_filters(self) -> int:
        """How many filters are about annotation entries (gene, consequence, impact, lof)."""
        return sum(1 for f in (self.gene, self.consequence, self.impact, self.lof or None) if f)


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
        parts.append(f"array_has_any(genes, [{sql_string(query.gene)}])")
    if query.consequence:
        parts.append(f"array_has_any(consequences, [{sql_string(query.consequence)}])")
    if query.impact:
        parts.append(f"array_has_any(impacts, [{', '.join(sql_string(i) for i in _impacts(query.impact))}])")
    if query.lof:
        parts.append("lof = true")
    if query.max_pop_af is not None:
        if not math.isfinite(query.max_pop_af) or query.max_pop_af < 0:
            raise ConfigError(f"--max-pop-af must be a frequency of 0 or more (got {query.max_pop_af})")
        parts.append(f"pop_af <= {float(query.max_pop_af)!r}")
    if query.min_stars is not None:
        if not 0 <= query.min_stars <= 4:
            raise ConfigError(f"--min-stars must be 0 to 4 (ClinVar review stars; got {query.min_stars})")
        parts.append(f"clinvar_stars >= {int(query.min_stars)}")
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


def _impacts(text: str) -> list[str]:
    wanted = [i.strip().upper() for i in text.split(",") if i.strip()]
    unknown = [i for i in wanted if i not in IMPACTS]
    if unknown or not wanted:
        raise ConfigError(f"unknown impact {', '.join(unknown) or text!r} (one of {', '.join(IMPACTS)})")
    return wanted


def annotation_predicate(query: VariantQuery, at_least: int = 2) -> str | None:
    """The ``annotations``-table predicate that makes the entry filters hold on one entry; None
    when fewer than ``at_least`` are given (for selection, one alone is exact on the variant row's
    any-entry columns)."""
    if query.entry_filters() < max(at_least, 1):
        return None
    parts = []
    if query.gene:
        parts.append(f"gene = {sql_string(query.gene)}")
    if query.consequence:
        parts.append(f"array_has_any(consequences, [{sql_string(query.consequence)}])")
    if query.impact:
        parts.append(f"impact IN ({', '.join(sql_string(i) for i in _impacts(query.impact))})")
    if query.lof:
        parts.append("is_lof = true")
    return " AND ".join(parts)


# --- scalar indexes -------------------------------------------------------------------------

FILTER_INDEXES: dict[str, dict[str, str]] = {
    "variants": {
        "vid": "BTREE", "key": "BTREE", "rsid": "BTREE", "chrom_norm": "BITMAP", "pos": "BTREE", "end": "BTREE",
        "vtype": "BITMAP", "af": "BTREE", "qual": "BTREE", "filter": "BITMAP", "gene": "BTREE",
        "consequence": "BITMAP", "impact": "BITMAP", "clnsig": "BITMAP", "genes": "LABEL_LIST",
        "consequences": "LABEL_LIST", "impacts": "LABEL_LIST", "lof": "BITMAP", "pop_af": "BTREE",
        "clinvar_stars": "BITMAP",
    },
    "annotations": {"vid": "BTREE", "gene": "BTREE", "impact": "BITMAP", "consequences": "LABEL_LIST",
                    "is_lof": "BITMAP"},
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
    "DEFAULT_LIMIT", "FILTER_INDEXES", "MAX_POS", "Region", "VariantQuery", "annotation_predicate", "check_where",
    "create_filter_indexes",
    "parse_region", "region_overlap", "sql_string", "variant_predicate",
]  # fmt: skip
