"""Pack latency: `Index.pack` at 8K, 128K, 1M and 10M tokens over 20 different queries.

Runs on the 50k-file tree of the index benchmark (`index_speed.py --prepare-only` builds it)
with a store outside the tree (indexed first if missing). First, in fresh processes, the
first search after an index commit (which builds the commit's search data) and a search
that finds the data on disk, with wall, CPU and peak RSS. Then each query is packed once per
budget in one warm process; the first call of the process (which loads the caches) is
reported separately, and so is the first pack of each budget. Writes its section of
docs/benchmarks.md.

    python benchmarks/pack_speed.py [--tree copies-50000-unique] [--no-write]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    MB,
    built_tree_and_store,
    git_commit,
    machine_description,
    markdown_table,
    replace_docs_section,
    run_measured,
    utc_now,
)

BUDGETS = {"8K": 8_000, "128K": 128_000, "1M": 1_000_000, "10M": 10_000_000}
TARGETS = {"128K": ("p50", 0.100), "10M": ("p95", 5.0)}

# Twenty questions a developer of these four projects might ask (the tree holds SymPy,
# Django, scikit-learn and matplotlib sources). Written for this benchmark; not tasks of any
# evaluation set.
QUERIES = [
    "How does the ORM turn a QuerySet filter into SQL WHERE clauses?",
    "Where are database migrations autodetected from model changes?",
    "CSRF token validation in the middleware",
    "How does simplify decide which rewriting strategy to apply to an expression?",
    "solve a system of linear equations with sympy matrices",
    "Integral of a rational function: where is the Risch algorithm",
    "colorbar tick locator and formatter",
    "How does savefig choose the backend for a file extension?",
    "Axes.hist bins and density normalisation",
    "RandomForestClassifier feature_importances_ computation",
    "train_test_split stratify implementation",
    "how does GridSearchCV refit the best estimator",
    "StandardScaler partial_fit running mean and variance",
    "template engine variable resolution and filters",
    "URL resolver reverse with namespaces",
    "LaTeX printing of matrices and fractions",
    "polynomial factorization over finite fields",
    "legend placement best location algorithm",
    "KMeans init k-means++ seeding",
    "admin changelist pagination and search fields",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", default="copies-50000-unique", help="tree under benchmarks/.cache/trees")
    parser.add_argument("--store", default=None, help="store directory (default: benchmarks/.cache/stores/TREE)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    tree, store = built_tree_and_store(args.tree, args.store, "pack")
    exe = Path(sys.executable).parent / "exocortex"
    print(f"indexing {tree} into {store} (incremental)", file=sys.stderr)
    subprocess.run([str(exe), "index", str(tree), "--store", str(store)], check=True, stdout=subprocess.DEVNULL)

    # The first search after a commit builds the search data; a later process memory-maps it.
    shutil.rmtree(store / "search", ignore_errors=True)
    search_argv = [str(exe), "search", QUERIES[0], "-k", "20", "-C", str(tree), "--store", str(store), "--json"]
    cold, warm = run_measured(search_argv), run_measured(search_argv)
    for m in (cold, warm):
        if not m.ok:
            sys.exit(f"search failed: {m.stderr[-2000:]}")
    search_rows = [
        [label, f"{m.wall_s:,.2f}", f"{m.cpu_s:,.2f}", f"{m.peak_rss_bytes / MB:,.0f}"]
        for label, m in (("first search after the commit (builds the search data)", cold),
                         ("next search, new process (data on disk)", warm))
    ]

    from exocortex import Index
    from exocortex.memory.engine import engine_memory

    index = Index.open(tree, store=store)
    # A warm process follows the tree with a watcher, as the MCP server and `exocortex watch` do: each
    # pack's freshness check is then the watcher's barrier (~20 ms), not a walk of every file.
    index.watch()
    started = time.perf_counter()
    first = index.pack(QUERIES[0], BUDGETS["128K"])
    first_s = time.perf_counter() - started

    times: dict[str, list[float]] = {name: [] for name in BUDGETS}
    used: dict[str, list[int]] = {name: [] for name in BUDGETS}
    for name, budget in BUDGETS.items():
        for query in QUERIES:
            t = time.perf_counter()
            pack = index.pack(query, budget)
            times[name].append(time.perf_counter() - t)
            used[name].append(pack.tokens)
            assert pack.tokens <= budget
    rss = psutil.Process().memory_info().rss
    snapshot = engine_memory().stats()["caches"].get("pack-snapshot")
    held = sum(level["bytes"] for level in snapshot["levels"].values()) if snapshot else 0  # 0: nothing held

    def pct(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    rows = []
    verdicts = []
    for name in BUDGETS:
        p50, p95 = statistics.median(times[name]), pct(times[name], 0.95)
        rows.append(
            [name, f"{times[name][0] * 1000:,.0f}", f"{p50 * 1000:,.0f}", f"{p95 * 1000:,.0f}",
             f"{max(times[name]) * 1000:,.0f}", f"{statistics.median(used[name]):,.0f}"]
        )
        if name in TARGETS:
            which, limit = TARGETS[name]
            value = p50 if which == "p50" else p95
            verdicts.append(
                [f"{name} {which}", f"≤ {limit * 1000:,.0f} ms", f"{value * 1000:,.0f} ms",
                 "PASS" if value <= limit else "MISS"]
            )
    machine = machine_description()
    status = index.status()
    body = "\n".join(
        [
            "## Pack latency (`benchmarks/pack_speed.py`)",
            "",
            f"- Command: `python benchmarks/pack_speed.py --tree {args.tree}`",
            f"- Date: {utc_now()}; commit: `{git_commit()}`",
            f"- Machine: {machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, {machine.get('ram', '?')} RAM",
            f"- Index: {status.files:,} files, {status.chunks:,} chunks, {status.tokens:,} tokens",
            "",
            "Search data of a commit (fresh processes, `exocortex search ... -k 20 --json`; "
            "peak RSS of the process tree):",
            "",
            markdown_table(["step", "wall s", "CPU s", "peak RSS MB"], search_rows),
            "",
            f"Packs: 20 queries × 4 budgets in one process that follows the tree with a file watcher (each "
            f"pack first checks the index is current: the watcher's barrier, not a walk); the process's first "
            f"pack (128K, loading caches) "
            f"took {first_s * 1000:,.0f} ms ({first.tokens:,} tokens) and is not in the table. \"first\" is "
            f"the first query of each budget (the coldest for the count memo). At the end the process's RSS "
            f"was {rss / MB:,.0f} MB, of which the held snapshot is {held / MB:,.0f} MB of Arrow data.",
            "",
            markdown_table(["budget", "first ms", "p50 ms", "p95 ms", "max ms", "median tokens used"], rows),
            "",
            markdown_table(["target", "limit", "measured", "verdict"], verdicts),
        ]
    )
    print(body)
    if not args.no_write:
        replace_docs_section("pack_speed", body)


if __name__ == "__main__":
    main()
