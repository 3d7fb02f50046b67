"""Retrieval quality: does exocortex's budgeted pack hold the lines a real fix edits?

For SWE-bench Lite tasks (django, scikit-learn, matplotlib), the corpus is the PyPI sdist of
the task's release series; the query is the issue text. Measured at 13K, 27K, 50K and 100K
cl100k_base tokens: edit coverage and file hit of the pack, file ranking (Acc@k, MRR),
tokens and seconds; beside random files, BM25 over whole files and the gold files alone.

    python benchmarks/retrieval/run.py                   # all tasks; prints the tables
    python benchmarks/retrieval/run.py --limit 12        # smoke run
    python benchmarks/retrieval/run.py --write           # also writes docs/benchmarks.md
"""

from __future__ import annotations

import argparse
import concurrent.futures
import datetime as dt
import json
import multiprocessing
import shlex
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import report  # noqa: E402
from _common import (  # noqa: E402
    REPO_ROOT,
    git_commit,
    log,
    machine_description,
    markdown_table,
    replace_docs_section,
    utc_now,
)
from data import CACHE, DEFAULT_TASKS, INDEX_URL, Corpus, load_tasks, prepare_corpus  # noqa: E402
from evaluate import CorpusJob, evaluate_corpus  # noqa: E402

DEFAULT_BUDGETS = (13_000, 27_000, 50_000, 100_000)
SEARCH_K = 200


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks-file", type=Path, default=DEFAULT_TASKS)
    parser.add_argument("--projects", default="", help="comma-separated: django,sklearn,matplotlib (default all)")
    parser.add_argument("--limit", type=int, default=0, help="only the first N tasks (after --projects)")
    parser.add_argument("--budgets", default=",".join(str(b) for b in DEFAULT_BUDGETS),
                        help="comma-separated token budgets (cl100k_base)")
    parser.add_argument("--skip-baselines", action="store_true", help="exocortex only")
    parser.add_argument("--no-relocate", action="store_true",
                        help="number edited lines by the hunk headers as they are (no search in the sdist's file)")
    parser.add_argument("--jobs", type=int, default=1, help="corpora evaluated at once (one process each)")
    parser.add_argument("--index-url", default=INDEX_URL)
    parser.add_argument("--write", action="store_true", help="write the tables into docs/benchmarks.md")
    parser.add_argument("--analyse-budget", type=int, default=27_000,
                        help="budget of the miss analysis at the end of the report (0: none)")
    return parser.parse_args(argv)


def _run_jobs(jobs: list[CorpusJob], workers: int) -> list[dict[str, Any]]:
    """Each corpus in a fresh process: an index's in-process caches go when its process does."""
    results = []
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=workers, mp_context=context,
                                                max_tasks_per_child=1) as pool:
        futures = {pool.submit(evaluate_corpus, job): job for job in jobs}
        for future in concurrent.futures.as_completed(futures):
            job = futures[future]
            try:
                result = future.result()
            except Exception as exc:  # a failing corpus is reported, not hidden; the others still run
                log(f"{job.corpus.label}: FAILED: {exc.__class__.__name__}: {exc}")
                results.append(_failed(job, exc))
                continue
            info = result["info"]
            done = [r for r in result["records"] if not r["skipped"]]
            log(f"{job.corpus.label}: {len(done)}/{len(job.tasks)} tasks evaluated; update {info['update_s']:.1f} s, "
                f"first search {info['warm_search_s']:.2f} s, first pack {info['warm_pack_s']:.2f} s")
            results.append(result)
    return results


def _commits(start: str, end: str) -> str:
    return f"`{start}`" if start == end else f"`{start}` at the start, `{end}` at the end"


def _failed(job: CorpusJob, exc: BaseException) -> dict[str, Any]:
    reason = f"evaluation failed: {exc.__class__.__name__}: {exc}"
    records = [
        {"instance_id": t.instance_id, "project": t.project, "version": t.version, "release": job.corpus.release,
         "gold_files": list(t.gold_files), "named": False, "edits": {}, "edited_lines": 0, "data": None,
         "skipped": reason, "methods": {}}
        for t in job.tasks
    ]
    info = {"corpus": job.corpus.label, "release": job.corpus.release, "tasks": len(job.tasks), "failed": reason}
    return {"info": info, "records": records}


def build_report(args: argparse.Namespace, records: list[dict[str, Any]], infos: list[dict[str, Any]],
                 budgets: tuple[int, ...], total_s: float, command: str, results_path: Path) -> str:
    done = report.evaluated(records)
    machine = machine_description()
    projects = Counter(r["project"] for r in done)
    skipped = len(records) - len(done)
    lines = [
        "## Retrieval quality (`benchmarks/retrieval/run.py`)",
        "",
        f"- Command: `{command}`",
        f"- Date: {utc_now()}; commit: {_commits(args.commit_at_start, git_commit())}",
        f"- Machine: {machine['cpu']}, {machine['cores']} cores, {machine['ram']} RAM, {machine['os']}, "
        f"Python {machine['python']}",
        f"- Tasks: {len(records)} from `{args.tasks_file.name}`; evaluated {len(done)} "
        f"({', '.join(f'{p} {n}' for p, n in sorted(projects.items()))}); skipped {skipped}",
        *report.skipped_lines(records),
        f"- Total time: {total_s:.0f} s (corpora, indexes, every method); per-task results: "
        f"`{results_path.relative_to(REPO_ROOT)}`",
        "",
        "Corpus: the newest PyPI sdist of each task's release series (e.g. Django 3.1 -> 3.1.14), indexed whole "
        "(`Index.open(tree, store=...)`, `update()`). Query: the issue text alone. Packs: "
        "`Index.pack(query, budget, tokenizer=\"cl100k_base\", format=\"json\")`; the edited lines of the gold "
        "patch count as covered when they fall in a pack item's verbatim `lines`. Edited lines are the lines a "
        "hunk removes or changes (the line before a pure insertion), "
        + ("located in the sdist's copy of the file (exactly, else by alignment; when the fix is already released "
           "in the sdist, the lines it wrote)" if not args.no_relocate else
           "numbered as the hunk headers say (`--no-relocate`)")
        + "; a blank line counts as its non-blank neighbour above."
        + " File ranking: distinct files of `Index.search(query, 200)` in rank order; BM25 ranks every non-test "
        ".py file (own implementation: words = runs of letters and digits, lower-cased; k1 0.9, b 0.4). "
        "Baselines pack whole files (path header + fenced text, exact cl100k_base counts) while they fit. "
        "Intervals: bootstrap 95% of the mean, 1,000 resamples, fixed seed. Named: the issue text contains a gold "
        "file's path, dotted module or file name.",
        "",
    ]
    if not done:
        return "\n".join([*lines, "No task was evaluated."])
    lines += [
        "Edit coverage (%, mean [95% CI]): share of the gold patch's edited lines in the pack.",
        "",
        report.per_budget_table(done, budgets, "coverage"),
        "",
        "File hit (%): every edited line of every gold file in the pack.",
        "",
        report.per_budget_table(done, budgets, "file_hit"),
        "",
        "Tokens used (mean) and seconds per task (exocortex: the ranking search plus the pack at that budget; "
        "BM25: scoring plus packing).",
        "",
        report.cost_table(done, budgets),
        "",
        "File ranking (%, mean [95% CI]; Acc@k: all gold files in the top k files; MRR of the first gold file).",
        "",
        report.ranking_table(done),
        "",
        "exocortex latency on an existing, warmed index (each corpus's first search and first pack are in the "
        "corpus table below and not here):",
        "",
        report.latency_table(done, budgets),
        "",
        "Published anchors (other corpora, setups and models; quoted, not measured here):",
        "",
        markdown_table(report.ANCHORS_HEADER, report.ANCHORS),
        "",
        "Targets:",
        "",
        report.targets_table(report.targets(done, budgets)),
        "",
        "Data quality (the sdist is a release of the task's series, not its base commit):",
        "",
        *report.data_quality(records),
        "",
        "Corpora (update: `Index.update()` in this run; first search / first pack: the warm-up query, "
        "which loads or builds the search data):",
        "",
        report.corpora_table(infos),
    ]
    if args.analyse_budget and args.analyse_budget in budgets:
        import misses

        lines += ["", misses.summary(done, args.analyse_budget)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    started = time.perf_counter()
    args.commit_at_start = git_commit()
    budgets = tuple(int(b) for b in args.budgets.split(",") if b.strip())
    projects = [p.strip() for p in args.projects.split(",") if p.strip()]
    tasks = load_tasks(args.tasks_file, projects or None)
    if args.limit:
        tasks = tasks[: args.limit]
    if not tasks:
        raise SystemExit("no tasks selected")

    groups: dict[str, tuple[Corpus, list[Any]]] = {}
    for task in tasks:
        corpus = prepare_corpus(task, args.index_url)
        groups.setdefault(corpus.label, (corpus, []))[1].append(task)
    log(f"{len(tasks)} tasks over {len(groups)} corpora: "
        + ", ".join(f"{label} ({len(ts)})" for label, (_, ts) in groups.items()))
    jobs = [
        CorpusJob(corpus, tuple(ts), budgets, not args.skip_baselines, not args.no_relocate, SEARCH_K)
        for corpus, ts in groups.values()
    ]
    # largest corpora first so that parallel workers finish together
    jobs.sort(key=lambda j: -len(j.tasks))
    results = _run_jobs(jobs, max(1, args.jobs))

    order = {t.instance_id: i for i, t in enumerate(tasks)}
    records = sorted((r for res in results for r in res["records"]), key=lambda r: order[r["instance_id"]])
    infos = [res["info"] for res in results]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    results_path = CACHE / f"results-{stamp}.jsonl"
    with results_path.open("w", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record) + "\n")
    results_path.with_suffix(".corpora.json").write_text(json.dumps(infos, indent=1) + "\n", encoding="utf-8")
    total_s = time.perf_counter() - started
    command = "python benchmarks/retrieval/run.py" + ("" if argv is None and len(sys.argv) == 1 else
                                                      " " + shlex.join(sys.argv[1:] if argv is None else argv))
    body = build_report(args, records, infos, budgets, total_s, command, results_path)
    print(body)
    if args.write:
        replace_docs_section("retrieval", body)
        log("wrote the retrieval section of docs/benchmarks.md")
    log(f"per-task results: {results_path}")
    failed = [info["corpus"] for info in infos if info.get("failed")]
    if failed:
        raise SystemExit(f"evaluation failed for {', '.join(failed)} (their tasks are counted as skipped)")


if __name__ == "__main__":
    main()
