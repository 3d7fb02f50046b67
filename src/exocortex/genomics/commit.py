"""Committing an ingest's batches through the manifest, and where a file's ingest starts again.

Records are gathered into batches of ``batch_size`` records (counted in *file records*, so a
resume can skip an exact number of records; a batch also ends early at a number of call rows, to
bound memory on wide cohorts). A batch is appended to ``variants``, ``calls`` and ``no_calls``
(one Lance version each), its rejects are appended to the rejects file and fsynced, and then the
manifest is replaced naming the new table versions and ``progress[source]`` = {batch, records
consumed, allele rows, calls, rejected, rejects file size, first sample id}. That replacement is
the commit: a crash at any earlier point leaves the previous commit in force, and the next writer
rolls the tables back to it (:class:`~exocortex.genomics.store.VariantWriter`). The ``sources``
row is written (and ``progress`` cleared) in the last commit: only a finished file counts as
ingested.

Where a file starts (:func:`claim_source`): a file whose sha256 is already a source is refused
(``DuplicateSourceError``) unless it is replaced; an interrupted ingest of it is continued from its
``progress`` entry with ``resume``, else deleted and started over.

Writes (:class:`BatchCommitter`). The Lance appends and the manifest commit of batch N run on one
worker thread (the Rust writer releases the GIL) while the main thread reads batch N+1; commits
stay in batch order, at most one is in flight, and a failure surfaces at the next batch.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from exocortex.errors import DuplicateSourceError
from exocortex.genomics.reader import FileInfo
from exocortex.genomics.schema import SAMPLES, SOURCES, VID_SOURCE_SHIFT
from exocortex.genomics.store import VariantWriter

ProgressFn = Callable[[str, int], None]
"""Called with (file path, records consumed) after each committed batch."""


def _source_rows(writer: VariantWriter) -> pa.Table:
    """The committed sources: number, content hash, path."""
    return writer.read("sources", columns=["source", "sha256", "path"])


def _delete_source(writer: VariantWriter, source: int) -> None:
    """Delete every row of ``source`` (committed by the next ``writer.commit``)."""
    lo, hi = source << VID_SOURCE_SHIFT, (source + 1) << VID_SOURCE_SHIFT
    writer.delete("variants", f"source = {source}")
    writer.delete("calls", f"vid >= {lo} AND vid < {hi}")
    writer.delete("samples", f"source = {source}")
    writer.delete("no_calls", f"source = {source}")
    writer.delete("annotations", f"vid >= {lo} AND vid < {hi}")
    writer.delete("ref_blocks", f"source = {source}")
    writer.delete("missing_calls", f"vid >= {lo} AND vid < {hi}")
    _delete_merged(writer, source)
    # other files' records merged into this file's rows lose their row (and the calls on it) with it
    writer.delete("merged_sites", f"vid >= {lo} AND vid < {hi}")
    writer.delete("sources", f"source = {source}")


def _delete_merged(writer: VariantWriter, source: int) -> None:
    """The calls and missing cells ``source`` attached to other files' rows (``genomics/merge.py``), for
    its samples that the row's own file does not also hold, and its ``merged_sites`` rows."""
    merged = writer.read("merged_sites", ["vid"], f"source = {source}")["vid"].to_numpy()
    if merged.size:
        samples = writer.read("samples", ["sample", "source"])
        ids = np.asarray(samples["sample"].to_numpy(), dtype=np.int64)
        sources = np.asarray(samples["source"].to_numpy(), dtype=np.int64)
        mine = set(ids[sources == source].tolist())
        for owner in np.unique(merged >> VID_SOURCE_SHIFT).tolist():
            only = sorted(mine - set(ids[sources == owner].tolist()))
            vids = merged[(merged >> VID_SOURCE_SHIFT) == owner]
            if not only:
                continue
            for start in range(0, vids.size, 2_000):
                part = ", ".join(str(int(v)) for v in vids[start : start + 2_000])
                where = f"vid IN ({part}) AND sample IN ({', '.join(map(str, only))})"
                writer.delete("calls", where)
                writer.delete("missing_calls", where)
    writer.delete("merged_sites", f"source = {source}")


def _next_id(values: Iterable[int]) -> int:
    """One past the largest id in use (1 for none)."""
    return max(values, default=0) + 1


def claim_source(
    writer: VariantWriter, info: FileInfo, rejects: Path, *, resume: bool, replace: bool
) -> tuple[int, dict[str, Any] | None]:
    """The source number ``info`` is ingested as, and the committed progress to resume from (``None``:
    start at the first record). Rows of an earlier ingest of the same content are deleted (and that
    deletion committed) when ``replace``, or an interrupted one when not ``resume``."""
    sources = _source_rows(writer)
    done = [
        s for s, h in zip(sources["source"].to_pylist(), sources["sha256"].to_pylist(), strict=True) if h == info.sha256
    ]
    pending = {k: p for k, p in writer.manifest.progress.items() if p.get("sha256") == info.sha256}
    state: dict[str, Any] | None = None
    source: int | None = None
    if done:
        if not replace:
            raise DuplicateSourceError(
                f"{info.location} (sha256 {info.sha256[:12]}) is already in the variant store as source {done[0]}: "
                "pass --replace to ingest it again"
            )
        source = int(done[0])
        for s in done:
            _delete_source(writer, int(s))
        rejects.unlink(missing_ok=True)
        writer.commit()
    if pending:
        key, entry = next(iter(pending.items()))
        source = int(key)
        if resume and not replace:
            state = dict(entry)
        else:
            _delete_source(writer, source)
            rejects.unlink(missing_ok=True)
            remaining = {k: p for k, p in writer.manifest.progress.items() if k not in pending}
            writer.commit(progress=remaining)
    if source is None:
        source = _next_id([*sources["source"].to_pylist(), *(int(k) for k in writer.manifest.progress)])
    return source, state


def new_progress(writer: VariantWriter, info: FileInfo, n_samples: int) -> dict[str, Any]:
    """The progress entry of a file before its first batch (its new samples numbered after the store's)."""
    sample_base = _next_id(writer.read("samples", columns=["sample"])["sample"].to_pylist())
    return {
        "sha256": info.sha256,
        "path": info.location,
        "batch": -1,
        "records": 0,
        "alleles": 0,
        "calls": 0,
        "rejected": 0,
        "rejects_bytes": 0,
        "sample_base": sample_base,
        "n_samples": n_samples,
    }


def sample_ids(writer: VariantWriter, names: Sequence[str], source: int, sample_base: int) -> np.ndarray:
    """The store's sample id of each of a file's sample columns: the id the store already has for the
    name (one sample per name, whichever files hold it), else a new one from ``sample_base`` on. A
    resumed file gets the ids its first batch wrote (its ``samples`` rows)."""
    rows = writer.read("samples", columns=["sample", "name", "source", "column"])
    mine = rows.filter(pc.equal(rows["source"], source)).sort_by("column")
    if mine.num_rows == len(names) and len(names):
        return np.asarray(mine["sample"].to_numpy(), dtype=np.int32)
    known: dict[str, int] = {}
    for sid, name in sorted(zip(rows["sample"].to_pylist(), rows["name"].to_pylist(), strict=True)):
        known.setdefault(name, int(sid))
    out = np.empty(len(names), dtype=np.int32)
    fresh = sample_base
    for column, name in enumerate(names):
        if name in known:
            out[column] = known[name]
        else:
            out[column] = known[name] = fresh
            fresh += 1
    return out


def samples_table(names: Sequence[str], ids: np.ndarray, source: int) -> pa.Table:
    """The ``samples`` rows of a file (written with its first batch): one per column, with the store's id."""
    return pa.table(
        {
            "sample": pa.array(ids, type=pa.int32()),
            "name": pa.array(names, type=pa.string()),
            "source": pa.array([source] * len(names), type=pa.int32()),
            "column": pa.array(range(len(names)), type=pa.int32()),
        },
        schema=SAMPLES,
    )


def sources_row(
    info: FileInfo, source: int, header: str, n_samples: int, state: dict[str, Any], reference: str | None = None
) -> pa.Table:
    """The ``sources`` row of a finished file (written with its last batch)."""
    return pa.table(
        {
            "source": [source],
            "path": [info.location],
            "sha256": [info.sha256],
            "format": [info.format],
            "header": [header],
            "n_samples": [n_samples],
            "records": [state["records"]],
            "alleles": [state["alleles"]],
            "calls": [state["calls"]],
            "rejected": [state["rejected"]],
            "ingested_at": [time.time()],
            "reference": pa.array([reference], pa.string()),
        },
        schema=SOURCES,
    )


class BatchCommitter:
    """Writes and commits one file's batches on a worker thread, one batch in flight at most."""

    def __init__(self, writer: VariantWriter, source: int, path: str, progress: ProgressFn | None) -> None:
        self.writer = writer
        self.source = source
        self.path = path
        self.progress = progress
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vcf-commit")
        self._in_flight: list[tuple[Future[None], int]] = []

    def wait(self) -> None:
        """Wait for the batch in flight to be committed (raising its error), then report progress."""
        while self._in_flight:
            future, records_done = self._in_flight.pop()
            future.result()
            if self.progress is not None:
                self.progress(self.path, records_done)

    def submit(
        self,
        variants: pa.Table,
        calls: pa.Table,
        no_calls: pa.Table,
        annotations: pa.Table,
        samples: pa.Table | None,
        sources: pa.Table | None,
        state: dict[str, Any],
        ref_blocks: pa.Table | None = None,
        missing: pa.Table | None = None,
        merged: pa.Table | None = None,
    ) -> None:
        """Write and commit a batch on the worker, after the batch before it; ``state`` is its
        progress entry (``sources``: the file's last batch, which clears the entry instead);
        ``missing``: its ``missing_calls`` rows; ``merged``: its ``merged_sites`` rows."""
        self.wait()
        future = self._executor.submit(
            self._write, variants, calls, no_calls, annotations, samples, sources, dict(state), ref_blocks,
            missing, merged,
        )
        self._in_flight.append((future, int(state["records"])))

    def _write(
        self,
        variants: pa.Table,
        calls: pa.Table,
        no_calls: pa.Table,
        annotations: pa.Table,
        samples: pa.Table | None,
        sources: pa.Table | None,
        snapshot: dict[str, Any],
        ref_blocks: pa.Table | None = None,
        missing: pa.Table | None = None,
        merged: pa.Table | None = None,
    ) -> None:
        writer = self.writer
        writer.append("variants", variants)
        writer.append("calls", calls)
        writer.append("no_calls", no_calls)
        writer.append("annotations", annotations)
        if ref_blocks is not None:
            writer.append("ref_blocks", ref_blocks)
        if missing is not None:
            writer.append("missing_calls", missing)
        if merged is not None:
            writer.append("merged_sites", merged)
        if samples is not None:
            writer.append("samples", samples)
        others = {k: p for k, p in writer.manifest.progress.items() if k != str(self.source)}
        if sources is not None:
            writer.append("sources", sources)
            writer.commit(progress=others)
        else:
            writer.commit(progress={**others, str(self.source): snapshot})

    def close(self) -> None:
        """Stop the worker; leaving on an error, the batch being written finishes first (before the lock goes)."""
        if self._in_flight:
            with contextlib.suppress(Exception):
                self._in_flight[0][0].result()
        self._executor.shutdown(wait=True)
