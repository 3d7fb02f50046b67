"""Hom-ref vs no-call per sample and site (``missing_calls``, ``Variants.genotype``) and two genotype bugs.

The expected genotypes are read from the VCF text itself (or from ``bcftools query`` on the real
fixtures), independently of cyvcf2 and of the store: every reading path (the columnar text path,
htslib record by record, BCF) must give the same answer.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from exocortex import Variants
from exocortex.genomics.ingest import ingest_vcf
from exocortex.genomics.normalize import trim_alleles
from exocortex.genomics.stats import variant_stats
from exocortex.genomics.store import VariantStore

bcftools = pytest.importorskip("pysam.bcftools")

DATA = Path(__file__).parent / "fixtures" / "vcf"

HEADER = (
    "##fileformat=VCFv4.2\n"
    "##contig=<ID=1,length=100000>\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    '##FORMAT=<ID=PL,Number=G,Type=Integer,Description="Phred-scaled genotype likelihoods">\n'
)

# A multi-sample file with every kind of genotype: haploid calls of the second ALT, half calls,
# no-calls haploid and diploid, and a record with PL but no GT.
MIXED = [
    "1\t100\t.\tA\tC,G\t50\tPASS\t.\tGT\t2\t1\t0\t.\t0/.\t./2",
    "1\t200\t.\tA\tC,G\t50\tPASS\t.\tGT\t2\t./.\t1/2\t0|2\t.|1\t2/2",
    "1\t300\t.\tA\tC\t50\tPASS\t.\tGT\t1\t./.\t0\t0/.\t./1\t.",
    "1\t400\t.\tA\tT\t50\tPASS\t.\tPL\t0,3,30\t0,3,30\t30,3,0\t0,3,30\t0,3,30\t0,3,30",
    "1\t500\t.\tG\tA\t50\tPASS\t.\tGT\t0/0\t0/1\t./.\t0/.\t1/1\t.|.",
    "1\t600\t.\tG\tA\t50\tPASS\t.\tGT\t0|0\t0|1\t./.\t.|0\t1|1\t0|0",
]
SAMPLES = ["A", "B", "C", "D", "E", "F"]


def _write(path: Path, samples: list[str], lines: list[str]) -> Path:
    columns = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples)
    path.write_text(HEADER + columns + "\n" + "\n".join(lines) + "\n")
    return path


def _expected(lines: list[str], samples: list[str]) -> dict[tuple[str, str], tuple[str, str | None]]:
    """(key, sample) -> (status, GT) from the text: the test's own reading of each genotype."""
    out: dict[tuple[str, str], tuple[str, str | None]] = {}
    for line in lines:
        cols = line.split("\t")
        keys = cols[8].split(":")
        for i, alt in enumerate(cols[4].split(","), start=1):
            key = f"{cols[0]}:{cols[1]}:{cols[3]}:{alt}"
            for name, cell in zip(samples, cols[9:], strict=True):
                if "GT" not in keys:
                    out[(key, name)] = ("no_gt", None)
                    continue
                gt = cell.split(":")[keys.index("GT")]
                alleles = gt.replace("|", "/").split("/")
                if str(i) in alleles:
                    out[(key, name)] = ("carrier", gt)
                elif all(a == "." for a in alleles):
                    out[(key, name)] = ("no_call", gt)
                elif "." in alleles and not any(a not in (".", "0") for a in alleles):
                    out[(key, name)] = ("partial", gt)
                elif any(a not in (".", "0") for a in alleles):
                    out[(key, name)] = ("other_alt", gt)  # another ALT of the record: not hom-ref
                else:
                    out[(key, name)] = ("hom_ref", None)
    return out


def _answers(store: Path, expected: dict[tuple[str, str], Any]) -> dict[tuple[str, str], tuple[str, str | None]]:
    variants = Variants.open(store)
    got = {}
    for key, name in expected:
        answer = variants.genotype(key, name)
        got[(key, name)] = (answer.status, answer.gt)
    return got


def _bcf(src: Path, dst: Path) -> Path:
    bcftools.view("-Ob", "-o", str(dst), str(src), catch_stdout=False)
    return dst


@pytest.mark.parametrize("path_kind", ["text-fast", "text-htslib", "bcf"])
def test_genotype_tells_carrier_hom_ref_no_call_partial_and_no_gt(tmp_path: Path, path_kind: str) -> None:
    """Every (allele, sample) of a mixed multi-sample file, on every reading path."""
    src = _write(tmp_path / "mixed.vcf", SAMPLES, MIXED)
    if path_kind == "bcf":
        src = _bcf(src, tmp_path / "mixed.bcf")
    ingest_vcf([src], tmp_path / "store", fast_text=path_kind != "text-htslib")
    expected = _expected(MIXED, SAMPLES)
    got = _answers(tmp_path / "store", expected)
    assert got == expected
    statuses = Counter(status for status, _ in expected.values())
    assert set(statuses) == {"carrier", "other_alt", "hom_ref", "no_call", "partial", "no_gt"}  # none is vacuous


def test_fast_text_path_and_htslib_write_the_same_missing_calls(tmp_path: Path) -> None:
    """A file the columnar path reads whole (single-ALT, GT-only, one character per allele)."""
    lines = [
        f"1\t{100 + 10 * r}\t.\tA\tG\t50\tPASS\t.\tGT\t" + "\t".join(cells)
        for r, cells in enumerate(
            [
                ["0|0", "./.", "0/.", ".|0", "1|1", ".|."],
                ["0/1", "0/0", "./1", "./.", "0|0", "0|0"],
                ["./.", "./.", "./.", "./.", "./.", "./."],
                ["0|0", "0|0", "0|0", "0|0", "0|0", "0|0"],
            ]
        )
    ]
    src = _write(tmp_path / "fast.vcf", SAMPLES, lines)
    fast = ingest_vcf([src], tmp_path / "fast")
    assert fast.files[0].columnar == len(lines)  # the columnar path took every line
    ingest_vcf([src], tmp_path / "slow", fast_text=False)
    tables = [VariantStore(tmp_path / s).read("missing_calls", ["vid", "sample", "gt"]) for s in ("fast", "slow")]
    assert tables[0].to_pylist() == tables[1].to_pylist()
    assert tables[0].num_rows == 11
    assert _answers(tmp_path / "fast", _expected(lines, SAMPLES)) == _expected(lines, SAMPLES)


@pytest.mark.parametrize(
    "name", ["1kg-629samples.vcf.gz", "sample_all_missing_gts.vcf.gz", "test-haploidX.vcf", "chr22.vcf.gz"]
)
def test_missing_calls_equal_bcftools_query(tmp_path: Path, name: str) -> None:
    """One row per allele row and sample whose GT calls nothing, as ``bcftools query`` prints the GTs."""
    expected: Counter[tuple[str, str, str]] = Counter()
    out = bcftools.query("-f", "%CHROM:%POS:%REF:%ALT[\t%SAMPLE=%GT]\n", str(DATA / name))
    no_gt_keys = set()  # records without GT: bcftools prints "." for them, the store says unknown
    for line in bcftools.view("-H", str(DATA / name)).splitlines():
        cols = line.split("\t")
        if "GT" not in cols[8].split(":"):
            no_gt_keys.add((cols[0], cols[1]))
    for line in out.splitlines():
        site, *cells = line.split("\t")
        chrom, pos, ref, alts = site.split(":")
        if (chrom, pos) in no_gt_keys:
            continue
        for cell in cells:
            sample, gt = cell.rsplit("=", 1)
            if all(a == "." for a in gt.replace("|", "/").split("/")):
                for alt in alts.split(","):
                    at, r, a = trim_alleles(int(pos), ref, alt)  # the store keeps split alleles trimmed
                    expected[(f"{chrom.removeprefix('chr')}:{at}:{r}:{a}", sample, gt)] += 1
    ingest_vcf([DATA / name], tmp_path / "store")
    store = VariantStore(tmp_path / "store")
    missing = store.read("missing_calls")
    keys = dict(zip(*store.read("variants", ["vid", "key"]).to_pydict().values(), strict=True))
    names = dict(zip(*store.read("samples", ["sample", "name"]).to_pydict().values(), strict=True))
    got: Counter[tuple[str, str, str]] = Counter()
    for m in missing.to_pylist():
        if m["sample"] >= 0 and all(a == "." for a in m["gt"].replace("|", "/").split("/")):
            got[(keys[m["vid"]], names[m["sample"]], m["gt"])] += 1
    assert got == expected
    if name != "test-haploidX.vcf":
        assert expected  # files with no-calls: not vacuous


# --------------------------------------------------------------------------- bug: haploid "2"


@pytest.mark.parametrize("kind", ["one-sample-vcf", "one-sample-bcf", "cohort-vcf", "cohort-bcf"])
def test_haploid_call_of_the_second_alt_is_a_call_not_a_no_call(tmp_path: Path, kind: str) -> None:
    """cyvcf2's ``gt_types`` calls a haploid ``2`` UNKNOWN: it must still be a hemizygous call of ALT 2."""
    samples = ["M"] if kind.startswith("one") else ["M", "N"]
    cells = ["2"] if kind.startswith("one") else ["2", "1"]
    lines = [f"X\t{p}\t.\tA\tC,G\t50\tPASS\t.\tGT\t" + "\t".join(cells) for p in (100, 200, 300)]
    text = HEADER.replace("##contig=<ID=1,length=100000>", "##contig=<ID=X,length=100000>")
    src = tmp_path / "hap.vcf"
    src.write_text(text + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(samples) + "\n"
                   + "\n".join(lines) + "\n")  # fmt: skip
    if kind.endswith("bcf"):
        src = _bcf(src, tmp_path / "hap.bcf")
    ingest_vcf([src], tmp_path / "store")
    variants = Variants.open(tmp_path / "store")
    found = variants.query(sample="M")
    assert found.rows["key"].to_pylist() == [f"X:{p}:A:G" for p in (100, 200, 300)]
    assert {(c["gt"], c["zygosity"]) for vid in found.rows["vid"].to_pylist() for c in found.carriers[vid]
            if c["sample"] == "M"} == {("2", "hemi")}  # fmt: skip
    row = next(r for r in variants.stats().samples if r["sample"] == "M")
    assert (row["no_calls"], row["missing_rate"], row["hemi"]) == (0, 0.0, 3)


def test_genotype_of_a_haploid_second_alt(tmp_path: Path) -> None:
    src = _write(tmp_path / "hap.vcf", ["M"], ["1\t100\t.\tA\tC,G\t50\tPASS\t.\tGT\t2"])
    ingest_vcf([src], tmp_path / "store")
    variants = Variants.open(tmp_path / "store")
    answer = variants.genotype("1:100:A:G", "M")
    assert (answer.status, answer.gt, answer.zygosity) == ("carrier", "2", "hemi")
    assert variants.genotype("1:100:A:C", "M").status == "other_alt"


# --------------------------------------------------------------------------- bug: PL but no GT


def test_a_file_without_gt_reports_missingness_unknown_not_100_percent(tmp_path: Path) -> None:
    lines = [f"1\t{p}\t.\tA\tT\t50\tPASS\t.\tPL\t0,3,30\t30,3,0" for p in (100, 200, 300)]
    src = _write(tmp_path / "pl.vcf", ["P", "Q"], lines)
    ingest_vcf([src], tmp_path / "store")
    stats = variant_stats(tmp_path / "store")
    for row in stats.samples:
        assert row["no_calls"] == 0
        assert row["missing_rate"] is None
        assert row["no_gt"] is True
    assert stats.genotype_missingness == {"P": None, "Q": None}
    assert any("no GT" in note for note in stats.notes)


def test_records_without_gt_are_left_out_of_missingness(tmp_path: Path) -> None:
    """Two records with GT (one a no-call for P) and two without: P is 50% missing, not 75%."""
    lines = [
        "1\t100\t.\tA\tT\t50\tPASS\t.\tGT\t./.\t0/1",
        "1\t200\t.\tA\tT\t50\tPASS\t.\tGT\t0/0\t0/1",
        "1\t300\t.\tA\tT\t50\tPASS\t.\tPL\t0,3,30\t30,3,0",
        "1\t400\t.\tA\tT\t50\tPASS\t.\tPL\t0,3,30\t30,3,0",
    ]
    ingest_vcf([_write(tmp_path / "half.vcf", ["P", "Q"], lines)], tmp_path / "store")
    rows = {r["sample"]: r for r in variant_stats(tmp_path / "store").samples}
    assert (rows["P"]["no_calls"], rows["P"]["missing_rate"], rows["P"]["no_gt"]) == (1, 0.5, False)
    assert (rows["Q"]["no_calls"], rows["Q"]["missing_rate"]) == (0, 0.0)


def test_single_sample_no_calls_on_the_columnar_path(tmp_path: Path) -> None:
    """A gVCF-like single sample: ``./.``, ``.`` and ``.|.`` (with FORMAT fields after GT) read columnar."""
    header = HEADER.replace(
        '##FORMAT=<ID=PL', '##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">\n##FORMAT=<ID=PL'
    )
    cells = ["./.:0", ".:0", ".|.:2", "0/0:10", "0|0:9", "./.:0", "0/0:8"]
    lines = [f"1\t{100 + 10 * i}\t.\tA\tG\t.\t.\t.\tGT:DP\t{c}" for i, c in enumerate(cells)]
    src = tmp_path / "one.vcf"
    src.write_text(header + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS\n" + "\n".join(lines) + "\n")
    fast = ingest_vcf([src], tmp_path / "fast")
    assert fast.files[0].columnar == len(lines)
    ingest_vcf([src], tmp_path / "slow", fast_text=False)
    tables = [VariantStore(tmp_path / s).read("missing_calls", ["vid", "sample", "gt"]) for s in ("fast", "slow")]
    assert tables[0].to_pylist() == tables[1].to_pylist()
    assert tables[0]["gt"].to_pylist() == ["./.", ".", ".|.", "./."]
    variants = Variants.open(tmp_path / "fast")
    assert [variants.genotype(f"1:{100 + 10 * i}:A:G", "S").status for i in range(len(cells))] == [
        "no_call", "no_call", "no_call", "hom_ref", "hom_ref", "no_call", "hom_ref",
    ]  # fmt: skip
