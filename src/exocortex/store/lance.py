"""The embedded store: Lance tables pinned by one atomically written ``meta.json``.

Layout of a store directory::

    meta.json         schema version, root, the database folder and committed version of every table,
                      the commit id, last run
    lock              held (flock) by the one writer; readers never take it
    exocortex-store   marks the folder as a store (a writer refuses any other non-empty folder)
    lance-<id>/       the LanceDB database of the commit: files, chunks, symbols (``lance/`` in old stores)

Every ``add`` or ``delete`` on a Lance table makes a new table version, but a
run touches three tables. A run's writes only become visible when
``meta.json`` is replaced (write to a temporary file, fsync, rename) with the
new version numbers; readers open each table at the version ``meta.json``
names. A run that crashes leaves extra table versions nobody points at; the
next writer restores each table to its committed version before it starts.
Lance keeps old versions readable, so a reader that opened the store before a
writer committed keeps seeing its snapshot.

A rebuild (or a first run) writes a new database folder and never touches the
committed one: an interrupted rebuild leaves the previous index as it was, and
readers keep reading it until ``meta.json`` names the new folder.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from exocortex.errors import StoreCorruptError
from exocortex.store.meta import (
    DB_DIR_PREFIX,
    StoreMeta,
    first_line,
    new_commit_id,
    read_meta,
    rebuild_hint,
    write_manifest,
    write_meta,
)
from exocortex.store.schema import SCHEMA_VERSION, TABLES

_PATHS_PER_PREDICATE = 2000  # paths per `path IN (...)` predicate (reads and deletes)


def _lancedb() -> Any:
    """``lancedb``, imported on first use: about 1.3 s of imports that a search answered from its
    search data (the common case) never needs."""
    # Lance's Rust logger warns on routine events (creating a table); keep it to errors
    # unless the user asked for more.
    os.environ.setdefault("LANCEDB_LOG", "error")
    import lancedb

    return lancedb


class StoreReader:
    """A consistent read-only snapshot of a store, as of its last commit.

    Its ``meta`` is read at once; the tables are opened (at the versions ``meta`` names) by the first
    ``read``, so a search answered from the commit's search data never imports the database.
    """

    def __init__(self, store_dir: Path) -> None:
        self.path = store_dir
        self.meta = read_meta(store_dir)
        self._tables: dict[str, Any] | None = None

    def _open(self) -> dict[str, Any]:
        if self._tables is None:
            try:
                db = _lancedb().connect(str(self.path / self.meta.db_dir))
                tables = {}
                for name, version in self.meta.tables.items():
                    table = db.open_table(name)
                    table.checkout(version)
                    tables[name] = table
            except Exception as exc:  # lance raises assorted errors on damaged files
                raise StoreCorruptError(
                    f"store {self.path} is corrupted (cannot open its tables: {first_line(exc)}); "
                    f"{rebuild_hint(self.path)}"
                ) from exc
            self._tables = tables
        return self._tables

    def read(self, name: str, columns: list[str] | None = None, where: str | None = None) -> pa.Table:
        tables = self._open()
        try:
            query = tables[name].search()
            if where:
                query = query.where(where)
            if columns:
                query = query.select(columns)
            result: pa.Table = query.limit(None).to_arrow()
            return result
        except Exception as exc:
            raise self._corrupt(name, exc) from exc

    def read_paths(self, name: str, columns: list[str], paths: list[str]) -> pa.Table:
        """The rows of table ``name`` whose ``path`` is one of ``paths`` (``path IN`` a batch at a time)."""
        parts = [self.read(name, columns, f"path IN ({_sql_list(paths[i : i + _PATHS_PER_PREDICATE])})")
                 for i in range(0, len(paths), _PATHS_PER_PREDICATE)]
        return pa.concat_tables(parts) if parts else self.read(name, columns, "false")

    def read_batches(self, name: str, columns: list[str], batch_rows: int) -> Iterator[pa.RecordBatch]:
        """The rows of table ``name`` in storage order, ``batch_rows`` at a time (never the whole
        table in memory at once)."""
        tables = self._open()
        try:
            yield from tables[name].search().select(columns).limit(None).to_batches(batch_rows)
        except Exception as exc:
            raise self._corrupt(name, exc) from exc

    def _corrupt(self, name: str, exc: Exception) -> StoreCorruptError:
        return StoreCorruptError(
            f"store {self.path} is corrupted (reading {name}: {first_line(exc)}); {rebuild_hint(self.path)}"
        )


def _sql_list(values: list[str]) -> str:
    return ",".join("'" + v.replace("'", "''") + "'" for v in values)


class StoreWriter:
    """Stages changes to the tables; nothing is visible to readers until ``commit``.

    Use only while holding ``writer_lock``.
    """

    def __init__(
        self, store_dir: Path, root: Path, *, previous: StoreMeta | None, replaces: StoreMeta | None = None
    ) -> None:
        """Open the tables at ``previous``'s commit, or start empty tables in a new folder when it is None.

        ``replaces`` is the commit a rebuild replaces (its folder is kept for its readers until the
        next commit); it defaults to ``previous``.
        """
        self.path = store_dir
        self.root = root
        self._previous = previous
        self._replaces = replaces if replaces is not None else previous
        self.db_dir = previous.db_dir if previous is not None else DB_DIR_PREFIX + new_commit_id()[:16]
        self._db = _lancedb().connect(str(store_dir / self.db_dir))
        self._tables: dict[str, Any] = {}
        try:
            existing = set(self._db.list_tables().tables) if self._previous else set()
            for name, schema in TABLES.items():
                if self._previous is not None:
                    if name not in existing:
                        raise StoreCorruptError(
                            f"store {store_dir} is corrupted (table {name} is missing); {rebuild_hint(store_dir)}"
                        )
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
                f"store {store_dir} is corrupted (cannot open its tables: {first_line(exc)}); "
                f"{rebuild_hint(store_dir)}"
            ) from exc

    def read(self, name: str, columns: list[str]) -> pa.Table:
        result: pa.Table = self._tables[name].search().select(columns).limit(None).to_arrow()
        return result

    def read_where(self, name: str, column: str, values: list[str]) -> pa.Table:
        """Rows whose ``column`` is one of ``values``."""
        parts = [
            self._tables[name].search().where(f"{column} IN ({_sql_list(values[i : i + _PATHS_PER_PREDICATE])})")
            .limit(None).to_arrow()
            for i in range(0, len(values), _PATHS_PER_PREDICATE)
        ]
        if not parts:
            return TABLES[name].empty_table()
        return pa.concat_tables(parts)

    def delete_paths(self, paths: Iterable[str], tables: Iterable[str] | None = None) -> None:
        ordered = sorted(set(paths))
        names = list(tables) if tables is not None else list(self._tables)
        for start in range(0, len(ordered), _PATHS_PER_PREDICATE):
            predicate = f"path IN ({_sql_list(ordered[start : start + _PATHS_PER_PREDICATE])})"
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

    def commit(self, *, fingerprint: str, last_run: dict[str, Any], manifest: pa.Table) -> StoreMeta:
        """Make this run's writes visible: manifest sidecar first, then ``meta.json``."""
        now = time.time()
        tables = {name: int(table.version) for name, table in self._tables.items()}
        commit_id = new_commit_id()
        replaced = self._replaces.db_dir if self._replaces is not None else ""
        meta = StoreMeta(
            schema_version=SCHEMA_VERSION,
            root=str(self.root),
            tables=tables,
            created_at=self._previous.created_at if self._previous else now,
            updated_at=now,
            fingerprint=fingerprint,
            manifest=write_manifest(self.path, manifest, commit_id[:16]),
            last_run=last_run,
            db_dir=self.db_dir,
            previous_db_dir=replaced if replaced != self.db_dir else "",
            commit_id=commit_id,
        )
        write_meta(self.path, meta)
        return meta
