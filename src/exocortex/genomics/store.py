"""The variant store on disk: Lance tables pinned by one atomically written ``manifest.json``.

Layout, inside the store directory (``.exocortex`` by default, shared with a code index)::

    genomics/
      manifest.json   schema version, the committed version of every table, ingest progress
      lance/          one Lance dataset per table: variants.lance, calls.lance, samples.lance, ...
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
restored to the committed version (Lance ``restore`` of the committed version, which writes a new
version with the committed content, so nothing appended after the last commit survives). ``append``
and ``delete`` change tables (each is one Lance version: append whole batches), ``commit`` writes
the manifest.

The tables are Lance datasets opened with pylance (``import lance``), each wrapped in a
:class:`LanceTable` with the few operations the genomics modules use (scan, stream, take by row id,
count, append, delete, restore, scalar indexes). Not lancedb: its import costs a second or more
(its namespace client), which every ``vcf`` command would pay; the files are the same
(``lance/<name>.lance``, what ``lancedb.connect(lance/)`` opens), so either opens the other's stores.
The ``features`` table of ``vcf similar`` is still written and searched through lancedb
(:mod:`exocortex.genomics.similar`); the writer rolls it back like the others.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa

from exocortex.errors import IndexNotFoundError, InputPathError, SchemaVersionError, StoreCorruptError
from exocortex.genomics.schema import SCHEMA_VERSION, TABLES
from exocortex.store.meta import _atomic_write, claim_store, writer_lock

GENOMICS_DIR = "genomics"
MANIFEST = "manifest.json"
DB_DIR = "lance"
REJECTS_DIR = "rejects"
SCALAR_INDEX_TYPES = ("BTREE", "BITMAP", "LABEL_LIST", "ZONEMAP")
"""The scalar index kinds :meth:`LanceTable.create_scalar_index` builds."""


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
    if Path(store_dir).exists() and not Path(store_dir).is_dir():
        raise InputPathError(f"--store {store_dir} is not a directory: a store is a folder")
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


class LanceTable:
    """One Lance dataset of the store (``lance/<name>.lance``) at one version, through pylance.

    Readers get one pinned at the committed version (:meth:`VariantStore.table`) and only read it:
    :meth:`scan`, :meth:`batches`, :meth:`take`, :meth:`count_rows`, :meth:`list_indices`. The
    writer's tables follow their latest version and also change: :meth:`append`, :meth:`delete`,
    :meth:`restore`, :meth:`create_scalar_index` each write one new Lance version. ``where`` is a
    Lance SQL predicate; a predicate Lance refuses raises ``ValueError`` (whichever call it reached:
    pylance raises ``OSError("Invalid user input: ...")`` from some), other I/O errors pass as they are.

    The directory layout and on-disk format are lancedb's (lancedb is pylance underneath), so stores
    written by earlier versions through lancedb open here, and the other way round.
    """

    def __init__(self, uri: str | Path, version: int | None = None) -> None:
        import lance

        self.uri = str(uri)
        self.dataset: Any = lance.dataset(self.uri, version=version)
        """The pylance ``LanceDataset`` (for anything not wrapped here)."""

    @classmethod
    def create(cls, uri: str | Path, schema: pa.Schema) -> LanceTable:
        """A new empty table with ``schema`` (version 1); fails if ``uri`` exists."""
        import lance

        table = cls.__new__(cls)
        table.uri = str(uri)
        table.dataset = lance.write_dataset(schema.empty_table(), table.uri, mode="create")
        return table

    @property
    def version(self) -> int:
        return int(self.dataset.version)

    @property
    def latest_version(self) -> int:
        """The newest version on disk (past :attr:`version` while a writer appends)."""
        return int(self.dataset.latest_version)

    @property
    def schema(self) -> pa.Schema:
        schema: pa.Schema = self.dataset.schema
        return schema

    # --- reading -----------------------------------------------------------------------------

    def scan(
        self,
        columns: list[str] | None = None,
        where: str | None = None,
        *,
        row_id: bool = False,
        order_by: list[str] | None = None,
        limit: int | None = None,
    ) -> pa.Table:
        """The rows matching ``where`` (all without), only ``columns``; ``row_id`` adds ``_rowid``
        (for :meth:`take`); ``order_by`` sorts ascending, nulls last, by those columns (with ``limit``:
        a top-k in Lance); ``limit`` keeps the first rows."""
        with _input_errors():
            result: pa.Table = self.dataset.to_table(
                columns=columns, filter=where or None, with_row_id=row_id or None, order_by=_ordering(order_by),
                limit=limit,
            )  # fmt: skip
        return result

    def batches(
        self, columns: list[str] | None = None, where: str | None = None, batch_rows: int = 65_536
    ) -> Iterator[pa.RecordBatch]:
        """The rows of :meth:`scan`, streamed in record batches of at most ``batch_rows``."""
        with _input_errors():
            yield from self.dataset.to_batches(columns=columns, filter=where or None, batch_size=batch_rows)

    def take(self, row_ids: list[int] | pa.Array, columns: list[str] | None = None) -> pa.Table:
        """The rows with these ``_rowid`` values (from ``scan(row_id=True)`` at this version).

        Uses ``LanceDataset._take_rows`` (what lancedb's ``take_row_ids`` calls): the public
        ``LanceDataset.take`` takes row *offsets*, which differ from row ids once rows are deleted.
        The order of the result is not promised; sort it by a key column.
        """
        with _input_errors():
            result: pa.Table = self.dataset._take_rows(row_ids, columns=columns)
        return result

    def count_rows(self, where: str | None = None) -> int:
        """Rows matching ``where`` (all without): answered from the scalar indexes when they cover it."""
        with _input_errors():
            return int(self.dataset.count_rows(where or None))

    def list_indices(self) -> list[IndexInfo]:
        """The indexes of this version."""
        return [
            IndexInfo(name=i.name, index_type=_index_type(i.type_url), columns=list(i.field_names))
            for i in self.dataset.describe_indices()
        ]

    # --- writing (the writer only) -----------------------------------------------------------

    def refresh(self) -> None:
        """Move to the newest version on disk (another thread's index build may have made one)."""
        self.dataset = self.dataset.checkout_version(self.dataset.latest_version)

    def append(self, data: pa.Table) -> None:
        """One new version with ``data`` appended (it must have the table's schema)."""
        import lance

        self.dataset = lance.write_dataset(data, self.uri, mode="append")

    def delete(self, where: str) -> None:
        """One new version without the rows matching ``where``."""
        with _input_errors():
            self.dataset.delete(where)

    def restore(self, version: int) -> None:
        """One new version (the newest) whose content is that of ``version``: what came after is gone."""
        old = self.dataset.checkout_version(version)
        old.restore()  # commits the new version and moves ``old`` to it
        self.dataset = old

    def create_scalar_index(self, column: str, index_type: str = "BTREE") -> None:
        """A ``BTREE``, ``BITMAP``, ``LABEL_LIST`` or ``ZONEMAP`` index on ``column``, replacing one there.

        One new version. A zone map (min/max per 8,192 rows) is all a column stored in sorted order
        needs: it builds in one pass with no extra memory and prunes as well as a B-tree there.

        Builds on its own handle of the newest version, so threads may build indexes on one table side
        by side (Lance rebases the index commits onto each other); :meth:`refresh` afterwards.
        """
        import lance

        kind = index_type.upper()
        if kind not in SCALAR_INDEX_TYPES:
            raise ValueError(f"unknown scalar index type {index_type!r} (types: {', '.join(SCALAR_INDEX_TYPES)})")
        own: Any = lance.dataset(self.uri)
        for index in own.describe_indices():  # another kind on this column: replaced, not kept beside it
            if list(index.field_names) == [column] and _index_type(index.type_url).upper() != kind.replace("_", ""):
                own.drop_index(index.name)
                own = lance.dataset(self.uri)
        own.create_scalar_index(column, index_type=kind, name=f"{column}_idx", replace=True)
        self.refresh()


@dataclass(frozen=True)
class IndexInfo:
    """One index of a table: its name, kind (``BTree``, ``Bitmap``, ``LabelList``, ``IvfPq``, ...) and columns."""

    name: str
    index_type: str
    columns: list[str]


def _index_type(type_url: str) -> str:
    """``/lance.table.BTreeIndexDetails`` -> ``BTree``."""
    name = type_url.rsplit(".", 1)[-1]
    return name.removesuffix("IndexDetails") or type_url


def _ordering(columns: list[str] | None) -> list[Any] | None:
    if not columns:
        return None
    from lance.dataset import ColumnOrdering

    return [ColumnOrdering(column_name=c) for c in columns]


@contextlib.contextmanager
def _input_errors() -> Iterator[None]:
    """pylance's ``OSError("Invalid user input: ...")`` (a predicate it cannot plan) as ``ValueError``."""
    try:
        yield
    except OSError as exc:
        if str(exc).startswith("Invalid user input"):
            raise ValueError(str(exc)) from None
        raise


def table_path(lance_dir: Path, name: str) -> Path:
    """Where table ``name`` lives: ``<lance_dir>/<name>.lance`` (lancedb's layout)."""
    return lance_dir / f"{name}.lance"


def table_names(lance_dir: Path) -> set[str]:
    """The tables on disk in ``lance_dir`` (committed or not)."""
    if not lance_dir.is_dir():
        return set()
    return {p.name.removesuffix(".lance") for p in lance_dir.iterdir() if p.name.endswith(".lance") and p.is_dir()}


def _empty(name: str, columns: list[str] | None) -> pa.Table:
    """A table with no rows yet: its schema, or the asked columns of it."""
    empty = TABLES[name].empty_table()
    return empty if columns is None else empty.select(columns)


class VariantStore:
    """Read access to the committed tables (``table(name)``: a :class:`LanceTable` at its pinned version)."""

    def __init__(self, store_dir: str | Path) -> None:
        self.store_dir = Path(store_dir)
        self.manifest = read_manifest(self.store_dir)
        self.lance_dir = genomics_dir(self.store_dir) / DB_DIR
        self._tables: dict[str, LanceTable] = {}

    def has(self, name: str) -> bool:
        return name in self.manifest.tables

    def table(self, name: str) -> LanceTable:
        """The table ``name`` at its committed version."""
        if name not in TABLES:
            raise ValueError(f"unknown table {name!r} (tables: {', '.join(TABLES)})")
        if name not in self._tables:
            if name not in self.manifest.tables:
                raise IndexNotFoundError(f"the variant store at {self.store_dir} has no {name} yet")
            self._tables[name] = LanceTable(table_path(self.lance_dir, name), self.manifest.tables[name])
        return self._tables[name]

    def read(self, name: str, columns: list[str] | None = None, where: str | None = None) -> pa.Table:
        """Rows of a committed table (all, or those matching a Lance SQL predicate)."""
        if name not in self.manifest.tables:
            return _empty(name, columns)
        return self.table(name).scan(columns, where)

    def incomplete_ingests(self) -> list[dict[str, Any]]:
        """Files whose ingest was interrupted: their committed batches are in the tables (queries
        see them), but not the rest of the file. Each: path, source, records committed so far, the
        command that finishes it and a one-line note saying so."""
        out = []
        for key, entry in sorted(self.manifest.progress.items(), key=lambda kv: str(kv[0])):
            path = str(entry.get("path") or "?")
            records = entry.get("records")
            records = int(records) if isinstance(records, int) and not isinstance(records, bool) else None
            command = f"exocortex vcf ingest --resume {shlex.quote(path)} --store {shlex.quote(str(self.store_dir))}"
            done = f"{records:,} records committed" if records is not None else "part of it committed"
            out.append({
                "path": path,
                "source": int(key) if str(key).isdigit() else key,
                "records_committed": records,
                "resume": command,
                "note": f"the ingest of {path} is incomplete ({done}): finish it with `{command}`",
            })  # fmt: skip
        return out


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
        self.lance_dir = genomics_dir(self.store_dir) / DB_DIR
        self._stack = contextlib.ExitStack()
        self._tables: dict[str, LanceTable] = {}

    def __enter__(self) -> VariantWriter:
        folder = genomics_dir(self.store_dir)
        claim_store(self.store_dir)  # never write into a folder that holds something else
        self._stack.enter_context(writer_lock(folder, wait_s=self.lock_wait_s))
        try:
            try:
                self.manifest = read_manifest(self.store_dir)
            except IndexNotFoundError:
                self.manifest = Manifest()
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

    def _rollback(self) -> None:
        """Discard whatever was written after the last commit."""
        for name in table_names(self.lance_dir):
            path = table_path(self.lance_dir, name)
            if name not in self.manifest.tables:
                shutil.rmtree(path)
                continue
            committed = self.manifest.tables[name]
            try:
                table = LanceTable(path)
                if table.version != committed:
                    table.restore(committed)
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

    def table(self, name: str) -> LanceTable:
        """The writable table ``name`` at its latest version, created empty with its schema on first use."""
        if name not in TABLES:
            raise ValueError(f"unknown table {name!r} (tables: {', '.join(TABLES)})")
        if name not in self._tables:
            self.lance_dir.mkdir(parents=True, exist_ok=True)
            self._tables[name] = LanceTable.create(table_path(self.lance_dir, name), TABLES[name])
        return self._tables[name]

    def version(self, name: str) -> int:
        return self.table(name).version

    def read(self, name: str, columns: list[str] | None = None, where: str | None = None) -> pa.Table:
        """Rows as this writer sees them (committed plus its own uncommitted changes)."""
        if name not in self._tables:
            return _empty(name, columns)
        return self._tables[name].scan(columns, where)

    def append(self, name: str, data: pa.Table) -> None:
        """Append ``data`` (cast to the table's schema); empty data writes nothing."""
        table = self.table(name)
        if data.num_rows:
            table.append(data.select(TABLES[name].names).cast(TABLES[name]))

    def delete(self, name: str, where: str) -> None:
        if name in self._tables:
            self._tables[name].delete(where)

    def create_scalar_index(self, name: str, column: str, index_type: str = "BTREE") -> None:
        """A scalar index on ``column`` (replacing an older one); a new table version to commit.

        Safe to call from several threads at once (see :meth:`LanceTable.create_scalar_index`).
        """
        table = self._tables.get(name)
        if table is None or table.count_rows() == 0:
            return
        table.create_scalar_index(column, index_type)

    def indexed_columns(self, name: str) -> set[str]:
        """The columns of ``name`` that have an index at the table's latest version."""
        table = self._tables.get(name)
        if table is None:
            return set()
        table.refresh()  # builds on another thread may have moved the table on
        return {c for i in table.list_indices() for c in i.columns}

    def commit(self, progress: dict[str, dict[str, Any]] | None = None) -> None:
        """Name the current version of every table (and ``progress``) in the manifest, atomically."""
        for name, table in self._tables.items():
            self.manifest.tables[name] = table.version
        if progress is not None:
            self.manifest.progress = progress
        write_manifest(self.store_dir, self.manifest)
