"""The last step of every pack: keep the longest prefix of ranked decisions whose text fits the budget.

A pack is a list of decisions, most important first: the governor's planned chunks, skeletons,
signatures and paths (:mod:`.governor`), a variant pack's table rows (``genomics.context``).
Planning adds up estimated costs; only the exact token count of the rendered text decides.
``fit_prefix`` renders a prefix of the decisions, counts it, and moves between the longest prefix
known to fit and the shortest known to be over the budget until they are neighbours:

- it starts at the longest prefix the planned costs say fits (the governor plans within the budget,
  so its first render is usually the answer);
- over the budget, it drops as many of the last decisions as cover the excess by planned cost;
- within it, it adds as many of the next decisions as the room left holds by planned cost, and at
  least one (to learn that the next decision does not fit);
- after ``_GUIDED_PROBES`` renders whose guesses missed, it bisects, so bad estimates cost
  logarithmically many renders, not linearly many.

The answer ``k`` fits (``tokens <= budget``, exactly) and either holds every decision or the
first ``k + 1`` do not fit: a decision is left out only when the exact count says it must be.
Exact counts need not grow with every decision (BPE merges, a "N more" line that goes away when
nothing is left out); the answer is then one such boundary, and it always fits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

R = TypeVar("R")

_GUIDED_PROBES = 4
"""Renders placed by the planned costs before the search falls back to bisection."""


@dataclass(frozen=True, slots=True)
class Fit(Generic[R]):
    """The decisions kept and their rendering."""

    kept: int
    """The first ``kept`` decisions are in the text; the rest are left out."""
    rendered: R
    tokens: int
    """The exact count of ``rendered``; never more than the budget."""


def fit_prefix(
    render: Callable[[int], tuple[R, int]],
    n: int,
    budget: int,
    *,
    cost: Callable[[int], int],
    base: int,
    too_small: Callable[[int], Exception],
    least: int = 0,
) -> Fit[R]:
    """The longest prefix of ``n`` ranked decisions whose rendering fits ``budget`` (see the module).

    ``render(k)`` renders the first ``k`` decisions and gives the text with its exact token count;
    ``cost(i)`` is the planned cost of decision ``i`` (an estimate, asked only for the decisions
    near the budget's edge) and ``base`` the planned cost of the text without any. At least
    ``least`` decisions must be kept: when even they are over the budget, ``too_small(tokens)``
    (given their exact count) is raised.
    """
    lo, hi = least - 1, n + 1  # render(lo) fits (none known while lo < least); render(hi) is over (none while hi > n)
    planned, k = base, 0
    while k < n and (k < least or planned + cost(k) <= budget):
        planned += cost(k)
        k += 1
    fit: Fit[R] | None = None
    over = 0
    probes = 0
    while True:
        rendered, tokens = render(k)
        probes += 1
        if tokens <= budget:
            lo, fit = k, Fit(k, rendered, tokens)
        else:
            hi, over = k, tokens
        if hi - lo <= 1:
            break
        if probes >= _GUIDED_PROBES:
            k = (lo + hi) // 2
        elif k == lo:  # it fits: add what the room left holds by plan, at least one
            room, k = budget - tokens, lo
            while k < hi - 1 and cost(k) <= room:
                room -= cost(k)
                k += 1
        else:  # over: drop the last decisions until their planned cost covers the excess
            excess, k = tokens - budget, hi
            while k > lo + 1 and excess > 0:
                k -= 1
                excess -= cost(k)
        k = min(max(k, lo + 1), hi - 1)
    if fit is None:
        raise too_small(over)
    return fit
