"""The step every pack ends with: the longest prefix of ranked decisions whose exact count fits.

``fit_prefix`` is checked against made-up renderings whose exact counts the test knows: additive,
with BPE-like merges that make a longer prefix cost less, and with planned costs that are exact,
too low or too high. Whatever the estimates, the answer fits, is a boundary (the next decision
would not fit), and is found in few renders.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exocortex.errors import BudgetTooSmallError
from exocortex.pack.fit import _GUIDED_PROBES, fit_prefix


class _Text:
    """A rendering of the first ``k`` decisions with known exact counts, and the renders made."""

    def __init__(self, base: int, sizes: list[int], merges: list[int]) -> None:
        self.base, self.sizes, self.merges = base, sizes, merges
        self.renders: list[int] = []

    def exact(self, k: int) -> int:
        """``base`` plus the decisions' sizes, less a merge where the ``k``-th decision joins the text."""
        return max(0, self.base + sum(self.sizes[:k]) - (self.merges[k - 1] if k else 0))

    def render(self, k: int) -> tuple[str, int]:
        assert 0 <= k <= len(self.sizes)
        self.renders.append(k)
        return f"prefix {k}", self.exact(k)


def _too_small(tokens: int) -> BudgetTooSmallError:
    return BudgetTooSmallError(f"needs {tokens}")


@settings(max_examples=300, deadline=None)
@given(
    base=st.integers(0, 50),
    sizes=st.lists(st.integers(0, 60), max_size=60),
    data=st.data(),
    budget=st.integers(1, 2500),
    least=st.integers(0, 2),
    skew=st.sampled_from([None, 0.0, 0.5, 1.0, 2.0, 10.0]),
)
def test_the_answer_fits_and_the_next_decision_would_not(
    base: int, sizes: list[int], data: st.DataObject, budget: int, least: int, skew: float | None
) -> None:
    n = len(sizes)
    least = min(least, n)
    merges = data.draw(st.lists(st.integers(0, 30), min_size=n, max_size=n))
    text = _Text(base, sizes, merges)
    if skew is None:  # estimates unrelated to the sizes
        estimates = data.draw(st.lists(st.integers(0, 200), min_size=n, max_size=n))
    else:
        estimates = [round(s * skew) for s in sizes]
    if text.exact(least) > budget:
        with pytest.raises(BudgetTooSmallError, match=f"needs {text.exact(least)}"):
            fit_prefix(text.render, n, budget, cost=estimates.__getitem__, base=base, least=least,
                       too_small=_too_small)  # fmt: skip
        return
    fit = fit_prefix(text.render, n, budget, cost=estimates.__getitem__, base=base, least=least,
                     too_small=_too_small)  # fmt: skip
    assert least <= fit.kept <= n
    assert fit.tokens == text.exact(fit.kept) <= budget and fit.rendered == f"prefix {fit.kept}"
    assert fit.kept == n or text.exact(fit.kept + 1) > budget  # nothing left out that fits after it
    assert len(text.renders) <= _GUIDED_PROBES + math.ceil(math.log2(n + 2)) + 1


@settings(max_examples=200, deadline=None)
@given(base=st.integers(0, 50), sizes=st.lists(st.integers(1, 60), max_size=200), budget=st.integers(1, 5000))
def test_exact_planned_costs_take_at_most_two_renders(base: int, sizes: list[int], budget: int) -> None:
    text = _Text(base, sizes, [0] * len(sizes))
    if base > budget:
        return
    fit = fit_prefix(text.render, len(sizes), budget, cost=sizes.__getitem__, base=base, too_small=_too_small)
    assert fit.tokens == base + sum(sizes[: fit.kept]) <= budget
    assert fit.kept == len(sizes) or fit.tokens + sizes[fit.kept] > budget
    assert len(text.renders) <= 2  # the planned prefix, then the next decision to see that it does not fit


def test_a_plan_that_fits_is_rendered_once() -> None:
    text = _Text(10, [5, 5, 5], [0, 0, 0])
    fit = fit_prefix(text.render, 3, 100, cost=lambda i: 5, base=10, least=1, too_small=_too_small)
    assert (fit.kept, fit.tokens, text.renders) == (3, 25, [3])
