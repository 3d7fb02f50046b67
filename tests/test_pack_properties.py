"""Property-based checks of the context governor over random corpora, budgets, tokenizers and rankings."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exocortex.errors import BudgetTooSmallError
from exocortex.pack import pack_context
from exocortex.store.lance import StoreReader
from exocortex.tokens import count_tokens
from tests.test_pack import check_labels, check_no_duplicates, check_verbatim, chunk_rows, hits_for, open_reader

_WORDS = ["alpha", "beta", "gamma", "délta", "ε", "✓", "```", "<tag>", "&amp;", "x" * 40, "0", "_", "名前"]


def _python_file(rng: random.Random) -> str:
    out = ['"""A generated module."""', "import os", ""]
    for i in range(rng.randint(1, 6)):
        if rng.random() < 0.4:
            out.append(f"class K{i}:")
            out.append(f'    """Class {rng.choice(_WORDS)}."""')
            out.append(f"    level = {rng.randint(0, 99)!r}")
            for j in range(rng.randint(1, 4)):
                out.append("")
                out.append(f"    def m{j}(self, a, b={rng.randint(0, 9)}):")
                for _ in range(rng.randint(1, 12)):
                    out.append(f"        a = a + {rng.choice(_WORDS)!r} * b")
                out.append("        return a")
        else:
            out.append(f"def f{i}(x):")
            for _ in range(rng.randint(1, 25)):
                out.append(f"    x = x or {rng.choice(_WORDS)!r}")
            out.append("    return x")
        out.extend(["", ""])
    return "\n".join(out) + ("\n" if rng.random() < 0.8 else "")


def _markdown_file(rng: random.Random) -> str:
    out = []
    for i in range(rng.randint(1, 4)):
        out += [f"{'#' * rng.randint(1, 3)} Part {i} {rng.choice(_WORDS)}", ""]
        out += [" ".join(rng.choice(_WORDS) for _ in range(rng.randint(1, 12))) for _ in range(rng.randint(1, 8))]
        out.append("")
    return "\n".join(out)


def _corpus(seed: int) -> dict[str, str]:
    rng = random.Random(seed)
    files: dict[str, str] = {}
    for n in range(rng.randint(1, 7)):
        folder = rng.choice(["", "pkg/", "pkg/sub/", "docs/"])
        if rng.random() < 0.75:
            files[f"{folder}mod{n}.py"] = _python_file(rng)
        else:
            files[f"{folder}note{n}.md"] = _markdown_file(rng)
    return files


class _Corpora:
    """Indexed corpora kept for the whole module (indexing is the slow part)."""

    def __init__(self) -> None:
        self.dirs: dict[int, tuple[Path, StoreReader]] = {}
        self._tmp = tempfile.TemporaryDirectory(prefix="exo-pack-props-")

    def get(self, seed: int) -> tuple[Path, StoreReader]:
        if seed not in self.dirs:
            root = Path(self._tmp.name) / f"c{seed}"
            for rel, text in _corpus(seed).items():
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                (root / rel).write_text(text, encoding="utf-8")
            self.dirs[seed] = (root, open_reader(root))
        return self.dirs[seed]


_CORPORA = _Corpora()


def _form(pack, path: str, lines: tuple[int, int]) -> str:  # type: ignore[no-untyped-def]
    for item in pack.items:
        if item.path == path and item.kind in ("chunk", "full") and any(
            s <= lines[0] and lines[1] <= e for s, e in item.lines
        ):
            return "full"
    return "degraded"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 5),
    order_seed=st.integers(0, 10_000),
    budget=st.one_of(st.integers(1, 400), st.integers(400, 5000), st.sampled_from([1000, 128_000, 10_000_000])),
    tokenizer=st.sampled_from(["o200k_base", "cl100k_base"]),
    fmt=st.sampled_from(["markdown", "xml", "json"]),
    keep=st.floats(0.1, 1.0),
)
def test_pack_properties(seed: int, order_seed: int, budget: int, tokenizer: str, fmt: str, keep: float) -> None:
    root, reader = _CORPORA.get(seed)
    rows = chunk_rows(reader)
    rng = random.Random(order_seed)
    rng.shuffle(rows)
    rows = rows[: max(1, int(len(rows) * keep))]
    hits = hits_for(rows)
    try:
        pack = pack_context("q", hits, reader, budget=budget, tokenizer=tokenizer, fmt=fmt)
    except BudgetTooSmallError:
        assert budget < 60  # only a tiny budget cannot hold the outline of the top hit
        return

    # Hard budget, exact count.
    assert pack.tokens == count_tokens(pack.text, tokenizer) <= budget
    # Every claimed line is verbatim, in order; merged ranges never repeat text.
    check_verbatim(pack, root)
    check_no_duplicates(pack)
    # Every block's label gives each run's source lines.
    check_labels(pack, root)
    # The top hit is always represented.
    assert any(item.path == hits[0].path for item in pack.items)
    # A huge budget holds every hit in full.
    if budget >= 128_000:
        assert all(_form(pack, h.path, h.lines) == "full" for h in hits)
    # Degradation order: a less relevant hit in full next to a more relevant one cut
    # means the more relevant one could not fit (it is bigger, with its class headers
    # and a generous allowance for its file's wrappers).
    tokens = {(r["path"], r["ordinal"]): count_tokens(_text(reader, r), tokenizer) for r in rows}
    forms = [_form(pack, h.path, h.lines) for h in hits]
    for i, hi in enumerate(hits):
        if forms[i] == "full":
            continue
        cost_i = tokens[(hi.path, hi.ordinal)] + 8 * (hi.symbol.count(".") + 1) + 40 + 2 * len(hi.path)
        cost_i += sum(tokens.get((hi.path, o), 200) for o in range(hi.ordinal)) if "." in hi.symbol else 0
        for j in range(i + 1, len(hits)):
            hj = hits[j]
            if forms[j] == "full" and (hj.path, hj.ordinal) in tokens and hj.path != hi.path:
                assert tokens[(hj.path, hj.ordinal)] < cost_i, (hi, hj, budget)


_TEXTS: dict[tuple[str, str, int], str] = {}


def _text(reader: StoreReader, row: dict) -> str:
    key = (str(reader.path), row["path"], row["ordinal"])
    if key not in _TEXTS:
        table = reader.read("chunks", ["path", "ordinal", "text"])
        for p, o, t in zip(*(table.column(c).to_pylist() for c in ("path", "ordinal", "text")), strict=True):
            _TEXTS[(str(reader.path), p, o)] = t
    return _TEXTS[key]
