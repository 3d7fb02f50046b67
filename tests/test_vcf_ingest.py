"""`exocortex vcf ingest` against the real VCF/BCF files in tests/fixtures/vcf, checked with bcftools."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from exocortex.errors import DuplicateSourceError, InputPathError, StoreLockedError, VcfFormatError
from exocortex.genomics.ingest import ingest_vcf
from exocortex.genomics.normalize import trim_alleles
from exocortex.genomics.schema import CALLS, SAMPLES, SOURCES, VARIANTS, VID_SOURCE_SHIFT
from exocortex.genomics.stats import variant_stats
from exocortex.genomics.store import VariantStore, VariantWriter, read_manifest

DATA = Path(__file__).parent / "fixtures" / "vcf"  # origins and licences: fixtures/vcf/README.md
EDGE = DATA / "edge-cases"

bcftools = pytest.importorskip("pysam.bcftools")


def _bcf_records(path: Path) -> int:
    return sum(1 for line in bcftools.view("-H", str(path)).splitlines() if line)


REF_BLOCK_ALLELES = ("<NON_REF>", "<*>")


def _bcf_alleles(path: Path) -> int:
    """ALT alleles per record (at least one row per record), as `bcftools norm -m-` splits them; gVCF
    ``<NON_REF>``/``<*>`` are no allele rows, and a record with only those (a reference block) has none."""
    alts = bcftools.query("-f", "%ALT\n", str(path)).splitlines()
    count = 0
    for alt in alts:
        alleles = [a for a in alt.split(",") if a != "."]
        real = [a for a in alleles if a not in REF_BLOCK_ALLELES]
        count += len(real) if alleles and not real else max(1, len(real))
    return count


def _bcf_ref_blocks(path: Path) -> int:
    alts = bcftools.query("-f", "%ALT\n", str(path)).splitlines()
    return sum(1 for alt in alts if alt != "." and all(a in REF_BLOCK_ALLELES for a in alt.split(",")))


def _ingest(path: Path, store: Path, **kw: Any) -> Any:
    return ingest_vcf([path], store, **kw).files[0]


def _table(store: Path, name: str) -> pa.Table:
    return VariantStore(store).read(name)


@pytest.fixture(scope="module")
def store_all(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One store holding several files (so ids of later sources are exercised too)."""
    store = tmp_path_factory.mktemp("store_all")
    names = [
        "split-vep.vcf",
        "test.snpeff.vcf",
        "CEUTrio.20.21.gatk3.4.g.bcf",
        "1kg_2020_chr20_annotations.bcf",
        "chr22.vcf.gz",
        "cyvcf2-test.vcf.gz",
        "test-haploidX.vcf",
        "1kg-629samples.vcf.gz",
        "chr_m_indels.vcf.gz",
        "field_type_combos.vcf.gz",
        "sample_all_missing_gts.vcf.gz",
        "multi_contig.vcf.gz",
    ]
    summary = ingest_vcf([DATA / n for n in names], store, merge=False)  # each file apart (merging: test_vcf_merge)
    return {"store": store, "summary": summary, "by_name": {Path(f.path).name: f for f in summary.files}}


# --------------------------------------------------------------------------- counts and genotypes


@pytest.mark.parametrize(
    "name",
    [
        "split-vep.vcf",
        "test.snpeff.vcf",
        "CEUTrio.20.21.gatk3.4.g.bcf",
        "1kg_2020_chr20_annotations.bcf",
        "chr22.vcf.gz",
        "cyvcf2-test.vcf.gz",
        "test-haploidX.vcf",
        "1kg-629samples.vcf.gz",
        "chr_m_indels.vcf.gz",
        "field_type_combos.vcf.gz",
        "sample_all_missing_gts.vcf.gz",
        "multi_contig.vcf.gz",
    ],
)
def test_record_and_allele_counts_equal_bcftools(store_all: dict[str, Any], name: str) -> None:
    f = store_all["by_name"][name]
    assert f.records == _bcf_records(DATA / name)
    assert f.alleles == _bcf_alleles(DATA / name)
    assert f.rejected == 0
    variants = VariantStore(store_all["store"]).read(
        "variants", columns=["vid", "record"], where=f"source = {f.source}"
    )
    assert variants.num_rows == f.alleles
    blocks = _bcf_ref_blocks(DATA / name)
    assert f.ref_blocks == blocks * max(f.samples, 1)
    assert len(set(variants["record"].to_pylist())) == f.records - blocks


def test_norm_split_matches_bcftools_norm(store_all: dict[str, Any]) -> None:
    """Allele rows are bcftools norm -m- records in order, each allele trimmed to its minimal REF/ALT
    (the trimming itself is checked against `bcftools norm -f` in test_vcf_normalize.py)."""
    name = "chr_m_indels.vcf.gz"
    out = bcftools.norm("-m-", str(DATA / name))
    expected = []
    for line in out.splitlines():
        if line and not line.startswith("#"):
            chrom, pos, ident, ref, alt = line.split("\t")[:5]
            p, r, a = trim_alleles(int(pos), ref, alt)
            expected.append((chrom, str(p), ident, r, a))
    f = store_all["by_name"][name]
    v = VariantStore(store_all["store"]).read("variants", where=f"source = {f.source}").sort_by("vid")
    got = list(
        zip(
            v["chrom"].to_pylist(),
            [str(p) for p in v["pos"].to_pylist()],
            [i or "." for i in v["id"].to_pylist()],
            v["ref"].to_pylist(),
            v["alt"].to_pylist(),
            strict=True,
        )
    )
    assert got == expected


def _expected_calls(path: Path) -> Counter[tuple[str, str, int, str, str, str]]:
    """(sample, chrom, pos, ref, alt, gt) for every sample carrying an ALT, from bcftools query."""
    out = bcftools.query("-f", "[%SAMPLE\t%CHROM\t%POS\t%REF\t%ALT\t%GT\n]", str(path))
    expected: Counter[tuple[str, str, int, str, str, str]] = Counter()
    for line in out.splitlines():
        sample, chrom, pos, ref, alt, gt = line.split("\t")
        alts = alt.split(",")
        alleles = [a for a in gt.replace("|", "/").split("/") if a not in (".", "")]
        for i in sorted({int(a) for a in alleles if int(a) > 0}):
            p, r, a = trim_alleles(int(pos), ref, alts[i - 1])  # as stored: each allele trimmed
            expected[(sample, chrom, p, r, a, gt)] += 1
    return expected


def _stored_calls(store: Path, source: int) -> tuple[Counter[tuple[str, str, int, str, str, str]], pa.Table]:
    vs = VariantStore(store)
    lo, hi = source << VID_SOURCE_SHIFT, (source + 1) << VID_SOURCE_SHIFT
    calls = vs.read("calls", where=f"vid >= {lo} AND vid < {hi}")
    variants = vs.read("variants", columns=["vid", "chrom", "pos", "ref", "alt"], where=f"source = {source}")
    samples = vs.read("samples", where=f"source = {source}")
    by_vid = {r["vid"]: r for r in variants.to_pylist()}
    names = dict(zip(samples["sample"].to_pylist(), samples["name"].to_pylist(), strict=True))
    got: Counter[tuple[str, str, int, str, str, str]] = Counter()
    for c in calls.to_pylist():
        v = by_vid[c["vid"]]
        got[(names[c["sample"]], v["chrom"], v["pos"], v["ref"], v["alt"], c["gt"])] += 1
    return got, calls


@pytest.mark.parametrize(
    "name",
    [
        "cyvcf2-test.vcf.gz",
        "1kg-629samples.vcf.gz",
        "test-haploidX.vcf",
        "CEUTrio.20.21.gatk3.4.g.bcf",
        "chr22.vcf.gz",
        "sample_all_missing_gts.vcf.gz",
    ],
)
def test_genotypes_equal_bcftools_query(store_all: dict[str, Any], name: str) -> None:
    f = store_all["by_name"][name]
    expected = _expected_calls(DATA / name)
    got, calls = _stored_calls(store_all["store"], f.source)
    assert got == expected
    assert calls.num_rows == f.calls == sum(expected.values())


@pytest.mark.parametrize(
    "name",
    [
        "1kg-629samples.vcf.gz",
        "test-haploidX.vcf",
        "CEUTrio.20.21.gatk3.4.g.bcf",
        "sample_all_missing_gts.vcf.gz",
        "cyvcf2-test.vcf.gz",
    ],
)
def test_no_calls_per_sample_equal_bcftools_query(store_all: dict[str, Any], name: str) -> None:
    """A no-call is a GT with no called allele (./., .|., .); missingness divides by the stored records
    that have a GT (a record without GT, which bcftools query prints as ``.``, is unknown, not missing)."""
    f = store_all["by_name"][name]
    expected = Counter[int]()
    no_gt = 0
    for line in bcftools.view("-H", str(DATA / name)).splitlines():
        cols = line.split("\t")
        if "GT" not in cols[8].split(":"):
            no_gt += 1
            continue
        for column, cell in enumerate(cols[9:]):
            gt = cell.split(":")[0]
            if gt and all(a == "." for a in gt.replace("|", "/").split("/")):
                expected[column] += 1
    rows = VariantStore(store_all["store"]).read("samples").to_pylist()
    column_of = {r["sample"]: r["column"] for r in rows if r["source"] == f.source}
    stats = variant_stats(store_all["store"])
    mine = [r for r in stats.samples if r["id"] in column_of]
    got = {column_of[r["id"]]: r["no_calls"] for r in mine if r["no_calls"]}
    assert got == dict(expected)
    if name in ("1kg-629samples.vcf.gz", "sample_all_missing_gts.vcf.gz"):
        assert expected  # files with no-calls in them: the comparison above is not vacuous
    for r in mine:
        assert r["missing_rate"] == pytest.approx(r["no_calls"] / (f.records - f.rejected - no_gt), abs=1e-6)
        assert stats.genotype_missingness is not None


def _zygosity(gt: str, allele: int) -> str:
    alleles = [int(a) if a != "." else -1 for a in gt.replace("|", "/").split("/")]
    if len(alleles) == 1:
        return "hemi"
    if all(a == allele for a in alleles):
        return "hom_alt"
    if any(a > 0 and a != allele for a in alleles):
        return "het_alt"
    return "het"


@pytest.mark.parametrize("name", ["1kg-629samples.vcf.gz", "test-haploidX.vcf", "chr22.vcf.gz"])
def test_zygosity_phase_and_ploidy_follow_the_gt(store_all: dict[str, Any], name: str) -> None:
    f = store_all["by_name"][name]
    vs = VariantStore(store_all["store"])
    _, calls = _stored_calls(store_all["store"], f.source)
    variants = vs.read("variants", columns=["vid", "allele_index"], where=f"source = {f.source}")
    index = dict(zip(variants["vid"].to_pylist(), variants["allele_index"].to_pylist(), strict=True))
    for c in calls.to_pylist():
        assert c["zygosity"] == _zygosity(c["gt"], index[c["vid"]]), c
        assert c["phased"] == ("|" in c["gt"])
        assert c["ploidy"] == len(c["gt"].replace("|", "/").split("/"))


def test_haploid_x_calls_are_hemizygous(store_all: dict[str, Any]) -> None:
    f = store_all["by_name"]["test-haploidX.vcf"]
    _, calls = _stored_calls(store_all["store"], f.source)
    zyg = Counter(calls["zygosity"].to_pylist())
    assert zyg["hemi"] > 0
    hemi = [c for c in calls.to_pylist() if c["zygosity"] == "hemi"]
    assert all(c["ploidy"] == 1 and c["gt"].isdigit() for c in hemi)
    # DP/AD from FORMAT are carried per call
    assert any(c["dp"] is not None for c in hemi)
    assert any(c["ad_alt"] is not None for c in hemi)


def test_depths_match_bcftools(store_all: dict[str, Any]) -> None:
    name = "cyvcf2-test.vcf.gz"
    f = store_all["by_name"][name]
    out = bcftools.query("-f", "[%SAMPLE\t%POS\t%GT\t%DP\t%GQ\t%AD\n]", str(DATA / name))
    expected = {}
    for line in out.splitlines():
        sample, pos, gt, dp, gq, ad = line.split("\t")
        if not any(a not in ("0", ".") for a in gt.replace("|", "/").split("/")):
            continue
        ads = ad.split(",")
        expected[(sample, int(pos))] = (
            None if dp == "." else int(dp),
            None if gq == "." else int(gq),
            None if ads[0] == "." else int(ads[0]),
        )
    vs = VariantStore(store_all["store"])
    _, calls = _stored_calls(store_all["store"], f.source)
    variants = vs.read("variants", columns=["vid", "pos"], where=f"source = {f.source}")
    pos = dict(zip(variants["vid"].to_pylist(), variants["pos"].to_pylist(), strict=True))
    names = dict(
        zip(
            vs.read("samples")["sample"].to_pylist(),
            vs.read("samples")["name"].to_pylist(),
            strict=True,
        )
    )
    got = {(names[c["sample"]], pos[c["vid"]]): (c["dp"], c["gq"], c["ad_ref"]) for c in calls.to_pylist()}
    assert got == expected


# --------------------------------------------------------------------------- variant columns


def test_variant_columns_of_a_multiallelic_site(tmp_path: Path) -> None:
    vcf = tmp_path / "multi.vcf"
    vcf.write_text(
        textwrap.dedent(
            """\
            ##fileformat=VCFv4.2
            ##contig=<ID=chr1>
            ##INFO=<ID=AC,Number=A,Type=Integer,Description="c">
            ##INFO=<ID=AN,Number=1,Type=Integer,Description="n">
            ##INFO=<ID=AF,Number=A,Type=Float,Description="f">
            ##INFO=<ID=RD,Number=R,Type=Integer,Description="r">
            ##INFO=<ID=GL3,Number=G,Type=Integer,Description="g">
            ##INFO=<ID=SVLEN,Number=A,Type=Integer,Description="s">
            ##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
            ##FORMAT=<ID=AD,Number=R,Type=Integer,Description="ad">
            #CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\tS3
            chr1\t100\trs1;x\tA\tC,AT,<DEL>\t30.5\tq10;s50\tAC=1,2,3;AN=6;AF=0.1,0.3,0.5;RD=5,6,7,8;GL3=0,1,2,3,4,5,6,7,8,9;SVLEN=.,.,-300\tGT:AD\t1/2:1,2,3,4\t0|2:5,6,7,8\t3/3:.
            chrM\t200\t.\tAC\tA\t.\tPASS\t.\tGT\t0/0\t./.\t0/1
            """
        )
    )
    store = tmp_path / "s"
    f = _ingest(vcf, store)
    assert (f.records, f.alleles, f.rejected) == (2, 4, 0)
    rows = sorted(_table(store, "variants").to_pylist(), key=lambda r: r["vid"])
    c, at, sv, dele = rows
    assert [r["allele_index"] for r in rows] == [1, 2, 3, 1]
    assert [r["vtype"] for r in rows] == ["SNV", "insertion", "symbolic", "deletion"]
    assert [r["length"] for r in rows] == [0, 1, -300, -1]
    assert [r["ac"] for r in rows[:3]] == [1, 2, 3] and c["an"] == 6
    assert [r["af"] for r in rows[:3]] == pytest.approx([0.1, 0.3, 0.5])
    assert json.loads(at["info"])["RD"] == [5, 7]
    assert json.loads(at["info"])["GL3"] == [0, 3, 5]  # 0/0, 0/2, 2/2
    assert json.loads(sv["info"])["GL3"] == [0, 6, 9]
    assert c["id"] == "rs1;x" and c["rsid"] == "rs1" and c["filter"] == "q10;s50"
    assert c["qual"] == pytest.approx(30.5) and dele["qual"] is None
    assert c["key"] == "1:100:A:C" and dele["key"] == "MT:200:AC:A" and dele["chrom"] == "chrM"
    assert dele["filter"] == "PASS" and dele["end"] == 201 and dele["line"] == 13
    assert [r["n_carriers"] for r in rows] == [1, 2, 1, 1]
    calls = {(r["vid"] & 0xFFFFFFFFFF, r["sample"]): r for r in _table(store, "calls").to_pylist()}
    s1, s2, s3 = (r["sample"] for r in sorted(_table(store, "samples").to_pylist(), key=lambda r: r["column"]))
    assert calls[(0, s1)]["zygosity"] == "het_alt" and calls[(1, s1)]["zygosity"] == "het_alt"
    assert (calls[(0, s1)]["ad_ref"], calls[(0, s1)]["ad_alt"], calls[(1, s1)]["ad_alt"]) == (1, 2, 3)
    assert calls[(1, s2)]["gt"] == "0|2" and calls[(1, s2)]["phased"] and calls[(1, s2)]["zygosity"] == "het"
    assert calls[(2, s3)]["zygosity"] == "hom_alt" and calls[(2, s3)]["ad_ref"] is None
    assert calls[(3, s3)]["gt"] == "0/1"
    assert len(calls) == 5  # 0/0 and ./. give no row


# --------------------------------------------------------------------------- annotations


def _entries(store: Path, source: int) -> dict[int, list[dict[str, Any]]]:
    """vid -> its annotation entries (the ``annotations`` table), in entry order."""
    lo, hi = source << 40, (source + 1) << 40
    rows = VariantStore(store).read("annotations", where=f"vid >= {lo} AND vid < {hi}").to_pylist()
    out: dict[int, list[dict[str, Any]]] = {}
    for e in sorted(rows, key=lambda e: (e["vid"], e["entry"])):
        out.setdefault(e["vid"], []).append(e)
    return out


def _csq_layout(path: Path) -> list[str]:
    for line in path.read_text().splitlines():
        if line.startswith("##INFO=<ID=CSQ"):
            return line.split("Format: ")[1].split('"')[0].split("|")
    raise AssertionError("no CSQ header")


def test_split_vep_csq_per_allele(store_all: dict[str, Any]) -> None:
    """Every CSQ entry of split-vep.vcf lands on the ALT its Allele names, with its fields."""
    path = DATA / "split-vep.vcf"
    layout = _csq_layout(path)
    f = store_all["by_name"]["split-vep.vcf"]
    rows = VariantStore(store_all["store"]).read("variants", where=f"source = {f.source}").to_pylist()
    entries_of = _entries(store_all["store"], f.source)
    by_record: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        by_record.setdefault(r["record"], []).append(r)
    records = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    checked = 0
    for index, line in enumerate(records):
        cols = line.split("\t")
        info = dict(kv.split("=", 1) for kv in cols[7].split(";") if "=" in kv)
        entries = [dict(zip(layout, e.split("|"), strict=False)) for e in info.get("CSQ", "").split(",") if e]
        stored = by_record[index]
        total = sum(len(entries_of.get(r["vid"], [])) for r in stored)
        alts = cols[4].split(",")
        if len(alts) == 1:
            assert total == len(entries)
        for r in stored:
            mine = entries_of.get(r["vid"], [])
            alt = alts[r["allele_index"] - 1]  # the record's ALT: VEP names alleles relative to it, not trimmed
            genes = {
                e["SYMBOL"]
                for e in entries
                if e.get("SYMBOL") and (len(alts) == 1 or e["Allele"] in {a for a in [alt, alt[1:] or "-"]})
            }
            if len(alts) == 1:
                assert set(r["genes"]) == genes
            for e in mine:
                assert e["source"] == "CSQ"
                if len(alts) > 1:  # each entry sits on the ALT its Allele field names
                    assert e["allele"] in {alt, alt[1:] or "-"}, (alt, e["allele"])
            if len(alts) > 1:
                assert total == len(entries)
            if mine:
                order = ["HIGH", "MODERATE", "LOW", "MODIFIER"]
                assert r["impact"] == min((e["impact"] for e in mine), key=order.index)
                checked += 1
    assert checked > 700


def test_cyvcf2_ann_and_csq(store_all: dict[str, Any]) -> None:
    path = DATA / "cyvcf2-test.vcf.gz"
    f = store_all["by_name"]["cyvcf2-test.vcf.gz"]
    rows = sorted(
        VariantStore(store_all["store"]).read("variants", where=f"source = {f.source}").to_pylist(),
        key=lambda r: r["vid"],
    )
    with gzip.open(path, "rt") as fh:
        lines = [ln for ln in fh.read().splitlines() if not ln.startswith("#")]
    rank = {"HIGH": 0, "MODERATE": 1, "LOW": 2, "MODIFIER": 3}
    entries_of = _entries(store_all["store"], f.source)
    for line, r in zip(lines, rows, strict=True):
        info = dict(kv.split("=", 1) for kv in line.split("\t")[7].split(";") if "=" in kv)
        ann = [e.split("|") for e in info.get("ANN", "").split(",") if e]
        if not ann:
            continue
        best = min(ann, key=lambda e: rank[e[2]])
        parsed = entries_of[r["vid"]]
        # the scalar columns come from the most severe of all entries (CSQ impacts are inferred from terms)
        assert r["impact"] == min((e["impact"] for e in parsed), key=rank.__getitem__)
        assert rank[r["impact"]] <= rank[best[2]]
        # ... and from one entry: its gene, its impact, and the term of its that is most severe
        shown = (r["gene"], r["consequence"], r["impact"])
        summary = [e for e in parsed if (e["gene"], e["consequence"], e["impact"]) == shown]
        assert summary, (r["key"], r["gene"], r["consequence"], r["impact"])
        for e in parsed:
            if e["source"] == "CSQ":  # this file's CSQ has no IMPACT: the entry's impact is its worst term's
                assert e["consequence"] in e["consequences"]
                assert not (e["consequence"] == "intron_variant" and e["impact"] == "HIGH")
        assert sum(1 for e in parsed if e["source"] == "ANN") == len(ann)
        assert sum(1 for e in parsed if e["source"] == "CSQ") == len(info["CSQ"].split(","))
        assert "ANN" not in json.loads(r["info"])  # parsed, not repeated
    assert any(r["impact"] in ("HIGH", "MODERATE") for r in rows)


def test_snpeff_eff(store_all: dict[str, Any]) -> None:
    f = store_all["by_name"]["test.snpeff.vcf"]
    rows = sorted(
        VariantStore(store_all["store"]).read("variants", where=f"source = {f.source}").to_pylist(),
        key=lambda r: r["vid"],
    )
    first = rows[0]
    assert first["gene"] == "FAM138A" and first["impact"] == "MODIFIER" and first["consequence"] == "downstream"
    assert first["transcript"] == "ENST00000417324"
    entries_of = _entries(store_all["store"], f.source)
    assert all(entries_of.get(r["vid"]) for r in rows)
    assert all(e["source"] == "EFF" for r in rows for e in entries_of[r["vid"]])


def test_1kg_annotations_bcf_ann_and_clnsig(store_all: dict[str, Any]) -> None:
    f = store_all["by_name"]["1kg_2020_chr20_annotations.bcf"]
    rows = VariantStore(store_all["store"]).read("variants", where=f"source = {f.source}").to_pylist()
    assert all(r["gene"] for r in rows)
    query = bcftools.query("-f", "%CLNSIG\n", str(DATA / "1kg_2020_chr20_annotations.bcf")).splitlines()
    assert sorted((r["clnsig"] or ".") for r in rows) == sorted(query)


# --------------------------------------------------------------------------- edge cases and rejects


EDGE_EXPECTED = {
    "bad_info.vcf.gz": {"vtype": "SNV", "calls": 1},
    "edgecase_minimal.vcf.gz": {"vtype": "SNV", "calls": 1},
    "edgecase_multiallelic.vcf.gz": {"vtype": "SNV", "calls": 2},
    "empty_alt.vcf.gz": {"vtype": "no_alt", "calls": 0},
    "inconsistent_format.vcf.gz": {"vtype": "SNV", "calls": 1},
    "minimal.vcf.gz": {"vtype": "SNV", "calls": 1},
    "missing_header_field.vcf.gz": {"vtype": "SNV", "calls": 1},
    "multiallelic.vcf.gz": {"vtype": "SNV", "calls": 2},
    "nonstandard_chrom.vcf.gz": {"vtype": "SNV", "calls": 1},
    "symbolic_allele.vcf.gz": {"vtype": "symbolic", "calls": 1},
}


def test_every_edge_case_is_ingested(tmp_path: Path) -> None:
    files = sorted(EDGE.glob("*.vcf.gz"))
    assert {p.name for p in files} == set(EDGE_EXPECTED)
    summary = ingest_vcf(files, tmp_path, merge=False)  # several edge cases share a site
    vs = VariantStore(tmp_path)
    for f in summary.files:
        want = EDGE_EXPECTED[Path(f.path).name]
        assert f.records == 1 and f.rejected == 0 and f.calls == want["calls"], f
        rows = vs.read("variants", where=f"source = {f.source}").to_pylist()
        assert {r["vtype"] for r in rows} == {want["vtype"]}
    by = {Path(f.path).name: f for f in summary.files}
    bad = vs.read("variants", where=f"source = {by['bad_info.vcf.gz'].source}").to_pylist()[0]
    assert json.loads(bad["info"])["AF"] is None and bad["af"] == pytest.approx(0.5)  # AC/AN
    inc = by["inconsistent_format.vcf.gz"]
    calls = vs.read("calls", where=f"vid >= {inc.source << 40} AND vid < {(inc.source + 1) << 40}").to_pylist()
    assert calls[0]["dp"] is None and calls[0]["gt"] == "0/1"
    multi = by["multiallelic.vcf.gz"]
    assert {
        r["zygosity"]
        for r in vs.read("calls", where=f"vid >= {multi.source << 40}").to_pylist()
        if r["vid"] >> 40 == multi.source
    } == {"het_alt"}


BAD_VCF = """\
##fileformat=VCFv4.2
##contig=<ID=1>
##INFO=<ID=AF,Number=A,Type=Float,Description="x">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="x">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2
1\t100\t.\tA\tC\t50\tPASS\tAF=0.5\tGT:DP\t0/1:3\t./.:.
1\tabc\t.\tA\tC\t50\tPASS\tAF=0.5\tGT\t0/1\t0/0
1\t102\t.\tA\tC\t50\tPASS\tAF=x\tGT\t0/1\t./1
1\t103\t.\tA\tC\t50\tPASS\tAF=0.5\tGT\t0/1
1\t104\t.\tA\tC,G\t50\tPASS\tAF=0.5,.;UNDEF=3\tGT\t1/2\t2|2
1\t105
1\t106\t.\t.\tC\t50\tPASS\t.\tGT\t0/1\t0/0
1\t108\t.\tA\tC\txx\tPASS\t.\tGT:DP\t0/1:z\t0/0
1\t109\t.\tA\tC\t50\tPASS\t.\tGT\t1\t0
"""


def test_malformed_records_go_to_the_rejects_file(tmp_path: Path) -> None:
    vcf = tmp_path / "bad.vcf"
    vcf.write_text(BAD_VCF)
    store = tmp_path / "s"
    f = _ingest(vcf, store)
    assert f.records == 9
    assert f.rejected == 5
    assert f.alleles == 5  # 100, 102, 104 (x2), 109
    assert f.rejects_path is not None
    lines = Path(f.rejects_path).read_text().splitlines()
    assert lines[0] == "line\trecord\treason\traw"
    rejects = [ln.split("\t", 3) for ln in lines[1:]]
    assert [int(r[0]) for r in rejects] == [8, 10, 12, 13, 14]
    assert [int(r[1]) for r in rejects] == [1, 3, 5, 6, 7]
    assert all(r[2] for r in rejects)
    assert rejects[0][3] == "1\tabc\t.\tA\tC\t50\tPASS\tAF=0.5\tGT\t0/1\t0/0"
    assert rejects[2][3] == "1\t105"
    assert "REF" in rejects[3][2]
    stored = sorted(_table(store, "variants").to_pylist(), key=lambda r: r["vid"])
    assert [r["pos"] for r in stored] == [100, 102, 104, 104, 109]
    assert [r["line"] for r in stored] == [7, 9, 11, 11, 15]
    gts = sorted(r["gt"] for r in _table(store, "calls").to_pylist())
    assert gts == sorted(["0/1", "0/1", "./1", "1/2", "1/2", "2|2", "1"])


# --------------------------------------------------------------------------- file-level errors


def test_file_level_problems_raise_vcf_format_error(tmp_path: Path) -> None:
    empty = tmp_path / "empty.vcf"
    empty.write_bytes(b"")
    text = tmp_path / "notes.txt"
    text.write_text("hello\nthis is not a VCF\n")
    headerless = tmp_path / "nohdr.vcf"
    headerless.write_text(
        "\n".join(ln for ln in (DATA / "test.snpeff.vcf").read_text().splitlines() if not ln.startswith("#")) + "\n"
    )
    half_header = tmp_path / "half.vcf"
    half_header.write_text("##fileformat=VCFv4.2\n##contig=<ID=1>\n")
    raw = (DATA / "1kg-629samples.vcf.gz").read_bytes()
    truncated = tmp_path / "cut.vcf.gz"
    truncated.write_bytes(raw[: len(raw) // 2])
    plain = tmp_path / "plain.vcf.gz"
    plain.write_bytes(gzip.compress((DATA / "split-vep.vcf").read_bytes()))
    plain_cut = tmp_path / "plain-cut.vcf.gz"
    plain_cut.write_bytes(plain.read_bytes()[:-2000])
    for bad in (empty, text, headerless, half_header, truncated, plain_cut):
        with pytest.raises(VcfFormatError) as info:
            ingest_vcf([bad], tmp_path / "s")
        assert "\n" not in info.value.message and str(bad) in info.value.message
    assert not (tmp_path / "s" / "genomics" / "manifest.json").exists() or not VariantStore(tmp_path / "s").has(
        "sources"
    )
    with pytest.raises(InputPathError):
        ingest_vcf([tmp_path / "missing.vcf"], tmp_path / "s")
    # plain (non-BGZF) gzip is fine
    f = _ingest(plain, tmp_path / "s2")
    assert f.records == 802 and f.format == "vcf.gz"


# --------------------------------------------------------------------------- duplicates, replace, resume


def _snapshot(store: Path) -> dict[str, list[dict[str, Any]]]:
    vs = VariantStore(store)
    out = {}
    for name, key in (("variants", "vid"), ("calls", "vid")):
        rows = vs.read(name).to_pylist()
        for r in rows:
            r.pop("batch")
        out[name] = sorted(rows, key=lambda r: (r[key], r.get("sample", 0)))
    return out


def test_duplicate_is_refused_and_replace_does_not_double_count(tmp_path: Path) -> None:
    path = DATA / "test-haploidX.vcf"
    first = _ingest(path, tmp_path)
    before = _snapshot(tmp_path)
    with pytest.raises(DuplicateSourceError):
        _ingest(path, tmp_path)
    again = _ingest(path, tmp_path, replace=True)
    assert (again.records, again.alleles, again.calls) == (first.records, first.alleles, first.calls)
    assert _snapshot(tmp_path) == before
    vs = VariantStore(tmp_path)
    assert vs.read("sources").num_rows == 1
    assert vs.read("samples").num_rows == 3


class _Crash(Exception):
    pass


def test_resume_after_a_crash_gives_exactly_one_copy(tmp_path: Path) -> None:
    path = DATA / "CEUTrio.20.21.gatk3.4.g.bcf"
    clean = tmp_path / "clean"
    crashed = tmp_path / "crashed"
    _ingest(path, clean, batch_size=4000, build_indexes=False)

    def crash_after(batch: int) -> None:
        if batch == 1:
            raise _Crash

    with pytest.raises(_Crash):
        ingest_vcf([path], crashed, batch_size=4000, after_commit=crash_after, build_indexes=False)
    manifest = read_manifest(crashed)
    (progress,) = manifest.progress.values()
    assert progress["batch"] == 1 and progress["records"] == 8000
    assert VariantStore(crashed).read("sources").num_rows == 0  # not finished: not a source yet
    resumed = _ingest(path, crashed, batch_size=4000, resume=True, build_indexes=False)
    assert resumed.resumed_from == 8000 and resumed.records == 19910
    assert _snapshot(crashed) == _snapshot(clean)
    assert read_manifest(crashed).progress == {}


def test_uncommitted_appends_are_rolled_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash between the table appends and the manifest leaves nothing visible; resume repairs it."""
    path = DATA / "test-haploidX.vcf"
    clean = tmp_path / "clean"
    _ingest(path, clean, batch_size=200, build_indexes=False)
    store = tmp_path / "crashed"
    real_commit = VariantWriter.commit
    calls = {"n": 0}

    def flaky_commit(self: VariantWriter, progress: Any = None) -> None:
        calls["n"] += 1
        if calls["n"] == 3:  # the appends of batch 2 are on disk, the manifest is not
            raise _Crash
        real_commit(self, progress)

    monkeypatch.setattr(VariantWriter, "commit", flaky_commit)
    with pytest.raises(_Crash):
        _ingest(path, store, batch_size=200, build_indexes=False)
    monkeypatch.setattr(VariantWriter, "commit", real_commit)
    committed = VariantStore(store).read("variants")
    assert committed.num_rows == 400  # two batches visible, the third is not
    resumed = _ingest(path, store, batch_size=200, resume=True, build_indexes=False)
    assert resumed.resumed_from == 400
    assert _snapshot(store) == _snapshot(clean)


def test_a_killed_process_resumes_to_one_copy(tmp_path: Path) -> None:
    """SIGKILL of a real ingest process after two committed batches, then --resume."""
    path = DATA / "test-haploidX.vcf"
    store = tmp_path / "s"
    script = textwrap.dedent(
        f"""
        import os, signal
        from exocortex.genomics.ingest import ingest_vcf
        def kill(batch):
            if batch == 1:
                os.kill(os.getpid(), signal.SIGKILL)
        ingest_vcf([{str(path)!r}], {str(store)!r}, batch_size=150, after_commit=kill, build_indexes=False)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert proc.returncode == -9
    resumed = _ingest(path, store, batch_size=150, resume=True, build_indexes=False)
    assert resumed.resumed_from == 300
    clean = tmp_path / "clean"
    _ingest(path, clean, batch_size=150, build_indexes=False)
    assert _snapshot(store) == _snapshot(clean)


def test_without_resume_an_interrupted_ingest_starts_over(tmp_path: Path) -> None:
    path = DATA / "test-haploidX.vcf"

    def crash(batch: int) -> None:
        raise _Crash

    with pytest.raises(_Crash):
        ingest_vcf([path], tmp_path, batch_size=300, after_commit=crash, build_indexes=False)
    f = _ingest(path, tmp_path, batch_size=300)
    assert f.resumed_from == 0 and f.records == 777
    assert VariantStore(tmp_path).read("variants").num_rows == 777


def test_a_second_writer_is_refused(tmp_path: Path) -> None:
    with VariantWriter(tmp_path), pytest.raises(StoreLockedError):
        ingest_vcf([DATA / "test.snpeff.vcf"], tmp_path)


def test_tables_have_the_schemas_and_indexes(store_all: dict[str, Any]) -> None:
    vs = VariantStore(store_all["store"])
    for name, schema in (("variants", VARIANTS), ("calls", CALLS), ("samples", SAMPLES), ("sources", SOURCES)):
        assert vs.read(name).schema.equals(schema), name
    assert store_all["summary"].indexed
    indexed = {i.columns[0] for i in vs.table("variants").list_indices()}
    assert {"vid", "chrom_norm", "pos", "gene"} <= indexed
    sources = vs.read("sources").to_pylist()
    assert len(sources) == 12
    snp = next(s for s in sources if s["path"].endswith("test.snpeff.vcf"))
    text = (DATA / "test.snpeff.vcf").read_text()
    assert snp["header"] == "".join(ln for ln in text.splitlines(keepends=True) if ln.startswith("#"))
    bcf = next(s for s in sources if s["path"].endswith(".bcf"))
    assert bcf["header"].startswith("##fileformat=VCF") and "#CHROM" in bcf["header"]
    assert snp["sha256"] == __import__("hashlib").sha256((DATA / "test.snpeff.vcf").read_bytes()).hexdigest()


# --------------------------------------------------------------------------- memory


def _offset_copies(src: Path, dst: Path, copies: int) -> None:
    lines = src.read_text().splitlines(keepends=True)
    header = [ln for ln in lines if ln.startswith("#")]
    body = [ln for ln in lines if not ln.startswith("#")]
    with dst.open("w") as fh:
        fh.writelines(header)
        for c in range(copies):
            for ln in body:
                chrom, pos, rest = ln.split("\t", 2)
                fh.write(f"{chrom}\t{int(pos) + c * 200_000_000}\t{rest}")


_RSS_SCRIPT = """
import resource, sys
from exocortex.genomics.ingest import ingest_vcf
ingest_vcf([sys.argv[1]], sys.argv[2], batch_size=1000, build_indexes=False)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_memory_does_not_grow_with_input_size(tmp_path: Path) -> None:
    """Peak RSS (C allocations included) of ingesting 2x vs 8x the same records, re-offset, stays flat."""
    src = DATA / "test-haploidX.vcf"
    peaks = []
    for copies in (2, 8):
        path = tmp_path / f"x{copies}.vcf"
        _offset_copies(src, path, copies)
        proc = subprocess.run(
            [sys.executable, "-c", _RSS_SCRIPT, str(path), str(tmp_path / f"s{copies}")],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
        peaks.append(int(proc.stdout.split()[-1]))
        assert VariantStore(tmp_path / f"s{copies}").read("variants", columns=["vid"]).num_rows == 777 * copies
    assert peaks[1] < peaks[0] * 1.10, peaks


# --------------------------------------------------------------------------- CLI


def test_cli_ingest_json_and_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import exocortex.cli.vcf_ingest  # noqa: F401  (registers `vcf ingest`)
    from exocortex.cli import main

    store = str(tmp_path / "s")
    assert main(["vcf", "ingest", str(DATA / "test.snpeff.vcf"), "--store", store, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["records"] == 10 and data["files"][0]["samples"] == 4
    assert main(["vcf", "ingest", str(DATA / "test.snpeff.vcf"), "--store", store]) == 14
    assert main(["vcf", "ingest", str(DATA / "test.snpeff.vcf"), "--store", store, "--replace"]) == 0
    assert "ingested into" in capsys.readouterr().out
    empty = tmp_path / "e.vcf"
    empty.write_text("")
    assert main(["vcf", "ingest", str(empty), "--store", store]) == 13
    assert main(["vcf", "ingest", str(tmp_path / "nope.vcf"), "--store", store]) == 3


def test_default_store_is_env_then_dot_exocortex(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EXOCORTEX_STORE", raising=False)
    summary = ingest_vcf(DATA / "test.snpeff.vcf", build_indexes=False)
    assert (
        Path(summary.store) == Path(".exocortex") and (tmp_path / ".exocortex" / "genomics" / "manifest.json").exists()
    )
    monkeypatch.setenv("EXOCORTEX_STORE", str(tmp_path / "env-store"))
    ingest_vcf(DATA / "test.snpeff.vcf", build_indexes=False)
    assert VariantStore(tmp_path / "env-store").read("sources").num_rows == 1


def _pos_index(store: Path) -> str:
    (kind,) = [i.index_type for i in VariantStore(store).table("variants").list_indices() if i.columns == ["pos"]]
    return kind


def test_pos_gets_a_zone_map_only_while_every_file_is_sorted(tmp_path: Path) -> None:
    sorted_file = DATA / "test-haploidX.vcf"
    lines = sorted_file.read_text().splitlines(keepends=True)
    header = [ln for ln in lines if ln.startswith("#")]
    body = [ln for ln in lines if not ln.startswith("#")]
    unsorted = tmp_path / "unsorted.vcf"
    unsorted.write_text("".join(header + body[::-1]))

    store = tmp_path / "s"
    first = ingest_vcf([sorted_file], store).files[0]
    assert first.sorted and "zone" in _pos_index(store).lower()
    second = ingest_vcf([unsorted], store, merge=False).files[0]  # a second copy of every row
    assert not second.sorted and _pos_index(store).lower() == "btree"
    region = VariantStore(store).read("variants", ["pos"], "chrom_norm = 'X' AND pos >= 2700000 AND pos <= 2800000")
    assert region.num_rows > 0 and region.num_rows % 2 == 0  # both copies found through the index

    other = tmp_path / "other"  # a sorted file after an unsorted one: the B-tree stays
    ingest_vcf([unsorted], other)
    ingest_vcf([DATA / "chr_m_indels.vcf.gz"], other)
    assert _pos_index(other).lower() == "btree"
