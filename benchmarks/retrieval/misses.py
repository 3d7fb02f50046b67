"""Where exocortex's misses come from, from a results file of run.py.

A task is a miss at a budget when its pack lacks some edited line (file hit 0). Each miss
gets the first cause that applies, looking at its gold files:

- ranking: a gold file is not among the top N files of the search ranking;
- packing (absent): every gold file is ranked in the top N, but one is not in the pack;
- packing (outline only): a gold file is in the pack only as skeleton, signatures or path;
- chunking (other lines): the gold file's chunks are in the pack, but not the edited ones.

    python benchmarks/retrieval/misses.py                       # the newest results file
    python benchmarks/retrieval/misses.py RESULTS.jsonl --budget 13000 --top 10
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import markdown_table  # noqa: E402
from data import CACHE  # noqa: E402

CAUSES = (
    "ranking: gold file not in the top N files",
    "packing (absent): ranked in the top N, not in the pack",
    "packing (outline only): skeleton/signature/path only",
    "chunking (other lines): chunks of the file in, edited lines not",
)
OUTLINE_KINDS = {"skeleton", "signature", "path"}


def classify(record: dict[str, Any], budget: int, top: int) -> str | None:
    """The cause of the miss (one of CAUSES), or None when the pack holds every edited line."""
    exo = record["methods"]["exocortex"]
    measured = exo["budgets"][str(budget)]
    if measured["file_hit"]:
        return None
    gold = [g for g in record["gold_files"] if record["edits"].get(g)]
    if any(exo["ranks"].get(g) is None or exo["ranks"][g] > top for g in gold):
        return CAUSES[0]
    incomplete = [g for g in gold if measured["gold_covered"].get(g, 0) < len(record["edits"][g])]
    kinds = [set(measured["gold_kinds"].get(g, [])) for g in incomplete]
    if any(not k for k in kinds):
        return CAUSES[1]
    if any(k <= OUTLINE_KINDS for k in kinds):
        return CAUSES[2]
    return CAUSES[3]


def summary(records: Sequence[dict[str, Any]], budget: int, top: int = 10, examples: int = 5) -> str:
    done = [r for r in records if not r["skipped"] and "exocortex" in r["methods"]]
    if not done or str(budget) not in done[0]["methods"]["exocortex"]["budgets"]:
        return f"(no exocortex results at budget {budget})"
    rows = []
    misses = 0
    for cause in CAUSES:
        hits = [r for r in done if classify(r, budget, top) == cause]
        misses += len(hits)
        named = sum(1 for r in hits if r["named"])
        partial = sum(1 for r in hits if r["methods"]["exocortex"]["budgets"][str(budget)]["coverage"] > 0)
        ranks = [min((v for v in r["methods"]["exocortex"]["ranks"].values() if v is not None), default=None)
                 for r in hits]
        known = [x for x in ranks if x is not None]
        rank_text = (f"median {statistics.median(known):g}; unranked {len(ranks) - len(known)}" if known
                     else f"unranked {len(ranks)}")
        ids = ", ".join(r["instance_id"] for r in hits[:examples])
        rows.append([cause.replace("top N", f"top {top}"), len(hits), named, len(hits) - named, partial, rank_text,
                     ids])
    header = ["cause", "tasks", "named", "not named", "partly covered", "gold file rank", "examples"]
    table = markdown_table(header, rows)
    return (f"Misses of exocortex at {budget // 1000}K tokens: {misses} of {len(done)} tasks lack some edited "
            f"line.\n\n{table}")


def newest_results() -> Path:
    found = sorted(CACHE.glob("results-*.jsonl"))
    if not found:
        raise SystemExit(f"no results file in {CACHE}: run benchmarks/retrieval/run.py first")
    return found[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", type=Path, help="a results-*.jsonl file (default: the newest)")
    parser.add_argument("--budget", type=int, default=27_000)
    parser.add_argument("--top", type=int, default=10, help="N of 'not in the top N files'")
    parser.add_argument("--examples", type=int, default=5)
    args = parser.parse_args()
    path = args.results or newest_results()
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    print(f"results: {path}\n")
    print(summary(records, args.budget, args.top, args.examples))


if __name__ == "__main__":
    main()
