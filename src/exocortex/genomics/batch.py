"""One batch of an ingest while it is built, and its rows as Arrow tables.

A :class:`Batch` gathers what the readers hand it: allele rows parsed record by record
(:data:`ROW_COLUMNS`, annotations apart), whole runs of rows from the columnar text path
(``pieces``), call columns from :mod:`~exocortex.genomics.calls` (one NumPy array per genotype
flush) and per-sample no-call counts. At commit time it gives the ``variants``, ``calls`` and
``no_calls`` tables: the columns that do not vary per record (key, chrom_norm, source, line,
n_carriers, batch) are derived here per batch with Arrow compute, and GT and zygosity columns are
Arrow ``take`` over small dictionaries, not Python strings. The ``missing_calls`` rows (no-calls and
half calls without an ALT, per allele row) come from both reading paths and are put in (vid, sample)
order here; a record without GT gives one row per allele row with ``sample`` -1.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from exocortex.genomics.schema import (
    ANNOTATIONS,
    CALLS,
    MISSING_CALLS,
    NO_CALLS,
    NO_GT_SAMPLE,
    REF_BLOCKS,
    VARIANTS,
    VID_SOURCE_SHIFT,
    ZYGOSITIES,
)
from exocortex.genomics.schema import normalize_chrom as _normalize_chrom

INT32_MISSING = -(2**31)
"""A missing DP/GQ/AD value in the call arrays (written as null)."""
NO_ANNOTATION: tuple[Any, ...] = (None, None, None, None, None, None, [], [], [], None, None, None, None, None)
"""The :data:`ANN_COLUMNS` of a row without annotations."""
_ZYG = pa.array(ZYGOSITIES, type=pa.string())

ROW_COLUMNS = (
    "vid", "record", "chrom", "pos", "end", "ref", "alt", "allele_index", "n_alts", "vtype", "length",
    "id", "rsid", "qual", "filter", "ac", "an", "af", "info", "clnsig",
)  # fmt: skip
"""What a row of :attr:`Batch.rows` holds; the other VARIANTS columns are derived per batch."""
REF_BLOCK_COLUMNS = ("record", "column", "chrom", "pos", "end", "gt", "gq", "dp", "min_dp")
"""What a reference block row of :attr:`Batch.ref_blocks` holds (``column``: the sample's file column, or None)."""
ANN_COLUMNS = (
    "gene", "consequence", "impact", "transcript", "hgvs_c", "hgvs_p", "genes", "consequences", "impacts", "lof",
    "clinvar_stars", "clnrevstat", "pop_af", "pop_af_source",
)  # fmt: skip
"""The VARIANTS columns from annotations, ClinVar and population fields (record-by-record rows only)."""
ENTRY_COLUMNS = tuple(n for n in ANNOTATIONS.names if n != "batch")
"""What a row of :attr:`Batch.entries` holds (the ``annotations`` table less ``batch``)."""


class AllMissing:
    """A FORMAT column of ``size`` calls that the file does not have (written as nulls)."""

    __slots__ = ("size",)

    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size


def concat_parts(values: list[Any]) -> Any:
    """Concatenated call columns; all-missing FORMAT parts stay one :class:`AllMissing`."""
    if all(isinstance(v, AllMissing) for v in values):
        return AllMissing(sum(v.size for v in values))
    return np.concatenate(
        [np.full(v.size, INT32_MISSING, dtype=np.int32) if isinstance(v, AllMissing) else v for v in values]
    )


def _no_annotations(n: int) -> dict[str, pa.Array]:
    cols: dict[str, pa.Array] = {}
    for name in ANN_COLUMNS:
        f = VARIANTS.field(name)
        if pa.types.is_list(f.type):
            cols[name] = pa.ListArray.from_arrays(np.zeros(n + 1, dtype=np.int32), pa.array([], f.type.value_type))
        else:
            cols[name] = pa.nulls(n, type=f.type)
    return cols


@dataclass
class Batch:
    """The rows, calls and rejects of one batch (``batch_size`` file records at most)."""

    source: int = 0
    line_base: int | None = None  # header lines of a text VCF (line = line_base + record + 1)
    rows: list[tuple[Any, ...]] = field(default_factory=list)  # ROW_COLUMNS
    ann: dict[int, tuple[Any, ...]] = field(default_factory=dict)  # row index -> ANN_COLUMNS, annotated rows only
    entries: list[tuple[Any, ...]] = field(default_factory=list)  # ENTRY_COLUMNS: one per (allele, annotation entry)
    calls: dict[str, list[Any]] = field(default_factory=lambda: {n: [] for n in CALLS.names})
    """Per call column, one NumPy array per genotype flush (:class:`AllMissing` for absent FORMAT fields)."""
    gt_strings: list[pa.Array] = field(default_factory=list)
    rejects: list[tuple[int | None, int, str, str]] = field(default_factory=list)
    records: int = 0
    n_calls: int = 0
    pending: list[tuple[int, int, np.ndarray, Any, Any, Any]] = field(default_factory=list)
    """Genotypes not yet turned into calls: (first vid, n_alts, genotype array, DP, GQ, AD) per record."""
    pending_cells: int = 0
    no_calls: np.ndarray | None = None
    """Per sample column: records of this batch where its GT is missing (``./.``, ``.``)."""
    pieces: list[tuple[pa.Table, int, int]] = field(default_factory=list)
    """Rows of fast text blocks (:mod:`exocortex.genomics.textpath`): (rows, first vid, first record)."""
    ref_blocks: list[tuple[Any, ...]] = field(default_factory=list)
    """gVCF reference blocks read record by record: :data:`REF_BLOCK_COLUMNS` (sample as its file column)."""
    ref_block_pieces: list[tuple[pa.Table, int]] = field(default_factory=list)
    """Reference blocks of fast text blocks: (:data:`REF_BLOCK_COLUMNS` but ``record``, first record)."""

    missing: list[tuple[np.ndarray, np.ndarray, pa.Array]] = field(default_factory=list)
    """``missing_calls`` parts: (vids, sample ids, GT strings)."""
    no_gt_records: int = 0
    """Records of this batch without a GT field (their genotypes are unknown, not missing)."""

    def ref_blocks_table(self, batch: int, sample_ids: np.ndarray) -> pa.Table:
        """The batch's reference blocks (``ref_blocks``), in record order; a file column's sample is
        ``sample_ids[column]`` (a merged sample keeps its id)."""
        fields = [("column", pa.int32()) if c == "column" else REF_BLOCKS.field(c) for c in REF_BLOCK_COLUMNS]
        schema = pa.schema(fields)
        tables = []
        if self.ref_blocks:
            columns = zip(REF_BLOCK_COLUMNS, zip(*self.ref_blocks, strict=True), strict=True)
            tables.append(pa.table({name: pa.array(col, type=schema.field(name).type) for name, col in columns}))
        if self.ref_block_pieces:
            # one concatenation and one cast for every piece (a gVCF gives thousands of short runs)
            pieces = pa.concat_tables([p[0] for p in self.ref_block_pieces])
            counts = np.array([p[0].num_rows for p in self.ref_block_pieces], dtype=np.int64)
            within = np.arange(int(counts.sum()), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
            starts = np.repeat(np.array([p[1] for p in self.ref_block_pieces], dtype=np.int64), counts)
            pieces = pieces.append_column("record", pa.array(starts + within))
            tables.append(pieces.select(list(REF_BLOCK_COLUMNS)).cast(schema))
        if not tables:
            return REF_BLOCKS.empty_table()
        rows = pa.concat_tables(tables).combine_chunks()
        if len(tables) > 1:
            rows = rows.take(pc.sort_indices(rows, [("record", "ascending"), ("column", "ascending")]))
        chrom = pc.dictionary_encode(rows["chrom"].combine_chunks())
        norms = pa.array([_normalize_chrom(c) for c in chrom.dictionary.to_pylist()], type=pa.string())
        n = rows.num_rows
        cols = {name: rows[name] for name in REF_BLOCK_COLUMNS if name != "column"}
        column = rows["column"]
        at = np.asarray(pc.fill_null(column, 0).to_numpy(zero_copy_only=False), dtype=np.int64)
        ids = sample_ids[at] if len(sample_ids) else np.zeros(n, np.int32)
        cols["sample"] = pa.array(ids, pa.int32(), mask=np.asarray(column.is_null().to_numpy(zero_copy_only=False)))
        cols["chrom_norm"] = norms.take(chrom.indices)
        cols["source"] = pa.array(np.full(n, self.source, dtype=np.int32))
        cols["batch"] = pa.array(np.full(n, batch, dtype=np.int64))
        return pa.table({name: cols[name] for name in REF_BLOCKS.names}, schema=REF_BLOCKS)

    def variants_table(self, batch: int) -> pa.Table:
        tables = [self._rows_table()] if self.rows else []
        if self.pieces:
            tables.append(self._pieces_table())
        if not tables:
            return VARIANTS.empty_table()
        rows = pa.concat_tables(tables).combine_chunks() if len(tables) > 1 else tables[0]
        if self.rows and self.pieces:  # record-by-record rows and fast blocks interleave: back to vid order
            rows = rows.take(pc.sort_indices(rows["vid"]))
        n = rows.num_rows
        cols: dict[str, Any] = {name: rows[name] for name in rows.column_names}
        chrom_col = cols["chrom"]
        if isinstance(chrom_col, pa.ChunkedArray):
            chrom_col = chrom_col.combine_chunks()
        chrom = pc.dictionary_encode(chrom_col)
        norms = pa.array([_normalize_chrom(c) for c in chrom.dictionary.to_pylist()], type=pa.string())
        cols["chrom_norm"] = norms.take(chrom.indices)
        cols["key"] = pc.binary_join_element_wise(
            cols["chrom_norm"], pc.cast(cols["pos"], pa.string()), cols["ref"], pc.fill_null(cols["alt"], "."), ":"
        )
        cols["source"] = pa.array(np.full(n, self.source, dtype=np.int32))
        if self.line_base is None:
            cols["line"] = pa.nulls(n, type=pa.int64())
        else:
            cols["line"] = pc.add(cols["record"], self.line_base + 1)
        carriers = np.zeros(n, dtype=np.int32)
        vids = cols["vid"].to_numpy()
        first = int(vids[0])
        if self.calls["vid"] and int(vids[-1]) - first == n - 1:  # vids are contiguous in a batch
            offsets = np.concatenate(self.calls["vid"]) - first
            carriers = np.bincount(offsets, minlength=n).astype(np.int32)
        cols["n_carriers"] = pa.array(carriers)
        cols["batch"] = pa.array(np.full(n, batch, dtype=np.int64))
        return pa.Table.from_arrays([cols[name] for name in VARIANTS.names], schema=VARIANTS)

    def _rows_table(self) -> pa.Table:
        """The record-by-record rows (and their annotations) as a table."""
        cols: dict[str, Any] = {
            name: pa.array(col, type=VARIANTS.field(name).type)
            for name, col in zip(ROW_COLUMNS, zip(*self.rows, strict=True), strict=True)
        }
        n = len(self.rows)
        if self.ann:
            rows = [self.ann.get(r, NO_ANNOTATION) for r in range(n)]
            for name, col in zip(ANN_COLUMNS, zip(*rows, strict=True), strict=True):
                cols[name] = pa.array(col, type=VARIANTS.field(name).type)
        else:
            cols.update(_no_annotations(n))
        return pa.table(cols)

    def _pieces_table(self) -> pa.Table:
        """The fast blocks' rows (:data:`textpath.TEXT_COLUMNS`) with their vids, records and empty annotations."""
        rows = pa.concat_tables([p[0] for p in self.pieces])
        counts = np.array([p[0].num_rows for p in self.pieces], dtype=np.int64)
        n = int(counts.sum())
        within = np.arange(n, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        cols: dict[str, Any] = {
            "vid": pa.array(np.repeat(np.array([p[1] for p in self.pieces], dtype=np.int64), counts) + within),
            "record": pa.array(np.repeat(np.array([p[2] for p in self.pieces], dtype=np.int64), counts) + within),
        }
        for name in ROW_COLUMNS[2:]:
            f = VARIANTS.field(name)
            if name in rows.column_names:
                column = rows[name].combine_chunks()
                cols[name] = column if column.type == f.type else column.cast(f.type)
            else:
                cols[name] = pa.nulls(n, type=f.type)
        cols.update(_no_annotations(n))
        return pa.table(cols)

    def annotations_table(self, batch: int) -> pa.Table:
        """The annotation entries of this batch's alleles, one row each."""
        if not self.entries:
            return ANNOTATIONS.empty_table()
        cols = {
            name: pa.array(col, type=ANNOTATIONS.field(name).type)
            for name, col in zip(ENTRY_COLUMNS, zip(*self.entries, strict=True), strict=True)
        }
        cols["batch"] = pa.array(np.full(len(self.entries), batch, dtype=np.int64))
        return pa.table(cols, schema=ANNOTATIONS)

    def no_calls_table(self, batch: int, sample_ids: np.ndarray) -> pa.Table:
        """No-calls per sample (``sample_ids[column]``), and the records without GT as ``sample`` -1
        (:data:`NO_GT_SAMPLE`)."""
        columns = np.zeros(0, np.int64) if self.no_calls is None else np.flatnonzero(self.no_calls)
        samples = np.asarray(sample_ids, dtype=np.int64)[columns]
        counts = np.zeros(0, np.int64) if self.no_calls is None else self.no_calls[columns]
        if self.no_gt_records:
            samples = np.append(samples, NO_GT_SAMPLE)
            counts = np.append(counts, self.no_gt_records)
        if not samples.size:
            return NO_CALLS.empty_table()
        return pa.table(
            {
                "sample": pa.array(samples, type=pa.int32()),
                "source": pa.array(np.full(samples.size, self.source, dtype=np.int32)),
                "batch": pa.array(np.full(samples.size, batch, dtype=np.int64)),
                "no_calls": pa.array(counts.astype(np.int64)),
            },
            schema=NO_CALLS,
        )

    def add_missing(self, vids: np.ndarray, samples: np.ndarray, gts: pa.Array) -> None:
        """``missing_calls`` rows: (vid, sample id, GT as written) each."""
        if vids.size:
            self.missing.append((vids.astype(np.int64), samples.astype(np.int32), gts))

    def add_no_gt(self, vid0: int, rows: int) -> None:
        """A record without GT: every sample's genotype unknown at its ``rows`` allele rows from ``vid0``."""
        self.no_gt_records += 1
        vids = np.arange(vid0, vid0 + rows, dtype=np.int64)
        self.add_missing(vids, np.full(rows, NO_GT_SAMPLE, np.int32), pa.nulls(rows, pa.string()))

    def missing_table(self, batch: int) -> pa.Table:
        """The batch's ``missing_calls`` rows in (vid, sample) order."""
        if not self.missing:
            return MISSING_CALLS.empty_table()
        vids = np.concatenate([m[0] for m in self.missing])
        samples = np.concatenate([m[1] for m in self.missing])
        gts = pa.concat_arrays([m[2].cast(pa.string()) for m in self.missing])
        order = np.lexsort((samples, vids))
        return pa.table(
            {
                "vid": pa.array(vids[order]),
                "sample": pa.array(samples[order]),
                "gt": gts.take(pa.array(order)),
                "batch": pa.array(np.full(vids.size, batch, dtype=np.int64)),
            },
            schema=MISSING_CALLS,
        )

    def count_no_calls(self, counts: np.ndarray) -> None:
        if self.no_calls is None:
            self.no_calls = np.zeros(counts.size, dtype=np.int64)
        self.no_calls += counts

    def calls_table(self, batch: int) -> pa.Table:
        """The calls, one Arrow chunk per genotype flush (no concatenation copy)."""
        if not self.n_calls:
            return CALLS.empty_table()
        columns: list[pa.ChunkedArray] = []
        for f in CALLS:
            if f.name == "batch":
                chunks = [pa.array(np.full(len(v), batch, dtype=np.int64)) for v in self.calls["vid"]]
            elif f.name == "gt":
                chunks = self.gt_strings
            elif f.name == "zygosity":
                chunks = [_ZYG.take(pa.array(v)) for v in self.calls["zygosity"]]
            elif f.name in ("dp", "gq", "ad_ref", "ad_alt"):
                chunks = [
                    pa.nulls(v.size, type=pa.int32())
                    if isinstance(v, AllMissing)
                    else pa.array(v, type=pa.int32(), mask=v == INT32_MISSING)
                    for v in self.calls[f.name]
                ]
            else:
                chunks = [pa.array(v, type=f.type) for v in self.calls[f.name]]
            columns.append(pa.chunked_array(chunks, type=f.type))
        return pa.Table.from_arrays(columns, schema=CALLS)


def drop_partial(batch: Batch, allele_row: int, record: int) -> None:
    """Undo the variant rows (and reference blocks) a failing record appended before it raised (its
    genotypes are buffered last, in one append, so they are never half there)."""
    mask = (1 << VID_SOURCE_SHIFT) - 1
    while batch.rows and batch.rows[-1][0] & mask >= allele_row:
        batch.rows.pop()
        batch.ann.pop(len(batch.rows), None)
    while batch.entries and batch.entries[-1][0] & mask >= allele_row:
        batch.entries.pop()
    while batch.ref_blocks and batch.ref_blocks[-1][0] >= record:
        batch.ref_blocks.pop()
