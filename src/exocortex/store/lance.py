"""The embedded store: Lance tables pinned by one atomically written ``meta.json``.

Layout of a store directory::

    meta.json   schema version, root, the committed version of every table, last run
    lock        held (flock) by the one writer; readers never take it
    lance/      the LanceDB database: files, chunks, symbols

Every ``add`` or ``delete`` on a Lance table makes a new table version, but a
run touches three tables. A run's writes only become visible when
``meta.json`` is replaced (write to a temporary file, fsync, rename) with the
new version numbers; readers open each table at the version ``meta.json``
names. A run that crashes leaves extra table versions nobody points at; the
next writer restores each table to its committed version before it starts.
Lance keeps old versions readable, so a reader that opened the store before a
writer committed keeps seeing its snapshot.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Lance's Rust logger warns on routine events (creating a table); keep it to errors
# unless the user asked for more.
os.environ.setdefault("LANCEDB_LOG", "error")

import lancedb  # noqa: E402
import pyarrow as pa

from exocortex.errors import (
    IndexNotFoundError,
    SchemaVersionError,
    StoreCorruptError,
    StoreLockedError,
)
from exocortex.store.schema import SCHEMA_VERSION, TABLES

META_FILE = "meta.json"
LOCK_FILE = "lock"
DB_DIR = "lance"
_DELETE_BATCH = 2000  # paths per delete predicate


@dataclass
class StoreMeta:
    schema_version: int
    root: str
    tables: dict[str, int]
    created_at: float
    updated_at: float
    fingerprint: str = ""
    last_run: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2, sort_keys=True)


def _rebuild_hint(path: Path) -> str:
    return f"re-index with `exocortex index --rebuild --store {path}`"


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
            f"store {store_dir} is corrupted ({META_FILE} unreadable: {exc}); {_rebuild_hint(store_dir)}"
        ) from exc
    if not isinstance(raw, dict) or "schema_version" not in raw:
        raise StoreCorruptError(f"store {store_dir} is corrupted ({META_FILE} malformed); {_rebuild_hint(store_dir)}")
    version = raw.get("schema_version")
    if version != SCHEMA_VERSION:
        raise SchemaVersionError(
            f"store {store_dir} has schema version {version}, this exocortex reads version "
            f"{SCHEMA_VERSION}; {_rebuild_hint(store_dir)}"
        )
    try:
        meta = StoreMeta(**raw)
        if set(meta.tables) != set(TABLES) or not all(isinstance(v, int) for v in meta.tables.values()):
            raise TypeError("table versions missing")
    except TypeError as exc:
        raise StoreCorruptError(
            f"store {store_dir} is corrupted ({META_FILE} malformed: {exc}); {_rebuild_hint(store_dir)}"
        ) from exc
    return meta


def _write_meta(store_dir: Path, meta: StoreMeta) -> None:
    tmp = store_dir / f".{META_FILE}.{os.getpid()}.tmp"
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(meta.to_json())
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, store_dir / META_FILE)
    dir_fd = os.open(store_dir, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class StoreReader:
    """A consistent read-only snapshot of a store, as of its last commit."""

    def __init__(self, store_dir: Path) -> None:
        self.path = store_dir
        self.meta = read_meta(store_dir)
        try:
            self._db = lancedb.connect(str(store_dir / DB_DIR))
            self._tables = {}
            for name, version in self.meta.tables.items():
                table = self._db.open_table(name)
                table.checkout(version)
                self._tables[name] = table
        except Exception as exc:  # lance raises assorted errors on damaged files
            raise StoreCorruptError(
                f"store {store_dir} is corrupted (cannot open its tables: {_first_line(exc)}); "
                f"{_rebuild_hint(store_dir)}"
            ) from exc

    def table(self, name: str) -> Any:
        return self._tables[name]

    def read(self, name: str, columns: list[str] | None = None, where: str | None = None) -> pa.Table:
        try:
            query = self._tables[name].search()
            if where:
                query = query.where(where)
            if columns:
                query = query.select(columns)
            result: pa.Table = query.limit(None).to_arrow()
            return result
        except Exception as exc:
            raise StoreCorruptError(
                f"store {self.path} is corrupted (reading {name}: {_first_line(exc)}); "
                f"{_rebuild_hint(self.path)}"
            ) from exc

    def count(self, name: str) -> int:
        return int(self._tables[name].count_rows())


def _sql_list(values: list[str]) -> str:
    return ",".join("'" + v.replace("'", "''") + "'" for v in values)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


@contextlib.contextmanager
def writer_lock(store_dir: Path, wait_s: float = 0.0) -> Iterator[None]:
    """Hold the store's writer lock; refuse with a clear message if another writer has it."""
    store_dir.mkdir(parents=True, exist_ok=True)
    lock_path = store_dir / LOCK_FILE
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
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


class StoreWriter:
    """Stages changes to the tables; nothing is visible to readers until ``commit``.

    Use only while holding ``writer_lock``.
    """

    def __init__(self, store_dir: Path, root: Path, *, rebuild: bool = False) -> None:
        self.path = store_dir
        self.root = root
        self._previous: StoreMeta | None = None
        if not rebuild and (store_dir / META_FILE).exists():
            self._previous = read_meta(store_dir)
        db_dir = store_dir / DB_DIR
        if self._previous is None and db_dir.exists():
            # An interrupted first run or a rebuild: nothing committed to keep.
            _remove_tree(db_dir)
        self._db = lancedb.connect(str(db_dir))
        self._tables: dict[str, Any] = {}
        try:
            existing = set(self._db.list_tables().tables) if self._previous else set()
            for name, schema in TABLES.items():
                if self._previous is not None and name in existing:
                    table = self._db.open_table(name)
                    committed = self._previous.tables[name]
                    if table.version != committed:
                        # Roll back versions written by a run that never committed.
                        table.checkout(committed)
                        table.restore()
                else:
                    table = self._db.create_table(name, schema=schema, mode="overwrite")
                self._tables[name] = table
        except Exception as exc:
            if isinstance(exc, StoreCorruptError):
                raise
            raise StoreCorruptError(
                f"store {store_dir} is corrupted (cannot open its tables: {_first_line(exc)}); "
                f"{_rebuild_hint(store_dir)}"
            ) from exc

    @property
    def previous(self) -> StoreMeta | None:
        return self._previous

    def read(self, name: str, columns: list[str]) -> pa.Table:
        result: pa.Table = self._tables[name].search().select(columns).limit(None).to_arrow()
        return result

    def read_where(self, name: str, column: str, values: list[str]) -> pa.Table:
        """Rows whose ``column`` is one of ``values``."""
        parts = [
            self._tables[name].search().where(f"{column} IN ({_sql_list(values[i : i + _DELETE_BATCH])})")
            .limit(None).to_arrow()
            for i in range(0, len(values), _DELETE_BATCH)
        ]
        if not parts:
            return TABLES[name].empty_table()
        return pa.concat_tables(parts)

    def delete_paths(self, paths: Iterable[str], tables: Iterable[str] | None = None) -> None:
        ordered = sorted(set(paths))
        names = list(tables) if tables is not None else list(self._tables)
        for start in range(0, len(ordered), _DELETE_BATCH):
            predicate = f"path IN ({_sql_list(ordered[start : start + _DELETE_BATCH])})"
            for name in names:
                self._tables[name].delete(predicate)

    def delete_all(self) -> None:
        for table in self._tables.values():
            table.delete("true")

    def append(self, name: str, rows: pa.Table) -> None:
        if rows.num_rows:
            self._tables[name].add(rows.cast(TABLES[name]))

    def compact(self, max_fragments: int) -> None:
        """Merge small fragments once a table has accumulated many of them."""
        for table in self._tables.values():
            stats = table.stats()
            fragments = getattr(stats, "num_fragments", None)
            if fragments is None and isinstance(stats, dict):
                fragments = stats.get("fragment_stats", {}).get("num_fragments")
            if fragments is not None and fragments > max_fragments:
                table.compact_files()

    def commit(self, *, fingerprint: str, last_run: dict[str, Any]) -> StoreMeta:
        now = time.time()
        meta = StoreMeta(
            schema_version=SCHEMA_VERSION,
            root=str(self.root),
            tables={name: int(table.version) for name, table in self._tables.items()},
            created_at=self._previous.created_at if self._previous else now,
            updated_at=now,
            fingerprint=fingerprint,
            last_run=last_run,
        )
        _write_meta(self.path, meta)
        return meta


def _remove_tree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def store_size_bytes(store_dir: Path) -> int:
    total = 0
    for dirpath, _dirs, files in os.walk(store_dir):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total
