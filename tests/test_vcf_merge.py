"""Files of the same samples merged: one sample per name, one variant row per key, each call once.

A real cohort (``chr22.vcf.gz``: 100 samples, multi-allelic sites, no-calls) is split with
``bcftools view`` by samples and by (overlapping) regions; both halves are ingested into one store
and compared with ``bcftools merge`` of the halves and with a store of the original file: the keys,
every (sample, key, GT) call, every missing cell, and ``n_carriers``.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from exocortex import Variants
from exocortex.genomics.ingest import ingest_vcf
from exocortex.genomics.normalize import trim_alleles
from exocortex.genomics.schema import normalize_chrom
from exocortex.genomics.store import VariantStore

bcftools = pytest.importorskip("pysam.bcftools")
pysam = pytest.importorskip("pysam")

DATA = Path(__file__).parent / "fixtures" / "vcf"
COHORT = DATA / "chr22.vcf.gz"


def _names(path: Path) -> list[str]:
    header = bcftools.view("-h", str(path)).splitlines()
    return next(line for line in header if line.startswith("#CHROM")).split("\t")[9:]


def _view(src: Path, dst: Path, *args: str) -> Path:
    bcftools.view(*args, "-Oz", "-o", str(dst), str(src), catch_stdout=False)
    pysam.tabix_index(str(dst), preset="vcf", force=True)
    return dst


def _file_calls(path: Path) -> tuple[Counter[tuple[str, str, str]], Counter[tuple[str, str, str]]]:
    """(sample, key, GT) of every carrier and of every no-call, per allele, from bcftools query."""
    calls: Counter[tuple[str, str, str]] = Counter()
    missing: Counter[tuple[str, str, str]] = Counter()
    out = bcftools.query("-f", "%CHROM\t%POS\t%REF\t%ALT[\t%SAMPLE=%GT]\n", str(path))
    for line in out.splitlines():
        chrom, pos, ref, alts, *cells = line.split("\t")
        for cell in cells:
            sample, gt = cell.rsplit("=", 1)
            alleles = gt.replace("|", "/").split("/")
            for i, alt in enumerate(alts.split(","), start=1):
                at, r, a = trim_alleles(int(pos), ref, alt)  # the store keeps split alleles trimmed
                key = f"{normalize_chrom(chrom)}:{at}:{r}:{a}"
                if str(i) in alleles:
                    calls[(sample, key, gt)] += 1
                elif all(a == "." for a in alleles):
                    missing[(sample, key, gt)] += 1
    return calls, missing


def _store_calls(store: Path) -> dict[str, Any]:
    vs = VariantStore(store)
    variants = vs.read("variants", ["vid", "key", "n_carriers"])
    keys = dict(zip(variants["vid"].to_pylist(), variants["key"].to_pylist(), strict=True))
    names = dict(zip(*vs.read("samples", ["sample", "name"]).to_pydict().values(), strict=True))
    calls = Counter((names[c["sample"]], keys[c["vid"]], c["gt"]) for c in vs.read("calls").to_pylist())
    missing = Counter(
        (names[m["sample"]], keys[m["vid"]], m["gt"]) for m in vs.read("missing_calls").to_pylist() if m["sample"] >= 0
    )
    return {
        "keys": Counter(variants["key"].to_pylist()),
        "carriers": dict(zip(variants["key"].to_pylist(), variants["n_carriers"].to_pylist(), strict=True)),
        "calls": calls,
        "missing": missing,
        "samples": vs.read("samples", ["sample", "name"]),
    }


@pytest.fixture(scope="module")
def original(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    store = tmp_path_factory.mktemp("original")
    ingest_vcf([COHORT], store)
    return _store_calls(store)


def _assert_same_cohort(got: dict[str, Any], want: dict[str, Any]) -> None:
    assert got["keys"] == want["keys"]
    assert set(got["keys"].values()) == {1}  # one row per key
    assert got["calls"] == want["calls"]
    assert got["missing"] == want["missing"]
    assert got["carriers"] == want["carriers"]
    samples = got["samples"]
    assert len(set(samples["name"].to_pylist())) == len(set(samples["sample"].to_pylist()))  # one id per name


def test_split_by_samples_equals_bcftools_merge_and_the_original(tmp_path: Path, original: dict[str, Any]) -> None:
    names = _names(COHORT)
    first = _view(COHORT, tmp_path / "a.vcf.gz", "-s", ",".join(names[:40]))
    second = _view(COHORT, tmp_path / "b.vcf.gz", "-s", ",".join(names[40:]))
    summary = ingest_vcf([first, second], tmp_path / "store")
    assert summary.files[1].merged == summary.files[1].alleles  # every site of the second half merged
    assert summary.files[1].conflicts == 0
    got = _store_calls(tmp_path / "store")
    _assert_same_cohort(got, original)
    merged = tmp_path / "merged.vcf"
    bcftools.merge("-o", str(merged), str(first), str(second), catch_stdout=False)
    calls, missing = _file_calls(merged)
    assert got["calls"] == calls
    assert got["missing"] == missing
    assert len(got["samples"]) == 100


def test_split_by_overlapping_regions_equals_the_original(tmp_path: Path, original: dict[str, Any]) -> None:
    positions = [int(p) for p in bcftools.query("-f", "%POS\n", str(COHORT)).split()]
    cut_a, cut_b = positions[39], positions[69]  # records 1-70 and 40-100: 31 records in both files
    first = _view(COHORT, tmp_path / "a.vcf.gz", "-t", f"chr22:1-{cut_b}")
    second = _view(COHORT, tmp_path / "b.vcf.gz", "-t", f"chr22:{cut_a}-99999999")
    summary = ingest_vcf([first, second], tmp_path / "store")
    overlap = sum(1 for p in positions if cut_a <= p <= cut_b)
    assert summary.files[1].merged >= overlap > 0
    assert summary.files[1].conflicts == 0  # the same calls twice: dropped, not a disagreement
    got = _store_calls(tmp_path / "store")
    _assert_same_cohort(got, original)
    assert len(got["samples"]) == 200 and len(set(got["samples"]["name"].to_pylist())) == 100  # a row per file


def test_queries_and_stats_see_one_sample(tmp_path: Path, original: dict[str, Any]) -> None:
    positions = [int(p) for p in bcftools.query("-f", "%POS\n", str(COHORT)).split()]
    first = _view(COHORT, tmp_path / "a.vcf.gz", "-t", f"chr22:1-{positions[49]}")
    second = _view(COHORT, tmp_path / "b.vcf.gz", "-t", f"chr22:{positions[50]}-99999999")
    variants = Variants.open(tmp_path / "store")
    variants.ingest([first, second])
    name = _names(COHORT)[3]
    carried = {key for sample, key, _ in original["calls"] if sample == name}
    result = variants.query(sample=name, limit=1000)
    assert set(result.rows["key"].to_pylist()) == carried and result.matched == len(carried)
    stats = variants.stats()
    assert [r["sample"] for r in stats.samples] == _names(COHORT)
    row = next(r for r in stats.samples if r["sample"] == name)
    assert row["carried"] == len(carried)
    gts = bcftools.query("-s", name, "-f", "[%GT]\n", str(COHORT)).split()
    no_calls = sum(1 for gt in gts if all(a == "." for a in gt.replace("|", "/").split("/")))
    assert no_calls and row["no_calls"] == no_calls  # both files' records, one sample
    assert row["missing_rate"] == pytest.approx(no_calls / len(gts), abs=1e-6)


def test_conflicting_calls_first_file_wins_and_are_counted(tmp_path: Path) -> None:
    header = (
        "##fileformat=VCFv4.2\n##contig=<ID=1,length=10000>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tKID\tDAD\n"
    )
    a = tmp_path / "a.vcf"
    a.write_text(header + "1\t100\t.\tA\tG\t50\tPASS\t.\tGT\t0/1\t0/0\n1\t200\t.\tA\tG\t50\tPASS\t.\tGT\t0/1\t0/1\n")
    b = tmp_path / "b.vcf"
    b.write_text(header + "1\t100\t.\tA\tG\t50\tPASS\t.\tGT\t1/1\t0/0\n1\t200\t.\tA\tG\t50\tPASS\t.\tGT\t0/1\t./.\n"
                 "1\t300\t.\tA\tG\t50\tPASS\t.\tGT\t0/1\t0/0\n")  # fmt: skip
    variants = Variants.open(tmp_path / "store")
    summary = variants.ingest([a, b])
    assert (summary.files[1].merged, summary.files[1].conflicts) == (2, 2)  # KID 1/1 at 100, DAD ./. at 200
    assert variants.genotype("1:100:A:G", "KID").gt == "0/1"  # the first file's
    assert variants.genotype("1:200:A:G", "DAD").gt == "0/1"
    assert variants.genotype("1:300:A:G", "KID").status == "carrier"
    assert variants.genotype("1:300:A:G", "DAD").status == "hom_ref"
    got = _store_calls(tmp_path / "store")
    assert got["keys"] == Counter({"1:100:A:G": 1, "1:200:A:G": 1, "1:300:A:G": 1})
    assert got["carriers"] == {"1:100:A:G": 1, "1:200:A:G": 2, "1:300:A:G": 1}
    assert sorted(got["samples"]["name"].to_pylist()) == ["DAD", "DAD", "KID", "KID"]
    assert len(set(got["samples"]["sample"].to_pylist())) == 2


def test_a_sample_is_absent_where_its_files_have_no_record(tmp_path: Path) -> None:
    header = (
        "##fileformat=VCFv4.2\n##contig=<ID=1,length=10000>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t"
    )
    a = tmp_path / "a.vcf"
    a.write_text(header + "KID\n1\t100\t.\tA\tG\t50\tPASS\t.\tGT\t0/1\n1\t200\t.\tA\tG\t50\tPASS\t.\tGT\t0/0\n")
    b = tmp_path / "b.vcf"
    b.write_text(header + "MOM\n1\t200\t.\tA\tG\t50\tPASS\t.\tGT\t0/0\n")
    variants = Variants.open(tmp_path / "store")
    variants.ingest([a, b])
    assert variants.genotype("1:100:A:G", "MOM").status == "absent"  # not in MOM's file: unknown, not hom-ref
    assert variants.genotype("1:200:A:G", "MOM").status == "hom_ref"  # merged: MOM's file holds the site


def test_no_merge_keeps_files_apart(tmp_path: Path) -> None:
    names = _names(COHORT)
    first = _view(COHORT, tmp_path / "a.vcf.gz", "-s", ",".join(names[:40]))
    second = _view(COHORT, tmp_path / "b.vcf.gz", "-s", ",".join(names[40:]))
    summary = Variants.open(tmp_path / "store").ingest([first, second], merge=False)
    assert summary.files[1].merged == 0
    keys = _store_calls(tmp_path / "store")["keys"]
    assert set(keys.values()) == {2}


def _split_by_region(tmp_path: Path) -> tuple[Path, Path]:
    positions = [int(p) for p in bcftools.query("-f", "%POS\n", str(COHORT)).split()]
    first = _view(COHORT, tmp_path / "a.vcf.gz", "-t", f"chr22:1-{positions[69]}")
    second = _view(COHORT, tmp_path / "b.vcf.gz", "-t", f"chr22:{positions[39]}-99999999")
    return first, second


def test_replacing_a_merged_file_gives_the_same_store(tmp_path: Path, original: dict[str, Any]) -> None:
    first, second = _split_by_region(tmp_path)
    ingest_vcf([first, second], tmp_path / "store")
    ingest_vcf([second], tmp_path / "store", replace=True)
    _assert_same_cohort(_store_calls(tmp_path / "store"), original)


def test_an_interrupted_merged_ingest_resumes_to_the_same_store(tmp_path: Path, original: dict[str, Any]) -> None:
    first, second = _split_by_region(tmp_path)
    ingest_vcf([first], tmp_path / "store")

    def crash(batch: int) -> None:
        if batch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        ingest_vcf([second], tmp_path / "store", batch_size=10, after_commit=crash)
    summary = ingest_vcf([second], tmp_path / "store", batch_size=10, resume=True)
    assert summary.files[0].resumed_from == 20 and summary.files[0].merged > 0
    _assert_same_cohort(_store_calls(tmp_path / "store"), original)
