"""Per-task measures and their aggregation (means with bootstrap 95% intervals)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

Ranges = Sequence[tuple[int, int]]

BOOTSTRAP_SEED = 20240101
BOOTSTRAP_RESAMPLES = 1000


# --------------------------------------------------------------------------- coverage


def merge(ranges: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if out and start <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


def covered_lines(lines: Sequence[int], ranges: Ranges) -> int:
    """How many of ``lines`` fall inside the (merged, sorted) 1-based inclusive ``ranges``."""
    import bisect

    starts = [s for s, _ in ranges]
    hit = 0
    for line in lines:
        i = bisect.bisect_right(starts, line) - 1
        if i >= 0 and ranges[i][0] <= line <= ranges[i][1]:
            hit += 1
    return hit


WHOLE_FILE: Ranges = ((1, 10**9),)


def coverage(edits: Mapping[str, Sequence[int]], packed: Mapping[str, Ranges]) -> dict[str, float | int]:
    """Edit coverage and file hit of one pack.

    ``edits``: gold path -> edited lines; ``packed``: path -> merged line ranges in the pack.
    """
    total = sum(len(v) for v in edits.values())
    hit = sum(covered_lines(lines, packed.get(path, ())) for path, lines in edits.items())
    return {
        "coverage": hit / total if total else math.nan,
        "file_hit": int(total > 0 and hit == total),
        "covered": hit,
        "edited": total,
    }


# --------------------------------------------------------------------------- ranking


def distinct_in_order(paths: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for p in paths:
        seen.setdefault(p, None)
    return list(seen)


def gold_ranks(ranked_files: Sequence[str], gold: Sequence[str]) -> dict[str, int | None]:
    """1-based rank of each gold file among the distinct ranked files (None: not ranked)."""
    where = {p: i + 1 for i, p in enumerate(ranked_files)}
    return {g: where.get(g) for g in gold}


def acc_at(ranks: Mapping[str, int | None], k: int) -> int:
    """1 when every gold file is within the top ``k`` files."""
    return int(bool(ranks) and all(r is not None and r <= k for r in ranks.values()))


def reciprocal_rank(ranks: Mapping[str, int | None]) -> float:
    found = [r for r in ranks.values() if r is not None]
    return 1.0 / min(found) if found else 0.0


# --------------------------------------------------------------------------- aggregation


def bootstrap_mean(values: Sequence[float], resamples: int = BOOTSTRAP_RESAMPLES,
                   seed: int = BOOTSTRAP_SEED) -> tuple[float, float, float]:
    """Mean and the percentile bootstrap 95% interval of the mean (nan for no values)."""
    data = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if data.size == 0:
        return math.nan, math.nan, math.nan
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, data.size, size=(resamples, data.size))].mean(axis=1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return float(data.mean()), float(lo), float(hi)


def percentile(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else math.nan


def fmt_pct(stat: tuple[float, float, float]) -> str:
    mean, lo, hi = stat
    if math.isnan(mean):
        return "—"
    return f"{100 * mean:.1f} [{100 * lo:.1f}, {100 * hi:.1f}]"


def fmt_num(value: float, digits: int = 0) -> str:
    if math.isnan(value):
        return "—"
    return f"{value:,.{digits}f}"
