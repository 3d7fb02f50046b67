"""Files of the same samples merged: one variant row per key, each sample once, each call once.

The same trio split by region, by sample sets, or in two overlapping files must read as one
cohort. Two things make that so:

- samples: a file's sample whose name the store already holds keeps that sample's id
  (:func:`~exocortex.genomics.commit.sample_ids`); ``samples`` keeps one row per file column, so
  a name may have several rows, all with one id;
- sites: per batch, the rows of a new file whose key (``CHROM:POS:REF:ALT``, normalised chromosome)
  the store already holds from another file are not written. Their calls and missing cells are
  attached to the existing row's vid, and a ``merged_sites`` row (vid, source, record) says that
  this file also holds a record there (so its samples read hom-ref there, not absent:
  :mod:`exocortex.genomics.cohort`). The lookup reads, per chromosome of the batch, the rows of
  other files in the batch's position range (the ``pos`` index of earlier ingests serves it); it
  runs only when the store holds other files' rows.

The vid scheme stays ``source << 40 | allele_row``: a merged row's allele row number is simply not
used, so vids of the new file have gaps. ``n_carriers`` of the rows that received calls is counted
again from ``calls`` once the file is done (:meth:`SiteMerger.finish`: those rows are rewritten).

Conflicts. A (vid, sample) the store already has a call or a missing cell for keeps it: the first
file wins, the second file's entry is dropped (never two calls of one sample at one allele). Where
the two differ (another GT, a call against a no-call) it counts as a conflict: the ingest summary
gives the count (``conflicts``) and a warning is logged. A merged record without GT gives per-sample
rows with no GT for the new file's samples only (not the ``sample = -1`` row, which would speak for
the first file's samples too).

What it does not do: the second file's INFO, QUAL, FILTER and annotations of a merged key are not
kept (the first file's row stands); ``--replace`` of a file whose calls were merged into another
file's rows removes them only for samples that the row's own file does not also hold; and replacing
(or re-ingesting) the *first* file of a merged pair deletes its rows with the calls other files
attached to them: ingest those files again too (``--replace``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from exocortex.genomics.filters import sql_string
from exocortex.genomics.schema import MERGED_SITES, NO_GT_SAMPLE, VID_SOURCE_SHIFT
from exocortex.genomics.store import VariantWriter
from exocortex.log import get_logger

RANGE_ROWS_MAX = 4
"""A run of rows to rewrite is read by vid range when the range is at most this many times its rows,
else by ``vid IN (...)``."""
RUN_ROWS = 65_536
"""Rows rewritten per read/delete/append when ``n_carriers`` is counted again (each is a Lance version)."""


def _pair(vid: np.ndarray, sample: np.ndarray, lo: int) -> np.ndarray:
    """One int64 per (vid, sample): the vid counted from ``lo`` (a vid itself takes 40+ bits) and the sample."""
    return ((vid.astype(np.int64) - lo) << 31) | (sample.astype(np.int64) & 0x7FFFFFFF)


class SiteMerger:
    """Merges one file's batches into the rows other files already have (see the module docstring)."""

    def __init__(
        self,
        writer: VariantWriter,
        source: int,
        file_ids: np.ndarray,
        new_from: int,
        state: dict[str, Any],
        active: bool = True,
    ) -> None:
        self.writer = writer
        self.source = source
        self.file_ids = np.asarray(file_ids, dtype=np.int32)
        self.shared = np.unique(self.file_ids[self.file_ids < new_from])  # samples other files also have
        self.active = (
            active
            and "variants" in writer.manifest.tables
            and writer.table("variants").count_rows(f"source != {source}") > 0
        )
        self.merged, self.conflicts = merged_counts(state)  # a resumed file's committed batches count too

    def _existing(self, variants: pa.Table) -> dict[str, int]:
        """key -> the smallest vid other files hold it under, for the keys of ``variants``."""
        found: dict[str, int] = {}
        chrom = variants["chrom_norm"]
        pos = variants["pos"]
        wanted = set(variants["key"].to_pylist())
        for c in pc.unique(chrom).to_pylist():
            at = pc.equal(chrom, c)
            lo, hi = pc.min(pc.filter(pos, at)).as_py(), pc.max(pc.filter(pos, at)).as_py()
            where = f"chrom_norm = {sql_string(c)} AND pos >= {lo} AND pos <= {hi} AND source != {self.source}"
            rows = self.writer.read("variants", ["vid", "key"], where)
            for vid, key in sorted(zip(rows["vid"].to_pylist(), rows["key"].to_pylist(), strict=True)):
                if key in wanted:
                    found.setdefault(key, int(vid))
        return found

    def apply(
        self, variants: pa.Table, calls: pa.Table, missing: pa.Table, number: int
    ) -> tuple[pa.Table, pa.Table, pa.Table, pa.Table | None]:
        """The batch's tables with merged rows left out and their calls and missing cells moved to the
        existing vids (duplicates dropped), and its ``merged_sites`` rows (None: nothing merged)."""
        if not self.active or not variants.num_rows:
            return variants, calls, missing, None
        existing = self._existing(variants)
        if not existing:
            return variants, calls, missing, None
        target = np.array([existing.get(k, -1) for k in variants["key"].to_pylist()], dtype=np.int64)
        hit = target >= 0
        old = variants["vid"].to_numpy()
        moved_from, moved_to = old[hit], target[hit]
        merged = pa.table(
            {
                "vid": pa.array(moved_to),
                "source": pa.array(np.full(moved_to.size, self.source, dtype=np.int32)),
                "record": variants["record"].filter(pa.array(hit)),
                "batch": pa.array(np.full(moved_to.size, number, dtype=np.int64)),
            },
            schema=MERGED_SITES,
        )
        self.merged += int(hit.sum())
        variants = variants.filter(pa.array(~hit))
        order = np.argsort(moved_from)
        moved_from, moved_to = moved_from[order], moved_to[order]
        calls = self._move(calls, moved_from, moved_to)
        missing = self._no_gt_per_sample(self._move(missing, moved_from, moved_to), moved_to)
        calls, missing = self._drop_duplicates(calls, missing, moved_to)
        return variants, calls, missing, merged

    @staticmethod
    def _move(table: pa.Table, moved_from: np.ndarray, moved_to: np.ndarray) -> pa.Table:
        if not table.num_rows:
            return table
        vids = table["vid"].to_numpy()
        at = np.minimum(np.searchsorted(moved_from, vids), max(moved_from.size - 1, 0))
        hit = moved_from[at] == vids
        if not hit.any():
            return table
        new = np.where(hit, moved_to[at], vids)
        return table.set_column(table.schema.get_field_index("vid"), "vid", pa.array(new))

    def _no_gt_per_sample(self, missing: pa.Table, moved_to: np.ndarray) -> pa.Table:
        """A merged record without GT: rows for this file's samples (gt null), not ``sample = -1``."""
        if not missing.num_rows:
            return missing
        sample = missing["sample"].to_numpy()
        lost = (sample == NO_GT_SAMPLE) & np.isin(missing["vid"].to_numpy(), moved_to)
        if not lost.any():
            return missing
        vids = missing["vid"].to_numpy()[lost]
        ids = np.unique(self.file_ids)
        expanded = pa.table(
            {
                "vid": pa.array(np.repeat(vids, ids.size)),
                "sample": pa.array(np.tile(ids, vids.size), pa.int32()),
                "gt": pa.nulls(vids.size * ids.size, pa.string()),
                "batch": pa.array(np.repeat(missing["batch"].to_numpy()[lost], ids.size)),
            },
            schema=missing.schema,
        )
        return pa.concat_tables([missing.filter(pa.array(~lost)), expanded])

    def _drop_duplicates(self, calls: pa.Table, missing: pa.Table, moved_to: np.ndarray) -> tuple[pa.Table, pa.Table]:
        """Leave out the entries of (vid, sample) pairs the store already has (first file wins); count
        the conflicts (the dropped entry said something else)."""
        if not self.shared.size or not moved_to.size:
            return calls, missing
        lo, hi = int(moved_to.min()), int(moved_to.max())
        shared = ", ".join(str(int(s)) for s in self.shared)
        where = f"vid >= {lo} AND vid <= {hi} AND sample IN ({shared})"
        have_calls = self.writer.read("calls", ["vid", "sample", "gt"], where)
        have_missing = self.writer.read("missing_calls", ["vid", "sample", "gt"], where)
        have = pa.concat_tables([have_calls, have_missing])
        if not have.num_rows:
            return calls, missing
        keys = _pair(have["vid"].to_numpy(), have["sample"].to_numpy(), lo)
        gts = dict(zip(keys.tolist(), have["gt"].to_pylist(), strict=True))
        out = []
        for table in (calls, missing):
            if not table.num_rows:
                out.append(table)
                continue
            vids = table["vid"].to_numpy()
            inside = (vids >= lo) & (vids <= hi)  # only there can a pair exist (and _pair not overflow)
            mine = _pair(np.where(inside, vids, lo), table["sample"].to_numpy(), lo)
            dup = inside & np.isin(mine, keys)
            if dup.any():
                new_gt = table["gt"].filter(pa.array(dup)).to_pylist()
                self.conflicts += sum(gts[k] != g for k, g in zip(mine[dup].tolist(), new_gt, strict=True))
                table = table.filter(pa.array(~dup))
            out.append(table)
        return out[0], out[1]

    def finish(self, path: str | Path) -> None:
        """Count ``n_carriers`` again for the rows this file's calls were merged into, and commit."""
        if not self.merged:
            return
        writer = self.writer
        vids = np.unique(writer.read("merged_sites", ["vid"], f"source = {self.source}")["vid"].to_numpy())
        for run in _runs(vids):
            lo, hi = int(run[0]), int(run[-1])
            where = f"vid >= {lo} AND vid <= {hi}"
            if hi - lo + 1 > RANGE_ROWS_MAX * run.size:
                where = f"vid IN ({', '.join(str(int(v)) for v in run)})"
            rows = writer.read("variants", None, where)
            carriers = writer.read("calls", ["vid"], where)["vid"].to_numpy()
            counts = np.bincount(carriers - lo, minlength=hi - lo + 1) if carriers.size else np.zeros(hi - lo + 1)
            n = counts[rows["vid"].to_numpy() - lo].astype(np.int32)
            rows = rows.set_column(rows.schema.get_field_index("n_carriers"), "n_carriers", pa.array(n, pa.int32()))
            writer.delete("variants", where)
            writer.append("variants", rows)
        writer.commit()
        if self.conflicts:
            get_logger(__name__).warning(
                "merged file disagrees with the store: the first file's entries were kept",
                path=str(path),
                conflicts=self.conflicts,
            )


def _runs(vids: np.ndarray) -> list[np.ndarray]:
    """Sorted vids cut into runs of one source and at most :data:`RUN_ROWS`."""
    if not vids.size:
        return []
    cuts = np.flatnonzero(np.diff(vids >> VID_SOURCE_SHIFT) != 0) + 1
    out: list[np.ndarray] = []
    for part in np.split(vids, cuts):
        out.extend(part[i : i + RUN_ROWS] for i in range(0, part.size, RUN_ROWS))
    return out


def merged_counts(state: dict[str, Any]) -> tuple[int, int]:
    """(rows merged, conflicts) recorded in a file's progress entry."""
    return int(state.get("merged", 0)), int(state.get("conflicts", 0))
