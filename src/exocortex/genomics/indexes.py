"""The scalar indexes an ingest builds at its end, and the choices behind them.

:data:`INDEXES` lists them; ``variants.pos`` gets a zone map while every file in the store had
sorted positions (:func:`sorted_after` watches each batch as it is committed), else a B-tree. The
builds are Rust work that releases the GIL: :func:`build_scalar_indexes` overlaps the cheap
:data:`SIDE_INDEXES` with the others. An index is an accelerator: if Lance refuses one, the
committed rows stand without it.
"""

from __future__ import annotations

import contextlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from exocortex.genomics.store import VariantWriter
from exocortex.log import get_logger

SIDE_INDEXES = frozenset({("calls", "vid")})
"""Index builds that run on a side thread while the others are built one at a time: the zone map
on ``calls.vid`` (one pass, no measurable memory on 6M calls) overlaps the ``calls.sample``
B-tree, the longest build of a cohort. Builds on ``variants`` stay one at a time: at 4.8M rows
each takes 15-140 MiB, and overlapping them raised the 16x gVCF's peak by ~100 MiB."""

INDEXES: tuple[tuple[str, str, str], ...] = (
    ("calls", "sample", "BTREE"),
    ("calls", "vid", "ZONEMAP"),
    ("missing_calls", "vid", "ZONEMAP"),
    ("variants", "vid", "ZONEMAP"),
    ("variants", "chrom_norm", "BITMAP"),
    ("variants", "pos", "BTREE"),  # a zone map when the files were sorted: see pos_index_kind
    ("variants", "gene", "BTREE"),
)
"""Scalar indexes built at the end of an ingest: (table, column, index type). ``vid`` is written in
ascending order in both tables, so a zone map does what a B-tree would (measured on 6M calls:
20-vid lookups 11.4 ms against 12.8 ms, build 0.2 s against 1.0 s, no extra memory against
+96 MiB). ``calls.sample`` (thousands of values) takes a B-tree: 1.1 s and +16 MiB on 6M calls
against a bitmap's 1.7 s and +118 MiB, lookups 4.3 against 3.0 ms. A column with no values at
all (``gene`` of an unannotated store) gets no index."""

_SPARSE_INDEXED = frozenset({("variants", "gene")})
"""Indexed columns that are null throughout when no file carried annotations."""


def _has_values(writer: VariantWriter, table: str, column: str) -> bool:
    """Whether ``column`` holds anything but nulls (asked only of :data:`_SPARSE_INDEXED`)."""
    if (table, column) not in _SPARSE_INDEXED:
        return True
    return int(writer.table(table).count_rows(f"{column} IS NOT NULL")) > 0


def pos_index_kind(writer: VariantWriter, all_sorted: bool) -> str:
    """``ZONEMAP`` for ``variants.pos`` while every file in the store had sorted positions
    (``all_sorted``: zones of 8,192 rows then cover narrow position ranges: 1 Mb region queries on
    the 16x gVCF store took 64.5 ms p50 against the B-tree's 71.7, and the build needs no sort),
    else ``BTREE``. A store that once needed a B-tree keeps it."""
    existing = [i.index_type for i in writer.table("variants").list_indices() if i.columns == ["pos"]]
    if existing and "zone" not in existing[0].lower():
        return "BTREE"
    return "ZONEMAP" if all_sorted else "BTREE"


def build_scalar_indexes(writer: VariantWriter, pos_index: str = "BTREE") -> bool:
    """Build :data:`INDEXES` and commit; ``False`` (and nothing committed) if Lance refuses one.

    The builds are Rust work that releases the GIL: the :data:`SIDE_INDEXES` run on a side thread
    while the others run here one by one (Lance rebases index commits on one table onto each other);
    any that did not land is built again alone.
    """
    table, column = "", ""
    try:
        wanted = [
            (t, c, pos_index if (t, c) == ("variants", "pos") else k)
            for t, c, k in INDEXES
            if _has_values(writer, t, c)
        ]
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="vcf-index") as pool:
            side = [pool.submit(writer.create_scalar_index, t, c, k) for t, c, k in wanted if (t, c) in SIDE_INDEXES]
            for t, c, k in wanted:
                if (t, c) not in SIDE_INDEXES:
                    with contextlib.suppress(Exception):  # retried below, where its error counts
                        writer.create_scalar_index(t, c, k)
            for future in side:
                future.exception()
        present = {t: writer.indexed_columns(t) for t in {t for t, _, _ in INDEXES}}
        for table, column, kind in wanted:
            if column not in present[table]:  # (an empty or absent table is skipped there)
                writer.create_scalar_index(table, column, kind)
    except Exception as exc:  # an index is an accelerator: the committed rows stand without it
        get_logger(__name__).warning("scalar index not built", table=table, column=column, error=str(exc))
        return False
    writer.commit()
    return True


def sorted_after(variants: pa.Table, state: dict[str, Any]) -> bool:
    """Whether ``variants`` keep positions non-decreasing within each chromosome run, after the
    last row of the previous batch (``state["last"]``, updated here)."""
    n = variants.num_rows
    if n == 0:
        return True
    chrom = variants["chrom"]
    pos = variants["pos"].to_numpy()
    first_chrom, last_chrom = chrom[0].as_py(), chrom[n - 1].as_py()
    last = state.get("last")
    ok = not (last is not None and last[0] == first_chrom and pos[0] < last[1])
    if ok and n > 1:
        same = pc.equal(chrom.slice(1), chrom.slice(0, n - 1)).to_numpy(zero_copy_only=False)
        ok = not bool(np.any(same & (pos[1:] < pos[:-1])))
    state["last"] = [last_chrom, int(pos[-1])]
    return ok
