"""Evaluating every method on the tasks of one corpus (one sdist), in one process.

:func:`evaluate_corpus` is what a worker process runs: it brings the corpus's exocortex
index up to date, warms it with a query that is no task's, then for each task ranks files,
packs at each budget and measures the packs against the gold edits; the baselines are
measured on the same tasks with the same measures.
"""

from __future__ import annotations

import resource
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from baselines import BM25, TOKENIZER, SourceFiles, pack_whole, random_order, render_file  # noqa: E402
from data import Corpus, GoldEdits, Task, gold_edits, is_test_path, names_file, python_sources  # noqa: E402
from metrics import WHOLE_FILE, coverage, distinct_in_order, gold_ranks, merge  # noqa: E402

WARMUP_QUERY = "how are settings loaded and validated when the application starts"


@dataclass(frozen=True)
class CorpusJob:
    corpus: Corpus
    tasks: tuple[Task, ...]
    budgets: tuple[int, ...]
    baselines: bool
    relocate: bool
    search_k: int


def _exocortex_packed(pack: Any) -> tuple[dict[str, list[tuple[int, int]]], dict[str, list[str]]]:
    ranges: dict[str, list[tuple[int, int]]] = {}
    kinds: dict[str, list[str]] = {}
    for item in pack.items:
        ranges.setdefault(item.path, []).extend(tuple(r) for r in item.lines)
        kinds.setdefault(item.path, []).append(item.kind)
    return {p: merge(r) for p, r in ranges.items()}, {p: sorted(set(k)) for p, k in kinds.items()}


def _run_exocortex(index: Any, task: Task, edits: dict[str, list[int]], job: CorpusJob) -> dict[str, Any]:
    from exocortex import ExocortexError

    query = task.problem_statement
    out: dict[str, Any] = {"budgets": {}}
    started = time.perf_counter()
    try:
        hits = index.search(query, job.search_k)
        out["error"] = None
    except ExocortexError as exc:
        hits = []
        out["error"] = f"search: {exc}"
    out["search_s"] = time.perf_counter() - started
    ranked = distinct_in_order(h.path for h in hits)
    out["ranks"] = gold_ranks(ranked, task.gold_files)
    # the same ranking restricted to the files BM25 ranks (non-test .py), for a like-for-like row
    out["ranks_py"] = gold_ranks([p for p in ranked if p.endswith(".py") and not is_test_path(p)], task.gold_files)
    out["ranked_files"] = len(ranked)
    out["top_files"] = ranked[:10]
    for budget in job.budgets:
        started = time.perf_counter()
        try:
            pack = index.pack(query, budget, tokenizer=TOKENIZER, format="json")
            error = None
        except ExocortexError as exc:
            pack, error = None, f"pack: {exc}"
        seconds = time.perf_counter() - started
        if pack is None:
            packed, kinds, tokens = {}, {}, 0
        else:
            packed, kinds, tokens = *_exocortex_packed(pack), pack.tokens
            if tokens > budget:
                error = f"pack: {tokens} tokens over the budget {budget}"
        measured = coverage(edits, packed)
        out["budgets"][str(budget)] = {
            **measured,
            "tokens": tokens,
            "pack_s": seconds,
            "items": len(pack.items) if pack is not None else 0,
            "gold_kinds": {g: kinds.get(g, []) for g in task.gold_files},
            "gold_covered": {g: coverage({g: edits[g]}, packed)["covered"] for g in edits},
            "error": error,
        }
    return out


def _run_whole_files(order: list[int], files: SourceFiles, edits: dict[str, list[int]],
                     budgets: tuple[int, ...], seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {"budgets": {}}
    for budget in budgets:
        started = time.perf_counter()
        taken, used = pack_whole(order, files.costs, budget)
        packed = {files.paths[i]: WHOLE_FILE for i in taken}
        out["budgets"][str(budget)] = {
            **coverage(edits, packed),
            "tokens": used,
            "files": len(taken),
            "pack_s": seconds + time.perf_counter() - started,
        }
    return out


def _run_oracle(task: Task, tree: Path, edits: dict[str, list[int]], budgets: tuple[int, ...]) -> dict[str, Any]:
    paths = [g for g in task.gold_files if (tree / g).is_file()]
    texts = [(tree / p).read_text(encoding="utf-8", errors="replace") for p in paths]
    files = SourceFiles(paths, texts, _costs(paths, texts))
    return _run_whole_files(list(range(len(paths))), files, edits, budgets, 0.0)


def _costs(paths: list[str], texts: list[str]) -> Any:
    import numpy as np

    from exocortex.tokens import count_tokens

    return np.array([count_tokens(render_file(p, t), TOKENIZER) for p, t in zip(paths, texts, strict=True)],
                    dtype=np.int64)


def evaluate_corpus(job: CorpusJob) -> dict[str, Any]:
    """Records of every task of ``job`` plus facts about the corpus (index, warm-up)."""
    from exocortex import Index

    corpus = job.corpus
    info: dict[str, Any] = {"corpus": corpus.label, "release": corpus.release, "tasks": len(job.tasks)}
    index = Index.open(corpus.tree, store=corpus.store)
    started = time.perf_counter()
    report = index.update()
    info["update_s"] = time.perf_counter() - started
    info["indexed_files"] = report.files
    info["chunks"] = report.chunks
    info["processed"] = report.processed
    started = time.perf_counter()
    index.search(WARMUP_QUERY, job.search_k)
    info["warm_search_s"] = time.perf_counter() - started
    started = time.perf_counter()
    index.pack(WARMUP_QUERY, max(job.budgets), tokenizer=TOKENIZER, format="json")
    info["warm_pack_s"] = time.perf_counter() - started

    files = bm25 = None
    if job.baselines:
        started = time.perf_counter()
        files = SourceFiles.load(corpus.tree, python_sources(corpus.tree))
        bm25 = BM25(files.texts)
        info["baseline_files"] = len(files.paths)
        info["baseline_build_s"] = time.perf_counter() - started

    records = [_evaluate_task(task, job, index, files, bm25) for task in job.tasks]
    # ru_maxrss is in KiB on Linux; children: the indexer's worker processes
    info["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    info["peak_rss_children_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"info": info, "records": records}


def skip_reason(gold: GoldEdits, relocate: bool) -> str | None:
    """Why a task cannot be measured on this corpus, or None."""
    if gold.missing:
        return "gold file missing from the sdist"
    if relocate and gold.hunks_by_how["header"]:
        return "gold edit not found in the sdist's file"
    if gold.total == 0:
        return "no edited lines (new files only)"
    return None


def _evaluate_task(task: Task, job: CorpusJob, index: Any, files: SourceFiles | None,
                   bm25: BM25 | None) -> dict[str, Any]:
    corpus = job.corpus
    gold = gold_edits(task, corpus.tree, relocate=job.relocate)
    record: dict[str, Any] = {
        "instance_id": task.instance_id,
        "project": task.project,
        "version": task.version,
        "release": corpus.release,
        "gold_files": list(task.gold_files),
        "gold_test_paths": [g for g in task.gold_files if is_test_path(g)],
        "named": any(names_file(task.problem_statement, g, corpus.tree) for g in task.gold_files),
        "edits": gold.lines,
        "edited_lines": gold.total,
        "data": {
            "hunks_by_how": gold.hunks_by_how,
            "hunks_shifted": gold.hunks_shifted,
            "removed_total": gold.removed_total,
            "removed_match_header": gold.removed_match_header,
        },
        "skipped": None,
        "methods": {},
    }
    record["skipped"] = skip_reason(gold, job.relocate)
    if record["skipped"]:
        return record
    edits = gold.lines
    methods = record["methods"]
    methods["exocortex"] = _run_exocortex(index, task, edits, job)
    if files is not None and bm25 is not None:
        started = time.perf_counter()
        order = bm25.rank(task.problem_statement)
        rank_s = time.perf_counter() - started
        bm = _run_whole_files(order, files, edits, job.budgets, rank_s)
        bm["ranks"] = gold_ranks([files.paths[i] for i in order], task.gold_files)
        bm["search_s"] = rank_s
        methods["bm25"] = bm
        methods["random"] = _run_whole_files(random_order(len(files.paths), task.instance_id), files, edits,
                                             job.budgets, 0.0)
        methods["oracle"] = _run_oracle(task, corpus.tree, edits, job.budgets)
    return record
