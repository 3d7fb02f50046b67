"""`exocortex vcf annotate --clinvar FILE --population FILE`: external VCFs joined by normalised key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from exocortex.cli import main
from exocortex.errors import ConfigError, UsageError, VcfFormatError
from exocortex.genomics.context import variant_pack
from exocortex.genomics.normalize import trim_alleles
from exocortex.genomics.store import VariantStore, read_manifest
from exocortex.genomics.variants import Variants

CALLS = """##fileformat=VCFv4.2
##contig=<ID=chr13>
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tkid\tmum
chr13\t32315508\t.\tG\tA\t50\tPASS\t.\tGT\t0/1\t0/0
chr13\t32316000\t.\tT\tC\t50\tPASS\t.\tGT\t1/1\t0/1
chr13\t32317000\t.\tA\tG\t50\tPASS\t.\tGT\t0/1\t0/1
"""
CLINVAR = """##fileformat=VCFv4.2
##INFO=<ID=CLNSIG,Number=.,Type=String,Description="Clinical significance for this single variant">
##INFO=<ID=CLNREVSTAT,Number=.,Type=String,Description="ClinVar review status">
##INFO=<ID=GENEINFO,Number=1,Type=String,Description="Gene(s) for the variant">
##INFO=<ID=MC,Number=.,Type=String,Description="molecular consequence">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO
13\t32315508\t38\tG\tA\t.\t.\tCLNSIG=Pathogenic;CLNREVSTAT=reviewed_by_expert_panel;GENEINFO=BRCA2:675;\
MC=SO:0001587|stop_gained
13\t32316000\t39\tTG\tCG\t.\t.\tCLNSIG=Benign;CLNREVSTAT=criteria_provided,_single_submitter;GENEINFO=BRCA2:675;\
MC=SO:0001583|missense_variant
13\t40000000\t40\tA\tT\t.\t.\tCLNSIG=Pathogenic;GENEINFO=FRY:10129
"""
POPULATION = """##fileformat=VCFv4.2
##INFO=<ID=AF,Number=A,Type=Float,Description="Alt allele frequency">
##INFO=<ID=AF_popmax,Number=A,Type=Float,Description="popmax">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO
chr13\t32315508\t.\tG\tA,T\t.\tPASS\tAF=0.00002,0.5
chr13\t32316000\t.\tT\tC\t.\tPASS\tAF=0.31
"""


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, text in (("calls.vcf", CALLS), ("clinvar.vcf", CLINVAR), ("pop.vcf", POPULATION)):
        (tmp_path / name).write_text(text)
        out[name] = tmp_path / name
    Variants.open(tmp_path / "store").ingest(out["calls.vcf"])
    out["store"] = tmp_path / "store"
    return out


def _rows(store: Path) -> dict[str, dict[str, Any]]:
    return {r["key"]: r for r in VariantStore(store).read("variants").to_pylist()}


def test_trimming_matches_keys_written_with_extra_bases() -> None:
    assert trim_alleles(100, "TG", "CG") == (100, "T", "C")
    assert trim_alleles(100, "CAG", "CTG") == (101, "A", "T")
    assert trim_alleles(100, "A", "<DEL>") == (100, "A", "<DEL>")


def test_clinvar_and_population_are_joined_by_key(files: dict[str, Path]) -> None:
    store = files["store"]
    variants = Variants.open(store)
    before = _rows(store)
    assert all(r["clnsig"] is None and r["pop_af"] is None for r in before.values())
    clinvar, population = variants.annotate(clinvar=files["clinvar.vcf"], population=files["pop.vcf"])
    assert (clinvar.records, clinvar.alleles, clinvar.matched, clinvar.unmatched) == (3, 3, 2, 1)
    assert (population.matched, population.unmatched) == (2, 1)  # the G>T allele is in no call
    rows = _rows(store)
    path = rows["13:32315508:G:A"]
    assert (path["clnsig"], path["clinvar_stars"], path["gene"], path["consequence"], path["lof"]) == (
        "Pathogenic", 3, "BRCA2", "stop_gained", True,
    )  # fmt: skip
    assert path["pop_af"] == pytest.approx(2e-05) and path["pop_af_source"] == "pop.vcf:AF"
    benign = rows["13:32316000:T:C"]  # ClinVar wrote it TG>CG: the same allele once trimmed
    assert benign["clnsig"] == "Benign" and benign["clinvar_stars"] == 1 and benign["pop_af"] == pytest.approx(0.31)
    untouched = rows["13:32317000:A:G"]
    assert untouched["clnsig"] is None and untouched["pop_af"] is None
    # the calls are untouched, and the answers use the new values
    assert {r["vid"] for r in rows.values()} == {r["vid"] for r in before.values()}
    assert [r["key"] for r in variants.query(gene="BRCA2", clnsig="Pathogenic").rows.to_pylist()] == [path["key"]]
    assert variants.query(max_pop_af=0.01).rows["key"].to_pylist() == [path["key"]]
    pack = variant_pack(store, "rare variants in BRCA2", 3000)
    assert "2e-05 (pop.vcf:AF)" in pack.text and "Pathogenic (3★)" in pack.text and len(pack.items) == 1
    # again: the ClinVar entry is replaced, not added twice
    variants.annotate(clinvar=files["clinvar.vcf"])
    entries = VariantStore(store).read("annotations", where=f"vid = {path['vid']}").to_pylist()
    assert [e["source"] for e in entries] == ["ClinVar"]


def test_bad_annotation_files_change_nothing(files: dict[str, Path], tmp_path: Path) -> None:
    store = files["store"]
    variants = Variants.open(store)
    tables = dict(read_manifest(store).tables)
    with pytest.raises(VcfFormatError, match="not a ClinVar VCF"):
        variants.annotate(clinvar=files["pop.vcf"])
    with pytest.raises(ConfigError, match=r"no INFO/gnomAD_AF .*AF, AF_popmax"):
        variants.annotate(population=files["pop.vcf"], population_field="gnomAD_AF")
    with pytest.raises(UsageError, match="--clinvar FILE and/or --population FILE"):
        variants.annotate()
    assert read_manifest(store).tables == tables
    assert main(["vcf", "annotate", "--clinvar", str(tmp_path / "missing.vcf"), "--store", str(store)]) != 0
    assert read_manifest(store).tables == tables
