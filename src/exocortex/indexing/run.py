"""One index run: walk, plan, process in parallel, write, commit.

Readers see either the previous commit or this one, never a mixture: rows are
appended to Lance tables as batches fill up, but only ``StoreWriter.commit``
(one atomic rename of ``meta.json``) makes them visible.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import multiprocessing
import os
import signal
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from exocortex.config import Config
from exocortex.errors import WorkerCrashedError
from exocortex.indexing.plan import FileJob, Manifest, Plan, config_fingerprint, make_plan
from exocortex.indexing.process import BatchResult, ProcessOptions, process_batch
from exocortex.log import get_logger
from exocortex.memory.engine import engine_memory
from exocortex.memory.heap import map_large_allocations
from exocortex.sources.files import SkippedFile, SkipReason, walk_source_files
from exocortex.store.meta import (
    MANIFEST_COLUMNS,
    META_FILE,
    StoreMeta,
    claim_store,
    new_commit_id,
    read_manifest,
    read_meta,
    read_meta_if_any,
    write_manifest,
    write_meta,
    writer_lock,
)
from exocortex.store.schema import TOKEN_COLUMNS

if TYPE_CHECKING:
    from exocortex.store.lance import StoreWriter

ProgressFn = Callable[[int, int], None]
"""Called with (bytes done, bytes total) as files are processed."""

_SUMMARY_COLUMNS = [*MANIFEST_COLUMNS, "language", "structural", "chunks", *TOKEN_COLUMNS.values()]
_BATCH_MAX_BYTES = 1024 * 1024
_COMPACT_MAX_FRAGMENTS = 64

log = get_logger(__name__)


@dataclass(frozen=True)
class IndexReport:
    """What an index run did."""

    root: str
    store: str
    files: int
    chunks: int
    tokens: int
    bytes: int
    processed: int
    added: int
    changed: int
    touched: int
    unchanged: int
    removed: int
    reused: int
    bytes_read: int
    skipped: dict[str, int]
    skipped_files: list[SkippedFile] = field(repr=False)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    changed_paths: list[str] = field(default_factory=list, repr=False)
    """Root-relative paths this run added, changed or removed (the first ``CHANGED_PATHS_KEPT``, sorted)."""

    def to_dict(self, *, with_skipped_files: bool = False) -> dict[str, Any]:
        # Not dataclasses.asdict: it deep-copies every skipped file (0.2 s for 12k of them).
        data = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("skipped_files", "changed_paths")
        }
        data["skipped"] = dict(self.skipped)
        data["timings"] = dict(self.timings)
        if with_skipped_files:
            data["skipped_files"] = [
                {"path": s.path, "reason": s.reason, "detail": s.detail} for s in self.skipped_files
            ]
        return data


CHANGED_PATHS_KEPT = 1000
"""How many changed paths an ``IndexReport`` lists (the counts are always whole)."""


def process_options(root: Path, config: Config) -> ProcessOptions:
    return ProcessOptions(
        root=str(root),
        tokenizers=tuple(config.index_tokenizers),
        binary_sniff_bytes=config.binary_sniff_bytes,
        max_file_bytes=config.max_file_bytes,
        max_chunk_lines=config.max_chunk_lines,
        text_window_lines=config.text_window_lines,
        markdown_max_section_lines=config.markdown_max_section_lines,
        parsed_cache_bytes=config.parsed_cache_bytes,
    )


def run_index(
    root: Path,
    store_dir: Path,
    config: Config,
    *,
    rebuild: bool = False,
    progress: ProgressFn | None = None,
    scope: Collection[str] | None = None,
) -> IndexReport:
    """Bring the store in line with the tree under ``root`` and commit.

    With ``scope`` (root-relative paths a file watcher saw change) only those paths and what
    is under them are walked and compared; every other file is taken as unchanged. The
    report's skipped files are then those of the scope, and the commit keeps the skip counts
    of the last whole walk.
    """
    started = time.perf_counter()
    timings: dict[str, float] = {}

    def lap(stage: str, since: float) -> float:
        now = time.perf_counter()
        timings[stage] = round(now - since, 4)
        return now

    if rebuild:
        scope = None
    map_large_allocations()  # batches' large buffers leave the RSS when freed (workers inherit it)
    walk = walk_source_files(root, config, exclude_dirs=[store_dir], scope=scope)
    t = lap("walk", started)

    claim_store(store_dir)
    with writer_lock(store_dir, config.lock_wait_s):
        fingerprint = config_fingerprint(config)
        previous = None if rebuild or not (store_dir / META_FILE).exists() else read_meta(store_dir)
        replaces = read_meta_if_any(store_dir) if previous is None else previous
        usable = previous is not None and previous.fingerprint == fingerprint and previous.root == str(root)
        resuming = usable and previous is not None and previous.last_run.get("checkpoint") is not None
        if scope is not None and (not usable or resuming):  # everything (or what is left) is read: walk it all
            scope = None
            walk = walk_source_files(root, config, exclude_dirs=[store_dir])
        manifest_table = read_manifest(store_dir, previous) if usable and previous else None
        writer: StoreWriter | None = None
        if usable and previous is not None and manifest_table is None:  # no sidecar: read the files table
            writer = _open_writer(store_dir, root, previous, replaces)
            manifest_table = writer.read("files", MANIFEST_COLUMNS)
            sidecar = write_manifest(store_dir, manifest_table, new_commit_id()[:16])
            previous = dataclasses.replace(previous, manifest=sidecar)
        # The sidecar carries the summary columns too: the next commit's totals and manifest are this
        # one's with the changed rows replaced, not a read of the whole files table.
        known_rows = (
            manifest_table
            if manifest_table is not None and set(_SUMMARY_COLUMNS) <= set(manifest_table.column_names)
            else None
        )
        outside = 0  # files outside a watcher's scope: unchanged, never looked at
        if manifest_table is not None and scope is not None:
            inside = _within(manifest_table.column("path"), scope)
            outside = manifest_table.num_rows - int(pc.sum(inside).as_py() or 0)
            manifest_table = manifest_table.filter(inside)
        manifest = Manifest.from_table(manifest_table) if manifest_table is not None else Manifest()
        plan = make_plan(walk.files, manifest, str(root), config.max_file_bytes)
        t = lap("plan", t)

        skipped: list[SkippedFile] = list(walk.skipped)
        stored_skips = manifest.skips()
        skipped += [
            SkippedFile(p, stored_skips[p], "unchanged since last run") for p in plan.unchanged if p in stored_skips
        ]
        if usable and previous is not None and plan.is_empty:
            # Nothing changed: no table is touched, so the database is not even opened.
            return _record_noop(
                store_dir,
                previous,
                walk.git,
                len(plan.unchanged) + outside,
                skipped,
                timings,
                started,
                partial=scope is not None,
            )

        pool = _start_pool(plan.jobs, config)

        new_rows: list[pa.Table] = []  # files rows this run writes (processed and touched)
        # Building an index no reader relies on yet (a first run, or one resuming a checkpoint): commit
        # what is done as it goes, so searches answer meanwhile and a killed run resumes.
        building = config.index_checkpoint_s > 0 and bool(plan.jobs) and (
            (previous is None and replaces is None) or resuming
        )
        last_commit = time.monotonic()
        checkpoints = 0
        # A resumed build counts what its checkpoint already held, so progress reads as of the whole build.
        done_before = int(previous.last_run["checkpoint"].get("files_done", 0)) if resuming and previous else 0

        def checkpoint_due() -> bool:
            return building and time.monotonic() - last_commit >= config.index_checkpoint_s

        def flush_for_checkpoint() -> bool:
            # Only the first checkpoint cuts a write batch short (the first answer is what it is for);
            # later ones wait for a full batch: each batch is a fragment of every table, and many small
            # fragments would have the whole table rewritten by the compaction at the end.
            return checkpoints == 0 and checkpoint_due()

        def prepare() -> StoreWriter:
            """Open the writer and drop stale rows (imports lance: about 0.25 s)."""
            began = time.perf_counter()
            ready = writer if writer is not None else _open_writer(store_dir, root, previous, replaces)
            timings["store_open"] = round(time.perf_counter() - began, 4)
            if previous is not None and not usable:
                log.info("full re-index", reason="settings or root changed since the last run")
                ready.delete_all()
            if plan.stale_paths:
                ready.delete_paths(plan.stale_paths)
            if plan.touched:
                new_rows.append(_refresh_touched(ready, plan))
            timings["store_delete"] = round(time.perf_counter() - began - timings["store_open"], 4)
            return ready

        # With workers busy, open the database on a thread meanwhile (the workers
        # were forked before it, so they never see a half-imported module).
        with cf.ThreadPoolExecutor(max_workers=1) as side:
            opening = side.submit(prepare) if pool is not None else None
            try:
                if opening is None:
                    writer = prepare()
                counters = Counter[str]()
                memory = engine_memory(config)  # its governor is checked as batches arrive
                done_jobs = 0
                for batch in _process(plan.jobs, process_options(root, config), config, progress, pool,
                                      flush_now=flush_for_checkpoint):
                    memory.governor.check()
                    if opening is not None:
                        writer = opening.result()
                    assert writer is not None
                    counters["bytes_read"] += batch.bytes_read
                    counters["reused"] += batch.reused
                    skipped += [SkippedFile(p, r, d) for p, r, d in batch.skipped]
                    writer.append("files", batch.files)
                    if known_rows is not None or building:  # a copy: the batch's large columns go
                        kept = batch.files.select(_SUMMARY_COLUMNS)
                        new_rows.append(kept.take(pa.array(range(kept.num_rows), pa.int64())))
                    writer.append("chunks", batch.chunks)
                    writer.append("symbols", batch.symbols)
                    # jobs done: a row for each file read (binary ones too), none for the others skipped
                    done_jobs += batch.files.num_rows + sum(r != SkipReason.BINARY for _p, r, _d in batch.skipped)
                    if checkpoint_due():
                        files_so_far = _files_after(known_rows, plan, new_rows)
                        if files_so_far is None:
                            files_so_far = _concat(new_rows)
                        _checkpoint(writer, fingerprint, files_so_far, config, walk.git, done_before + done_jobs,
                                    done_before + len(plan.jobs))
                        last_commit = time.monotonic()
                        checkpoints += 1
                if opening is not None:
                    writer = opening.result()
            except BaseException:
                # Ending early (Ctrl-C, an error): the batches in flight are not waited for. The
                # workers finish theirs and exit, or die with this process if it exits first.
                if pool is not None:
                    pool.shutdown(wait=False, cancel_futures=True)
                raise
            if pool is not None:
                pool.shutdown(wait=True)
        assert writer is not None
        t = lap("process", t)

        writer.compact(_COMPACT_MAX_FRAGMENTS)
        files_now = _files_after(known_rows, plan, new_rows) if usable else None
        if files_now is None:
            files_now = writer.read("files", _SUMMARY_COLUMNS)
        summary = summarize(files_now, config.tokenizer)
        skipped.sort(key=lambda s: s.path)
        skip_counts = dict(sorted(Counter(s.reason for s in skipped).items()))
        report = IndexReport(
            root=str(root),
            store=str(store_dir),
            files=summary["files"],
            chunks=summary["chunks"],
            tokens=summary["tokens"],
            bytes=summary["bytes"],
            processed=len(plan.jobs),
            added=len(plan.new),
            changed=len(plan.changed),
            touched=len(plan.touched),
            unchanged=len(plan.unchanged) + outside,
            removed=len(plan.removed),
            reused=counters["reused"],
            bytes_read=counters["bytes_read"],
            skipped=skip_counts,
            skipped_files=skipped,
            changed_paths=sorted(plan.removed + [job.path for job in plan.jobs])[:CHANGED_PATHS_KEPT],
        )
        last_run = report.to_dict() | {"summary": summary, "git": walk.git}
        if scope is not None:
            last_run |= _whole_walk_skips(previous)
        t = lap("summarize", t)
        timings["total"] = round(time.perf_counter() - started, 4)
        last_run["timings"] = timings
        last_run["seconds"] = timings["total"]
        last_run["finished_at"] = time.time()
        writer.commit(fingerprint=fingerprint, last_run=last_run, manifest=files_now)
    timings["commit"] = round(time.perf_counter() - t, 4)
    seconds = round(time.perf_counter() - started, 4)
    timings["total"] = seconds
    return dataclasses.replace(report, seconds=seconds, timings=timings)


def _open_writer(store_dir: Path, root: Path, previous: StoreMeta | None, replaces: StoreMeta | None) -> StoreWriter:
    from exocortex.store.lance import StoreWriter  # imports lance

    return StoreWriter(store_dir, root, previous=previous, replaces=replaces)


def _within(paths: pa.ChunkedArray, scope: Collection[str]) -> pa.ChunkedArray:
    """Which ``paths`` are one of ``scope`` or under one of them (vectorized :func:`in_scope`)."""
    mask = None
    for entry in {e.strip("/") for e in scope}:
        hit = pc.or_(pc.equal(paths, entry), pc.starts_with(paths, entry + "/"))
        mask = hit if mask is None else pc.or_(mask, hit)
    return mask if mask is not None else pc.equal(paths, "\0")  # an empty scope: nothing


def _whole_walk_skips(previous: StoreMeta | None) -> dict[str, Any]:
    """What a run that walked only a watcher's paths records about skipped files: the counts of
    the last whole walk (files skipped at the walk, such as binaries by extension, are in no table)."""
    last = previous.last_run if previous is not None else {}
    return {"skipped": last.get("skipped", {}), "walk": "scoped"}


def _record_noop(
    store_dir: Path,
    previous: StoreMeta,
    git: bool,
    unchanged: int,
    skipped: list[SkippedFile],
    timings: dict[str, float],
    started: float,
    partial: bool = False,
) -> IndexReport:
    summary = previous.last_run.get("summary", {})
    skipped.sort(key=lambda s: s.path)
    timings["total"] = round(time.perf_counter() - started, 4)
    report = IndexReport(
        root=previous.root,
        store=str(store_dir),
        files=int(summary.get("files", 0)),
        chunks=int(summary.get("chunks", 0)),
        tokens=int(summary.get("tokens", 0)),
        bytes=int(summary.get("bytes", 0)),
        processed=0,
        added=0,
        changed=0,
        touched=0,
        unchanged=unchanged,
        removed=0,
        reused=0,
        bytes_read=0,
        skipped=dict(sorted(Counter(s.reason for s in skipped).items())),
        skipped_files=skipped,
        seconds=timings["total"],
        timings=timings,
    )
    last_run = report.to_dict() | {"summary": summary, "git": git, "finished_at": time.time()}
    if partial:
        last_run |= _whole_walk_skips(previous)
    write_meta(store_dir, dataclasses.replace(previous, updated_at=time.time(), last_run=last_run))
    return report


def _concat(rows: list[pa.Table]) -> pa.Table:
    schema = rows[0].schema
    return pa.concat_tables([r.cast(schema) for r in rows])


def _checkpoint(writer: StoreWriter, fingerprint: str, files_so_far: pa.Table, config: Config, git: bool,
                done: int, planned: int) -> None:
    """Commit what an index being built holds so far. Its ``last_run`` says so (``checkpoint``: files
    done of those planned); the run that completes it (this one, or the next after a kill) replaces it."""
    summary = summarize(files_so_far, config.tokenizer)
    last_run = {
        "checkpoint": {"files_done": done, "files_planned": planned},
        "files": summary["files"], "chunks": summary["chunks"], "tokens": summary["tokens"],
        "bytes": summary["bytes"], "summary": summary, "git": git, "finished_at": time.time(),
    }
    writer.commit(fingerprint=fingerprint, last_run=last_run, manifest=files_so_far)
    log.debug("index checkpoint", files_done=done, files_planned=planned)


def _files_after(known: pa.Table | None, plan: Plan, new_rows: list[pa.Table]) -> pa.Table | None:
    """The summary columns of every file after this run: the last commit's (``known``, from its
    sidecar) less the rows this run replaced or removed, plus ``new_rows``. None when the sidecar
    did not carry them."""
    if known is None:
        return None
    gone = pa.array(sorted({*plan.stale_paths, *(f.path for f in plan.touched)}), pa.string())
    kept = known.select(_SUMMARY_COLUMNS).filter(pc.invert(pc.is_in(known.column("path"), value_set=gone)))
    schema = kept.schema
    return pa.concat_tables([kept, *(rows.select(_SUMMARY_COLUMNS).cast(schema) for rows in new_rows)])


def _refresh_touched(writer: StoreWriter, plan: Plan) -> pa.Table:
    """Files whose stat changed but whose content did not: update the manifest row only (its summary
    columns are returned)."""
    by_path = {f.path: f for f in plan.touched}
    rows = writer.read_where("files", "path", list(by_path))
    sizes = [by_path[p].size for p in rows.column("path").to_pylist()]
    mtimes = [by_path[p].mtime_ns for p in rows.column("path").to_pylist()]
    rows = rows.set_column(rows.schema.get_field_index("size"), "size", pa.array(sizes, pa.int64()))
    rows = rows.set_column(rows.schema.get_field_index("mtime_ns"), "mtime_ns", pa.array(mtimes, pa.int64()))
    writer.delete_paths(list(by_path), tables=("files",))
    writer.append("files", rows)
    return rows.select(_SUMMARY_COLUMNS)


def _batches(jobs: list[FileJob], max_files: int) -> Iterator[list[FileJob]]:
    # Same size and name usually means same content: keep such files together
    # so a worker's content cache analyses them once.
    ordered = sorted(jobs, key=lambda j: (j.size, os.path.basename(j.path), j.path))
    batch: list[FileJob] = []
    size = 0
    for job in ordered:
        batch.append(job)
        size += job.size
        if len(batch) >= max_files or size >= _BATCH_MAX_BYTES:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _start_pool(jobs: list[FileJob], config: Config) -> cf.ProcessPoolExecutor | None:
    """A worker pool when the change set is worth one, else None (process inline).

    Call before lance is imported: on Linux the workers are forked, which
    starts them in milliseconds and shares the parent's imported modules, and
    forking before the database starts its threads keeps the children clean.
    Forking also works from a script without a ``__main__`` guard, where
    "spawn" would re-run the caller's script in every worker.
    """
    workers = config.effective_workers()
    if workers <= 1 or sum(j.size for j in jobs) <= config.inline_max_bytes:
        return None
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    pool = cf.ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context(method),
        initializer=_worker_start,
        initargs=(os.getpid(),),
    )
    with warnings.catch_warnings():
        # A long-lived process (the server, `watch`) may have opened the store before: lance then
        # warns at every fork. The workers never touch the database, so its threads do not matter.
        warnings.filterwarnings("ignore", message="lance is not fork-safe", category=UserWarning)
        pool.submit(int).result()  # start the workers now, not at the first real batch
    return pool


def _worker_start(parent: int) -> None:
    """Run first in every worker: die with the parent, leave Ctrl-C to it.

    A worker whose parent is killed (kill -9, a crash) gets SIGKILL from the kernel at once
    (Linux's parent-death signal) instead of waiting for work forever. SIGINT from a terminal
    reaches the whole process group: the parent ends the run, so workers ignore it rather
    than each printing a traceback.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before the signal was armed
        os._exit(1)


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)


def _process(
    jobs: list[FileJob],
    opts: ProcessOptions,
    config: Config,
    progress: ProgressFn | None,
    pool: cf.ProcessPoolExecutor | None,
    flush_now: Callable[[], bool] | None = None,
) -> Iterator[BatchResult]:
    """Process jobs (in ``pool`` when given), yielding merged results of bounded size (and what is
    pending whenever ``flush_now`` says so: a checkpoint is due)."""
    total = sum(j.size for j in jobs)
    done = 0
    if progress:
        progress(0, total)
    pending: list[BatchResult] = []
    pending_bytes = 0

    def flush() -> BatchResult:
        nonlocal pending, pending_bytes
        merged = _merge(pending)
        pending, pending_bytes = [], 0
        return merged

    for result in _run_batches(jobs, opts, config, pool):
        done += result.bytes_read
        if progress:
            progress(done, total)
        pending.append(result)
        pending_bytes += result.bytes_read
        if pending_bytes >= config.write_batch_bytes or (flush_now is not None and flush_now()):
            yield flush()
    if pending:
        yield flush()


def _run_batches(
    jobs: list[FileJob], opts: ProcessOptions, config: Config, pool: cf.ProcessPoolExecutor | None
) -> Iterator[BatchResult]:
    batches = _batches(jobs, config.worker_batch_files)
    if pool is None:
        for batch in batches:
            yield process_batch(opts, batch)
        return
    in_flight: dict[cf.Future[BatchResult], list[FileJob]] = {}
    limit = config.effective_workers() * 4

    def result(fut: cf.Future[BatchResult]) -> BatchResult:
        batch = in_flight.pop(fut)
        try:
            return fut.result()
        except BrokenProcessPool as exc:
            first, last = batch[0].path, batch[-1].path
            raise WorkerCrashedError(
                f"a worker process died while indexing a batch of {len(batch)} files ({first} .. {last}); "
                "the previous index is intact; re-run with --workers 1 --debug to find the file"
            ) from exc

    for batch in batches:
        in_flight[pool.submit(process_batch, opts, batch)] = batch
        if len(in_flight) >= limit:
            done, _ = cf.wait(in_flight, return_when=cf.FIRST_COMPLETED)
            for fut in done:
                yield result(fut)
    for fut in cf.as_completed(list(in_flight)):
        yield result(fut)


def _merge(results: list[BatchResult]) -> BatchResult:
    if len(results) == 1:
        return results[0]
    return BatchResult(
        files=pa.concat_tables([r.files for r in results]),
        chunks=pa.concat_tables([r.chunks for r in results]),
        symbols=pa.concat_tables([r.symbols for r in results]),
        skipped=[s for r in results for s in r.skipped],
        bytes_read=sum(r.bytes_read for r in results),
        reused=sum(r.reused for r in results),
    )


def summarize(files: pa.Table, tokenizer: str) -> dict[str, Any]:
    """Totals over the indexed files (rows without a skip reason)."""
    indexed = files.filter(pc.is_null(files.column("skip_reason")))
    token_col = TOKEN_COLUMNS[tokenizer]
    tokens = indexed.column(token_col)
    languages = Counter(lang or "text" for lang in indexed.column("language").to_pylist())
    structural = int(pc.sum(indexed.column("structural").cast(pa.int64())).as_py() or 0)
    return {
        "files": indexed.num_rows,
        "chunks": int(pc.sum(indexed.column("chunks")).as_py() or 0),
        "bytes": int(pc.sum(indexed.column("size")).as_py() or 0),
        "tokens": int(pc.sum(tokens).as_py() or 0),
        "tokens_counted": tokens.null_count == 0,
        "tokenizer": tokenizer,
        "languages": dict(sorted(languages.items(), key=lambda kv: (-kv[1], kv[0]))),  # whatever the row order
        "structural_files": structural,
    }
