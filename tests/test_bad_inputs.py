"""Every bad input in ``tests/bad_inputs.py`` gives its documented exit code and one clean line.

One test per case: the exit code is the expected one, an error is one line on stderr, and there
is no traceback, no signal (a segfault), no hang, no raw terminal escape where a file name holds
one. Cases run in this process through ``exocortex.cli.main`` where that is faithful, and in
their own process where it is not (signals, possible crashes or hangs, environment variables);
the inputs that are only read (an indexed repository, a variant store) are built once.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .bad_inputs import CASES, Case, Shared, run_case


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    yield Shared(tmp_path_factory.mktemp("bad-inputs-shared"))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_bad_input(case: Case, shared: Shared, tmp_path: Path) -> None:
    result = run_case(case, shared, tmp_path, mode="auto")
    if not result.ok:
        pytest.fail(result.describe(), pytrace=False)


def test_catalogue_is_well_formed() -> None:
    from exocortex.errors import EXIT_CODES

    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    areas = {"index", "status", "search", "pack", "config", "store", "vcf", "bench", "memory"}
    for c in CASES:
        assert c.area in areas, c.id
        assert c.expected in EXIT_CODES or c.expected in (130, 143), c.id
        assert c.description and "\n" not in c.description, c.id
    assert len(CASES) > 150
