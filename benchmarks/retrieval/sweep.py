"""Compare settings of exocortex's search on the dev tasks: file ranking (and coverage at budgets).

Each variant is a set of :class:`exocortex.config.Config` overrides; every variant runs on the
same tasks, the same indexes and in the same process, so the differences are the settings'
alone. This is how the fusion weights and priors were chosen (the choices and their figures
are in docs/benchmarks.md); it measures, it does not tune anything by itself.

    python benchmarks/retrieval/sweep.py --variant "no-pagerank:weight_pagerank=0"
    python benchmarks/retrieval/sweep.py --variant "w:weight_file=1.0" --budgets 27000,100000

The first variant is always the defaults ("default"). Only the reserved-free dev file is read
(``--tasks-file``, the same as run.py's); the sdists and stores are run.py's cache.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import json
import multiprocessing
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import git_commit, log, machine_description, markdown_table, replace_docs_section, utc_now  # noqa: E402
from baselines import TOKENIZER  # noqa: E402
from data import DEFAULT_TASKS, INDEX_URL, Corpus, Task, gold_edits, load_tasks, names_file, prepare_corpus  # noqa: E402
from evaluate import skip_reason  # noqa: E402
from metrics import acc_at, coverage, distinct_in_order, gold_ranks, reciprocal_rank  # noqa: E402
from report import GROUPS, budget_label  # noqa: E402

SEARCH_K = 200


@dataclass(frozen=True)
class Variant:
    name: str
    settings: dict[str, Any]


def parse_variant(text: str) -> Variant:
    """``"name:key=value,key=value"`` -> a Variant; values are parsed as int, float, bool or kept as text."""
    name, _, body = text.partition(":")
    if not name or not body:
        raise argparse.ArgumentTypeError(f"variant {text!r}: expected NAME:KEY=VALUE[,KEY=VALUE...]")
    settings: dict[str, Any] = {}
    for part in body.split(","):
        key, eq, raw = part.partition("=")
        if not eq:
            raise argparse.ArgumentTypeError(f"variant {text!r}: {part!r} is not KEY=VALUE")
        settings[key.strip()] = _value(raw.strip())
    return Variant(name, settings)


def _value(raw: str) -> Any:
    if raw.lower() in ("true", "false"):
        return raw.lower() == "true"
    for kind in (int, float):
        try:
            return kind(raw)
        except ValueError:
            pass
    return raw


@dataclass(frozen=True)
class SweepJob:
    corpus: Corpus
    tasks: tuple[Task, ...]
    variants: tuple[Variant, ...]
    budgets: tuple[int, ...]


def sweep_corpus(job: SweepJob) -> list[dict[str, Any]]:
    """Per task and variant: the gold files' ranks and the coverage at each budget."""
    from exocortex import Index

    index = Index.open(job.corpus.tree, store=job.corpus.store)
    index.update()
    defaults = index.config
    configs = {v.name: dataclasses.replace(defaults, **v.settings) for v in job.variants}
    out = []
    for task in job.tasks:
        gold = gold_edits(task, job.corpus.tree)
        if skip_reason(gold, relocate=True):
            continue
        record: dict[str, Any] = {
            "instance_id": task.instance_id,
            "project": task.project,
            "named": any(names_file(task.problem_statement, g, job.corpus.tree) for g in task.gold_files),
            "variants": {},
        }
        for variant in job.variants:
            index.config = configs[variant.name]
            started = time.perf_counter()
            hits = index.search(task.problem_statement, SEARCH_K)
            result: dict[str, Any] = {
                "ranks": gold_ranks(distinct_in_order(h.path for h in hits), task.gold_files),
                "search_s": time.perf_counter() - started,
                "coverage": {},
            }
            for budget in job.budgets:
                pack = index.pack(task.problem_statement, budget, tokenizer=TOKENIZER, format="json")
                packed: dict[str, list[tuple[int, int]]] = {}
                for item in pack.items:
                    packed.setdefault(item.path, []).extend(tuple(r) for r in item.lines)
                result["coverage"][str(budget)] = coverage(gold.lines, packed)["coverage"]
            record["variants"][variant.name] = result
        out.append(record)
    index.config = defaults
    return out


def _pct(values: list[float]) -> str:
    return f"{100 * sum(values) / len(values):.1f}"


def table(records: list[dict[str, Any]], variants: tuple[Variant, ...], budgets: tuple[int, ...]) -> str:
    header = ["variant", "group", "tasks", "Acc@1", "Acc@5", "Acc@10", "MRR",
              *(f"cov {budget_label(b)}" for b in budgets), "search p50 s"]
    rows = []
    for variant in variants:
        for group in GROUPS:
            chosen = [r for r in records if group == "all" or r["named"] == (group == "named")]
            results = [r["variants"][variant.name] for r in chosen]
            if not results:
                continue
            ranks = [res["ranks"] for res in results]
            times = sorted(res["search_s"] for res in results)
            rows.append([
                variant.name, group, str(len(results)),
                *(_pct([acc_at(r, k) for r in ranks]) for k in (1, 5, 10)),
                f"{sum(reciprocal_rank(r) for r in ranks) / len(ranks):.3f}",
                *(_pct([res["coverage"][str(b)] for res in results]) for b in budgets),
                f"{times[len(times) // 2]:.3f}",
            ])
    return markdown_table(header, rows)


def _project_scores(records: list[dict[str, Any]], name: str, budgets: tuple[int, ...]) -> dict[str, float]:
    """Acc@1, Acc@5 and the coverage at each budget (fractions) of one variant over ``records``."""
    results = [r["variants"][name] for r in records]
    out = {f"Acc@{k}": sum(acc_at(res["ranks"], k) for res in results) / len(results) for k in (1, 5)}
    for b in budgets:
        out[f"cov {budget_label(b)}"] = sum(res["coverage"][str(b)] for res in results) / len(results)
    return out


def objective(scores: dict[str, float]) -> float:
    """What leave-one-repository-out maximises: the mean of Acc@1, Acc@5 and every coverage."""
    return sum(scores.values()) / len(scores)


def per_project(records: list[dict[str, Any]], variants: tuple[Variant, ...], budgets: tuple[int, ...]) -> str:
    """Every variant's figures on each project alone."""
    projects = sorted({r["project"] for r in records})
    header = ["variant", "project", "tasks", "Acc@1", "Acc@5",
              *(f"cov {budget_label(b)}" for b in budgets), "objective"]
    rows = []
    for variant in variants:
        for project in projects:
            chosen = [r for r in records if r["project"] == project]
            scores = _project_scores(chosen, variant.name, budgets)
            rows.append([variant.name, project, str(len(chosen)), *(f"{100 * v:.1f}" for v in scores.values()),
                         f"{100 * objective(scores):.1f}"])
    return markdown_table(header, rows)


def leave_one_out(records: list[dict[str, Any]], variants: tuple[Variant, ...],
                  budgets: tuple[int, ...]) -> tuple[str, list[str]]:
    """For each project: the variant the other projects choose (the best mean objective over them,
    each project weighing the same whatever its task count) and its figures on the held-out project.

    Returns the table and one line per project naming the choice (a lever that only fits one
    codebase shows up as a choice that loses on the project left out)."""
    projects = sorted({r["project"] for r in records})
    by_project = {p: [r for r in records if r["project"] == p] for p in projects}
    header = ["held out", "tasks", "chosen on the others", "Acc@1", "Acc@5",
              *(f"cov {budget_label(b)}" for b in budgets), "defaults' Acc@1", "defaults' Acc@5",
              *(f"defaults' cov {budget_label(b)}" for b in budgets)]
    rows, lines = [], []
    pooled: dict[str, list[float]] = {}
    for held in projects:
        train = [p for p in projects if p != held]

        def train_score(v: Variant, train: list[str] = train) -> float:
            return sum(objective(_project_scores(by_project[p], v.name, budgets)) for p in train) / len(train)

        chosen = max(variants, key=lambda v: (train_score(v), v.name == "default"))
        test = _project_scores(by_project[held], chosen.name, budgets)
        base = _project_scores(by_project[held], variants[0].name, budgets)
        rows.append([held, str(len(by_project[held])), chosen.name, *(f"{100 * v:.1f}" for v in test.values()),
                     *(f"{100 * v:.1f}" for v in base.values())])
        for key, value in test.items():
            pooled.setdefault(key, []).extend([value] * len(by_project[held]))
        lines.append(f"- held out {held}: the others choose {chosen.name} "
                     f"(their mean objective {100 * train_score(chosen):.1f}; defaults "
                     f"{100 * train_score(variants[0]):.1f})")
    total = sum(len(v) for v in by_project.values())
    rows.append(["all (task-weighted)", str(total), "-", *(f"{100 * sum(v) / len(v):.1f}" for v in pooled.values()),
                 *(f"{100 * v:.1f}" for v in _project_scores(records, variants[0].name, budgets).values())])
    return markdown_table(header, rows), lines


def changed_tasks(records: list[dict[str, Any]], variants: tuple[Variant, ...], k: int = 5) -> list[str]:
    """Tasks whose Acc@k differs between the defaults and another variant."""
    lines = []
    base = variants[0].name
    for variant in variants[1:]:
        gained = [r["instance_id"] for r in records
                  if acc_at(r["variants"][variant.name]["ranks"], k) > acc_at(r["variants"][base]["ranks"], k)]
        lost = [r["instance_id"] for r in records
                if acc_at(r["variants"][variant.name]["ranks"], k) < acc_at(r["variants"][base]["ranks"], k)]
        lines.append(f"- {variant.name}: Acc@{k} gained {len(gained)} ({', '.join(gained) or '-'}); "
                     f"lost {len(lost)} ({', '.join(lost) or '-'})")
    return lines


def report_body(records: list[dict[str, Any]], variants: tuple[Variant, ...], budgets: tuple[int, ...]) -> str:
    loo, choices = leave_one_out(records, variants, budgets)
    return "\n".join([
        table(records, variants, budgets),
        "",
        "Per project:",
        "",
        per_project(records, variants, budgets),
        "",
        "Leave one repository out (the variant chosen on the other two projects, measured on the third; "
        "objective: the mean of Acc@1, Acc@5 and the coverages, each project weighing the same):",
        "",
        loo,
        "",
        *choices,
        "",
        *changed_tasks(records, variants, 1),
        *changed_tasks(records, variants, 5),
    ])


def report_saved(paths: list[Path], variants: tuple[Variant, ...], budgets: tuple[int, ...]) -> tuple[str, int]:
    """The report of saved records and their count: the variants named (by name; "default" is the first
    file's)."""
    merged: dict[str, dict[str, Any]] = {}
    for path in paths:
        for line in path.read_text().splitlines():
            record = json.loads(line)
            held = merged.setdefault(record["instance_id"], record)
            for name, result in record["variants"].items():
                held["variants"].setdefault(name, result)
    records = list(merged.values())
    if not args_variants_known(records, variants):
        raise SystemExit("a variant named on the command line is not in every saved record")
    return report_body(records, variants, budgets), len(records)


def args_variants_known(records: list[dict[str, Any]], variants: tuple[Variant, ...]) -> bool:
    return all(v.name in r["variants"] for r in records for v in variants)


def write_section(argv: list[str] | None, body: str, count: int, seconds: float | None) -> None:
    """Replace the retrieval_sweep section of docs/benchmarks.md with ``body`` and its header."""
    machine = machine_description()
    command = "python benchmarks/retrieval/sweep.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    took = f"; {seconds:.0f} s" if seconds is not None else " (a report of saved runs: `--load`)"
    replace_docs_section("retrieval_sweep", "\n".join([
        "## Retrieval settings side by side (`benchmarks/retrieval/sweep.py`)",
        "",
        f"- Command: `{command}`",
        f"- Date: {utc_now()}; commit: `{git_commit()}`{took}",
        f"- Machine: {machine['cpu']}, {machine['cores']} cores, {machine['ram']} RAM",
        "",
        "Each row changes the defaults by the settings in its name (`default`: none); the same "
        f"{count} dev tasks, indexes and processes for all. Acc@k and MRR from `Index.search(query, "
        f"{SEARCH_K})` at file level; coverage: edit coverage of `Index.pack` at that budget (%). "
        "Below the table: the tasks whose Acc@1 / Acc@5 each variant gains or loses against the defaults.",
        "",
        body,
    ]))
    log("wrote the retrieval_sweep section of docs/benchmarks.md")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks-file", type=Path, default=DEFAULT_TASKS)
    parser.add_argument("--projects", default="", help="comma-separated: django,sklearn,matplotlib (default all)")
    parser.add_argument("--variant", type=parse_variant, action="append", default=[],
                        help="NAME:KEY=VALUE[,KEY=VALUE...] (Config fields); repeatable")
    parser.add_argument("--budgets", default="", help="comma-separated budgets to pack at too (slower)")
    parser.add_argument("--jobs", type=int, default=2, help="corpora at once (one process each)")
    parser.add_argument("--index-url", default=INDEX_URL)
    parser.add_argument("--save", type=Path, help="write every task's per-variant results (JSON lines) here")
    parser.add_argument("--load", type=Path, action="append", default=[],
                        help="read results saved by --save instead of running (repeatable; variants merged by task)")
    parser.add_argument("--write", action="store_true",
                        help="write the table into docs/benchmarks.md (section retrieval_sweep)")
    args = parser.parse_args(argv)
    variants = (Variant("default", {}), *args.variant)
    budgets = tuple(int(b) for b in args.budgets.split(",") if b.strip())
    if args.load:
        body, count = report_saved(args.load, variants, budgets)
        print(body)
        if args.write:
            write_section(argv, body, count, None)
        return
    projects = [p.strip() for p in args.projects.split(",") if p.strip()]
    tasks = load_tasks(args.tasks_file, projects or None)
    groups: dict[str, tuple[Corpus, list[Task]]] = {}
    for task in tasks:
        corpus = prepare_corpus(task, args.index_url)
        groups.setdefault(corpus.label, (corpus, []))[1].append(task)
    jobs = sorted((SweepJob(c, tuple(ts), variants, budgets) for c, ts in groups.values()),
                  key=lambda j: -len(j.tasks))
    started = time.perf_counter()
    records: list[dict[str, Any]] = []
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=max(1, args.jobs), mp_context=context,
                                                max_tasks_per_child=1) as pool:
        for future in concurrent.futures.as_completed([pool.submit(sweep_corpus, job) for job in jobs]):
            records.extend(future.result())
    order = {t.instance_id: i for i, t in enumerate(tasks)}
    records.sort(key=lambda r: order[r["instance_id"]])
    if args.save:
        args.save.write_text("".join(json.dumps(r) + "\n" for r in records))
        log(f"wrote {len(records)} task records to {args.save}")
    body = report_body(records, variants, budgets)
    print(body)
    seconds = time.perf_counter() - started
    log(f"{len(records)} tasks, {len(variants)} variants, {seconds:.0f} s")
    if args.write:
        write_section(argv, body, len(records), seconds)


if __name__ == "__main__":
    main()
