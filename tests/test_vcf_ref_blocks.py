"""gVCF reference blocks (`<NON_REF>`/`<*>`-only records) in their own table, never variants; checked with bcftools."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from exocortex import Variants
from exocortex.cli import main
from exocortex.errors import ConfigError, NoMatchesError
from exocortex.genomics import textpath
from exocortex.genomics.ingest import ingest_vcf
from exocortex.genomics.store import VariantStore

DATA = Path(__file__).parent / "fixtures" / "vcf"  # origins and licences: fixtures/vcf/README.md
GVCF = DATA / "NA12878.prod.chr20snippet.g.40k.vcf.gz"
REF_BLOCK_ALLELES = {"<NON_REF>", "<*>"}

bcftools = pytest.importorskip("pysam.bcftools")


def _records(path: Path) -> list[list[str]]:
    """CHROM, POS, END, REF, ALT, GT, GQ, MIN_DP per record, from bcftools query."""
    out = bcftools.query("-f", "%CHROM\t%POS\t%END\t%REF\t%ALT[\t%GT\t%GQ\t%MIN_DP]\n", str(path))
    return [line.split("\t") for line in out.splitlines()]


def _is_block(alt: str) -> bool:
    return all(a in REF_BLOCK_ALLELES for a in alt.split(","))


@pytest.fixture(scope="module")
def gvcf(tmp_path_factory: pytest.TempPathFactory) -> Variants:
    variants = Variants.open(tmp_path_factory.mktemp("gvcf"))
    variants.ingest(GVCF)
    return variants


def test_a_region_query_returns_only_the_real_calls(gvcf: Variants) -> None:
    """chr20:124000-125000 holds two het SNVs among ~100 reference blocks: only the two come back."""
    expected = []
    for chrom, pos, _end, ref, alt, *_ in _records(GVCF):
        if 124000 <= int(pos) <= 125000 and not _is_block(alt):
            expected += [f"{chrom}:{pos}:{ref}:{a}" for a in alt.split(",") if a not in REF_BLOCK_ALLELES]
    assert len(expected) == 2
    result = gvcf.query("chr20:124000-125000", limit=100)
    assert result.matched == 2
    assert result.rows["key"].to_pylist() == expected
    stored = VariantStore(gvcf.store).read("variants", ["n_alts"], where="pos >= 124000 AND pos <= 125000")
    assert stored["n_alts"].to_pylist() == [1, 1]  # `A,<NON_REF>`: one real ALT


def test_stats_count_no_block_as_a_variant(gvcf: Variants, capsys: pytest.CaptureFixture[str]) -> None:
    records = _records(GVCF)
    blocks = sum(1 for r in records if _is_block(r[4]))
    alleles = sum(
        len([a for a in r[4].split(",") if a not in REF_BLOCK_ALLELES]) for r in records if not _is_block(r[4])
    )
    stats = gvcf.stats()
    assert (stats.variants, stats.ref_blocks) == (alleles, blocks)
    assert "symbolic" not in stats.by_type
    store = VariantStore(gvcf.store)
    alts = set(store.read("variants", ["alt"])["alt"].to_pylist())
    assert not alts & REF_BLOCK_ALLELES
    capsys.readouterr()
    assert main(["vcf", "stats", "--store", str(gvcf.store), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ref_blocks"] == blocks


def test_the_block_covering_a_hom_ref_position_comes_back_with_its_gq(
    gvcf: Variants, capsys: pytest.CaptureFixture[str]
) -> None:
    covering = [r for r in _records(GVCF) if _is_block(r[4]) and int(r[1]) <= 124100 <= int(r[2])]
    assert len(covering) == 1
    _, pos, end, _, _, gt, gq, min_dp = covering[0]
    result = gvcf.reference_calls("chr20:124100", sample="NA12878")
    assert result.matched == 1
    block = result.rows.to_pylist()[0]
    assert (block["pos"], block["end"], block["gt"], block["gq"], block["min_dp"]) == (
        int(pos), int(end), gt, int(gq), int(min_dp)
    )  # fmt: skip
    assert block["sample_name"] == "NA12878" and block["gq"] >= 20
    capsys.readouterr()
    assert main(["vcf", "blocks", "20:124100", "--store", str(gvcf.store), "--json"]) == 0
    cli: dict[str, Any] = json.loads(capsys.readouterr().out)
    assert cli["matched"] == 1 and cli["blocks"][0]["gq"] == int(gq)
    wide = gvcf.reference_calls("chr20:124000-125000", limit=5)
    assert wide.matched == sum(
        1 for r in _records(GVCF) if _is_block(r[4]) and int(r[1]) <= 125000 and int(r[2]) >= 124000
    )
    assert wide.rows.num_rows == 5 and wide.rows["pos"].to_pylist() == sorted(wide.rows["pos"].to_pylist())


def test_reference_calls_refusals(gvcf: Variants) -> None:
    with pytest.raises(NoMatchesError, match="no sample named 'nobody'"):
        gvcf.reference_calls("chr20:1-100", sample="nobody")
    with pytest.raises(ConfigError, match="bad region"):
        gvcf.reference_calls("chr20:100-1")
    with pytest.raises(ConfigError, match="--limit"):
        gvcf.reference_calls("chr20", limit=-1)
    assert gvcf.reference_calls("chr7:1-1000").matched == 0


def test_a_gvcf_variant_site_drops_non_ref_but_splits_by_the_original_index(tmp_path: Path) -> None:
    """CEUTrio 20:10132722 `CAG -> C,GAG,CAGAG...,<NON_REF>`: three rows, MLEAC/AD by the record's allele index."""
    variants = Variants.open(tmp_path)
    variants.ingest(DATA / "CEUTrio.20.21.gatk3.4.g.bcf")
    rows = VariantStore(tmp_path).read("variants", where="pos = 10132722").to_pylist()
    assert sorted(r["allele_index"] for r in rows) == [1, 2, 3]
    assert {r["n_alts"] for r in rows} == {3}
    out = bcftools.query("-t", "20:10132722", "-f", "%INFO/MLEAC\t[%AD]\n", str(DATA / "CEUTrio.20.21.gatk3.4.g.bcf"))
    mleac, ad = (v.split(",") for v in out.split("\t"))
    for r in rows:
        assert json.loads(r["info"])["MLEAC"] == int(mleac[r["allele_index"] - 1])
    calls = VariantStore(tmp_path).read("calls", where=f"vid IN ({', '.join(str(r['vid']) for r in rows)})")
    index = {r["vid"]: r["allele_index"] for r in rows}
    ad_alt = {index[c["vid"]]: (c["gt"], c["ad_alt"]) for c in calls.to_pylist()}
    assert ad_alt == {1: ("1/2", int(ad[1])), 2: ("1/2", int(ad[2]))}  # the sample is 1/2


GVCF_HEADER = """##fileformat=VCFv4.2
##contig=<ID=chr1,length=100000>
##ALT=<ID=NON_REF,Description="Any other allele">
##INFO=<ID=END,Number=1,Type=Integer,Description="End">
##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">
##INFO=<ID=MLEAC,Number=A,Type=Integer,Description="MLE allele count">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=GQ,Number=1,Type=Integer,Description="Genotype quality">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">
##FORMAT=<ID=MIN_DP,Number=1,Type=Integer,Description="Minimum depth">
##FORMAT=<ID=AD,Number=R,Type=Integer,Description="Allelic depths">
##FORMAT=<ID=PL,Number=G,Type=Integer,Description="Phred likelihoods">
"""
GVCF_LINES = [
    "chr1\t100\t.\tA\t<NON_REF>\t.\t.\tEND=199\tGT:DP:GQ:MIN_DP:PL\t0/0:30:99:25:0,90,900",
    "chr1\t200\t.\tC\t<*>\t.\t.\tEND=210\tGT:GQ:DP\t0/0:.:12",  # DRAGEN's symbol, GQ missing, no MIN_DP
    "chr1\t211\t.\tG\t<NON_REF>\t.\t.\tEND=230\tGT:DP:GQ:MIN_DP\t./.:0:0:0",  # no call
    "chr1\t231\t.\tT\t<NON_REF>\t.\t.\t.\tGT:DP:GQ\t0|0:7",  # phased, GQ cut off
    "chr1\t232\t.\tG\tA,<NON_REF>\t50\t.\tDP=20;MLEAC=1,0\tGT:AD:DP:GQ:PL\t0/1:10,9,1:20:70:70,0,90,99,120,200",
    "chr1\t233\t.\tT\t<NON_REF>\t.\t.\tEND=300\tGT:DP:GQ:MIN_DP:AD\t0/0:20:6:10:20,0",
    "chr1\t301\t.\tACGT\tAGGT,<NON_REF>\t50\t.\tMLEAC=2,0\tGT:AD:GQ\t1/1:0,12,0:40",  # a trimmed MNV: C>G
    "chr1\t310\t.\tA\t<NON_REF>\t.\t.\tEND=400\tGT\t0",  # haploid, GT only
]


@pytest.mark.parametrize("samples", [1, 0])
def test_both_paths_store_the_same_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, samples: int) -> None:
    monkeypatch.setattr(textpath, "MIN_FAST_SHARE", 0.0)
    lines = GVCF_LINES if samples else ["\t".join(line.split("\t")[:8]) for line in GVCF_LINES]
    columns = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO" + ("\tFORMAT\tS1" if samples else "")
    path = tmp_path / "g.vcf"
    path.write_text(GVCF_HEADER + columns + "\n" + "\n".join(lines) + "\n")
    tables = {}
    for fast in (True, False):
        summary = ingest_vcf([path], tmp_path / str(fast), build_indexes=False, fast_text=fast).files[0]
        assert (summary.records, summary.alleles, summary.ref_blocks) == (8, 2, 6)
        store = VariantStore(tmp_path / str(fast))
        tables[fast] = (
            store.read("ref_blocks").drop_columns(["batch"]).sort_by("record").to_pylist(),
            store.read("variants").drop_columns(["batch"]).sort_by("vid").to_pylist(),
        )
        if fast:
            assert summary.columnar >= 5
    assert tables[True] == tables[False]
    blocks, variants = tables[True]
    assert [b["pos"] for b in blocks] == [100, 200, 211, 231, 233, 310]
    assert [b["end"] for b in blocks] == [199, 210, 230, 231, 300, 400]
    if samples:
        assert [b["gt"] for b in blocks] == ["0/0", "0/0", "./.", "0|0", "0/0", "0"]
        assert [b["gq"] for b in blocks] == [99, None, 0, None, 6, None]
        assert [b["dp"] for b in blocks] == [30, 12, 0, 7, 20, None]
        assert [b["min_dp"] for b in blocks] == [25, None, 0, None, 10, None]
    else:
        assert {b["sample"] for b in blocks} == {None} and {b["gt"] for b in blocks} == {None}
    assert [(v["key"], v["n_alts"], v["vtype"]) for v in variants] == [("1:232:G:A", 1, "SNV"), ("1:302:C:G", 1, "SNV")]
    assert [json.loads(v["info"])["MLEAC"] for v in variants] == [1, 2]


def test_pack_shows_the_real_calls_of_a_gvcf_region(gvcf: Variants) -> None:
    """The issue's case: "variants in chr20:124000-125000" answered with blocks, the two het calls near row 110."""
    from exocortex.genomics.context import variant_pack

    pack = variant_pack(gvcf.store, "variants in chr20:124000-125000", 4000)
    assert [item.key for item in pack.items] == ["20:124302:A:C", "20:124412:C:T"]
    assert "NON_REF" not in pack.text


def test_a_resumed_gvcf_ingest_keeps_one_copy_of_each_block(tmp_path: Path) -> None:
    path = tmp_path / "g.vcf"
    columns = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n"
    path.write_text(GVCF_HEADER + columns + "\n".join(GVCF_LINES * 3) + "\n")

    class Crash(Exception):
        pass

    def crash(batch: int) -> None:
        if batch == 2:
            raise Crash

    with pytest.raises(Crash):
        ingest_vcf([path], tmp_path / "resumed", batch_size=5, after_commit=crash, build_indexes=False)
    resumed = ingest_vcf([path], tmp_path / "resumed", batch_size=5, resume=True, build_indexes=False).files[0]
    clean = ingest_vcf([path], tmp_path / "clean", batch_size=5, build_indexes=False).files[0]
    assert resumed.resumed_from == 15 and resumed.ref_blocks == clean.ref_blocks == 18
    tables = [
        VariantStore(tmp_path / name).read("ref_blocks").sort_by([("record", "ascending")]).to_pylist()
        for name in ("resumed", "clean")
    ]
    assert tables[0] == tables[1] and len(tables[0]) == 18
    again = ingest_vcf([path], tmp_path / "clean", replace=True, build_indexes=False).files[0]
    assert again.ref_blocks == 18 and VariantStore(tmp_path / "clean").table("ref_blocks").count_rows() == 18
