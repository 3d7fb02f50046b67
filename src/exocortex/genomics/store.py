"""The variant store on disk: Lance tables pinned by one atomically written ``manifest.json``.

Layout, inside the store directory (``.exocortex`` by default, shared with a code index)::

    genomics/
      manifest.json   schema version, the committed version of every table, ingest progress
      lance/          variants, calls, samples, sources
      lock            the writer lock (one writer at a time)

The commit point is ``manifest.json``, as for the code store (``store/meta.py``): a writer
appends a batch to each table, then replaces the manifest naming the new versions. A reader
opens every table *at the version the manifest names*, so a batch appended but not committed
(the writer crashed between the tables, or before the manifest) is never visible, and the next
writer rolls the tables back to the committed versions before it appends. ``progress`` in the
manifest records, per source being ingested, the last committed batch and how many records it
had consumed: what ``--resume`` continues from.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from exocortex.errors import IndexNotFoundError, SchemaVersionError, StoreCorruptError
from exocortex.genomics.schema import SCHEMA_VERSION, TABLES
from exocortex.store.meta import _atomic_write

GENOMICS_DIR = "genomics"
MANIFEST = "manifest.json"
DB_DIR = "lance"


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
            return TABLES[name].empty_table() if columns is None else TABLES[name].empty_table().select(columns)
        query = self.table(name).search()
        if where:
            query = query.where(where)
        if columns:
            query = query.select(columns)
        return query.limit(None).to_arrow()
