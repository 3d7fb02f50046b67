"""gVCF reference blocks: "was this sample confidently reference here?"

A gVCF writes the stretches where a sample matches the reference as records whose only ALT is
``<NON_REF>`` (GATK) or ``<*>`` (DRAGEN, bcftools), usually with ``INFO/END`` and the block's
``GQ`` and ``MIN_DP``. They are not variants: the ingest stores them in ``ref_blocks`` (one row per
sample), never in ``variants``, so stats, queries and ``pack`` see only real calls. Without them
an absent variant would mean nothing; with them, "no call here, and a 0/0 block with GQ 99 covers
the position" is a confident reference call, and a block of GQ 0 or ``./.`` is not.

:func:`reference_blocks` returns the blocks that overlap a region (``[pos, end]`` against the
region, both inclusive), with their GT, GQ, DP and MIN_DP and the sample's name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from exocortex.genomics.filters import parse_region, sql_string
from exocortex.genomics.query import sample_ids, sample_names
from exocortex.genomics.store import VariantStore

BLOCK_COLUMNS = ["source", "sample", "chrom", "pos", "end", "gt", "gq", "dp", "min_dp"]
DEFAULT_BLOCK_LIMIT = 1000
"""Blocks returned when no limit is given (a whole chromosome of a gVCF holds millions)."""


@dataclass(frozen=True)
class RefBlocksResult:
    rows: pa.Table
    """The returned blocks (:data:`BLOCK_COLUMNS` and ``sample_name``), by chromosome, position and sample."""
    matched: int
    """Blocks overlapping the region (before the limit)."""
    region: str
    incomplete: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "matched": self.matched,
            "returned": self.rows.num_rows,
            "blocks": self.rows.to_pylist(),
            "incomplete": self.incomplete,
        }


def block_predicate(region: str, samples: list[int] | None = None) -> str:
    """The Lance predicate of the blocks overlapping ``region`` (of ``samples``, when given)."""
    r = parse_region(region)
    parts = [f"chrom_norm = {sql_string(r.chrom_norm)}"]
    if r.start is not None and r.end is not None:
        parts.append(f"pos <= {r.end} AND `end` >= {r.start}")
    if samples is not None:
        parts.append(f"sample IN ({', '.join(str(s) for s in samples)})")
    return " AND ".join(parts)


def reference_blocks(
    store_dir: str | Path, region: str, sample: str | None = None, limit: int = DEFAULT_BLOCK_LIMIT
) -> RefBlocksResult:
    """The reference blocks overlapping ``region`` (of ``sample``), at most ``limit``.

    Raises ``ConfigError`` (a bad region), ``NoMatchesError`` (an unknown sample),
    ``IndexNotFoundError`` (nothing ingested). A store without reference blocks answers none.
    """
    store = VariantStore(store_dir)
    store.table("variants")  # IndexNotFoundError when nothing was ingested
    ids = sample_ids(store, sample) if sample is not None else None
    predicate = block_predicate(region, ids)
    rows = store.read("ref_blocks", BLOCK_COLUMNS, where=predicate)  # none in a store without the table
    matched = rows.num_rows
    rows = rows.sort_by([("pos", "ascending"), ("sample", "ascending")]).slice(0, max(limit, 0))
    return RefBlocksResult(
        _with_names(rows, sample_names(store)), matched, region, incomplete=store.incomplete_ingests()
    )


def _with_names(rows: pa.Table, names: dict[int, str]) -> pa.Table:
    """``rows`` with each sample's name beside its id."""
    ids = rows["sample"].to_pylist()
    return rows.append_column("sample_name", pa.array([None if i is None else names.get(i) for i in ids], pa.string()))


__all__ = ["BLOCK_COLUMNS", "DEFAULT_BLOCK_LIMIT", "RefBlocksResult", "block_predicate", "reference_blocks"]
