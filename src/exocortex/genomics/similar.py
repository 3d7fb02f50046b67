"""Similar variants: deterministic feature vectors and a nearest-neighbour search over them.

Every allele gets one ``DIM``-dimensional float32 vector computed from its row alone (no
randomness, no Python ``hash()``: strings are hashed with xxh3-64 and fixed seeds, so two runs
and two processes give the same bytes). Blocks, in order, and their weights (a block's entries
are multiplied by its weight, so the weight is how far apart two alleles that differ only there
are, in Euclidean distance, divided by sqrt(2) for the one-hot blocks):

==============  =====  ======  ==============================================================
block           dims   weight  encoding
==============  =====  ======  ==============================================================
vtype           8      1.5     one-hot over ``schema.VARIANT_TYPES``
length          1      1.0     sign(length) * log1p(abs(length)) / log(1e4): 10 kb -> about 1
chromosome      26     1.0     one-hot: 1..22, X, Y, MT, other
position        1      2.0     pos / chromosome length (GRCh38; 250 Mb for other names), in [0, 1]
af              2      1.0     AF (0 when null), and a null-AF flag (weight 0.5)
impact          5      1.0     one-hot: HIGH, MODERATE, LOW, MODIFIER, none
consequence     16     1.0     feature hashing of every consequence term, then unit length
gene            64     2.0     two signed xxh3 hashes of the gene symbol, unit length; 0 if none
(reserved)      5      0       zeros, so DIM is 128
==============  =====  ======  ==============================================================

So the nearest neighbours of an allele are first the alleles of the same gene and type, then of
the same consequence, impact and frequency, then the close ones on the chromosome.

The vectors live in a ``features`` Lance table (``vid``, ``vector``) next to the variant tables,
written by ``build_features`` under the genomics writer lock and committed in the manifest as
``tables["features"]``; the variants version they were computed from is kept in the table's
schema metadata, so a stale table is rebuilt. With ``index_min_rows`` rows or more it gets an
IVF_PQ vector index (searched with ``NPROBES`` partitions and a refine step); below, the search is
exact (a flat scan). Distances are Lance's ``l2``: squared Euclidean.
The features table is written and searched through lancedb (its vector search and IVF_PQ index
builder), so ``vcf similar`` pays lancedb's import (a second or more); the variants are read through
the store's pylance tables like every other ``vcf`` command.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import xxhash

from exocortex.errors import ConfigError, NoMatchesError
from exocortex.genomics.schema import IMPACTS, VARIANT_TYPES, normalize_chrom
from exocortex.genomics.store import DB_DIR, VariantStore, genomics_dir, read_manifest, write_manifest

DIM = 128
FEATURES_TABLE = "features"
VECTOR_INDEX_MIN_ROWS = 100_000
"""At this many rows or more ``build_features`` adds a vector index; below, search is exact."""
NPROBES = 32
REFINE_FACTOR = 5
BATCH_ROWS = 65_536
META_VARIANTS_VERSION = b"exocortex.variants_version"

W_TYPE, W_LENGTH, W_CHROM, W_POS, W_AF, W_AF_NULL, W_IMPACT, W_CONSEQUENCE, W_GENE = (
    1.5, 1.0, 1.0, 2.0, 1.0, 0.5, 1.0, 1.0, 2.0,
)  # fmt: skip
CHROMS = tuple(str(i) for i in range(1, 23)) + ("X", "Y", "MT")
GRCH38_LENGTHS = {
    "1": 248_956_422, "2": 242_193_529, "3": 198_295_559, "4": 190_214_555, "5": 181_538_259,
    "6": 170_805_979, "7": 159_345_973, "8": 145_138_636, "9": 138_394_717, "10": 133_797_422,
    "11": 135_086_622, "12": 133_275_309, "13": 114_364_328, "14": 107_043_718, "15": 101_991_189,
    "16": 90_338_345, "17": 83_257_441, "18": 80_373_285, "19": 58_617_616, "20": 64_444_167,
    "21": 46_709_983, "22": 50_818_468, "X": 156_040_895, "Y": 57_227_415, "MT": 16_569,
}  # fmt: skip
OTHER_CHROM_LENGTH = 250_000_000
N_CONSEQUENCE, N_GENE = 16, 64

# block offsets
O_TYPE = 0
O_LENGTH = O_TYPE + len(VARIANT_TYPES)
O_CHROM = O_LENGTH + 1
O_POS = O_CHROM + len(CHROMS) + 1
O_AF = O_POS + 1
O_IMPACT = O_AF + 2
O_CONSEQUENCE = O_IMPACT + len(IMPACTS) + 1
O_GENE = O_CONSEQUENCE + N_CONSEQUENCE
assert O_GENE + N_GENE <= DIM

FEATURE_COLUMNS = ["vid", "vtype", "length", "chrom_norm", "pos", "af", "impact", "consequence", "consequences", "gene"]
FEATURES_SCHEMA = pa.schema([("vid", pa.int64()), ("vector", pa.list_(pa.float32(), DIM))])


def _hash(text: str, seed: int) -> int:
    return int(xxhash.xxh3_64_intdigest(text.encode("utf-8"), seed=seed))


def _codes(values: pa.Array | pa.ChunkedArray, lookup: dict[str, int], default: int) -> np.ndarray:
    """Per row, ``lookup[value]`` (``default`` for null or unknown), via the distinct values only."""
    arr = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    enc = pc.dictionary_encode(arr)
    table = np.array([lookup.get(str(v), default) for v in enc.dictionary.to_pylist()] + [default], np.int64)
    idx = enc.indices.fill_null(len(enc.dictionary)).to_numpy(zero_copy_only=False)
    codes: np.ndarray = table[idx]
    return codes


def feature_vectors(batch: pa.RecordBatch | pa.Table) -> np.ndarray:
    """The ``(rows, DIM)`` float32 feature matrix of variant rows (``FEATURE_COLUMNS``)."""
    n = batch.num_rows
    out = np.zeros((n, DIM), np.float32)
    rows = np.arange(n)
    col = batch.column

    out[rows, O_TYPE + _codes(col("vtype"), {t: i for i, t in enumerate(VARIANT_TYPES)}, 0)] = W_TYPE
    length = pc.fill_null(col("length"), 0).to_numpy(zero_copy_only=False).astype(np.float64)
    out[:, O_LENGTH] = W_LENGTH * np.sign(length) * np.log1p(np.abs(length)) / math.log(1e4)

    chrom_lookup = {c: i for i, c in enumerate(CHROMS)}
    chrom = _codes(col("chrom_norm"), chrom_lookup, len(CHROMS))
    out[rows, O_CHROM + chrom] = W_CHROM
    chrom_len = _codes(col("chrom_norm"), GRCH38_LENGTHS, OTHER_CHROM_LENGTH).astype(np.float64)
    pos = pc.fill_null(col("pos"), 0).to_numpy(zero_copy_only=False).astype(np.float64)
    out[:, O_POS] = W_POS * np.clip(pos / chrom_len, 0.0, 1.0)

    af = col("af")
    out[:, O_AF] = W_AF * pc.fill_null(af, 0.0).to_numpy(zero_copy_only=False)
    out[:, O_AF + 1] = W_AF_NULL * pc.is_null(af).to_numpy(zero_copy_only=False)

    out[rows, O_IMPACT + _codes(col("impact"), {t: i for i, t in enumerate(IMPACTS)}, len(IMPACTS))] = W_IMPACT

    _consequence_block(out, col("consequences"), col("consequence"))
    _gene_block(out, col("gene"))
    return out


def _consequence_block(out: np.ndarray, terms: pa.Array | pa.ChunkedArray, top: pa.Array | pa.ChunkedArray) -> None:
    lists = terms.combine_chunks() if isinstance(terms, pa.ChunkedArray) else terms
    top_arr = top.combine_chunks() if isinstance(top, pa.ChunkedArray) else top
    # the top consequence counts too (and stands alone where the list is null or empty)
    lengths = pc.fill_null(pc.list_value_length(lists), 0).to_numpy(zero_copy_only=False)
    parents = np.concatenate([np.repeat(np.arange(len(lists)), lengths), np.arange(len(top_arr))])
    flat = pa.concat_arrays([pc.list_flatten(lists).cast(pa.string()), top_arr.cast(pa.string())])
    keep = pc.is_valid(flat).to_numpy(zero_copy_only=False)
    enc = pc.dictionary_encode(flat)
    buckets = np.array([_hash(t, 0) % N_CONSEQUENCE for t in enc.dictionary.to_pylist()] + [0], np.int64)
    idx = enc.indices.fill_null(len(enc.dictionary)).to_numpy(zero_copy_only=False)
    block = np.zeros((len(lists), N_CONSEQUENCE), np.float32)
    np.add.at(block, (parents[keep], buckets[idx[keep]]), 1.0)
    block = np.minimum(block, 1.0)  # a term listed twice counts once
    norms = np.linalg.norm(block, axis=1, keepdims=True)
    np.divide(block, norms, out=block, where=norms > 0)
    out[:, O_CONSEQUENCE : O_CONSEQUENCE + N_CONSEQUENCE] = W_CONSEQUENCE * block


def _gene_block(out: np.ndarray, genes: pa.Array | pa.ChunkedArray) -> None:
    arr = genes.combine_chunks() if isinstance(genes, pa.ChunkedArray) else genes
    enc = pc.dictionary_encode(arr)
    names = enc.dictionary.to_pylist()
    table = np.zeros((len(names) + 1, N_GENE), np.float32)  # last row: no gene
    for i, name in enumerate(names):
        for seed in (1, 2):
            h = _hash(str(name), seed)
            table[i, h % N_GENE] += (1.0 if (h >> 63) & 1 else -1.0) / math.sqrt(2.0)
    idx = enc.indices.fill_null(len(names)).to_numpy(zero_copy_only=False)
    out[:, O_GENE : O_GENE + N_GENE] = W_GENE * table[idx]


def _features_batches(store: VariantStore) -> Iterator[pa.RecordBatch]:
    for batch in store.table("variants").batches(FEATURE_COLUMNS, batch_rows=BATCH_ROWS):
        vectors = feature_vectors(batch)
        flat = pa.array(vectors.reshape(-1), pa.float32())
        yield pa.RecordBatch.from_arrays(
            [batch.column("vid"), pa.FixedSizeListArray.from_arrays(flat, DIM)], schema=FEATURES_SCHEMA
        )


@dataclass
class FeaturesReport:
    rows: int
    version: int
    indexed: bool
    seconds: float


def build_features(
    store_dir: str | Path, *, index_min_rows: int = VECTOR_INDEX_MIN_ROWS, wait_s: float = 0.0
) -> FeaturesReport:
    """Compute every committed allele's vector into the ``features`` table and commit it."""
    import lancedb
    from lancedb.index import BTree, IvfPq

    from exocortex.store.meta import writer_lock

    t0 = time.perf_counter()
    store_dir = Path(store_dir)
    folder = genomics_dir(store_dir)
    with writer_lock(folder, wait_s):
        store = VariantStore(store_dir)
        variants_version = store.manifest.tables.get("variants")
        store.table("variants")  # IndexNotFoundError when nothing was ingested
        schema = FEATURES_SCHEMA.with_metadata({META_VARIANTS_VERSION: str(variants_version).encode()})
        reader = pa.RecordBatchReader.from_batches(schema, _features_batches(store))
        db = lancedb.connect(str(folder / DB_DIR))
        table = db.create_table(FEATURES_TABLE, reader, mode="overwrite")
        rows = table.count_rows()
        indexed = rows >= index_min_rows
        if indexed:
            partitions = max(1, int(math.sqrt(rows)))
            table.create_index(
                "vector", config=IvfPq(distance_type="l2", num_partitions=partitions, num_sub_vectors=DIM // 8)
            )
        table.create_index("vid", config=BTree())
        manifest = read_manifest(store_dir)
        manifest.tables[FEATURES_TABLE] = table.version
        write_manifest(store_dir, manifest)
    return FeaturesReport(rows=rows, version=table.version, indexed=indexed, seconds=time.perf_counter() - t0)


_OPEN_FEATURES: dict[tuple[str, int, float], Any] = {}
OPEN_FEATURES_KEPT = 4
"""Features tables kept open per process, by (store, version, manifest commit time). A fresh handle
loads the vector index (centroids, PQ codebook) on its first search: at 5M variants a call on a
fresh handle took 69-94 ms (the search 49-69 ms of it), one on a kept handle 28.5 ms p50. A
committed version never changes, and a store removed and written
again at the same path has another commit time, so a kept handle is never stale."""


def open_features(store: VariantStore) -> Any | None:
    """The committed ``features`` table, or None when it is missing or older than the variants."""
    version = store.manifest.tables.get(FEATURES_TABLE)
    if version is None:
        return None
    key = (str(Path(store.store_dir).resolve()), int(version), float(store.manifest.updated_at))
    table = _OPEN_FEATURES.get(key)
    if table is None:
        import lancedb

        table = lancedb.connect(str(genomics_dir(store.store_dir) / DB_DIR)).open_table(FEATURES_TABLE)
        table.checkout(version)
        while len(_OPEN_FEATURES) >= OPEN_FEATURES_KEPT:
            _OPEN_FEATURES.pop(next(iter(_OPEN_FEATURES)))
        _OPEN_FEATURES[key] = table
    meta = table.schema.metadata or {}
    if meta.get(META_VARIANTS_VERSION) != str(store.manifest.tables.get("variants")).encode():
        return None
    return table


def resolve_variant(store: VariantStore, ident: str | int) -> int:
    """The vid of ``ident``: a vid, a key ``chr20:123:A:G`` (any chromosome spelling) or an rsid."""
    text = str(ident).strip()
    if text.lstrip("-").isdigit():
        where = f"vid = {int(text)}"
    elif text.lower().startswith("rs") and text[2:].isdigit():
        where = f"rsid = '{text.lower()}'"
    else:
        chrom, _, rest = text.partition(":")
        key = f"{normalize_chrom(chrom)}:{rest}" if rest else text
        where = "key = '" + key.replace("'", "''") + "'"
    found = store.read("variants", ["vid"], where)
    if found.num_rows == 0:
        raise NoMatchesError(f"no variant {text!r} in the store (give a vid, a key CHROM:POS:REF:ALT or an rsid)")
    return int(found["vid"][0].as_py())


@dataclass
class SimilarResult:
    query: dict[str, Any]
    neighbours: list[dict[str, Any]]
    indexed: bool
    timings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query, "neighbours": self.neighbours, "indexed": self.indexed}


SHOW_COLUMNS = ["vid", "key", "vtype", "length", "gene", "consequence", "impact", "af"]


def similar(
    store_dir: str | Path, ident: str | int, k: int = 10, *, index_min_rows: int = VECTOR_INDEX_MIN_ROWS
) -> SimilarResult:
    """The ``k`` alleles nearest to ``ident`` (itself excluded), nearest first, with distances.

    Builds the features table first when it is missing or stale (that takes the writer lock).
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ConfigError(f"--k must be at least 1 (got {k})")
    t0 = time.perf_counter()
    store = VariantStore(store_dir)
    vid = resolve_variant(store, ident)
    table = open_features(store)
    if table is None:
        build_features(store_dir, index_min_rows=index_min_rows)
        store = VariantStore(store_dir)
        table = open_features(store)
        assert table is not None
    t1 = time.perf_counter()
    found = table.search().where(f"vid = {vid}").select(["vector"]).limit(1).to_arrow()
    if found.num_rows == 0:
        raise NoMatchesError(f"variant {vid} has no feature vector: rebuild with `exocortex vcf similar --rebuild`")
    vector = np.asarray(found["vector"][0].as_py(), np.float32)
    k = min(k, table.count_rows())  # no more neighbours than rows: a huge --k is no C long overflow
    indexed = any(idx.index_type.startswith("Ivf") or "Pq" in idx.index_type for idx in table.list_indices())
    search = (
        table.search(vector, vector_column_name="vector").distance_type("l2").select(["vid", "_distance"]).limit(k + 1)
    )
    if indexed:
        search = search.nprobes(NPROBES).refine_factor(REFINE_FACTOR)
    hits = search.to_arrow()
    t2 = time.perf_counter()
    pairs = [(int(v), float(d)) for v, d in zip(hits["vid"].to_pylist(), hits["_distance"].to_pylist(), strict=True)]
    pairs = [(v, d) for v, d in pairs if v != vid][:k]
    ids = [vid] + [v for v, _ in pairs]
    rows = store.read("variants", SHOW_COLUMNS, f"vid IN ({', '.join(map(str, ids))})").to_pylist()
    by_vid = {r["vid"]: r for r in rows}
    neighbours = [{**by_vid[v], "distance": d} for v, d in pairs if v in by_vid]
    t3 = time.perf_counter()
    return SimilarResult(
        query=by_vid[vid],
        neighbours=neighbours,
        indexed=indexed,
        timings={"features_s": t1 - t0, "search_s": t2 - t1, "rows_s": t3 - t2},
    )
