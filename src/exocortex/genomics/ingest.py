"""Stream VCF/BCF files into the variant store: one row per ALT allele, non-reference calls only.

This module runs an ingest: each file is read in batches and each batch committed, then the
scalar indexes are built. The steps live beside it:

- :mod:`~exocortex.genomics.convert` turns a cyvcf2 record into allele rows (per-allele INFO,
  annotations) and :mod:`~exocortex.genomics.calls` its genotypes into call rows, both into a
  :class:`~exocortex.genomics.batch.Batch`, which gives the batch's Arrow tables;
- :mod:`~exocortex.genomics.commit` commits batches through the manifest, and says where a file
  starts (a duplicate refused, an interrupted ingest resumed);
- :mod:`~exocortex.genomics.rejects` keeps the records that were not stored, with their reasons;
- :mod:`~exocortex.genomics.indexes` builds the scalar indexes at the end.

Reading. Text VCF (plain, BGZF, plain gzip) goes through the columnar path of
:mod:`~exocortex.genomics.textpath` first: whole blocks of lines are tokenized with NumPy and
turned into rows with Arrow compute, and only the lines it does not take (several ALTs,
annotations, FORMAT fields beyond GT on a carrier, anything unusual) are parsed one by one by
htslib (``Writer.variant_from_string``) and the record converter. A file whose first block is
mostly such lines, and every BCF, is read record by record through cyvcf2 instead. Both ways give
the same rows (``tests/test_vcf_textpath.py``). An ``http(s)://`` URL is hashed by one streamed
pass (:func:`~exocortex.genomics.reader.inspect_file`), then read the same way: text blocks
streamed by ``urllib``, a BCF (and the lines the columnar path leaves) by htslib, which reads URLs
through libcurl. Nothing is downloaded to disk.

With a reference (``fasta``, ``vcf ingest --fasta``), every file is first checked against it in
one pass (:func:`check_reference`: a contig it lacks or a REF that differs from its bases is a
``VcfFormatError`` naming the first, before anything is written), then indels are left-aligned on it
as they are converted; the columnar path leaves indel lines to the record converter.

gVCF reference blocks (records whose only ALTs are ``<NON_REF>``/``<*>``) are stored in
``ref_blocks``, not ``variants``: they consume a record but no allele row (``FileSummary.ref_blocks``
counts them).

Batches. A batch holds ``batch_size`` file records (default :data:`DEFAULT_BATCH_RECORDS`) and
ends early at :data:`MAX_BATCH_CALLS` call rows. Its appends and commit run on a worker thread
while the next batch is read; batch N+1's rejects may reach the rejects file before batch N
commits: a resume truncates them away. ``resume=True`` continues from the committed progress: it
skips the committed records without processing them and numbers allele rows from the committed
count, so ``vid`` (``make_vid(source, allele_row)``) is the same as in a clean ingest.

Merging. A file whose samples or sites the store already holds from other files joins them
(:mod:`~exocortex.genomics.merge`): a known sample name keeps its sample id, a key another file
holds keeps its one row and receives this file's calls (``merge=False`` keeps files apart).

Rejects. A record htslib cannot parse, or that has no REF, is not stored: it goes to the rejects
file and is counted in the summary; every other record is kept. A line that cannot be a record by
its shape (empty, fewer than 8 tab-separated columns, columns separated by spaces, a second
``#CHROM`` or other header line among the records) is rejected with that reason
(:func:`~exocortex.genomics.reader.record_line_problem`): on the columnar path before htslib sees
it, on the record-by-record path when cyvcf2 hands it over as a record without alleles, whose REF
it would read through a null pointer. htslib's own stderr messages are silenced (``--debug`` shows
them). :data:`MAX_CONSECUTIVE_ERRORS` unreadable records in a row mean a damaged file. File-level
problems (empty, not VCF, no header, truncated gzip) raise ``VcfFormatError`` before anything is
written (:mod:`exocortex.genomics.reader`).

Memory. The cyclic GC is off during a file (a batch is freed by reference counting; one
young-generation collection runs per batch), and freed memory is handed back to the OS after every
batch and before the index builds (:func:`~exocortex.memory.heap.release_freed_memory`: the
builds' peak is then the larger of the two, not their sum). Memory is bounded by two batches (one
being built, one being written): nothing holds the whole file.

Throughput: see ``docs/benchmarks.md`` (section genomics, ``benchmarks/genomics/run.py``).
"""

from __future__ import annotations

import contextlib
import gc
import math
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc

from exocortex.errors import ConfigError, VcfFormatError
from exocortex.genomics import textpath
from exocortex.genomics.batch import Batch, drop_partial
from exocortex.genomics.calls import GENOTYPE_CHUNK_CELLS
from exocortex.genomics.commit import (
    BatchCommitter,
    ProgressFn,
    claim_source,
    new_progress,
    sample_ids,
    samples_table,
    sources_row,
)
from exocortex.genomics.convert import RecordConverter, Reject
from exocortex.genomics.fasta import IndexedFasta, reference_record
from exocortex.genomics.indexes import build_scalar_indexes, pos_index_kind, sorted_after
from exocortex.genomics.merge import SiteMerger
from exocortex.genomics.normalize import ref_mismatch
from exocortex.genomics.reader import (
    FileInfo,
    allele_less_problem,
    inspect_file,
    iter_records,
    open_vcf,
    record_line_problem,
)
from exocortex.genomics.rejects import fill_raw_lines, rejects_path, truncate_rejects, write_rejects
from exocortex.genomics.schema import make_vid
from exocortex.genomics.store import VariantWriter
from exocortex.genomics.textpath import Block, BlockParser, TextBlocks
from exocortex.memory.heap import release_freed_memory

__all__ = ["DEFAULT_BATCH_RECORDS", "FileSummary", "IngestSummary", "ProgressFn", "default_store", "ingest_vcf"]

DEFAULT_BATCH_RECORDS = 50_000
"""Records per committed batch (``--batch-size``)."""
MAX_BATCH_CALLS = 2_000_000
"""A batch also ends once it holds this many call rows (wide cohorts)."""
MAX_CONSECUTIVE_ERRORS = 10_000
"""This many unparseable records in a row means the file, not a record, is broken."""


@dataclass(frozen=True)
class FileSummary:
    path: str
    source: int
    sha256: str
    format: str
    records: int
    alleles: int
    calls: int
    samples: int
    rejected: int
    seconds: float
    resumed_from: int = 0  # records skipped because an earlier run had committed them
    rejects_path: str | None = None
    columnar: int = 0  # records the columnar text path read whole (the rest went through htslib one by one)
    ref_blocks: int = 0  # gVCF reference block rows stored (``ref_blocks``), not variants
    sorted: bool = True  # positions never go back within a chromosome
    merged: int = 0  # allele rows whose key the store already held from another file: calls attached there
    conflicts: int = 0  # (allele, sample) entries of this file dropped because the store said otherwise

    @property
    def records_per_s(self) -> float:
        done = self.records - self.resumed_from
        return done / self.seconds if self.seconds > 0 else 0.0

    @property
    def calls_per_s(self) -> float:
        return self.calls / self.seconds if self.seconds > 0 else 0.0

    @property
    def alleles_per_s(self) -> float:
        """Variant (allele) rows written per second."""
        return self.alleles / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["records_per_s"] = round(self.records_per_s, 1)
        d["alleles_per_s"] = round(self.alleles_per_s, 1)
        d["calls_per_s"] = round(self.calls_per_s, 1)
        return d


@dataclass(frozen=True)
class IngestSummary:
    store: str
    files: tuple[FileSummary, ...]
    seconds: float
    indexed: bool = False

    def _sum(self, name: str) -> int:
        return sum(int(getattr(f, name)) for f in self.files)

    @property
    def records(self) -> int:
        return self._sum("records")

    @property
    def alleles(self) -> int:
        return self._sum("alleles")

    @property
    def calls(self) -> int:
        return self._sum("calls")

    @property
    def samples(self) -> int:
        return self._sum("samples")

    @property
    def rejected(self) -> int:
        return self._sum("rejected")

    @property
    def ref_blocks(self) -> int:
        return self._sum("ref_blocks")

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "store": self.store,
            "records": self.records,
            "alleles": self.alleles,
            "calls": self.calls,
            "samples": self.samples,
            "rejected": self.rejected,
            "ref_blocks": self.ref_blocks,
            "seconds": round(self.seconds, 3),
            "records_per_s": round(self.records_per_s, 1),
            "indexed": self.indexed,
            "files": [f.to_dict() for f in self.files],
        }


def default_store() -> Path:
    return Path(os.environ.get("EXOCORTEX_STORE") or ".exocortex")


def ingest_vcf(
    paths: Sequence[str | Path] | str | Path,
    store: str | Path | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_RECORDS,
    resume: bool = False,
    replace: bool = False,
    build_indexes: bool = True,
    lock_wait_s: float = 0.0,
    progress: ProgressFn | None = None,
    after_commit: Callable[[int], None] | None = None,
    fast_text: bool = True,
    fasta: str | Path | None = None,
    merge: bool = True,
) -> IngestSummary:
    """Stream VCF/BCF ``paths`` into the variant store at ``store``; see the module docstring.

    ``fasta``: an indexed plain FASTA of the reference the files were called on; indels are
    left-aligned on it, after every file was checked against it (a contig it lacks, a REF that
    differs from its bases: ``VcfFormatError`` naming the first, before anything is written).

    ``after_commit(batch)`` runs after every committed batch but the last (tests use it to
    simulate a crash). ``fast_text=False`` reads text VCF record by record through htslib only, as
    BCF always is (the reference :mod:`~exocortex.genomics.textpath` is tested against).
    ``merge=False`` keeps each file apart, as ingests did before files were merged: its samples get
    ids of their own and a key another file holds gets a second row (:mod:`~exocortex.genomics.merge`).
    Raises ``InputPathError``, ``VcfFormatError``, ``DuplicateSourceError``,
    ``StoreLockedError``.
    """
    if isinstance(paths, str | Path):
        paths = [paths]
    if batch_size < 1:
        raise ConfigError(f"--batch-size must be at least 1 (got {batch_size})")
    if not (lock_wait_s >= 0 and math.isfinite(lock_wait_s)):  # nan fails the first test
        raise ConfigError(f"--wait must be 0 or more seconds (got {lock_wait_s})")
    store_dir = Path(store) if store is not None else default_store()
    started = time.perf_counter()
    infos = [inspect_file(p) for p in paths]  # every file-level problem before anything is written
    summaries: list[FileSummary] = []
    indexed = False
    with contextlib.ExitStack() as stack:
        reference = None
        if fasta is not None:
            reference = stack.enter_context(IndexedFasta(fasta))
            for info in infos:
                check_reference(info, reference)
        writer = stack.enter_context(VariantWriter(store_dir, lock_wait_s=lock_wait_s))
        for info in infos:
            summaries.append(
                _ingest_file(
                    writer,
                    info,
                    batch_size=batch_size,
                    resume=resume,
                    replace=replace,
                    progress=progress,
                    after_commit=after_commit,
                    fast_text=fast_text,
                    fasta=reference,
                    merge=merge,
                )
            )
        if build_indexes:
            gc.collect()
            release_freed_memory()
            all_sorted = all(f.sorted for f in summaries)
            indexed = build_scalar_indexes(writer, pos_index=pos_index_kind(writer, all_sorted))
    return IngestSummary(
        store=str(store_dir), files=tuple(summaries), seconds=time.perf_counter() - started, indexed=indexed
    )


def _ingest_file(
    writer: VariantWriter,
    info: FileInfo,
    *,
    batch_size: int,
    resume: bool,
    replace: bool,
    progress: ProgressFn | None,
    after_commit: Callable[[int], None] | None,
    fast_text: bool = True,
    fasta: IndexedFasta | None = None,
    merge: bool = True,
) -> FileSummary:
    """One file: claim its source, read and commit it batch by batch, then fill in its rejects."""
    started = time.perf_counter()
    rejects = rejects_path(writer.store_dir, info)
    source, state = claim_source(writer, info, rejects, resume=resume, replace=replace)
    vcf = open_vcf(info)
    committer = BatchCommitter(writer, source, info.location, progress)
    # The cyclic GC would walk every buffered row tuple again and again (they are all young);
    # a batch is freed by reference counting, so collect once per batch instead.
    gc_enabled = gc.isenabled()
    gc.disable()
    try:
        names = list(vcf.samples)
        if state is None:
            state = new_progress(writer, info, len(names))
            rejects.unlink(missing_ok=True)
        else:
            truncate_rejects(rejects, int(state["rejects_bytes"]))
        reading = _FileIngest(
            vcf, info, source, state, names, rejects, committer, batch_size, after_commit, fasta, merge
        )
        reading.read(fast_text)
        reading.flush(final=True)
        reading.merger.finish(info.path)
    finally:
        committer.close()
        vcf.close()
        if gc_enabled:
            gc.enable()
    rejected = int(state["rejected"])
    if rejected:
        fill_raw_lines(rejects, info)
    return FileSummary(
        path=info.location,
        source=source,
        sha256=info.sha256,
        format=info.format,
        records=int(state["records"]),
        alleles=int(state["alleles"]),
        calls=int(state["calls"]),
        samples=len(names),
        rejected=rejected,
        seconds=time.perf_counter() - started,
        resumed_from=reading.resumed_from,
        rejects_path=str(rejects) if rejected else None,
        columnar=reading.columnar,
        ref_blocks=int(state.get("ref_blocks", 0)),
        sorted=not state.get("unsorted", False),
        merged=reading.merger.merged,
        conflicts=reading.merger.conflicts,
    )


class _FileIngest:
    """The reading of one file: records into the current batch, each full batch handed to the committer.

    ``state`` is the file's progress entry (the committed one when resuming), updated at every
    batch; ``record`` is the index of the last record read, ``allele_row`` the next allele row.
    """

    def __init__(
        self,
        vcf: Any,
        info: FileInfo,
        source: int,
        state: dict[str, Any],
        names: list[str],
        rejects: Path,
        committer: BatchCommitter,
        batch_size: int,
        after_commit: Callable[[int], None] | None,
        fasta: IndexedFasta | None = None,
        merge: bool = True,
    ) -> None:
        self.vcf = vcf
        self.reference = None if fasta is None else reference_record(fasta)
        self.info = info
        self.source = source
        self.state = state
        self.names = names
        self.rejects = rejects
        self.committer = committer
        self.batch_size = batch_size
        self.after_commit = after_commit
        base = int(state["sample_base"])
        if merge:
            self.sample_ids = sample_ids(committer.writer, names, source, base)
        else:
            self.sample_ids = np.arange(base, base + len(names), dtype=np.int32)
        self.converter = RecordConverter(vcf, source, self.sample_ids, info, fasta)
        self.merger = SiteMerger(committer.writer, source, self.sample_ids, base, state, active=merge)
        self.errors: list[str] = []  # htslib's messages, the last one about the record just refused
        self.batch = Batch(source=source, line_base=info.header_lines)
        self.record = -1
        self.allele_row = int(state["alleles"])
        self.consecutive_errors = 0
        self.resumed_from = self.skip = int(state["records"])  # resuming: committed records are passed over
        self.columnar = 0  # records the columnar text path read whole

    def read(self, fast_text: bool) -> None:
        """Every record of the file, columnar text blocks first where the file allows."""
        info = self.info
        by_record = not fast_text or info.format == "bcf"  # else only if the first text block says so
        if not by_record:
            by_record = self._read_text_blocks()
        if by_record:
            self._read_records()

    def _read_text_blocks(self) -> bool:
        """Read the file as text blocks; ``True`` when its first block says to read record by record instead."""
        text_blocks = TextBlocks(self.info)
        try:
            converter = self.converter
            left_align = converter.fasta is not None
            parser = BlockParser(converter.info_specs, converter.n_samples, converter.format_types, left_align)
            from cyvcf2 import Writer

            line_reader = Writer.from_string(os.devnull, self.vcf.raw_header)
            first_block = True
            for data in text_blocks:
                block = parser.parse(data)
                if first_block and block.lines and block.fast.mean() < textpath.MIN_FAST_SHARE:
                    return True  # mostly lines the fast path leaves to htslib: read record by record
                first_block = False
                self._consume_block(block, line_reader.variant_from_string)
        finally:
            text_blocks.close()
        return False

    def _read_records(self) -> None:
        """Read the file record by record through cyvcf2."""
        for v in iter_records(self.vcf, self.errors):
            self.record += 1
            if self.record < self.skip:
                continue
            self._consume(v)
            if self._batch_full():
                self.flush(final=False)

    def _batch_full(self) -> bool:
        return self.batch.records >= self.batch_size or self.batch.n_calls >= MAX_BATCH_CALLS

    def _consume(self, v: Any, problem: str | None = None) -> None:
        """One record (``None``: not parsed, the reason is ``problem`` or htslib's ``errors[-1]``)."""
        info, batch, record = self.info, self.batch, self.record
        line = None if info.header_lines is None else info.header_lines + record + 1
        if v is None:
            self.consecutive_errors += 1
            if self.consecutive_errors >= MAX_CONSECUTIVE_ERRORS:
                raise VcfFormatError(
                    f"{info.location}: {self.consecutive_errors} unreadable records in a row at record {record}: "
                    "the file is damaged"
                )
            reason = problem or f"htslib could not parse the record: {self.errors[-1]}"
            batch.rejects.append((line, record, reason, ""))
        else:
            self.consecutive_errors = 0
            try:
                self.allele_row += self.converter.add(v, record, self.allele_row, batch)
            except Exception as exc:  # a record cyvcf2 parsed but we cannot store
                drop_partial(batch, self.allele_row, record)
                raw = "" if line is not None else _safe_str(v)
                reason = str(exc) if isinstance(exc, Reject) else f"{type(exc).__name__}: {exc}"
                batch.rejects.append((line, record, reason, raw))
        batch.records += 1

    def _consume_block(self, block: Block, parse_line: Callable[[str], Any]) -> None:
        """Every line of a parsed text block: fast runs as whole tables, slow lines one by one."""
        converter = self.converter
        fast_row = block.row_of_line  # line -> its row in block.rows
        call_row = None if block.has_calls is None else np.cumsum(block.has_calls) - 1
        step = max(1, GENOTYPE_CHUNK_CELLS // max(converter.n_samples, 1))
        skip = self.skip
        i, n = 0, block.lines
        while i < n:
            if self.record + 1 < skip:  # resuming: committed records are passed over
                jump = min(n - i, skip - self.record - 1)
                self.record += jump
                i += jump
                continue
            batch = self.batch
            j = min(n, i + self.batch_size - batch.records, i + step)
            fast = block.fast[i:j]
            kind = fast.view(np.int8)  # 0 slow, 1 fast, 2 fast reference block
            if block.ref_block_line is not None:
                kind = kind + block.ref_block_line[i:j].view(np.int8)
            cuts = [0, *(np.flatnonzero(np.diff(kind)) + 1).tolist(), j - i]
            for a, b in zip(cuts[:-1], cuts[1:], strict=False):
                if kind[a] == 2:
                    assert fast_row is not None and block.ref_blocks is not None and block.ref_block_of_row is not None
                    f0, count = int(fast_row[i + a]), b - a
                    r0 = int(block.ref_block_of_row[f0])
                    batch.ref_block_pieces.append((block.ref_blocks.slice(r0, count), self.record + 1))
                    if block.no_call_line is not None and block.no_call_line.size:
                        batch.count_no_calls(block.no_calls(f0, f0 + count, converter.n_samples))
                    self.record += count
                    batch.records += count
                    self.columnar += count
                elif fast[a]:
                    assert fast_row is not None
                    f0, count = int(fast_row[i + a]), b - a
                    vid0 = make_vid(self.source, self.allele_row)
                    assert block.rows is not None
                    batch.pieces.append((block.rows.slice(f0, count), vid0, self.record + 1))
                    if block.no_call_line is not None and block.no_call_line.size:
                        batch.count_no_calls(block.no_calls(f0, f0 + count, converter.n_samples))
                        rows, columns, gts = block.missing(f0, f0 + count)  # one allele row per fast line
                        batch.add_missing(vid0 + (rows - f0), self.sample_ids[columns], gts)
                    if call_row is not None and block.genotypes is not None:
                        with_calls = np.flatnonzero(block.has_calls[f0 : f0 + count])  # type: ignore[index]
                        if with_calls.size:
                            r0 = int(call_row[f0 + with_calls[0]])
                            cells = block.genotypes
                            part = cells.lines(r0, r0 + with_calls.size)  # call rows are consecutive here
                            converter.calls.block_calls(batch, vid0 + with_calls, cells.part(part, r0))
                    self.allele_row += count
                    self.record += count
                    batch.records += count
                    self.columnar += count
                else:
                    for line in range(i + a, i + b):
                        self.record += 1
                        text = block.line_text(line)
                        problem = record_line_problem(text)  # not a record: htslib never sees it
                        v = None
                        if problem is None:
                            try:
                                v = parse_line(text)
                            except Exception as exc:
                                self.errors.append(_parse_error(exc))
                        self._consume(v, problem)
            i = j
            if self._batch_full():
                self.flush(final=False)

    def flush(self, final: bool) -> None:
        """Hand the current batch to the committer and start the next (``final``: the file's last)."""
        state, batch = self.state, self.batch
        number = int(state["batch"]) + 1
        self.converter.calls.flush_genotypes(batch)
        variants = batch.variants_table(number)
        if not sorted_after(variants, state):
            state["unsorted"] = True
        calls = batch.calls_table(number)
        missing = batch.missing_table(number)
        variants, calls, missing, merged = self.merger.apply(variants, calls, missing, number)
        annotations = batch.annotations_table(number)
        if annotations.num_rows and merged is not None and merged.num_rows:  # rows merged into another file's
            annotations = annotations.filter(pc.is_in(annotations["vid"], variants["vid"]))
        samples = None
        if number == 0 and self.names:
            samples = samples_table(self.names, self.sample_ids, self.source)
        if batch.rejects:
            # Written (and fsynced) before this batch's commit; a crash before the commit leaves
            # extra lines that a resume truncates away (rejects_bytes of the committed batch).
            state["rejects_bytes"] = write_rejects(self.rejects, batch.rejects)
        state["batch"] = number
        state["records"] = self.record + 1
        state["alleles"] = self.allele_row
        state["calls"] = int(state["calls"]) + batch.n_calls
        state["rejected"] = int(state["rejected"]) + len(batch.rejects)
        state["merged"], state["conflicts"] = self.merger.merged, self.merger.conflicts
        sources = None
        if final:
            info = self.info
            header = info.header if info.header is not None else self.vcf.raw_header
            sources = sources_row(info, self.source, header, len(self.names), state, self.reference)
        no_calls = batch.no_calls_table(number, self.sample_ids)
        ref_blocks = batch.ref_blocks_table(number, self.sample_ids)
        state["ref_blocks"] = int(state.get("ref_blocks", 0)) + ref_blocks.num_rows
        self.committer.submit(
            variants, calls, no_calls, annotations, samples, sources, state, ref_blocks, missing=missing,
            merged=merged,
        )  # fmt: skip
        self.batch = Batch(source=self.source, line_base=self.info.header_lines)
        gc.collect(1)
        release_freed_memory()
        if final or self.after_commit is not None:
            self.committer.wait()
        if self.after_commit is not None and not final:
            self.after_commit(number)


def check_reference(info: FileInfo, fasta: IndexedFasta) -> None:
    """Raise ``VcfFormatError`` at the first record of ``info`` whose contig ``fasta`` lacks or whose
    REF differs from its bases: a file called on another assembly (one pass, before any write)."""
    chrom_seen = None
    for chrom, pos, ref in _refs(info):
        if chrom != chrom_seen:
            if chrom not in fasta:
                names = ", ".join(list(fasta.entries)[:5]) + (", ..." if len(fasta.entries) > 5 else "")
                raise VcfFormatError(
                    f"{info.path}: contig {chrom} (first at {chrom}:{pos}) is not in the FASTA {fasta.path} "
                    f"({len(fasta.entries)} sequences: {names}): nothing was ingested"
                )
            chrom_seen = chrom
        if fasta.fetch(chrom, pos - 1, pos - 1 + len(ref)) == ref:
            continue  # the usual case: upper-case bases that match
        bases = ref_mismatch(fasta, chrom, pos, ref)
        if bases is not None:
            raise VcfFormatError(
                f"{info.path}: REF at {chrom}:{pos} is {_short(ref)} but the FASTA {fasta.path} has "
                f"{_short(bases) or 'nothing (past the end of ' + chrom + ')'}: is it the assembly the file "
                "was called on? Nothing was ingested"
            )


def _refs(info: FileInfo) -> Iterator[tuple[str, int, str]]:
    """(CHROM, POS, REF) of every record that has them. Text VCF is split by hand (a record whose
    POS is not a number or whose REF is not plain bases is a reject of the ingest, not checked
    here): four times faster than htslib's full parse; BCF is read through cyvcf2."""
    if info.format == "bcf":
        vcf = open_vcf(info)
        try:
            for v in iter_records(vcf, []):
                if v is None or not v.CHROM:
                    continue  # unparseable: a reject of the ingest
                if not v.ALT and allele_less_problem(v) is not None:
                    continue  # not a record (a reject): its REF must not be read
                ref = v.REF
                if ref and ref != ".":
                    yield v.CHROM, v.start + 1, ref
        finally:
            vcf.close()
        return
    blocks = TextBlocks(info)
    try:
        last_raw, last_chrom = b"", ""
        for data in blocks:
            for line in data.split(b"\n"):
                if not line or line[0] == 35:  # '#'
                    continue
                parts = line.split(b"\t", 4)
                if len(parts) < 5 or not parts[1].isdigit() or not parts[3] or parts[3].strip(_BASES):
                    continue
                raw = parts[0]
                if raw != last_raw:
                    last_raw, last_chrom = raw, raw.decode("utf-8", "replace")
                yield last_chrom, int(parts[1]), parts[3].decode("ascii")
    finally:
        blocks.close()


_BASES = b"ACGTNacgtn"


def _short(bases: str, most: int = 20) -> str:
    return bases if len(bases) <= most else f"{bases[:most]}... ({len(bases)} bases)"


def _parse_error(exc: Exception) -> str:
    """htslib's reason for refusing a line, without the line (cyvcf2 says "error parsing: LINE (why)")."""
    text = str(exc)
    if text.startswith("error parsing:") and text.endswith(")") and "(" in text:
        return text[text.rindex("(") + 1 : -1]
    return text or type(exc).__name__


def _safe_str(v: Any) -> str:
    try:
        return str(v).rstrip("\n")
    except Exception:
        return ""
