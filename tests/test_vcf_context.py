"""`exocortex pack` over a variant store: entities and intent read from the question, the
structured queries run, a compact summary within the hard budget, the code pack's JSON shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from exocortex.api import Index
from exocortex.cli import main
from exocortex.errors import BudgetTooSmallError, NoMatchesError
from exocortex.genomics.context import read_question, variant_pack
from exocortex.genomics.schema import CALLS, SAMPLES, SOURCES, VARIANTS
from exocortex.genomics.store import VariantStore
from exocortex.tokens import count_tokens

from .test_vcf_query import make_rows, write_store


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    variants, calls, samples = make_rows()
    root = tmp_path_factory.mktemp("vctx")
    path = root / ".exocortex"
    write_store(path, {
        "variants": pa.Table.from_pylist(variants, schema=VARIANTS),
        "calls": pa.Table.from_pylist(calls, schema=CALLS),
        "samples": pa.Table.from_pylist(samples, schema=SAMPLES),
        "sources": pa.Table.from_pylist(
            [{"source": i, "path": f"/data/file{i}.vcf.gz", "sha256": str(i), "format": "vcf.gz", "header": "",
              "n_samples": 5, "records": 80, "alleles": 80, "calls": 0, "rejected": 0, "ingested_at": 0.0}
             for i in range(4)], schema=SOURCES),
    })  # fmt: skip
    return path


def _rows() -> list[dict[str, Any]]:
    return make_rows()[0]


def test_the_question_is_read_for_genes_samples_regions_rsids_and_intent(store: Path) -> None:
    vs = VariantStore(store)
    asked = read_question(vs, "Which samples carry a loss-of-function variant in GENE_A? Is S2 homozygous?")
    labels = [label for label, _ in asked.queries]
    assert labels == ["gene GENE_A, sample S2"]
    assert asked.narrowing == {"lof": True, "zygosity": "hom_alt"}
    asked = read_question(vs, "what is at chr2:1000-5000 and rs1, and in NOTAGENE?")
    assert [label for label, _ in asked.queries] == ["region chr2:1000-5000", "rs1"]
    # a gene-like word the store does not know is said, not dropped
    assert asked.unmatched == ["gene NOTAGENE: no annotation in this store names it"]


def test_a_variant_pack_lists_the_matching_variants_most_severe_first(store: Path) -> None:
    pack = variant_pack(store, "loss-of-function variants in GENE_A", 4000)
    expected = [v for v in _rows() if v["gene"] == "GENE_A" and v["lof"]]
    assert expected and pack.tokens <= 4000 and pack.tokens == count_tokens(pack.text, "o200k_base")
    assert f"gene GENE_A: {len(expected)} matching alleles" in pack.text
    shown = [item.key for item in pack.items]
    assert sorted(shown) == sorted(v["key"] for v in expected)
    for v in expected:
        assert v["key"] in pack.text
    data = pack.to_dict()
    assert set(data) == {"query", "budget", "tokenizer", "tokens", "text", "items", "index", "redacted"}
    assert data["redacted"]["enabled"] is False  # variant packs are not scanned for secrets (yet)
    assert set(data["items"][0]) == {"path", "kind", "key", "symbol", "score", "tokens"}
    assert data["items"][0]["kind"] == "variant" and data["items"][0]["symbol"] == "GENE_A"
    assert data["items"][0]["path"] == "/data/file0.vcf.gz"


@pytest.mark.parametrize("budget", [120, 300, 800, 3000])
def test_the_budget_is_hard_and_rows_stop_where_it_ends(store: Path, budget: int) -> None:
    pack = variant_pack(store, "variants in GENE_C", budget)
    assert pack.tokens <= budget
    gene_c = [v for v in _rows() if v["gene"] == "GENE_C"]
    if len(pack.items) < len(gene_c):
        assert f"{len(gene_c) - len(pack.items)} more matching variants not shown" in pack.text


def test_too_small_a_budget_and_a_question_about_nothing(store: Path) -> None:
    with pytest.raises(BudgetTooSmallError):
        variant_pack(store, "variants in GENE_C", 5)
    with pytest.raises(NoMatchesError, match="names no gene"):
        variant_pack(store, "tell me about the weather", 2000)
    with pytest.raises(NoMatchesError, match="gene BRCA2: no annotation in this store names it"):
        variant_pack(store, "pathogenic variants in BRCA2", 2000)


def test_exocortex_pack_answers_from_the_variants(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = store.parent
    pack = Index.open(root).pack("rare missense variants in GENE_E", budget="2k")
    assert pack.index["kind"] == "variants"
    # this store has no population frequencies: "rare" is not applied, and the answer says so
    # (the file's own AF is never used for it)
    assert "Not found: 'rare' was not applied: no variant in this store has a reference-population" in pack.text
    expected = [v for v in _rows() if v["gene"] == "GENE_E" and v["consequence"] == "missense_variant"]
    assert sorted(i.key for i in pack.items) == sorted(v["key"] for v in expected)
    assert main(["pack", "variants carried by S3 in GENE_D", "--budget", "1500", "-C", str(root),
                 "--format", "json"]) == 0  # fmt: skip
    data = json.loads(capsys.readouterr().out)
    assert data["tokens"] <= 1500 and data["items"] and all(i["kind"] == "variant" for i in data["items"])
    assert main(["pack", "what about the weather", "-C", str(root)]) == 12


_FULL_BUDGET = 1_000_000


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(question=st.sampled_from(["variants in GENE_C", "variants in GENE_A GENE_B carried by S1",
                                  "what is at chr2:1-60000"]), budget=st.integers(1, 3000))  # fmt: skip
def test_a_variant_pack_never_exceeds_its_budget_nor_drops_a_row_that_fits(store: Path, question: str,
                                                                            budget: int) -> None:  # fmt: skip
    """Any budget: the exact count is within it, the rows shown are the most severe ones in the
    full ranking's order, the closing line counts the rest, and the next row would not have fit."""
    full = _full_pack(store, question)
    lines = full.text.splitlines(keepends=True)
    first_row = next(i for i, line in enumerate(lines) if line.startswith("| ---")) + 1
    head, table_head = lines[: first_row - 3], lines[first_row - 3 : first_row]
    rows = lines[first_row : first_row + len(full.items)]
    total = len(rows)
    assert "not shown" not in full.text and total == len(full.items) > 1

    def text_with(k: int) -> str:
        """The text of a pack showing the first ``k`` rows."""
        left = total - k
        closing = f"\n{left:,} more matching variants not shown (raise the budget or narrow the question).\n"
        return "".join(head) + ("".join(table_head + rows[:k]) if k else "") + (closing if left else "")

    try:
        pack = variant_pack(store, question, budget)
    except BudgetTooSmallError:
        assert count_tokens(text_with(0), "o200k_base") > budget
        return
    assert pack.tokens == count_tokens(pack.text, "o200k_base") <= budget
    shown = len(pack.items)
    assert [i.key for i in pack.items] == [i.key for i in full.items][:shown]  # the most important first
    assert pack.text == text_with(shown)  # every row it holds, and a closing line that counts the rest
    if shown < total:
        assert count_tokens(text_with(shown + 1), "o200k_base") > budget  # the next row did not fit


_FULL: dict[tuple[Path, str], Any] = {}


def _full_pack(store: Path, question: str) -> Any:
    if (store, question) not in _FULL:
        _FULL[store, question] = variant_pack(store, question, _FULL_BUDGET)
    return _FULL[store, question]
