"""The variant store on disk: Lance tables pinned by one atomically written ``manifest.json``.

Layout, inside the store directory (``.exocortex`` by default, shared with a code index)::

    genomics/
      manifest.json   schema version, the committed version of every table, ingest progress
      lance/          variants, calls, samples, sources
      lock            the writer lock (one writer at a time)
      rejects/        one TSV per ingested file with the records that were quarantined

The commit point is ``manifest.json``, as for the code store (``store/meta.py``): a writer
appends a batch to each table, then replaces the manifest naming the new versions. A reader
opens every table *at the version the manifest names*, so a batch appended but not committed
(the writer crashed between the tables, or before the manifest) is never visible, and the next
writer rolls the tables back to the committed versions before it appends. ``progress`` in the
manifest records, per source being ingested, the last committed batch and how many records it
had consumed: what ``--resume`` continues from.

:class:`VariantWriter` is that writer. Opening it takes the lock and rolls back: a table the
manifest does not name is dropped, a table whose latest version is past its committed one is
restored to the committed version (Lance ``checkout`` + ``restore``, which writes a new version
with the committed content, so nothing appended after the last commit survives). ``append`` and
``delete`` change tables (each is one Lance version: append whole batches), ``commit`` writes the
manifest.
"""

from __future__ import annotations

import contextlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa

from exocortex.errors import IndexNotFoundError, SchemaVersionError, StoreCorruptError
from exocortex.genomics.schema import SCHEMA_VERSION, TABLES
from exocortex.store.meta import _atomic_write, writer_lock

GENOMICS_DIR = "genomics"
MANIFEST = "manifest.json"
DB_DIR = "lance"
REJECTS_DIR = "rejects"


@dataclass
class Manifest:
    schema_version: int = SCHEMA_VERSION
    tables: dict[str, int] = field(default_factory=dict)
    """Committed version of each table; a table absent here has no committed rows."""
    progress: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per source id (as a string) still being ingested: {"batch": n, "records": n, "alleles": n, ...}."""
    updated_at: float = 0.0

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2, sort_keys=True)


def genomics_dir(store_dir: Path) -> Path:
    return Path(store_dir) / GENOMICS_DIR


def read_manifest(store_dir: Path) -> Manifest:
    """The committed manifest; ``IndexNotFoundError`` when nothing was ever ingested here."""
    path = genomics_dir(store_dir) / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise IndexNotFoundError(
            f"no variant store at {store_dir}: run `exocortex vcf ingest FILE --store {store_dir}` first"
        ) from None
    except (OSError, ValueError) as exc:
        raise StoreCorruptError(f"the variant store manifest {path} is unreadable ({exc})") from None
    if data.get("schema_version") != SCHEMA_VERSION:
        raise SchemaVersionError(
            f"the variant store at {store_dir} has schema version {data.get('schema_version')}, this exocortex "
            f"reads {SCHEMA_VERSION}: re-ingest into a new store"
        )
    return Manifest(**{k: data[k] for k in ("schema_version", "tables", "progress", "updated_at") if k in data})


def write_manifest(store_dir: Path, manifest: Manifest) -> None:
    """Commit: atomically replace the manifest (fsync of the file and of its directory)."""
    manifest.updated_at = time.time()
    folder = genomics_dir(store_dir)
    folder.mkdir(parents=True, exist_ok=True)
    _atomic_write(folder / MANIFEST, manifest.to_json().encode("utf-8"))


def scan(table: Any, columns: list[str] | None = None, where: str | None = None) -> pa.Table:
    """Every row of a Lance table (or those matching a SQL predicate), as Arrow."""
    query = table.search()
    if where:
        query = query.where(where)
    if columns:
        query = query.select(columns)
    result: pa.Table = query.limit(None).to_arrow()
    return result


def _empty(name: str, columns: list[str] | None) -> pa.Table:
    """A table with no rows yet: its schema, or the asked columns of it."""
    empty = TABLES[name].empty_table()
    return empty if columns is None else empty.select(columns)


class VariantStore:
    """Read access to the committed tables (``table(name)`` is a Lance table at its pinned version)."""

    def __init__(self, store_dir: str | Path) -> None:
        import lancedb

        self.store_dir = Path(store_dir)
        self.manifest = read_manifest(self.store_dir)
        self._db = lancedb.connect(str(genomics_dir(self.store_dir) / DB_DIR))
        self._tables: dict[str, Any] = {}

    def has(self, name: str) -> bool:
        return name in self.manifest.tables

    def table(self, name: str) -> Any:
        """The Lance table ``name`` checked out at its committed version."""
        if name not in TABLES:
            raise ValueError(f"unknown table {name!r} (tables: {', '.join(TABLES)})")
        if name not in self._tables:
            if name not in self.manifest.tables:
                raise IndexNotFoundError(f"the variant store at {self.store_dir} has no {name} yet")
            table = self._db.open_table(name)
            table.checkout(self.manifest.tables[name])
            self._tables[name] = table
        return self._tables[name]

    def read(self, name: str, columns: list[str] | None = None, where: str | None = None) -> pa.Table:
        """Rows of a committed table (all, or those matching a Lance SQL predicate)."""
        if name not in self.manifest.tables:
            return _empty(name, columns)
        return scan(self.table(name), columns, where)


class VariantWriter:
    """The one writer of a variant store: rollback at open, append/delete, commit via the manifest.

    Use as a context manager (it holds ``<store>/genomics/lock`` while open)::

        with VariantWriter(store_dir) as w:
            w.append("variants", table)
            w.commit(progress={...})
    """

    def __init__(self, store_dir: str | Path, lock_wait_s: float = 0.0) -> None:
        self.store_dir = Path(store_dir)
        self.lock_wait_s = lock_wait_s
        self.manifest = Manifest()
        self._stack = contextlib.ExitStack()
        self._db: Any = None
        self._tables: dict[str, Any] = {}

    def __enter__(self) -> VariantWriter:
        import lancedb

        folder = genomics_dir(self.store_dir)
        self._stack.enter_context(writer_lock(folder, wait_s=self.lock_wait_s))
        try:
            try:
                self.manifest = read_manifest(self.store_dir)
            except IndexNotFoundError:
                self.manifest = Manifest()
            self._db = lancedb.connect(str(folder / DB_DIR))
            self._rollback()
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._tables.clear()
        self._stack.close()

    def _existing(self) -> set[str]:
        return set(self._db.list_tables().tables)

    def _rollback(self) -> None:
        """Discard whatever was written after the last commit."""
        for name in self._existing():
            if name not in self.manifest.tables:
                self._db.drop_table(name)
                continue
            table = self._db.open_table(name)
            committed = self.manifest.tables[name]
            if table.version != committed:
                try:
                    table.checkout(committed)
                    table.restore()
                except Exception as exc:
                    raise StoreCorruptError(
                        f"the variant store table {name} has no committed version {committed} ({exc}): "
                        "re-ingest into a new store"
                    ) from None
            self._tables[name] = table
        missing = set(self.manifest.tables) - set(self._tables)
        if missing:
            raise StoreCorruptError(
                f"the variant store manifest names tables that are missing on disk: {', '.join(sorted(missing))}"
            )

    def table(self, name: str) -> Any:
        """The writable Lance table ``name``, created empty with its schema on first use."""
        if name not in TABLES:
            raise ValueError(f"unknown table {name!r} (tables: {', '.join(TABLES)})")
        if name not in self._tables:
            self._tables[name] = self._db.create_table(name, schema=TABLES[name])
        return self._tables[name]

    def version(self, name: str) -> int:
        return int(self.table(name).version)

    def read(self, name: str, columns: list[str] | None = None, where: str | None = None) -> pa.Table:
        """Rows as this writer sees them (committed plus its own uncommitted changes)."""
        if name not in self._tables:
            return _empty(name, columns)
        return scan(self._tables[name], columns, where)

    def append(self, name: str, data: pa.Table) -> None:
        """Append ``data`` (cast to the table's schema); empty data writes nothing."""
        table = self.table(name)
        if data.num_rows:
            table.add(data.select(TABLES[name].names).cast(TABLES[name]))

    def delete(self, name: str, where: str) -> None:
        if name in self._tables:
            self._tables[name].delete(where)

    def create_scalar_index(self, name: str, column: str, index_type: str = "BTREE") -> None:
        """A scalar index on ``column`` (replacing an older one); a new table version to commit."""
        table = self._tables.get(name)
        if table is None or table.count_rows() == 0:
            return
        from lancedb.index import Bitmap, BTree, LabelList

        configs: dict[str, Any] = {"BTREE": BTree, "BITMAP": Bitmap, "LABEL_LIST": LabelList}
        table.create_index(column, config=configs[index_type.upper()](), replace=True)

    def indexed_columns(self, name: str) -> set[str]:
        """The columns of ``name`` that have an index at the table's latest version."""
        table = self._tables.get(name)
        if table is None:
            return set()
        table.checkout_latest()  # builds on another thread may have moved the table on
        return {c for i in table.list_indices() for c in i.columns}

    def commit(self, progress: dict[str, dict[str, Any]] | None = None) -> None:
        """Name the current version of every table (and ``progress``) in the manifest, atomically."""
        for name, table in self._tables.items():
            self.manifest.tables[name] = int(table.version)
        if progress is not None:
            self.manifest.progress = progress
        write_manifest(self.store_dir, self.manifest)
