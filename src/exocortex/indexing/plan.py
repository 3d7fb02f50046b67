"""What an index run has to do: compare the walk with the manifest.

Stat first: a file whose size and mtime match the manifest is not read at all.
A file whose stat changed is hashed; if its content hash is unchanged only its
manifest row is refreshed ("touched"), otherwise it is re-processed.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from exocortex.config import Config
from exocortex.sources.files import SourceFile, walk_source_files
from exocortex.store.meta import MANIFEST_COLUMNS, read_manifest, read_meta_if_any
from exocortex.store.schema import SCHEMA_VERSION


@dataclass
class Manifest:
    """The manifest columns of the files table (one row per path), as Arrow columns."""

    table: pa.Table | None = None

    @classmethod
    def from_table(cls, table: pa.Table) -> Manifest:
        return cls(table.select(MANIFEST_COLUMNS))

    def skips(self) -> dict[str, str]:
        """The stored skip reason of each path that has one."""
        if self.table is None:
            return {}
        rows = self.table.filter(pc.is_valid(self.table.column("skip_reason")))
        return dict(zip(rows.column("path").to_pylist(), rows.column("skip_reason").to_pylist(), strict=True))


@dataclass
class Plan:
    new: list[FileJob] = field(default_factory=list)
    changed: list[FileJob] = field(default_factory=list)
    touched: list[SourceFile] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return not (self.new or self.changed or self.touched or self.removed)

    @property
    def jobs(self) -> list[FileJob]:
        return self.new + self.changed

    @property
    def stale_paths(self) -> list[str]:
        """Paths whose rows must go before new rows are written."""
        return self.removed + [job.path for job in self.changed]


def make_plan(files: list[SourceFile], manifest: Manifest, root: str, max_file_bytes: int) -> Plan:
    """What to do with the walked ``files``: the manifest's files not among them are removed. (A walk
    of a watcher's scope is planned against the manifest rows of that scope only.)

    The walk is matched with the manifest by one hash join and compared as arrays: on 50,000 files
    a loop over a dict of the manifest's rows took about 0.25 s of a no-op run."""
    plan = Plan()
    table = manifest.table
    if table is None or table.num_rows == 0:
        plan.new = [FileJob(f.path, f.size, f.mtime_ns) for f in files]
        return plan
    n = len(files)
    paths = pa.array([f.path for f in files], pa.string())
    row = pc.index_in(paths, value_set=table.column("path")).fill_null(-1).to_numpy(zero_copy_only=False)
    sizes = np.fromiter((f.size for f in files), np.int64, n)
    mtimes = np.fromiter((f.mtime_ns for f in files), np.int64, n)
    found = row >= 0
    at = np.where(found, row, 0)
    same_size = found & (sizes == table.column("size").to_numpy(zero_copy_only=False)[at])
    same_stat = same_size & (mtimes == table.column("mtime_ns").to_numpy(zero_copy_only=False)[at])
    hashes = table.column("hash")
    for i in np.flatnonzero(~same_stat).tolist():  # few, in walk order: new, or a stat that changed
        f = files[i]
        if not found[i]:
            plan.new.append(FileJob(f.path, f.size, f.mtime_ns))
        elif same_size[i] and hash_file(root, f.path, max_file_bytes) == hashes[int(row[i])].as_py():
            plan.touched.append(f)
        else:
            plan.changed.append(FileJob(f.path, f.size, f.mtime_ns))
    plan.unchanged = paths.filter(pa.array(same_stat)).to_pylist()
    walked = np.zeros(table.num_rows, bool)
    walked[row[found]] = True
    plan.removed = sorted(table.column("path").filter(pa.array(~walked)).to_pylist())
    return plan


@dataclass(frozen=True, slots=True)
class FileJob:
    """A file to read, analyse and store: its root-relative path and the stat it was planned with."""

    path: str
    size: int
    mtime_ns: int


def content_hash(data: bytes) -> str:
    return xxhash.xxh3_128_hexdigest(data)


def hash_file(root: str, path: str, max_bytes: int) -> str | None:
    """Content hash of a file, or None when it cannot be read (it will be re-processed)."""
    try:
        with open(os.path.join(root, path), "rb") as fh:
            return content_hash(fh.read(max_bytes + 1))
    except OSError:
        return None


def config_fingerprint(config: Config) -> str:
    """What, if changed, invalidates every stored row."""
    relevant = {
        "schema": SCHEMA_VERSION,
        "index_tokenizers": sorted(config.index_tokenizers),
        "max_chunk_lines": config.max_chunk_lines,
        "text_window_lines": config.text_window_lines,
        "markdown_max_section_lines": config.markdown_max_section_lines,
    }
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def index_is_current(root: Path, store_dir: Path, config: Config) -> bool:
    """Whether the committed index already matches the tree: a walk and a stat, no lock, nothing written.

    What an answer checks before it would take the writer lock: a reader that finds nothing
    changed must not hold the lock (a writer started then would be refused). False whenever a
    run has something to decide (another root, other settings, no manifest sidecar), and
    for files whose stat changed even if their content did not (a run records the new stat).
    """
    meta = read_meta_if_any(store_dir)
    if meta is None or meta.fingerprint != config_fingerprint(config) or meta.root != str(root):
        return False
    table = read_manifest(store_dir, meta)
    if table is None:
        return False
    walk = walk_source_files(root, config, exclude_dirs=[store_dir])
    return make_plan(walk.files, Manifest.from_table(table), str(root), config.max_file_bytes).is_empty
