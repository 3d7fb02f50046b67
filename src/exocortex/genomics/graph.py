"""The relationship graph of the variant store, in an embedded LadybugDB (Cypher) database.

Shape::

    (:Sample {id, name, source}) -[:CARRIES {zygosity, gt, gq, dp}]-> (:Variant {vid, key, chrom, pos,
        vtype, af, gene, consequence, impact}) -[:IN_GENE {consequence, impact}]-> (:Gene {symbol})

``IN_GENE`` links an allele to every gene its annotations name (``gene`` and ``genes``); the edge
to the most severe annotation's gene carries that annotation's consequence and impact, the
others carry nulls (the per-gene terms live in the ``annotations`` JSON, not parsed here).

``build_graph(store_dir)`` writes it from the committed tables at ``<store>/genomics/graph``:
each table is streamed to a Parquet file in a temporary directory and loaded with one
``COPY ... FROM`` per node or relationship table (never a ``CREATE`` per row), into a new
database file that then replaces the old one atomically, under the genomics writer lock. A
``graph.json`` sidecar records the table versions it was built from, counts and load rates.

``run_cypher(store_dir, query)`` opens the database read-only and returns the rows; a query with a
write or file clause (``CREATE``, ``MERGE``, ``SET``, ``DELETE``, ``REMOVE``, ``DROP``, ``ALTER``,
``COPY``, ``LOAD``, ``INSTALL``, ``ATTACH``, ...) or a second statement is refused first.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from exocortex.errors import ConfigError, IndexNotFoundError
from exocortex.genomics.store import VariantStore, genomics_dir

GRAPH_FILE = "graph"
GRAPH_META = "graph.json"
BATCH_ROWS = 262_144
MAX_ROWS = 10_000
"""Rows ``run_cypher`` returns at most (the rest are counted, not returned)."""

SCHEMA_DDL = (
    "CREATE NODE TABLE Sample(id INT32, name STRING, source INT32, PRIMARY KEY(id))",
    "CREATE NODE TABLE Variant(vid INT64, key STRING, chrom STRING, pos INT64, vtype STRING, af DOUBLE, "
    "gene STRING, consequence STRING, impact STRING, PRIMARY KEY(vid))",
    "CREATE NODE TABLE Gene(symbol STRING, PRIMARY KEY(symbol))",
    "CREATE REL TABLE CARRIES(FROM Sample TO Variant, zygosity STRING, gt STRING, gq INT32, dp INT32)",
    "CREATE REL TABLE IN_GENE(FROM Variant TO Gene, consequence STRING, impact STRING)",
)
VARIANT_COLUMNS = ["vid", "key", "chrom_norm", "pos", "vtype", "af", "gene", "consequence", "impact"]

WRITE_CLAUSES = (
    "CREATE", "MERGE", "SET", "DELETE", "DETACH", "REMOVE", "DROP", "ALTER", "COPY", "LOAD", "INSTALL",
    "ATTACH", "DETACH", "USE", "EXPORT", "IMPORT", "CHECKPOINT", "BEGIN", "COMMIT", "ROLLBACK", "RENAME",
)  # fmt: skip
_WRITE_RE = re.compile(r"\b(" + "|".join(WRITE_CLAUSES) + r")\b", re.IGNORECASE)
_LITERALS = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`|//[^\n]*|/\*.*?\*/", re.DOTALL)


def graph_path(store_dir: str | Path) -> Path:
    return genomics_dir(Path(store_dir)) / GRAPH_FILE


def check_read_only(query: str) -> str:
    """``query`` if it only reads; ``ConfigError`` naming the clause otherwise."""
    bare = _LITERALS.sub(" ", query)
    if not bare.strip():
        raise ConfigError("the Cypher query is empty")
    match = _WRITE_RE.search(bare)
    if match:
        raise ConfigError(
            f"`exocortex vcf graph` runs read-only Cypher: {match.group(1).upper()} is not allowed "
            "(rebuild the graph with `exocortex vcf graph --build`)"
        )
    if ";" in bare.strip().rstrip(";"):
        raise ConfigError("`exocortex vcf graph` runs one Cypher statement: ';' between statements is not allowed")
    return query


@dataclass
class GraphReport:
    path: str
    counts: dict[str, int]
    seconds: dict[str, float]
    edges_per_s: float
    versions: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _write_parquet(path: Path, schema: pa.Schema, batches: Any) -> int:
    rows = 0
    with pq.ParquetWriter(path, schema) as writer:
        for batch in batches:
            if batch.num_rows:
                writer.write_batch(batch)
                rows += batch.num_rows
    return rows


def _stream(store: VariantStore, name: str, columns: list[str]) -> Any:
    if not store.has(name):
        return iter(())
    return store.table(name).batches(columns, batch_rows=BATCH_ROWS)


def _export(store: VariantStore, tmp: Path) -> dict[str, int]:
    """Parquet files of every node and relationship table, in COPY column order; their row counts."""
    counts: dict[str, int] = {}
    samples = store.read("samples", ["sample", "name", "source"])
    pq.write_table(samples.rename_columns(["id", "name", "source"]), tmp / "Sample.parquet")
    counts["Sample"] = samples.num_rows

    variant_schema = pa.schema([
        ("vid", pa.int64()), ("key", pa.string()), ("chrom", pa.string()), ("pos", pa.int64()),
        ("vtype", pa.string()), ("af", pa.float64()), ("gene", pa.string()), ("consequence", pa.string()),
        ("impact", pa.string()),
    ])  # fmt: skip
    in_gene_schema = pa.schema(
        [("from", pa.int64()), ("to", pa.string()), ("consequence", pa.string()), ("impact", pa.string())]
    )
    genes: set[str] = set()
    n_variants = n_in_gene = 0
    with (
        pq.ParquetWriter(tmp / "Variant.parquet", variant_schema) as vw,
        pq.ParquetWriter(tmp / "IN_GENE.parquet", in_gene_schema) as gw,
    ):
        for batch in _stream(store, "variants", [*VARIANT_COLUMNS, "genes"]):
            vw.write_batch(
                pa.RecordBatch.from_arrays([batch.column(c) for c in VARIANT_COLUMNS], schema=variant_schema)
            )
            n_variants += batch.num_rows
            edges = _gene_edges(pa.Table.from_batches([batch]))
            if edges.num_rows:
                gw.write_table(edges.cast(in_gene_schema))
                n_in_gene += edges.num_rows
                genes.update(str(g) for g in pc.unique(edges["to"]).to_pylist())
    counts["Variant"], counts["IN_GENE"] = n_variants, n_in_gene
    pq.write_table(pa.table({"symbol": pa.array(sorted(genes), pa.string())}), tmp / "Gene.parquet")
    counts["Gene"] = len(genes)

    carries_schema = pa.schema(
        [
            ("from", pa.int32()),
            ("to", pa.int64()),
            ("zygosity", pa.string()),
            ("gt", pa.string()),
            ("gq", pa.int32()),
            ("dp", pa.int32()),
        ]
    )
    counts["CARRIES"] = _write_parquet(
        tmp / "CARRIES.parquet",
        carries_schema,
        (
            pa.RecordBatch.from_arrays(
                [b.column(c) for c in ("sample", "vid", "zygosity", "gt", "gq", "dp")], schema=carries_schema
            )
            for b in _stream(store, "calls", ["sample", "vid", "zygosity", "gt", "gq", "dp"])
        ),
    )
    return counts


def _gene_edges(batch: pa.Table) -> pa.Table:
    """Distinct (vid, gene) pairs of ``gene`` and ``genes``; the primary gene's edge keeps the terms."""
    primary = batch.select(["vid", "gene", "consequence", "impact"]).filter(pc.is_valid(batch["gene"]))
    primary = primary.rename_columns(["from", "to", "consequence", "impact"])
    lists = batch["genes"].combine_chunks()
    parent = pc.list_parent_indices(lists)
    others = pa.table({"from": pc.take(batch["vid"], parent), "to": pc.list_flatten(lists).cast(pa.string())})
    others = others.filter(pc.is_valid(others["to"]))
    # drop list entries equal to the primary gene of the same allele
    primary_gene = pc.take(batch["gene"], parent).filter(pc.is_valid(pc.list_flatten(lists)))
    others = others.filter(pc.invert(pc.fill_null(pc.equal(others["to"], primary_gene), False)))
    others = others.group_by(["from", "to"]).aggregate([]).select(["from", "to"])
    null = pa.nulls(others.num_rows, pa.string())
    others = others.append_column("consequence", null).append_column("impact", null)
    return pa.concat_tables([primary.cast(others.schema), others])


def build_graph(store_dir: str | Path, wait_s: float = 0.0) -> GraphReport:
    """(Re)build the graph database from the committed tables, by bulk ``COPY FROM``."""
    import ladybug

    from exocortex.store.meta import writer_lock

    store_dir = Path(store_dir)
    folder = genomics_dir(store_dir)
    target = graph_path(store_dir)
    with writer_lock(folder, wait_s):
        store = VariantStore(store_dir)
        store.table("variants")  # IndexNotFoundError when nothing was ingested
        seconds: dict[str, float] = {}
        t0 = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="graph-", dir=folder) as tmp_s:
            tmp = Path(tmp_s)
            counts = _export(store, tmp)
            seconds["export"] = time.perf_counter() - t0
            building = tmp / "graph.building"
            db = ladybug.Database(str(building))
            conn = ladybug.Connection(db)
            for ddl in SCHEMA_DDL:
                conn.execute(ddl)
            for name in ("Sample", "Variant", "Gene", "CARRIES", "IN_GENE"):
                t = time.perf_counter()
                if counts[name]:
                    conn.execute(f"COPY {name} FROM '{tmp / (name + '.parquet')}'")
                seconds[name] = time.perf_counter() - t
            conn.close()
            db.close()
            os.replace(building, target)
            for leftover in tmp.glob("graph.building*"):  # a WAL or lock next to the file, if any
                os.replace(leftover, target.with_name(GRAPH_FILE + leftover.name[len("graph.building") :]))
        seconds["total"] = time.perf_counter() - t0
        edge_s = seconds["CARRIES"] + seconds["IN_GENE"]
        edges = counts["CARRIES"] + counts["IN_GENE"]
        report = GraphReport(
            path=str(target),
            counts=counts,
            seconds=seconds,
            edges_per_s=edges / edge_s if edge_s > 0 else 0.0,
            versions={k: v for k, v in store.manifest.tables.items() if k in ("variants", "calls", "samples")},
        )
        (folder / GRAPH_META).write_text(json.dumps(report.to_dict(), indent=2), encoding="utf-8")
    return report


@dataclass
class CypherResult:
    columns: list[str]
    rows: list[list[Any]]
    truncated: int = 0
    """Rows past ``max_rows``, counted but not returned."""
    stale: bool = False
    """The graph was built from older table versions than the store's committed ones."""

    def to_dict(self) -> dict[str, Any]:
        return {"columns": self.columns, "rows": self.rows, "truncated": self.truncated, "stale": self.stale}


def run_cypher(
    store_dir: str | Path, query: str, parameters: dict[str, Any] | None = None, max_rows: int = MAX_ROWS
) -> CypherResult:
    """Run one read-only Cypher query against the graph; rows as lists, at most ``max_rows``."""
    check_read_only(query)
    import ladybug

    store = VariantStore(store_dir)  # IndexNotFoundError when nothing was ingested
    path = graph_path(store_dir)
    if not path.exists():
        raise IndexNotFoundError(f"no variant graph at {path}: run `exocortex vcf graph --build --store {store_dir}`")
    stale = False
    try:
        built = json.loads((path.parent / GRAPH_META).read_text(encoding="utf-8")).get("versions", {})
        stale = any(store.manifest.tables.get(k) != v for k, v in built.items())
    except (OSError, ValueError):
        stale = True
    db = ladybug.Database(str(path), read_only=True)
    conn = ladybug.Connection(db)
    try:
        try:
            result = conn.execute(query, parameters or {})
        except RuntimeError as exc:
            line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ConfigError(f"Cypher query failed: {line[:300]}") from None
        if isinstance(result, list):
            raise ConfigError("`exocortex vcf graph` runs one Cypher statement at a time")
        columns = list(result.get_column_names())
        rows: list[list[Any]] = []
        truncated = 0
        while result.has_next():
            row = result.get_next()
            if len(rows) < max_rows:
                rows.append(list(row))
            else:
                truncated += 1
        result.close()
    finally:
        conn.close()
        db.close()
    return CypherResult(columns=columns, rows=rows, truncated=truncated, stale=stale)
