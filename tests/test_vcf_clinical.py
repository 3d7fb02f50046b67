"""Answers a clinician can trust (issue 17): annotation filters that hold on one entry, ClinVar's
fields decoded, population frequency from the annotations, packs by clinical weight."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from exocortex.genomics.context import variant_pack
from exocortex.genomics.ingest import ingest_vcf
from exocortex.genomics.query import VariantQuery, run_query
from exocortex.genomics.store import VariantStore

bcftools = pytest.importorskip("pysam.bcftools")

DATA = Path(__file__).parent / "fixtures" / "vcf"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("clinical")
    ingest_vcf([DATA / "split-vep.vcf", DATA / "cyvcf2-test.vcf.gz"], path)
    return path


def _source(store: Path, name: str) -> int:
    rows = VariantStore(store).read("sources", ["source", "path"]).to_pylist()
    return next(int(s["source"]) for s in rows if s["path"].endswith(name))


def _allele_of(store: Path) -> dict[int, tuple[int, int, int]]:
    """vid -> (source, record, allele index): what a query's rows are, independent of how alleles are spelled."""
    rows = VariantStore(store).read("variants", ["vid", "source", "record", "allele_index"]).to_pylist()
    return {r["vid"]: (r["source"], r["record"], r["allele_index"]) for r in rows}


def _found(store: Path, **filters: Any) -> set[tuple[int, int, int]]:
    alleles = _allele_of(store)
    result = run_query(store, VariantQuery(limit=100_000, **filters), with_carriers=False)
    assert result.matched == result.rows.num_rows
    return {alleles[v] for v in result.rows["vid"].to_pylist()}


def _csq_by_allele(path: Path) -> list[list[list[dict[str, str]]]]:
    """Per record, per ALT: the raw CSQ entries as dicts, read from bcftools' output and split here."""
    layout = next(
        line.split("Format: ")[1].split('"')[0].split("|")
        for line in bcftools.view("-h", str(path)).splitlines()
        if line.startswith("##INFO=<ID=CSQ")
    )
    out = []
    for line in bcftools.query("-f", "%ALT\t%CSQ\n", str(path)).splitlines():
        alts, csq = line.split("\t")
        n = len(alts.split(","))
        per: list[list[dict[str, str]]] = [[] for _ in range(n)]
        for raw in csq.split(",") if csq != "." else []:
            entry = dict(zip(layout, raw.split("|"), strict=False))
            targets = [int(entry["ALLELE_NUM"]) - 1] if n > 1 else [0]
            for t in targets:
                per[t].append(entry)
        out.append(per)
    return out


def test_gene_and_impact_hold_on_one_csq_entry_as_split_vep_does(store: Path) -> None:
    """`--gene DDX11L1 --impact HIGH` returned 3 variants whose HIGH entries belong to WASH7P;
    every (gene, impact) pair of split-vep.vcf now matches exactly the alleles with one entry having both."""
    sv = _source(store, "split-vep.vcf")
    records = _csq_by_allele(DATA / "split-vep.vcf")
    pairs = {(e["SYMBOL"], e["IMPACT"]) for rec in records for alt in rec for e in alt if e["SYMBOL"]}
    assert len(pairs) > 10
    for gene, impact in sorted(pairs):
        expected = {
            (sv, r, a + 1)
            for r, rec in enumerate(records)
            for a, alt in enumerate(rec)
            if any(e["SYMBOL"] == gene and e["IMPACT"] == impact for e in alt)
        }
        got = {x for x in _found(store, gene=gene, impact=impact) if x[0] == sv}
        assert got == expected, (gene, impact)
    assert not {x for x in _found(store, gene="DDX11L1", impact="HIGH") if x[0] == sv}
    assert len({x for x in _found(store, gene="WASH7P", impact="HIGH") if x[0] == sv}) == 3


def test_a_filtered_row_shows_the_entry_that_matched(store: Path) -> None:
    result = run_query(store, VariantQuery(gene="DDX11L1", limit=50), with_carriers=False)
    assert result.rows.num_rows
    assert set(result.rows["gene"].to_pylist()) == {"DDX11L1"}


def test_loss_of_function_in_a_gene_is_about_that_gene(store: Path) -> None:
    """cyvcf2-test declares snpEff's LOF and no record carries it: no WASH7P variant is LoF (the
    pack answered with 4 DDX11L1 pseudogene variants); split-vep's pLoF terms (no LoF tool) count."""
    pack = variant_pack(store, "which samples carry a loss-of-function variant in WASH7P?", 4000)
    assert "gene WASH7P: 0 matching alleles" in pack.text and not pack.items
    lof = run_query(store, VariantQuery(lof=True, limit=1000), with_carriers=False).rows.to_pylist()
    assert lof and all(r["consequence"] in ("frameshift_variant", "stop_gained", "splice_donor_variant",
                                            "splice_acceptor_variant", "start_lost") for r in lof)  # fmt: skip


def test_population_frequency_comes_from_the_annotations_with_its_source(store: Path) -> None:
    records = _csq_by_allele(DATA / "split-vep.vcf")
    sv = _source(store, "split-vep.vcf")
    rows = {
        (r["record"], r["allele_index"]): r
        for r in VariantStore(store).read("variants", ["record", "allele_index", "pop_af", "pop_af_source", "source"])
        .to_pylist()
        if r["source"] == sv
    }
    checked = 0
    for r, rec in enumerate(records):
        for a, alt in enumerate(rec):
            values = {float(e["MAX_AF"]) for e in alt if e.get("MAX_AF")}
            row = rows[(r, a + 1)]
            if values:
                assert row["pop_af"] == pytest.approx(max(values)) and row["pop_af_source"] == "CSQ:MAX_AF"
                checked += 1
            else:  # another population field (1000 Genomes' AF, gnomAD_AF...) when VEP gave no MAX_AF
                assert row["pop_af_source"] != "CSQ:MAX_AF"
    assert checked > 50
    rare = _found(store, max_pop_af=0.01)
    assert rare and all(rows[(r, a)]["pop_af"] <= 0.01 for s, r, a in rare if s == sv)
    pack = variant_pack(store, "rare variants in WASH7P", 6000)
    assert "max_pop_af" in pack.text and "(MAX_AF)" in pack.text and pack.items


def test_the_pack_lists_every_carrier_the_budget_allows(store: Path) -> None:
    rows = VariantStore(store).read("variants", ["key", "n_carriers", "chrom", "pos"]).to_pylist()
    many = max(rows, key=lambda r: r["n_carriers"])
    assert many["n_carriers"] > 50
    question = f"what is at {many['chrom']}:{many['pos']}"
    big = variant_pack(store, question, 100_000)
    line = next(ln for ln in big.text.splitlines() if ln.startswith(f"- {many['key']}:"))
    assert len(re.findall(r" GQ ", line)) == many["n_carriers"]  # every carrier, with GT/GQ/DP
    small = variant_pack(store, question, 300)
    assert small.tokens <= 300 and "## Carriers" not in small.text


CLINVAR = """##fileformat=VCFv4.2
##contig=<ID=13,length=114364328>
##contig=<ID=17,length=83257441>
##INFO=<ID=CLNSIG,Number=.,Type=String,Description="Variant Clinical Significance, 0 - Uncertain significance, \
1 - not provided, 2 - Benign, 3 - Likely benign, 4 - Likely pathogenic, 5 - Pathogenic, 6 - drug response, \
7 - histocompatibility, 255 - other">
##INFO=<ID=CLNREVSTAT,Number=.,Type=String,Description="ClinVar review status">
##INFO=<ID=GENEINFO,Number=1,Type=String,Description="Gene(s) for the variant reported as gene symbol:gene id">
##INFO=<ID=MC,Number=.,Type=String,Description="comma separated list of molecular consequence in the form of \
Sequence Ontology ID|molecular_consequence">
##INFO=<ID=RS,Number=.,Type=String,Description="dbSNP ID (i.e. rs number)">
##INFO=<ID=AF_EXAC,Number=1,Type=Float,Description="allele frequencies from ExAC">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO
13\t32315508\t38\tG\tA\t.\t.\tCLNSIG=5;CLNREVSTAT=reviewed_by_expert_panel;GENEINFO=BRCA2:675;\
MC=SO:0001587|stop_gained;RS=80358981;AF_EXAC=1e-05
17\t43045712\t39\tC\tT\t.\t.\tCLNSIG=2|3;CLNREVSTAT=criteria_provided,_multiple_submitters,_no_conflicts;\
GENEINFO=BRCA1:672;MC=SO:0001583|missense_variant;AF_EXAC=0.2
"""


def test_a_clinvar_vcf_answers_by_gene_significance_stars_and_frequency(tmp_path: Path) -> None:
    """Numeric CLNSIG codes are decoded from the header; GENEINFO, MC, RS and CLNREVSTAT are used
    (--gene found nothing in a ClinVar VCF)."""
    vcf = tmp_path / "clinvar.vcf"
    vcf.write_text(CLINVAR)
    store = tmp_path / "store"
    ingest_vcf([vcf], store)

    def query(**filters: Any) -> list[dict[str, Any]]:
        return run_query(store, VariantQuery(limit=10, **filters), with_carriers=False).rows.to_pylist()

    (brca2,) = query(gene="BRCA2")
    assert brca2["clnsig"] == "Pathogenic" and brca2["clinvar_stars"] == 3 and brca2["rsid"] == "rs80358981"
    assert brca2["consequence"] == "stop_gained" and brca2["lof"] is True
    assert brca2["pop_af"] == pytest.approx(1e-05) and brca2["pop_af_source"] == "INFO:AF_EXAC"
    (brca1,) = query(gene="BRCA1")
    assert brca1["clnsig"] == "Benign|Likely_benign" and brca1["clinvar_stars"] == 2
    assert [r["key"] for r in query(clnsig="Pathogenic")] == [brca2["key"]]
    assert [r["key"] for r in query(clnsig="Likely_benign")] == [brca1["key"]]
    assert [r["key"] for r in query(max_pop_af=0.01)] == [brca2["key"]]
    assert [r["key"] for r in query(min_stars=3)] == [brca2["key"]]
    assert query(gene="BRCA1", lof=True) == [] and len(query(gene="BRCA2", lof=True)) == 1
    pack = variant_pack(store, "rare pathogenic variants in BRCA2 and PALB2", 3000)
    assert "Pathogenic (3★)" in pack.text and "1e-05 (AF_EXAC)" in pack.text
    assert "Not found: gene PALB2: no annotation in this store names it" in pack.text


def test_an_annotation_that_disagrees_with_its_header_is_rejected_and_the_rest_ingested(tmp_path: Path) -> None:
    vcf = tmp_path / "bad-csq.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=1>\n"
        '##INFO=<ID=CSQ,Number=.,Type=String,Description="VEP. Format: Allele|Consequence|IMPACT|SYMBOL">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        "1\t100\t.\tA\tG\t.\t.\tCSQ=G|missense_variant|MODERATE|GENE1\n"
        "1\t200\t.\tC\tT\t.\t.\tCSQ=T|stop_gained|HIGH|GENE1,T|stop_gained|HIGH\n"
        "1\t300\t.\tG\tA\t.\t.\tCSQ=A|synonymous_variant|LOW|GENE1\n"
    )
    summary = ingest_vcf([vcf], tmp_path / "store")
    assert summary.files[0].rejected == 1
    keys = VariantStore(tmp_path / "store").read("variants", ["key"])["key"].to_pylist()
    assert sorted(keys) == ["1:100:A:G", "1:300:G:A"]
    (rejects,) = (tmp_path / "store" / "genomics" / "rejects").iterdir()
    (line,) = [ln for ln in rejects.read_text().splitlines() if "INFO/CSQ entry 2 has 3 fields" in ln]
    assert line.split("\t")[0] == "6"  # the record's line number in the file
    assert "where the header's Format declares 4" in line
