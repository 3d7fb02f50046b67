"""Variant queries, `similar` and the graph load on a large synthetic store: latency and edges/s.

The store is written directly (not ingested) so its size is cheap to choose: ``--variants N``
alleles over chromosomes 1-22 (sorted positions up to 50 Mb, SNVs), 20,000 genes (one per 50 kb),
five consequences with their impacts, two annotation entries per allele (its gene's consequence, and
the next gene's upstream MODIFIER entry: a gene + impact filter must hold on one entry), Beta(0.5, 5)
allele frequencies, Beta(0.3, 8) population frequencies, and ``--samples`` samples
each carrying 5% of the variants (30% of calls hom-alt). Seeded, so two runs build the same store,
and the store (with its scalar indexes) is kept in ``benchmarks/.cache/genomics/store-<variants>-<samples>-
<seed>-v<STORE_FORMAT>`` and reused by the next run with the same parameters (``--rebuild`` writes it
again; the feature vectors and the graph are rebuilt, and timed, on every run that measures them).

Measured, each query over the committed store with its scalar indexes (``create_filter_indexes``)
and the query planner's derived caches (built, and timed, before the queries):
region (1 Mb), gene, sample + chromosome, sample + 1 Mb region, sample alone, AF range,
consequence + chromosome, consequence alone, gene + impact and gene + LoF and impact + consequence
(each on one annotation entry), LoF alone, population AF + chromosome; ``similar`` with k = 10 after ``build_features``
(in this one process, so the features table stays open after the first call, as in a server; the
three warm-up calls dropped include the cold one, and the cold call is reported on its own)
(IVF_PQ past 100k rows); ``build_graph`` edges/s. p50 and p95 over ``--repeat`` queries (the
first three dropped as warm-up). Targets (the genomics issue, at 5M variants): queries and
``similar`` p95 ≤ 50 ms; graph load ≥ 200,000 edges/s.

Usage::

    python benchmarks/genomics/queries.py --variants 1000000          # print
    python benchmarks/genomics/queries.py --variants 5000000 --write  # the issue's size; docs
    python benchmarks/genomics/queries.py --variants 5000000 --queries-only  # the queries alone
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import git_commit, machine_description, markdown_table, replace_docs_section, utc_now  # noqa: E402

from exocortex.genomics.filters import VariantQuery, create_filter_indexes  # noqa: E402
from exocortex.genomics.graph import build_graph  # noqa: E402
from exocortex.genomics.layout import COUNTS_FILE, SPAN_FILE, call_counts, store_layout  # noqa: E402
from exocortex.genomics.query import run_query  # noqa: E402
from exocortex.genomics.schema import ANNOTATIONS, CALLS, SAMPLES, VARIANTS  # noqa: E402
from exocortex.genomics.similar import build_features, similar  # noqa: E402
from exocortex.genomics.store import Manifest, VariantStore, genomics_dir, write_manifest  # noqa: E402

CACHE = Path(__file__).resolve().parent.parent / ".cache" / "genomics"
CONSEQUENCES = ["missense_variant", "synonymous_variant", "intron_variant", "stop_gained", "upstream_gene_variant"]
IMPACT_OF = ["MODERATE", "LOW", "MODIFIER", "HIGH", "MODIFIER"]
N_GENES = 20_000
STORE_FORMAT = 2
"""Bump when ``write_synthetic`` changes what it writes: cached stores of another format are not reused."""
READY = "bench-store.json"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def write_synthetic(store: Path, n: int, n_samples: int, seed: int = 0) -> dict[str, int]:
    import lancedb

    rng = np.random.default_rng(seed)
    chrom_i = np.sort(rng.integers(1, 23, n))
    pos = rng.integers(1, 50_000_000, n)
    order = np.lexsort((pos, chrom_i))
    chrom_i, pos = chrom_i[order], pos[order]
    chrom = np.array([str(c) for c in range(23)], dtype=object)[chrom_i]
    bases = np.array(list("ACGT"), dtype=object)
    ref_i = rng.integers(0, 4, n)
    ref, alt = bases[ref_i], bases[(ref_i + rng.integers(1, 4, n)) % 4]
    genes = np.array([f"G{i}" for i in range(N_GENES)], dtype=object)[(chrom_i * 1000 + pos // 50_000) % N_GENES]
    ci = rng.integers(0, len(CONSEQUENCES), n)
    cons = np.array(CONSEQUENCES, dtype=object)[ci]
    impact = np.array(IMPACT_OF, dtype=object)[ci]
    neighbours = np.array([f"G{i}" for i in range(N_GENES)], dtype=object)[
        (chrom_i * 1000 + pos // 50_000 + 1) % N_GENES
    ]
    upstream = np.full(n, "upstream_gene_variant", dtype=object)
    modifier = np.full(n, "MODIFIER", dtype=object)
    offsets2 = pa.array(np.arange(0, 2 * n + 1, 2, dtype=np.int32))
    pop_af = rng.beta(0.3, 8, n)
    key = pc.binary_join_element_wise(pa.array(chrom), pa.array(pos.astype(str)), pa.array(ref), pa.array(alt), ":")
    columns: dict[str, Any] = {
        "vid": np.arange(n, dtype=np.int64), "key": key, "source": np.ones(n, np.int32),
        "record": np.arange(n, dtype=np.int64), "line": pa.nulls(n, pa.int64()), "chrom": chrom, "chrom_norm": chrom,
        "pos": pos, "end": pos, "ref": ref, "alt": alt, "allele_index": np.ones(n, np.int16),
        "n_alts": np.ones(n, np.int16), "vtype": np.full(n, "SNV", dtype=object), "length": np.zeros(n, np.int64),
        "id": pa.nulls(n, pa.string()), "rsid": pa.nulls(n, pa.string()),
        "qual": rng.uniform(0, 100, n).astype(np.float32),
        "filter": np.where(rng.random(n) < 0.8, "PASS", "LowQual").astype(object),
        "ac": pa.nulls(n, pa.int64()), "an": pa.nulls(n, pa.int64()), "af": rng.beta(0.5, 5, n),
        "info": pa.nulls(n, pa.string()), "gene": genes, "consequence": cons,
        "impact": impact, "transcript": pa.nulls(n, pa.string()),
        "hgvs_c": pa.nulls(n, pa.string()), "hgvs_p": pa.nulls(n, pa.string()),
        "genes": pa.ListArray.from_arrays(offsets2, pa.array(_interleave(genes, neighbours))),
        "consequences": pa.ListArray.from_arrays(offsets2, pa.array(_interleave(cons, upstream))),
        "impacts": pa.ListArray.from_arrays(offsets2, pa.array(_interleave(impact, modifier))),
        "lof": cons == "stop_gained", "clnsig": pa.nulls(n, pa.string()), "clinvar_stars": pa.nulls(n, pa.int8()),
        "clnrevstat": pa.nulls(n, pa.string()), "pop_af": pop_af,
        "pop_af_source": np.full(n, "CSQ:MAX_AF", dtype=object),
        "n_carriers": np.zeros(n, np.int32), "batch": np.zeros(n, np.int64),
    }  # fmt: skip
    # two annotation entries per allele: its gene's (consequence, impact), and the next gene's upstream
    # entry (MODIFIER), so a gene + impact filter must hold on one entry, not on the allele
    annotations = pa.table({
        "vid": pa.array(np.repeat(np.arange(n, dtype=np.int64), 2)),
        "entry": pa.array(np.tile(np.array([0, 1], np.int32), n)),
        "source": pa.array(np.full(2 * n, "CSQ", dtype=object)),
        "gene": pa.array(_interleave(genes, neighbours)),
        "consequence": pa.array(_interleave(cons, upstream)),
        "consequences": pa.ListArray.from_arrays(
            pa.array(np.arange(2 * n + 1, dtype=np.int32)), pa.array(_interleave(cons, upstream))
        ),
        "impact": pa.array(_interleave(impact, modifier)),
        "is_lof": pa.array(_interleave(cons == "stop_gained", np.zeros(n, bool))),
        "canonical": pa.array(np.tile(np.array([True, False]), n)),
        "nmd": pa.array(np.zeros(2 * n, bool)),
        "batch": pa.array(np.zeros(2 * n, np.int64)),
    })  # fmt: skip
    variants = pa.table(
        {k: v if isinstance(v, pa.Array | pa.ChunkedArray) else pa.array(v) for k, v in columns.items()}
    )
    carry = rng.random((n, n_samples), dtype=np.float32) < 0.05
    vi, si = np.nonzero(carry)
    m = len(vi)
    hom = rng.random(m) < 0.3
    calls = pa.table({
        "vid": pa.array(vi.astype(np.int64)), "sample": pa.array((si + 1).astype(np.int32)),
        "gt": pa.array(np.where(hom, "1/1", "0/1").astype(object)),
        "zygosity": pa.array(np.where(hom, "hom_alt", "het").astype(object)), "phased": pa.array(np.zeros(m, bool)),
        "ploidy": pa.array(np.full(m, 2, np.int8)), "dp": pa.array(np.full(m, 30, np.int32)),
        "gq": pa.array(np.full(m, 50, np.int32)), "ad_ref": pa.nulls(m, pa.int32()), "ad_alt": pa.nulls(m, pa.int32()),
        "batch": pa.array(np.zeros(m, np.int64)),
    })  # fmt: skip
    samples = pa.table({
        "sample": pa.array(np.arange(1, n_samples + 1, dtype=np.int32)),
        "name": [f"S{i}" for i in range(1, n_samples + 1)],
        "source": pa.array(np.ones(n_samples, np.int32)), "column": pa.array(np.arange(n_samples, dtype=np.int32)),
    })  # fmt: skip
    annotations = pa.table(
        {f.name: annotations[f.name] if f.name in annotations.column_names else pa.nulls(2 * n, f.type)
         for f in ANNOTATIONS}  # fmt: skip
    )
    db = lancedb.connect(str(genomics_dir(store) / "lance"))
    versions = {
        name: db.create_table(name, table.cast(schema), mode="overwrite").version
        for name, table, schema in (("variants", variants, VARIANTS), ("calls", calls, CALLS),
                                    ("samples", samples, SAMPLES), ("annotations", annotations, ANNOTATIONS))
    }  # fmt: skip
    write_manifest(store, Manifest(tables=versions))
    return {"variants": n, "calls": m, "samples": n_samples, "annotation entries": 2 * n}


def _interleave(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a[0], b[0], a[1], b[1], ...``"""
    out = np.empty(2 * len(a), dtype=a.dtype)
    out[0::2], out[1::2] = a, b
    return out


def cached_store(n: int, n_samples: int, seed: int, rebuild: bool) -> tuple[Path, dict[str, Any]]:
    """The indexed synthetic store for these parameters: reused from the cache, else written there.

    A store counts as cached once ``bench-store.json`` (sizes and build times) is written next to it,
    after its indexes; a half-written one (an interrupted run) is removed and written again.
    """
    folder = CACHE / f"store-{n}-{n_samples}-{seed}-v{STORE_FORMAT}"
    ready = folder / READY
    if ready.exists() and not rebuild:
        info: dict[str, Any] = json.loads(ready.read_text(encoding="utf-8"))
        log(f"store: reusing {folder} ({info['sizes']})")
        return folder / ".exocortex", info
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    store_dir = folder / ".exocortex"
    t0 = time.perf_counter()
    sizes = write_synthetic(store_dir, n, n_samples, seed)
    t_write = time.perf_counter() - t0
    t0 = time.perf_counter()
    create_filter_indexes(store_dir)
    t_index = time.perf_counter() - t0
    info = {"sizes": sizes, "write_s": t_write, "index_s": t_index}
    ready.write_text(json.dumps(info), encoding="utf-8")
    log(f"store: {sizes} written in {t_write:.0f}s, indexed in {t_index:.0f}s")
    return store_dir, info


def latencies(store: VariantStore, make: Callable[[int], VariantQuery], repeat: int) -> tuple[float, float, int]:
    times = []
    matched = 0
    for i in range(repeat + 3):
        query = make(i)
        t0 = time.perf_counter()
        result = run_query(store, query)
        times.append(time.perf_counter() - t0)
        matched = result.matched
    ms = np.array(times[3:]) * 1000
    return float(np.percentile(ms, 50)), float(np.percentile(ms, 95)), matched


def _mb(i: int) -> str:
    """A 1 Mb region on chromosome 1-22, moving with ``i``."""
    return f"chr{1 + i % 22}:{1_000_000 + i * 10_000}-{2_000_000 + i * 10_000}"


QUERIES: list[tuple[str, Callable[[int], VariantQuery]]] = [
    ("region (1 Mb)", lambda i: VariantQuery(region=_mb(i))),
    ("gene", lambda i: VariantQuery(gene=f"G{(i * 997) % N_GENES}")),
    ("sample + chromosome", lambda i: VariantQuery(sample=f"S{1 + i % 50}", region=f"{1 + i % 22}")),
    ("sample + 1 Mb region", lambda i: VariantQuery(sample=f"S{1 + i % 50}", region=_mb(i))),
    ("sample alone", lambda i: VariantQuery(sample=f"S{1 + i % 50}")),
    ("AF range", lambda i: VariantQuery(min_af=0.3 + (i % 10) / 100, max_af=0.31 + (i % 10) / 100)),
    ("consequence + chromosome", lambda i: VariantQuery(consequence="stop_gained", region=f"{1 + i % 22}")),
    ("consequence alone", lambda i: VariantQuery(consequence="stop_gained")),
    ("gene + impact (one entry)", lambda i: VariantQuery(gene=f"G{(i * 997) % N_GENES}", impact="HIGH")),
    ("gene + LoF (one entry)", lambda i: VariantQuery(gene=f"G{(i * 997) % N_GENES}", lof=True)),
    ("impact + consequence (one entry)", lambda i: VariantQuery(impact="MODIFIER", consequence="intron_variant",
                                                                 region=f"{1 + i % 22}")),
    ("LoF alone", lambda i: VariantQuery(lof=True)),
    ("population AF ≤ 0.1% + chromosome", lambda i: VariantQuery(max_pop_af=0.001, region=f"{1 + i % 22}")),
]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, default=1_000_000)
    parser.add_argument("--samples", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--rebuild", action="store_true", help="write the cached store again")
    parser.add_argument("--no-cache", action="store_true", help="a temporary store, removed after the run")
    parser.add_argument("--queries-only", action="store_true", help="skip `similar` and the graph load")
    parser.add_argument("--only", help="run only the queries whose name contains this text")
    parser.add_argument("--write", action="store_true", help="write docs/benchmarks.md (section genomics_queries)")
    args = parser.parse_args(argv)
    if args.write and (args.queries_only or args.only):
        parser.error("--write needs the whole benchmark (no --queries-only / --only)")
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp: Path | None = None
    try:
        if args.no_cache:
            tmp = Path(tempfile.mkdtemp(prefix="exo-vq-", dir=CACHE))
            store_dir = tmp / ".exocortex"
            t0 = time.perf_counter()
            sizes = write_synthetic(store_dir, args.variants, args.samples, args.seed)
            t_write = time.perf_counter() - t0
            t0 = time.perf_counter()
            create_filter_indexes(store_dir)
            t_index = time.perf_counter() - t0
            log(f"store: {sizes} written in {t_write:.0f}s, indexed in {t_index:.0f}s")
        else:
            store_dir, info = cached_store(args.variants, args.samples, args.seed, args.rebuild)
            sizes, t_write, t_index = info["sizes"], info["write_s"], info["index_s"]
        store = VariantStore(store_dir)
        for derived in (SPAN_FILE, COUNTS_FILE):  # the planner's caches: timed here, on first use
            (genomics_dir(store_dir) / derived).unlink(missing_ok=True)
        t0 = time.perf_counter()
        layout = store_layout(store)
        if layout.segments is not None:
            call_counts(store, layout)
        t_caches = time.perf_counter() - t0
        log(f"query planner caches (layout, call counts) built in {t_caches:.1f}s")
        rows = []
        checks = []
        for name, make in QUERIES:
            if args.only and args.only not in name:
                continue
            p50, p95, matched = latencies(store, make, args.repeat)
            log(f"{name}: p50 {p50:.1f} ms p95 {p95:.1f} ms ({matched:,} matched)")
            rows.append([name, f"{p50:.1f}", f"{p95:.1f}", f"{matched:,}"])
            checks.append([name, "p95 ≤ 50 ms", f"{p95:.1f} ms", "PASS" if p95 <= 50 else "MISS"])
        if args.queries_only or args.only:
            print(markdown_table(["query", "p50 ms", "p95 ms", "matched"], rows))
            return 0
        t0 = time.perf_counter()
        build_features(store_dir)
        t_features = time.perf_counter() - t0
        times = []
        for i in range(args.repeat + 3):
            t1 = time.perf_counter()
            similar(store_dir, str((i * 31337) % args.variants), 10)
            times.append(time.perf_counter() - t1)
        ms = np.array(times[3:]) * 1000
        s50, s95 = float(np.percentile(ms, 50)), float(np.percentile(ms, 95))
        log(f"similar: p50 {s50:.1f} ms p95 {s95:.1f} ms (first call {times[0] * 1000:.0f} ms)")
        rows.append(["similar, k = 10", f"{s50:.1f}", f"{s95:.1f}", "10"])
        rows.append(["similar, first call of the process", f"{times[0] * 1000:.1f}", "—", "10"])
        checks.append(["similar", "p95 ≤ 50 ms", f"{s95:.1f} ms", "PASS" if s95 <= 50 else "MISS"])
        graph = build_graph(store_dir)
        checks.append(["graph load", "≥ 200,000 edges/s", f"{graph.edges_per_s:,.0f}",
                       "PASS" if graph.edges_per_s >= 200_000 else "MISS"])  # fmt: skip
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    machine = machine_description()
    built = "written" if args.no_cache else "written (cached, reused across runs)"
    text = "\n".join([
        "## Variant queries, `similar` and the graph (`benchmarks/genomics/queries.py`)",
        "",
        f"- Command: `python benchmarks/genomics/queries.py {' '.join(argv if argv is not None else sys.argv[1:])}`",
        f"- Machine: {machine['cpu']}, {machine['cores']} cores, {machine['ram']}, Python {machine['python']}",
        f"- Commit: {git_commit()}, {utc_now()}",
        f"- Store: {sizes['variants']:,} synthetic variants, {sizes['calls']:,} calls, {sizes['samples']} samples; "
        f"{built} in {t_write:.0f} s, scalar indexes {t_index:.0f} s, feature vectors and their index "
        f"{t_features:.0f} s; graph {graph.counts} in {graph.seconds.get('total', 0):.1f} s; the query planner's "
        f"caches (vid runs, calls per sample and chromosome; once per table version) {t_caches:.1f} s",
        "",
        markdown_table(["query", "p50 ms", "p95 ms", "matched"], rows),
        "",
        markdown_table(["case", "target", "measured", "result"], checks),
    ])  # fmt: skip
    print(text)
    if args.write:
        replace_docs_section("genomics_queries", text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
