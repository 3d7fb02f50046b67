"""The parts of the store that need no database: ``meta.json``, the writer lock, the manifest sidecar.

Kept apart from ``lance.py`` because importing lancedb costs about a second:
a no-op re-index (nothing changed) runs on this module alone.

``meta.json`` is the commit point of the store. It names the committed
version of every Lance table and the manifest sidecar file of that commit, a
small Arrow IPC file with the columns the incremental planner needs (path,
size, mtime, hash, skip reason), so that planning a run does not open Lance.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exocortex.errors import IndexNotFoundError, SchemaVersionError, StoreCorruptError, StoreLockedError
from exocortex.store.schema import SCHEMA_VERSION, TABLES

META_FILE = "meta.json"
LOCK_FILE = "lock"
DB_DIR = "lance"
MANIFEST_COLUMNS = ["path", "size", "mtime_ns", "hash", "skip_reason"]


@dataclass
class StoreMeta:
    schema_version: int
    root: str
    tables: dict[str, int]
    created_at: float
    updated_at: float
    fingerprint: str = ""
    manifest: str = ""
    """File name of this commit's manifest sidecar ('' when there is none)."""
    last_run: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2, sort_keys=True)


def rebuild_hint(path: Path) -> str:
    return f"re-index with `exocortex index --rebuild --store {path}`"


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def read_meta(store_dir: Path) -> StoreMeta:
    """Read and check ``meta.json``; raise an error that tells the user what to do."""
    meta_path = store_dir / META_FILE
    if not store_dir.exists():
        raise IndexNotFoundError(f"no index at {store_dir}: run `exocortex index` first")
    if not store_dir.is_dir():
        raise StoreCorruptError(f"store path {store_dir} is not a directory")
    if not meta_path.exists():
        raise IndexNotFoundError(
            f"no committed index in {store_dir} (a first run may have been interrupted): "
            "run `exocortex index` first"
        )
    try:
        raw = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreCorruptError(
            f"store {store_dir} is corrupted ({META_FILE} unreadable: {exc}); {rebuild_hint(store_dir)}"
        ) from exc
    if not isinstance(raw, dict) or "schema_version" not in raw:
        raise StoreCorruptError(f"store {store_dir} is corrupted ({META_FILE} malformed); {rebuild_hint(store_dir)}")
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        raise SchemaVersionError(
            f"store {store_dir} has schema version {version}, this exocortex reads version "
            f"{SCHEMA_VERSION}; {rebuild_hint(store_dir)}"
        )
    try:
        meta = StoreMeta(**raw)
        if set(meta.tables) != set(TABLES) or not all(isinstance(v, int) for v in meta.tables.values()):
            raise TypeError("table versions missing")
    except TypeError as exc:
        raise StoreCorruptError(
            f"store {store_dir} is corrupted ({META_FILE} malformed: {exc}); {rebuild_hint(store_dir)}"
        ) from exc
    return meta


def _fsync_dir(path: Path) -> None:
    dir_fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _atomic_write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def write_meta(store_dir: Path, meta: StoreMeta) -> None:
    """Commit: atomically replace ``meta.json``, then drop sidecars no commit names."""
    _atomic_write(store_dir / META_FILE, meta.to_json().encode("utf-8"))
    for old in store_dir.glob("manifest-*.arrow"):
        if old.name != meta.manifest:
            with contextlib.suppress(OSError):
                old.unlink()


def write_manifest(store_dir: Path, table: Any, files_version: int) -> str:
    """Write the manifest sidecar of a commit about to happen; return its file name."""
    import pyarrow as pa
    import pyarrow.ipc as ipc

    name = f"manifest-{files_version}.arrow"
    sink = pa.BufferOutputStream()
    with ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)
    _atomic_write(store_dir / name, sink.getvalue().to_pybytes())
    return name


def read_manifest(store_dir: Path, meta: StoreMeta) -> Any | None:
    """The committed manifest as an Arrow table, or None when the sidecar is missing or unreadable."""
    if not meta.manifest:
        return None
    import pyarrow as pa
    import pyarrow.ipc as ipc

    try:
        with pa.memory_map(str(store_dir / meta.manifest)) as source:
            table = ipc.open_file(source).read_all()
    except (OSError, pa.ArrowInvalid):
        return None  # the caller falls back to the files table
    return table if set(MANIFEST_COLUMNS) <= set(table.column_names) else None


@contextlib.contextmanager
def writer_lock(store_dir: Path, wait_s: float = 0.0) -> Iterator[None]:
    """Hold the store's writer lock; refuse with a clear message if another writer has it."""
    store_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(store_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + max(0.0, wait_s)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    holder = os.pread(fd, 64, 0).decode("ascii", "replace").strip() or "?"
                    raise StoreLockedError(
                        f"another exocortex process (pid {holder}) is writing the store {store_dir}; "
                        "wait for it to finish or pass --wait SECONDS"
                    ) from None
                time.sleep(0.1)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing releases the flock


def store_size_bytes(store_dir: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(store_dir):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total
