"""The columnar text-VCF path gives exactly what htslib record by record gives, on real and made-up files."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from exocortex.genomics import textpath
from exocortex.genomics.ingest import ingest_vcf
from exocortex.genomics.store import VariantStore

DATA = Path(__file__).parent / "fixtures" / "vcf"  # origins and licences: fixtures/vcf/README.md

HEADER = """##fileformat=VCFv4.2
##contig=<ID=chr1,length=1000000>
##contig=<ID=2,length=1000000>
##FILTER=<ID=PASS,Description="All filters passed">
##FILTER=<ID=q10,Description="Quality below 10">
##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count">
##INFO=<ID=AN,Number=1,Type=Integer,Description="Allele number">
##INFO=<ID=AF,Number=A,Type=Float,Description="Allele frequency">
##INFO=<ID=DB,Number=0,Type=Flag,Description="dbSNP">
##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">
##INFO=<ID=END,Number=1,Type=Integer,Description="End">
##INFO=<ID=MQ,Number=1,Type=Float,Description="Mapping quality">
##INFO=<ID=LIST,Number=.,Type=Integer,Description="A list">
##INFO=<ID=FL,Number=2,Type=Float,Description="Float pair">
##INFO=<ID=NOTE,Number=1,Type=String,Description="Free text">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">
"""

# (INFO, GT of samples A B C) per line; the rest of each line varies with the line number.
LINES = [
    ("AC=1;AN=6;AF=0.1667", "0|1\t0|0\t0|0"),
    ("AC=2;AN=6", "1|1\t0|0\t./."),  # AF from AC/AN
    ("DB;DP=14;MQ=59.99", "0/1\t1/0\t0|0"),
    ("LIST=1,2,3;FL=0.3,1e-05", "0|.\t.|1\t0|0"),
    ("NOTE=plain_text", "0|0\t0|0\t0|0"),  # no carrier
    ('NOTE=with"quote', "0|1\t0|0\t0|0"),  # a string JSON must escape: htslib's way
    ("UNDECLARED=3", "0|1\t0|0\t0|0"),  # not in the header
    ("DP=5;DP=6", "0|1\t0|0\t0|0"),  # a key twice
    ("DP=007", "0|1\t0|0\t0|0"),  # non-canonical integer
    ("MQ=nan", "0|1\t0|0\t0|0"),
    (".", "2|0\t0|0\t0|0"),  # allele index past the ALTs
    ("END=20", "0|1\t0|0\t0|0"),
    ("DP=3", "0|1:7\t0|0:3\t0|0:1"),  # FORMAT beyond GT
    ("DP=3", "0/1/1\t0|0\t0|0"),  # triploid
    ("AC=1,1;AN=6", "1|2\t0|0\t0|0"),  # two ALTs
    ("AF=0.5", "1\t0|0\t0|0"),  # haploid
]


def _variant_line(i: int, info: str, gts: str) -> str:
    chrom = "chr1" if i % 3 else "2"
    ref, alt = [("A", "G"), ("AT", "A"), ("C", "CTT"), ("G", "<NON_REF>"), ("T", "."), ("GA", "TC"), ("A", "*")][i % 7]
    if info.startswith("AC=1,1"):
        alt = "G,T"
    qual = [".", "50", "1e3", "12.75"][i % 4]
    ident = [".", f"rs{1000 + i}", f"x{i};rs{i}"][i % 3]
    filt = [".", "PASS", "q10"][i % 3]
    fmt = "GT:DP" if ":" in gts else "GT"
    return f"{chrom}\t{100 + 10 * i}\t{ident}\t{ref}\t{alt}\t{qual}\t{filt}\t{info}\t{fmt}\t{gts}"


def _write(path: Path, lines: list[str], samples: tuple[str, ...] = ("A", "B", "C"), crlf: bool = False) -> Path:
    columns = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"
    head = HEADER + columns + ("\tFORMAT\t" + "\t".join(samples) if samples else "")
    eol = "\r\n" if crlf else "\n"
    text = head.replace("\n", eol) + eol + eol.join(lines) + eol
    if path.suffix == ".gz":
        with gzip.open(path, "wt", newline="") as fh:
            fh.write(text)
    else:
        path.write_text(text, newline="")
    return path


def _mixed(tmp_path: Path, repeat: int = 3, **kw: Any) -> Path:
    lines = [_variant_line(i, info, gts) for i, (info, gts) in enumerate(LINES * repeat)]
    lines.insert(5, "chr1\tnot_a_position\t.\tA\tG\t.\t.\t.\tGT\t0|1\t0|0\t0|0")  # unparseable
    return _write(tmp_path / "mixed.vcf.gz", lines, **kw)


def _tables(store: Path) -> dict[str, pa.Table]:
    s = VariantStore(store)
    return {
        "variants": s.read("variants").sort_by("vid"),
        "calls": s.read("calls").sort_by([("vid", "ascending"), ("sample", "ascending")]),
        "samples": s.read("samples").sort_by("sample"),
        "no_calls": s.read("no_calls").sort_by([("batch", "ascending"), ("sample", "ascending")]),
        "ref_blocks": s.read("ref_blocks").sort_by([("record", "ascending"), ("sample", "ascending")]),
        "missing_calls": s.read("missing_calls").sort_by([("vid", "ascending"), ("sample", "ascending")]),
    }


def _both(path: Path, tmp_path: Path, **kw: Any) -> tuple[Any, Any, dict[str, pa.Table], dict[str, pa.Table]]:
    fast = ingest_vcf([path], tmp_path / "fast", build_indexes=False, **kw).files[0]
    slow = ingest_vcf([path], tmp_path / "slow", build_indexes=False, fast_text=False, **kw).files[0]
    return fast, slow, _tables(tmp_path / "fast"), _tables(tmp_path / "slow")


def _assert_same(a: dict[str, pa.Table], b: dict[str, pa.Table]) -> None:
    for name in a:
        assert a[name].num_rows == b[name].num_rows, name
        for column in a[name].column_names:
            left, right = a[name][column].to_pylist(), b[name][column].to_pylist()
            diff = [(i, x, y) for i, (x, y) in enumerate(zip(left, right, strict=True)) if x != y]
            assert not diff, f"{name}.{column}: {diff[:3]}"


@pytest.fixture
def always_columnar(monkeypatch: pytest.MonkeyPatch) -> None:
    """Take the columnar path even when few lines of the first block qualify (the real files' mix)."""
    monkeypatch.setattr(textpath, "MIN_FAST_SHARE", 0.0)


@pytest.mark.parametrize("crlf", [False, True])
def test_mixed_lines_match_htslib(tmp_path: Path, always_columnar: None, crlf: bool) -> None:
    path = _mixed(tmp_path, crlf=crlf)
    fast, slow, a, b = _both(path, tmp_path)
    _assert_same(a, b)
    assert fast.records == slow.records == len(LINES) * 3 + 1
    assert fast.rejected == slow.rejected == 1
    assert slow.columnar == 0
    assert 0 < fast.columnar < fast.records  # both paths were used within the file
    assert a["calls"].num_rows > 0
    assert sum(a["no_calls"]["no_calls"].to_pylist()) > 0


def test_batches_cut_across_fast_and_slow_lines(tmp_path: Path, always_columnar: None) -> None:
    path = _mixed(tmp_path, repeat=6)
    _, _, a, b = _both(path, tmp_path, batch_size=7)
    _assert_same(a, b)
    assert len(set(a["variants"]["batch"].to_pylist())) > 10


def test_sites_only_and_plain_text(tmp_path: Path) -> None:
    lines = [_variant_line(i, info, "").rsplit("\t", 2)[0] for i, (info, _) in enumerate(LINES * 4)]
    path = _write(tmp_path / "sites.vcf", lines, samples=())
    fast, _, a, b = _both(path, tmp_path)
    _assert_same(a, b)
    assert fast.columnar > len(lines) // 2


def test_a_last_line_without_newline(tmp_path: Path) -> None:
    lines = [_variant_line(i, "DP=3", "0|1\t0|0\t1|1") for i in range(20)]
    path = tmp_path / "open.vcf"
    path.write_text(HEADER + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tA\tB\tC\n" + "\n".join(lines))
    fast, _, a, b = _both(path, tmp_path)
    _assert_same(a, b)
    # but the three <NON_REF> lines: reference blocks of 3 samples, a row per sample by the record converter
    assert fast.records == 20 and fast.columnar == 17 and fast.ref_blocks == 9


def test_resume_inside_the_columnar_path(tmp_path: Path, always_columnar: None) -> None:
    path = _mixed(tmp_path, repeat=6)

    class Crash(Exception):
        pass

    def crash(batch: int) -> None:
        if batch == 2:
            raise Crash

    with pytest.raises(Crash):
        ingest_vcf([path], tmp_path / "resumed", batch_size=9, after_commit=crash, build_indexes=False)
    resumed = ingest_vcf([path], tmp_path / "resumed", batch_size=9, resume=True, build_indexes=False).files[0]
    assert resumed.resumed_from == 27
    ingest_vcf([path], tmp_path / "clean", batch_size=9, build_indexes=False)
    _assert_same(_tables(tmp_path / "resumed"), _tables(tmp_path / "clean"))


def test_mostly_slow_files_are_read_record_by_record(tmp_path: Path) -> None:
    lines = [_variant_line(i, "DP=3", "0|1:7\t0|0:3\t0|0:1") for i in range(30)]  # FORMAT beyond GT everywhere
    path = _write(tmp_path / "slow.vcf", lines)
    fast, _, a, b = _both(path, tmp_path)
    _assert_same(a, b)
    assert fast.columnar == 0


REAL = [
    "1kg-629samples.vcf.gz",
    "chr22.vcf.gz",
    "chr_m_indels.vcf.gz",
    "cyvcf2-test.vcf.gz",
    "field_type_combos.vcf.gz",
    "multi_contig.vcf.gz",
    "sample_all_missing_gts.vcf.gz",
    "split-vep.vcf",
    "test-haploidX.vcf",
    "test.snpeff.vcf",
    *(f"edge-cases/{p.name}" for p in sorted((DATA / "edge-cases").glob("*.vcf.gz"))),
]


@pytest.mark.parametrize("name", REAL)
def test_real_files_match_htslib(tmp_path: Path, always_columnar: None, name: str) -> None:
    fast, slow, a, b = _both(DATA / name, tmp_path)
    _assert_same(a, b)
    assert (fast.records, fast.rejected) == (slow.records, slow.rejected)


def test_the_gvcf_goes_columnar(tmp_path: Path) -> None:
    """The first 40,000 records of the NA12878 gVCF: reference blocks columnar, variant sites through htslib."""
    fast, _, a, b = _both(DATA / "NA12878.prod.chr20snippet.g.40k.vcf.gz", tmp_path)
    _assert_same(a, b)
    assert fast.columnar > 0.95 * fast.records
    assert a["calls"].num_rows > 0


CUT_LINES = {
    "empty": "",
    "chrom only": "chr1",
    "two columns": "chr1\t500",
    "five columns": "chr1\t500\t.\tA\tG",
    "seven columns": "chr1\t500\t.\tA\tG\t.\t.",
}

_CUT_SCRIPT = """
import sys
from exocortex.genomics import textpath
from exocortex.genomics.ingest import ingest_vcf
textpath.MIN_FAST_SHARE = 0.0
f = ingest_vcf([sys.argv[1]], sys.argv[2], build_indexes=False, fast_text=sys.argv[3] == "1").files[0]
print(f.records, f.rejected, f.alleles)
"""


@pytest.mark.parametrize("kind", list(CUT_LINES))
@pytest.mark.parametrize("fast", [True, False])
def test_empty_and_cut_lines_are_rejected_not_fatal(tmp_path: Path, kind: str, fast: bool) -> None:
    """An empty line reached cyvcf2 as a record without alleles whose REF read segfaulted the process."""
    import subprocess
    import sys

    lines = [_variant_line(i, "DP=3", "0|1\t0|0\t1|1") for i in range(10)]
    lines.insert(4, CUT_LINES[kind])
    path = _write(tmp_path / "cut.vcf", lines)
    proc = subprocess.run(
        [sys.executable, "-c", _CUT_SCRIPT, str(path), str(tmp_path / "s"), "1" if fast else "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == ["11", "1", "9"]  # one of the 10 lines is a reference block (<NON_REF>)
