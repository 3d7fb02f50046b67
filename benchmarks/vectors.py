"""The semantic signal's vectors: int8 recall on the engine's own vectors, build speed, top-10 latency.

Three measurements, on this machine's CPU and, when PyTorch sees a CUDA device, on the GPU:

1. **int8 recall on real vectors.** For each corpus the base segment's chunk vectors, as the
   engine wrote them (``vectors-<model>-<segment>/vectors.npy``, float16, read as float32), go
   into a ``TieredVectorStore`` whose rows are all int8 (``hot_bytes=0``), and its top-10 is
   compared with exact float32 top-10 (a NumPy matrix product over the same rows). Queries are
   real text embedded the way the engine embeds them: SWE-bench Lite dev issues (all 160 issue
   titles, as ``semantic_query = "title"`` does, plus whole problem statements up to
   ``--queries``, as the default mode does), read with ``parse_query``, their terms weighted with
   the base segment's IDF (``CommitVectors.query``). Raw int8 scores (``rescore=0``), and with a
   Lance copy in a temporary folder so that the default 4 x k shortlist is rescored exactly. A
   float32 hot store is run as a control: its only misses are ties (identical chunk vectors), so
   recall is given both strictly (ids) and counting a returned chunk whose exact score equals
   the 10th best as a hit.
2. **Build speed.** ``semantic.chunk_vectors`` (and the IDF weights) on each corpus's base
   segment, in chunks per second; the model's load time separately (first load in the process).
3. **Top-10 latency** of one-query searches over random unit vectors (256 dimensions): float32
   hot on the CPU where it fits ``--cpu-hot-max-bytes`` (1M: 1 GB), int8 warm on the CPU at every
   size (10M float32 would be 10 GB of this machine's RAM), and float32 hot on the GPU when
   there is one. Median and p95 over up to ``--latency-queries`` queries, fewer when a
   configuration's ``--latency-budget-s`` runs out (at least ``--min-latency-queries``).

Usage::

    nice -n 10 .venv/bin/python benchmarks/vectors.py            # print the tables
    nice -n 10 .venv/bin/python benchmarks/vectors.py --write    # and update docs/benchmarks.md
    .venv/bin/python benchmarks/vectors.py --sizes 100000 --corpora django-4.0.10   # a quick run
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    BENCH_CACHE,
    git_commit,
    log,
    machine_description,
    markdown_table,
    replace_docs_section,
    utc_now,
)

from exocortex.memory.tiers import TieredVectorStore, cuda_available  # noqa: E402
from exocortex.search import semantic  # noqa: E402
from exocortex.search.cache import VECTORS_INFO_FILE, VECTORS_PREFIX  # noqa: E402
from exocortex.search.query import parse_query  # noqa: E402
from exocortex.search.segment import load_segment  # noqa: E402
from exocortex.search.vectors import VECTORS_FILE, term_weights  # noqa: E402

K = 10
TARGET_RECALL = 0.99
TIE_EPS = 1e-6
STORES = BENCH_CACHE / "retrieval" / "stores"
ISSUES = Path("/work/shared/bench/swe-bench-lite-dev.jsonl")
DEFAULT_CORPORA = ["django-4.0.10", "sklearn-0.21.3", "matplotlib-3.7.5"]
PROJECT_OF_REPO = {"django/django": "django", "scikit-learn/scikit-learn": "sklearn",
                   "matplotlib/matplotlib": "matplotlib"}


# --------------------------------------------------------------------------- corpora


@dataclass
class Corpus:
    name: str
    base_dir: Path
    vectors_file: Path | None  # the engine's vectors of the base, None when it has none yet


def find_corpus(name: str, model: semantic.StaticModel) -> Corpus:
    segments = STORES / name / "search" / "segments"
    bases = sorted(p for p in segments.glob("base-*") if (p / "done").exists())
    if len(bases) != 1:
        sys.exit(f"{segments}: expected one finished base segment, found {[p.name for p in bases]}; "
                 "build the store with benchmarks/retrieval first")
    base = bases[0]
    digest = model.name.rsplit("@", 1)[-1]
    folder = segments / f"{VECTORS_PREFIX}{digest}-{base.name}"
    found = folder / VECTORS_FILE if (folder / "done").exists() else None
    if found is not None:
        info = json.loads((folder / VECTORS_INFO_FILE).read_text(encoding="utf-8"))
        if info.get("model") != model.name:
            found = None
    return Corpus(name, base, found)


def issues() -> list[dict[str, Any]]:
    with ISSUES.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def query_texts(project: str, wanted: int) -> list[tuple[str, str]]:
    """(kind, text) of the queries: every issue title, then whole problem statements (this
    corpus's project first) until ``wanted``."""
    rows = issues()
    out = [("title", r["problem_statement"].strip().partition("\n")[0]) for r in rows][:wanted]
    ordered = sorted(rows, key=lambda r: PROJECT_OF_REPO.get(r["repo"]) != project)
    for r in ordered:
        if len(out) >= wanted:
            break
        out.append(("full", r["problem_statement"]))
    return out


def query_vectors(model: semantic.StaticModel, vocab: pa.Array, idf: np.ndarray, num_docs: int,
                  texts: list[tuple[str, str]]) -> tuple[np.ndarray, list[str]]:
    """The engine's query vectors (``CommitVectors.query``: terms weighted with the base's IDF)."""
    unseen = float(semantic.idf(np.zeros(1, np.int64), num_docs)[0])
    vecs, kinds = [], []
    for kind, text in texts:
        terms = parse_query(text).terms
        if not terms:
            continue
        names = list(terms)
        pos = pc.index_in(pa.array(names, vocab.type), value_set=vocab).to_pylist()
        idf_of = {t: float(idf[p]) if p is not None else unseen for t, p in zip(names, pos, strict=True)}
        qv = semantic.query_vector(model, terms, idf_of)
        if qv is not None:
            vecs.append(qv.astype(np.float32))
            kinds.append(kind)
    return np.stack(vecs), kinds


# --------------------------------------------------------------------------- recall


def exact_top_k(x: np.ndarray, q: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact float32 top-k ids (ties by id, as the engine breaks them) and the full score matrix."""
    scores = q @ x.T
    part = np.argpartition(-scores, k, axis=1)[:, : k + 1]
    top = np.empty((len(q), k), np.int64)
    for i in range(len(q)):
        cand = part[i]
        # a tie at the k-th place may reach beyond the partition: take every row scoring as high
        kth = np.sort(scores[i, cand])[::-1][k - 1]
        cand = np.flatnonzero(scores[i] >= kth)
        order = np.lexsort((cand, -scores[i, cand]))
        top[i] = cand[order][:k]
    return top, scores


def recalls(found: np.ndarray, truth: np.ndarray, scores: np.ndarray) -> tuple[float, float, float]:
    """(recall@k by ids, recall@k counting exact-score ties with the k-th as hits, share of
    queries with all k found by ids)."""
    strict = tied = perfect = 0
    for i, (f, t) in enumerate(zip(found, truth, strict=True)):
        hits = len(set(f.tolist()) & set(t.tolist()))
        strict += hits
        perfect += hits == len(t)
        kth = scores[i, t[-1]]
        tied += int((scores[i, f] >= kth - TIE_EPS).sum())
    n = truth.size
    return strict / n, tied / n, perfect / len(truth)


def recall_rows(corpus: Corpus, x: np.ndarray, q: np.ndarray, tmp: Path) -> list[dict[str, Any]]:
    truth, scores = exact_top_k(x, q, K)
    ids = np.arange(len(x), dtype=np.int64)
    configs: list[tuple[str, dict[str, Any], int]] = [
        ("float32 hot (control)", {"hot_bytes": None}, 0),
        ("int8 warm, rescore=0 (quantized scores)", {"hot_bytes": 0, "warm_bytes": None, "warm_dtype": "int8"}, 0),
        ("int8 warm + Lance copy, rescore=4 (default)",
         {"hot_bytes": 0, "warm_bytes": None, "warm_dtype": "int8", "cold_dir": tmp / f"{corpus.name}-int8"}, 4),
    ]
    rows = []
    for storage, kwargs, rescore in configs:
        store = TieredVectorStore(x.shape[1], "dot", device="cpu", promote_on_hit=False, rescore=rescore, **kwargs)
        store.add(ids, x)
        t0 = time.perf_counter()
        found, _ = store.search(q, K, promote=False)
        batch_s = time.perf_counter() - t0
        s = store.stats()
        tier = s.hot if kwargs["hot_bytes"] is None else s.warm
        assert tier.rows == len(x), f"{storage}: expected every row in one tier, got {tier.rows} of {len(x)}"
        strict, tied, perfect = recalls(found, truth, scores)
        rows.append({"corpus": corpus.name, "rows": len(x), "queries": len(q), "storage": storage,
                     "bytes_per_vector": tier.bytes / len(x), "recall": strict, "recall_ties": tied,
                     "perfect": perfect, "batch_ms": batch_s * 1000 / len(q)})
        log(f"{corpus.name}: {storage}: recall@10 {strict:.4f} (ties as hits {tied:.4f})")
        del store
    return rows


# --------------------------------------------------------------------------- build speed


def build_row(corpus: Corpus, model: semantic.StaticModel) -> tuple[dict[str, Any], np.ndarray]:
    seg = load_segment(corpus.base_dir)
    index = seg.chunks
    # read the memory-mapped arrays once, so that the timing is of the work, not of the disk
    np.asarray(index.fwd_offsets).sum()
    np.asarray(index.fwd_terms).sum()
    np.asarray(index.term_offsets).sum()
    t0 = time.perf_counter()
    weights = term_weights(index, index)
    made = semantic.chunk_vectors(model, index.vocab, index.term_offsets, index.post_docs, index.num_docs, weights)
    total_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    model.term_vectors(index.vocab.to_pylist())
    terms_s = time.perf_counter() - t0
    row = {"corpus": corpus.name, "chunks": index.num_docs, "terms": len(index.vocab),
           "pairs": int(len(index.fwd_terms)), "terms_s": terms_s, "total_s": total_s,
           "chunks_per_s": index.num_docs / total_s}
    return row, made


# --------------------------------------------------------------------------- latency


def busy_cpu_s() -> float:
    """Seconds of busy CPU time of the whole machine (every process), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(v) for v in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def own_cpu_s() -> float:
    t = os.times()
    return t.user + t.system


def mem_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 0


def latency_row(size: int, dim: int, label: str, kwargs: dict[str, Any], args: argparse.Namespace,
                need_bytes: int) -> dict[str, Any]:
    row: dict[str, Any] = {"size": size, "storage": label}
    free = mem_available() if kwargs.get("device") == "cpu" else None
    if free is not None and need_bytes > 0.6 * free:
        row["skipped"] = f"needs ~{need_bytes / 1e9:.1f} GB, {free / 1e9:.1f} GB available"
        log(f"{size:,} {label}: skipped ({row['skipped']})")
        return row
    rng = np.random.default_rng(args.seed)
    store = TieredVectorStore(dim, "dot", promote_on_hit=False, rescore=0, **kwargs)
    t0 = time.perf_counter()
    step = 16 * store.segment_rows
    for start in range(0, size, step):
        x = rng.standard_normal((min(step, size - start), dim), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        store.add(np.arange(start, start + len(x), dtype=np.int64), x)
        del x
    row["build_s"] = time.perf_counter() - t0
    s = store.stats()
    row["bytes_per_vector"] = (s.hot.bytes + s.warm.bytes) / size
    q = rng.standard_normal((args.latency_queries + 2, dim), dtype=np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    store.search(q[0], K, promote=False)  # warm-up: BLAS threads, CUDA kernels
    store.search(q[1], K, promote=False)
    times = []
    t_start = time.perf_counter()
    for i in range(args.latency_queries):
        t0 = time.perf_counter()
        store.search(q[i + 2], K, promote=False)
        times.append(time.perf_counter() - t0)
        if len(times) >= args.min_latency_queries and time.perf_counter() - t_start > args.latency_budget_s:
            break
    row["n"] = len(times)
    row["median_ms"] = float(np.median(times)) * 1000
    row["p95_ms"] = float(np.percentile(times, 95)) * 1000
    log(f"{size:,} {label}: median {row['median_ms']:.1f} ms, p95 {row['p95_ms']:.1f} ms over {len(times)} "
        f"queries (build {row['build_s']:.0f} s)")
    del store
    return row


def latency_rows(args: argparse.Namespace, dim: int) -> tuple[list[dict[str, Any]], str | None]:
    rows = []
    for size in args.sizes:
        hot_bytes = size * (dim * 4 + 8)
        if hot_bytes <= args.cpu_hot_max_bytes:
            rows.append(latency_row(size, dim, "float32 hot, CPU (NumPy)", {"hot_bytes": None, "device": "cpu"},
                                    args, hot_bytes))
        else:
            rows.append({"size": size, "storage": "float32 hot, CPU (NumPy)",
                         "skipped": f"{hot_bytes / 1e9:.1f} GB > --cpu-hot-max-bytes; int8 warm below instead"})
        rows.append(latency_row(size, dim, "int8 warm, CPU (NumPy), rescore=0",
                                {"hot_bytes": 0, "warm_bytes": None, "warm_dtype": "int8", "device": "cpu"},
                                args, size * (dim + 12) + 16 * 8192 * dim * 8))
    gpu = None
    if cuda_available():
        import torch

        gpu = str(torch.cuda.get_device_name())
        for size in args.sizes:
            need = size * dim * 4
            free, _ = torch.cuda.mem_get_info()
            if need > 0.8 * free:
                rows.append({"size": size, "storage": f"float32 hot, GPU ({gpu})",
                             "skipped": f"needs {need / 1e9:.1f} GB, {free / 1e9:.1f} GB free on the GPU"})
                continue
            rows.append(latency_row(size, dim, f"float32 hot, GPU ({gpu})", {"hot_bytes": None, "device": "cuda"},
                                    args, need))
            torch.cuda.empty_cache()
    return rows, gpu


# --------------------------------------------------------------------------- report


def render(model_s: float, model: semantic.StaticModel, builds: list[dict[str, Any]], recall: list[dict[str, Any]],
           latency: list[dict[str, Any]], gpu: str | None, checks: list[str], query_note: str,
           args: argparse.Namespace, command: str, wall_s: float, others: float) -> str:
    m = machine_description()
    build_table = markdown_table(
        ["corpus", "chunks", "distinct terms", "(chunk, term) pairs", "term vectors s", "weights + chunk_vectors s",
         "chunks/s"],
        [[b["corpus"], f"{b['chunks']:,}", f"{b['terms']:,}", f"{b['pairs']:,}", f"{b['terms_s']:.2f}",
          f"{b['total_s']:.2f}", f"{b['chunks_per_s']:,.0f}"] for b in builds],
    )
    recall_table = markdown_table(
        ["corpus", "chunks", "queries", "storage", "bytes/vector", "recall@10", "recall@10, ties as hits",
         "% queries with all 10", "batch ms/query"],
        [[r["corpus"], f"{r['rows']:,}", r["queries"], r["storage"], f"{r['bytes_per_vector']:.1f}",
          f"{r['recall']:.4f}", f"{r['recall_ties']:.4f}", f"{100 * r['perfect']:.1f}", f"{r['batch_ms']:.2f}"]
         for r in recall],
    )
    lat_table = markdown_table(
        ["vectors", "storage", "bytes/vector", "build s", "queries", "median ms", "p95 ms"],
        [[f"{r['size']:,}", r["storage"] + " (skipped)", "—", "—", "—", "—", "—"] if "skipped" in r else
         [f"{r['size']:,}", r["storage"], f"{r['bytes_per_vector']:.1f}", f"{r['build_s']:.0f}", r["n"],
          f"{r['median_ms']:.1f}", f"{r['p95_ms']:.1f}"] for r in latency],
    )
    lat_notes = [f"- {r['size']:,}, {r['storage']}: skipped, {r['skipped']}." for r in latency if "skipped" in r]
    by = {(r["size"], r["storage"].split(",")[0]): r for r in latency if "skipped" not in r}
    for size in args.sizes:
        hot, warm = by.get((size, "float32 hot")), by.get((size, "int8 warm"))
        if hot and warm:
            lat_notes.append(f"- {size:,}: int8 warm / float32 hot on the CPU, median: "
                             f"{warm['median_ms'] / hot['median_ms']:.1f}x (the int8 codes are widened to "
                             "float32 for every query: NumPy has no int8 matrix product).")
    verdicts = []
    for r in recall:
        if r["storage"].startswith("int8"):
            ok = "PASS" if r["recall"] >= TARGET_RECALL else "MISS"
            verdicts.append(f"- {r['corpus']}, {r['storage']}: recall@10 {r['recall']:.4f} "
                            f"(ties as hits {r['recall_ties']:.4f}; target >= {TARGET_RECALL}): {ok}")
    gpu_line = (f"GPU: {gpu} (hot tier in torch on cuda)." if gpu else
                "No GPU here (PyTorch is not installed, or sees no CUDA device): the GPU rows were skipped.")
    load_line = (f"Other processes used {100 * others:.0f}% of the machine's {m['cores']} cores while the latencies "
                 f"were measured (busy CPU time from /proc/stat less this run's own; this run at niceness "
                 f"{os.nice(0)})")
    load_line += ", so the latencies are upper bounds for an idle machine." if others > 0.05 else "."
    return f"""## Semantic vectors: int8 recall on real chunk vectors, build speed, top-10 latency

`{command}` ({wall_s:.0f} s in all), commit `{git_commit()}`, {utc_now()}.
Machine: {m['cpu']}, {m['cores']} cores, {m['ram']} RAM, {m['os']}, Python {m['python']}. {gpu_line}
Model: `{model.name}` ({model.embeddings.shape[0]:,} token embeddings x {model.dim}), loaded in {model_s:.2f} s
(first load in the process, page cache as found: read the weights file, SHA-256 it, load the tokenizer).

**int8 recall on the engine's own vectors.** Each corpus's base-segment chunk vectors as the engine
wrote them (`vectors.npy`, float16, read as float32), all in one `TieredVectorStore(256, "dot")`
tier; truth: exact float32 top-10 by a NumPy matrix product over the same rows. {query_note}
"Ties as hits" counts a returned chunk whose exact score equals the 10th best's (within {TIE_EPS:g})
as a hit: corpora hold identical chunk vectors (the same terms), and which of them is "the" 10th
is arbitrary; the float32 control shows how many misses ties alone make. Rescored: each warm segment offers
its 4 x 10 best rows by quantized score, read back exactly from the Lance copy (a temporary folder)
and rescored in float32. With the default `vector_hot_bytes` (256 MiB, ~260k chunks of 256
dimensions) these corpora sit wholly in the float32 hot tier; int8 serves a base that exceeds it or
that the memory governor demoted under pressure, without a Lance copy (so with quantized scores).

{recall_table}

Targets (int8 recall@10 >= {TARGET_RECALL} against exact float32):

{chr(10).join(verdicts)}

**Build speed.** `term_weights` (BM25 IDF) and `semantic.chunk_vectors` on each corpus's base
segment (memory-mapped arrays read once before timing), one run each; "term vectors" is
`model.term_vectors` of the segment's whole vocabulary alone (tokenize every distinct term, mean
its tokens' embeddings), part of the total.

{build_table}

{chr(10).join('- ' + c for c in checks)}

**Top-10 latency.** One-query `search(q, 10)` over random unit vectors (Gaussian, seed {args.seed},
normalised), {semantic.DIM} dimensions, segments of 8,192 rows, metric `dot`, no promotion;
median and p95 over up to {args.latency_queries} queries after 2 warm-up searches, fewer where a
configuration's {args.latency_budget_s:.0f} s budget ran out (at least {args.min_latency_queries}). float32 hot
on the CPU is measured where it fits {args.cpu_hot_max_bytes / 1e9:.1f} GB (10M x 256 float32 is 10 GB,
too much beside the other work on this {m['ram']} machine); the int8 warm tier (centred, rotated,
one scale per vector, codes widened to float32 one segment at a time for the product) is measured
at every size. {load_line}

{lat_table}

{chr(10).join(lat_notes)}
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", nargs="+", default=DEFAULT_CORPORA,
                        help=f"stores under {STORES} (default: %(default)s)")
    parser.add_argument("--queries", type=int, default=200, help="query texts per corpus")
    parser.add_argument("--sizes", nargs="+", type=int, default=[1_000_000, 10_000_000])
    parser.add_argument("--latency-queries", type=int, default=50)
    parser.add_argument("--min-latency-queries", type=int, default=10)
    parser.add_argument("--latency-budget-s", type=float, default=90.0,
                        help="stop a configuration's timed queries after this (once the minimum is reached)")
    parser.add_argument("--cpu-hot-max-bytes", type=int, default=2_000_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--write", action="store_true", help="write the section into docs/benchmarks.md")
    args = parser.parse_args(argv)
    command = "python benchmarks/vectors.py " + " ".join(shlex.quote(a) for a in (argv or sys.argv[1:]))
    start = time.perf_counter()

    t0 = time.perf_counter()
    model = semantic.load_model()
    model_s = time.perf_counter() - t0
    log(f"model {model.name} loaded in {model_s:.2f} s")

    builds, recall, checks = [], [], []
    kinds_seen: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="exocortex-vectors-") as tmp:
        for name in args.corpora:
            corpus = find_corpus(name, model)
            build, made = build_row(corpus, model)
            builds.append(build)
            log(f"{name}: {build['chunks']:,} chunks embedded in {build['total_s']:.2f} s "
                f"({build['chunks_per_s']:,.0f} chunks/s)")
            if corpus.vectors_file is not None:
                x = np.asarray(np.load(corpus.vectors_file), np.float32)
                if x.shape != made.shape:
                    sys.exit(f"{corpus.vectors_file}: shape {x.shape}, the segment makes {made.shape}")
                diff = float(np.abs(x - made).max())
                checks.append(f"{name}: the recomputed vectors match the engine's `vectors.npy` "
                              f"(max |difference| {diff:.1e}, float16 rounding).")
                source = "the engine's vectors.npy"
            else:
                x = made.astype(np.float16).astype(np.float32)
                checks.append(f"{name}: no vectors.npy yet; the recomputed vectors, rounded to float16, were used.")
                source = "recomputed (no vectors.npy)"
            del made
            seg = load_segment(corpus.base_dir)
            idf = term_weights(seg.chunks, seg.chunks)
            project = name.split("-", 1)[0]
            q, kinds = query_vectors(model, seg.chunks.vocab, idf, seg.chunks.num_docs,
                                     query_texts(project, args.queries))
            for kind in kinds:
                kinds_seen[f"{name}:{kind}"] = kinds_seen.get(f"{name}:{kind}", 0) + 1
            zero = int((np.abs(x).sum(axis=1) == 0).sum())
            distinct = len(np.unique(x.astype(np.float16), axis=0))
            log(f"{name}: {len(q)} queries, vectors from {source}, {zero} zero rows, {distinct:,} distinct rows")
            checks.append(f"{name}: {zero:,} zero rows (no embeddable term), {distinct:,} distinct of {len(x):,}.")
            recall += recall_rows(corpus, x, q, Path(tmp))
            del x
    titles = {k.split(":")[0]: v for k, v in kinds_seen.items() if k.endswith(":title")}
    fulls = {k.split(":")[0]: v for k, v in kinds_seen.items() if k.endswith(":full")}
    query_note = (
        f"Queries: SWE-bench Lite dev (`{ISSUES.name}`, 160 issues of Django, scikit-learn and matplotlib): "
        "every issue's title (first line), read as `semantic_query = \"title\"` reads it, then whole problem "
        f"statements (the corpus's own project first) up to {args.queries} texts, read as the default mode "
        "reads them; `parse_query` terms weighted with the base segment's IDF, as `CommitVectors.query` "
        "weighs them (texts with no embeddable term dropped): "
        + ", ".join(f"{n} {titles.get(n, 0)} titles + {fulls.get(n, 0)} statements" for n in args.corpora) + "."
    )

    busy0, own0, wall0 = busy_cpu_s(), own_cpu_s(), time.perf_counter()
    if args.skip_latency:
        latency: list[dict[str, Any]] = []
        gpu = None
    else:
        latency, gpu = latency_rows(args, semantic.DIM)
    cores = len(os.sched_getaffinity(0))
    others = max(0.0, (busy_cpu_s() - busy0) - (own_cpu_s() - own0)) / max(1e-9, (time.perf_counter() - wall0) * cores)

    wall = time.perf_counter() - start
    text = render(model_s, model, builds, recall, latency, gpu, checks, query_note, args, command.strip(), wall,
                  others)
    print(text)
    if args.write:
        replace_docs_section("semantic_vectors", text)
        log("wrote section semantic_vectors of docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
