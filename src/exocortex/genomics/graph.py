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

``run_cypher(store_dir, query)`` returns the rows. A query with a write or file clause (``CREATE``,
``MERGE``, ``SET``, ``DELETE``, ``REMOVE``, ``DROP``, ``ALTER``, ``COPY``, ``LOAD``, ``INSTALL``,
``ATTACH``, ...) or a second statement is refused first, by keyword. That check is for the
message; what keeps a query from writing is its process (:mod:`.cypher_worker`): it opens the
database read-only, and has given up its own right to write any file (Landlock, and a file-size
limit of 0) before the query runs, so ``COPY ... TO`` (which a read-only database allows) writes
nothing. The worker also has a memory limit, the query a time limit (LadybugDB's query timeout,
and the worker is killed shortly after it), and at most ``max_rows`` rows come back.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from exocortex.errors import ConfigError, IndexNotFoundError, WorkerCrashedError
from exocortex.genomics.store import VariantStore, genomics_dir
from exocortex.log import get_logger

GRAPH_FILE = "graph"
GRAPH_META = "graph.json"
BATCH_ROWS = 262_144
MAX_ROWS = 10_000
"""Rows ``run_cypher`` returns by default (the rest are counted, not returned); at most
``graph_max_rows`` of the configuration may be asked for."""
KILL_GRACE_S = 2.0
"""The worker is killed this long after the time limit, if LadybugDB did not stop the query itself."""
WORKER_ARGS = ("-m", "exocortex.genomics.cypher_worker")
"""How the query worker is started (after ``sys.executable``)."""

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
    _, first = np.unique(samples["sample"].to_numpy(), return_index=True)  # a sample in several files: one node
    samples = samples.take(pa.array(np.sort(first)))
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


@dataclass(frozen=True)
class QueryLimits:
    """What one Cypher query may take: wall-clock seconds, memory, rows returned."""

    timeout_s: float
    memory_bytes: int
    max_rows: int


def query_limits(
    max_rows: int | None = None, timeout_s: float | None = None, memory_bytes: int | None = None
) -> QueryLimits:
    """The limits of a query: the arguments given, else the configuration (``EXOCORTEX_GRAPH_*``,
    checked there); ``ConfigError`` for a value out of its setting's range (negative, NaN,
    infinite) or rows past ``graph_max_rows``."""
    from exocortex.config import RANGES, load_config

    config = load_config()
    rows = MAX_ROWS if max_rows is None else max_rows
    if isinstance(rows, bool) or not isinstance(rows, int) or not 0 <= rows <= config.graph_max_rows:
        raise ConfigError(f"--max-rows must be between 0 and {config.graph_max_rows:,} (got {max_rows})")
    for flag, name, value in (
        ("--timeout", "graph_query_timeout_s", timeout_s),
        ("memory_bytes", "graph_query_memory_bytes", memory_bytes),
    ):
        allowed = RANGES[name]
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int | float) or not allowed.holds(value)
        ):  # NaN holds in no range
            raise ConfigError(f"{flag} {allowed.refusal(value)} (got {value})")
    return QueryLimits(
        timeout_s=float(config.graph_query_timeout_s if timeout_s is None else timeout_s),
        memory_bytes=int(config.graph_query_memory_bytes if memory_bytes is None else memory_bytes),
        max_rows=rows,
    )


def run_cypher(
    store_dir: str | Path,
    query: str,
    parameters: dict[str, Any] | None = None,
    max_rows: int | None = MAX_ROWS,
    *,
    timeout_s: float | None = None,
    memory_bytes: int | None = None,
) -> CypherResult:
    """Run one read-only Cypher query against the graph; rows as lists, at most ``max_rows``.

    The query runs in a worker process that cannot write files (:mod:`.cypher_worker`), with a
    time limit (``timeout_s``, default ``graph_query_timeout_s``) and a memory limit
    (``graph_query_memory_bytes``): past either, ``ConfigError`` (exit 7: the limits are settings), one line
    saying which limit and how to raise it.
    """
    check_read_only(query)
    limits = query_limits(max_rows, timeout_s, memory_bytes)
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
    reply = _run_worker(
        {
            "path": str(path),
            "query": query,
            "parameters": parameters or {},
            "max_rows": limits.max_rows,
            "timeout_ms": max(1, int(limits.timeout_s * 1000)),
            "memory_bytes": limits.memory_bytes,
        },
        limits,
    )
    rows = reply["rows"]
    return CypherResult(columns=reply["columns"], rows=rows, truncated=reply["total"] - len(rows), stale=stale)


def _run_worker(request: dict[str, Any], limits: QueryLimits) -> dict[str, Any]:
    """The worker's reply to ``request``; the errors it reports raised here as one line each."""
    proc = subprocess.Popen(
        [sys.executable, *WORKER_ARGS],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        out, err = proc.communicate(pickle.dumps(request), timeout=limits.timeout_s + KILL_GRACE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise _timeout(limits) from None
    except BaseException:  # Ctrl-C: the worker goes with us
        proc.kill()
        proc.wait()
        raise
    try:
        reply: dict[str, Any] = pickle.loads(out) if out else {}
    except Exception:
        reply = {}
    if not reply:
        how = f"signal {-proc.returncode}" if proc.returncode < 0 else f"exit {proc.returncode}"
        detail = (err.decode("utf-8", "replace").strip().splitlines() or [""])[-1][:200]
        get_logger(__name__).debug("cypher worker died", returncode=proc.returncode, stderr=detail)
        raise WorkerCrashedError(f"the Cypher query's process died ({how}){': ' + detail if detail else ''}")
    if reply["ok"]:
        return reply
    kind, message = reply["kind"], str(reply["message"])
    if kind == "timeout":
        raise _timeout(limits)
    if kind == "memory":
        raise ConfigError(
            f"the Cypher query needed more than its memory limit of {limits.memory_bytes / 2**20:,.0f} MiB "
            "(narrow it, or raise EXOCORTEX_GRAPH_QUERY_MEMORY_BYTES)"
        )
    raise ConfigError(f"Cypher query failed: {message[:300]}")


def _timeout(limits: QueryLimits) -> ConfigError:
    return ConfigError(
        f"the Cypher query ran past its time limit of {limits.timeout_s:g} s and was stopped "
        "(narrow it, or raise --timeout / EXOCORTEX_GRAPH_QUERY_TIMEOUT_S)"
    )
