"""The embedded store: Lance tables pinned by one atomically written ``meta.json``.

Layout of a store directory::

    meta.json         schema version, root, the database folder and committed version of every table,
                      the commit id, last run
    lock              held (flock) by the one writer; readers never take it
    exocortex-store   marks the folder as a store (a writer refuses any other non-empty folder)
    lance-<id>/       the database of the commit: one Lance dataset per table (files.lance, chunks.lance,
                      symbols.lance; ``lance/`` in old stores)

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
_SCAN_IO_BYTES = 64 << 20  # I/O buffer of a streamed read (read_batches)


def _lance() -> Any:
    """``lance`` (pylance), imported on first use, so a search answered from its search data never
    imports it. The tables are plain Lance datasets (``<db folder>/<table>.lance``, the layout
    LanceDB gives them), read and written through pylance directly: importing ``lancedb`` costs
    about 1.3 s more (its namespace client builds hundreds of pydantic validators), paid by
    every short-lived process that opens the store."""
    # Lance's Rust logger warns on routine events (creating a table); keep it to errors
    # unless the user asked for more.
    os.environ.setdefault("LANCE_LOG", "error")
    import lance

    return lance


def _table_uri(db: Path, name: str) -> str:
    return str(db / f"{name}.lance")


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
                lance = _lance()
                db = self.path / self.meta.db_dir
                tables = {
                    name: lance.dataset(_table_uri(db, name), version=version)
                    for name, version in self.meta.tables.items()
                }
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
            result: pa.Table = tables[name].to_table(columns=columns or None, filter=where or None)
            return result
        except Exception as exc:
            raise self._corrupt(name, exc) from exc

    def read_paths(self, name: str, columns: list[str], paths: list[str]) -> pa.Table:
        """The rows of table ``name`` whose ``path`` is one of ``paths`` (``path IN`` a batch at a time)."""
        parts = [
            self.read(name, columns, f"path IN ({_sql_list(paths[i : i + _PATHS_PER_PREDICATE])})")
            for i in range(0, len(paths), _PATHS_PER_PREDICATE)
        ]
        return pa.concat_tables(parts) if parts else self.read(name, columns, "false")

    def read_batches(self, name: str, columns: list[str], batch_rows: int) -> Iterator[pa.RecordBatch]:
        """The rows of table ``name`` in storage order, ``batch_rows`` at a time (never the whole
        table in memory at once)."""
        tables = self._open()
        try:
            # One batch read ahead, within a bounded I/O buffer: with Lance's defaults (several batches
            # and fragments read ahead) the 50k-file base build held ~0.2 GB more while it streamed.
            yield from tables[name].to_batches(
                columns=columns,
                batch_size=batch_rows,
                batch_readahead=1,
                fragment_readahead=1,
                io_buffer_size=_SCAN_IO_BYTES,
            )
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
        self._lance = _lance()
        self._uris = {name: _table_uri(store_dir / self.db_dir, name) for name in TABLES}
        self._tables: dict[str, Any] = {}
        try:
            for name, schema in TABLES.items():
                uri = self._uris[name]
                if self._previous is not None:
                    if not os.path.isdir(uri):
                        raise StoreCorruptError(
                            f"store {store_dir} is corrupted (table {name} is missing); {rebuild_hint(store_dir)}"
                        )
                    table = self._lance.dataset(uri)
                    committed = self._previous.tables[name]
                    if table.version != committed:
                        # Roll back versions written by a run that never committed.
                        self._lance.dataset(uri, version=committed).restore()
                        table = self._lance.dataset(uri)
                else:
                    table = self._lance.write_dataset(schema.empty_table(), uri, schema=schema, mode="overwrite")
                self._tables[name] = table
        except Exception as exc:
            if isinstance(exc, StoreCorruptError):
                raise
            raise StoreCorruptError(
                f"store {store_dir} is corrupted (cannot open its tables: {first_line(exc)}); {rebuild_hint(store_dir)}"
            ) from exc

    def read(self, name: str, columns: list[str]) -> pa.Table:
        result: pa.Table = self._tables[name].to_table(columns=columns)
        return result

    def read_where(self, name: str, column: str, values: list[str]) -> pa.Table:
        """Rows whose ``column`` is one of ``values``."""
        table = self._tables[name]
        parts = [
            table.to_table(filter=f"{column} IN ({_sql_list(values[i : i + _PATHS_PER_PREDICATE])})")
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
                self._tables[name].delete(predicate)  # a new version; the dataset object follows it

    def delete_all(self) -> None:
        for table in self._tables.values():
            table.delete("true")

    def append(self, name: str, rows: pa.Table) -> None:
        if rows.num_rows:
            self._tables[name] = self._lance.write_dataset(rows.cast(TABLES[name]), self._uris[name], mode="append")

    def compact(self, max_fragments: int) -> None:
        """Merge small fragments once a table has accumulated many of them."""
        for name, table in self._tables.items():
            if len(table.get_fragments()) > max_fragments:
                table.optimize.compact_files()
                self._tables[name] = self._lance.dataset(self._uris[name])

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
