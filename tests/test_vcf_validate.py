"""``exocortex vcf validate``: real files, the edge-case files, and small hand-written VCFs."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pysam
import pysam.bcftools
import pytest

from exocortex.cli import main
from exocortex.genomics.validate import PROBLEM_CODES, ValidationReport, validate_vcf

DATA = Path(__file__).parent / "fixtures" / "vcf"  # origins and licences: fixtures/vcf/README.md
EDGE = DATA / "edge-cases"
GVCF = "NA12878.prod.chr20snippet.g.40k.vcf.gz"  # the first 40,000 records of the bio2zarr gVCF

HEADER = """\
##fileformat=VCFv4.2
##contig=<ID=chr1,length=1000000>
##contig=<ID=chr2,length=1000000>
##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">
##INFO=<ID=AF,Number=A,Type=Float,Description="Allele frequency">
##INFO=<ID=AD,Number=R,Type=Integer,Description="Allele depths">
##INFO=<ID=DB,Number=0,Type=Flag,Description="dbSNP">
##INFO=<ID=CH,Number=1,Type=Character,Description="A character">
##FILTER=<ID=q10,Description="Quality below 10">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=DP,Number=1,Type=Integer,Description="Depth">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2
"""
FIRST = 13  # the line number of the first record under HEADER
GOOD = "chr1\t100\t.\tA\tG\t50\tPASS\tDP=10;AF=0.5;AD=3,4;DB;CH=x\tGT:DP\t0/1:3\t1|1:.\n"


def _vcf(tmp_path: Path, records: list[str], header: str = HEADER, name: str = "t.vcf") -> Path:
    path = tmp_path / name
    path.write_text(header + "".join(r if r.endswith("\n") else r + "\n" for r in records))
    return path


def _rec(chrom: str = "chr1", pos: str = "100", ref: str = "A", alt: str = "G", qual: str = "50",
         filt: str = "PASS", info: str = "DP=10", fmt: str = "GT:DP",
         samples: tuple[str, ...] = ("0/1:3", "0/0:2")) -> str:
    return "\t".join([chrom, pos, ".", ref, alt, qual, filt, info, fmt, *samples])


def _where(report: ValidationReport) -> list[tuple[int, str]]:
    return [(p.line, p.code) for p in report.problems]


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["vcf", "validate", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


# --- real files ------------------------------------------------------------------------------

CLEAN_REAL = [
    GVCF, "chr22.vcf.gz", "chr_m_indels.vcf.gz", "field_type_combos.vcf.gz",
    "multi_contig.vcf.gz", "sample_all_missing_gts.vcf.gz", "split-vep.vcf", "test-haploidX.vcf",
    "test.snpeff.vcf", "CEUTrio.20.21.gatk3.4.g.bcf",
]
RECORDS = {"chr22.vcf.gz": 100, "split-vep.vcf": 802, "test-haploidX.vcf": 777,
           GVCF: 40_000}


@pytest.mark.parametrize("name", CLEAN_REAL)
def test_real_files_have_no_problems(name: str) -> None:
    report = validate_vcf(DATA / name)
    assert report.fatal is None
    assert report.counts == {}, report.problems[:5]
    if name in RECORDS:
        assert report.records == RECORDS[name]


def test_1kg_header_warns_about_gl_and_the_missing_contig() -> None:
    report = validate_vcf(DATA / "1kg-629samples.vcf.gz")
    assert report.records == 381
    assert _where(report) == [(8, "HEADER_NUMBER_G"), (20, "CONTIG_NOT_IN_HEADER")]
    assert "GL" in report.problems[0].message and "contig 2" in report.problems[1].message


def test_cyvcf2_file_has_multi_character_values_for_character_fields() -> None:
    report = validate_vcf(DATA / "cyvcf2-test.vcf.gz")
    assert report.codes() == {"INFO_TYPE"}
    assert all("is not Character" in p.message for p in report.problems)


def test_bcf_reports_record_numbers_and_header_problems() -> None:
    report = validate_vcf(DATA / "1kg_2020_chr20_annotations.bcf")
    assert report.format == "bcf" and report.position == "record"
    assert report.records == 21
    assert report.codes() == {"HEADER_BAD_ID"}  # 1000Gp3_AF, GERP++_RS, ...: htslib warns about these too
    assert any("GERP++_RS" in p.message for p in report.problems)


def test_bcf_unsorted_record_number(tmp_path: Path) -> None:
    src = _vcf(tmp_path, [_rec(pos="300"), _rec(pos="200"), _rec(chrom="chr2", pos="5"), _rec(pos="400")])
    bcf = tmp_path / "t.bcf"
    pysam.bcftools.view("-Ob", "-o", str(bcf), str(src), catch_stdout=False)
    report = validate_vcf(bcf)
    assert report.format == "bcf"
    assert report.records == 4
    assert _where(report) == [(2, "UNSORTED"), (4, "UNSORTED")]


# --- the edge-case files -----------------------------------------------------------------------

EDGE_EXPECTED: dict[str, list[tuple[int, str]]] = {
    "bad_info.vcf.gz": [],  # AF=. is a missing value, not a bad one
    "empty_alt.vcf.gz": [],  # ALT . (no alternate allele) is allowed
    "inconsistent_format.vcf.gz": [],  # GT:DP with DP missing is allowed
    "missing_header_field.vcf.gz": [(7, "INFO_UNDEFINED")],  # AF is used but never defined
    "nonstandard_chrom.vcf.gz": [],
    "symbolic_allele.vcf.gz": [],
    "multiallelic.vcf.gz": [],
    "minimal.vcf.gz": [(10, "HEADER_DUPLICATE_ID")],  # ##contig=<ID=chr22> twice
    "edgecase_minimal.vcf.gz": [],
    "edgecase_multiallelic.vcf.gz": [],
}


@pytest.mark.parametrize("name", sorted(EDGE_EXPECTED))
def test_edge_case_files(name: str) -> None:
    report = validate_vcf(EDGE / name)
    assert report.fatal is None and report.records == 1
    assert _where(report) == EDGE_EXPECTED[name]


def test_every_edge_case_file_is_covered() -> None:
    assert {p.name for p in EDGE.glob("*.vcf.gz")} == set(EDGE_EXPECTED)


# --- hand-written VCFs, one code at a time -----------------------------------------------------


def test_clean_file(tmp_path: Path) -> None:
    report = validate_vcf(_vcf(tmp_path, [GOOD, _rec(pos="100"), _rec(chrom="chr2", pos="1")]))
    assert report.ok and report.records == 3 and report.format == "vcf"


@pytest.mark.parametrize(
    ("record", "code"),
    [
        (_rec(info="DP=1;XX=3"), "INFO_UNDEFINED"),
        (_rec(fmt="GT:ZZ"), "FORMAT_UNDEFINED"),
        (_rec(filt="q10;lowQ"), "FILTER_UNDEFINED"),
        (_rec(ref="AXG"), "BAD_REF"),
        (_rec(ref="."), "BAD_REF"),
        (_rec(alt="G,AZ"), "BAD_ALT"),
        (_rec(alt="<DEL"), "BAD_ALT"),
        (_rec(alt="G,."), "BAD_ALT"),
        (_rec(samples=("0/1:3",)), "SAMPLE_COUNT"),
        (_rec(samples=("0/1:3", "0/0:1", "0/0:1")), "SAMPLE_COUNT"),
        (_rec(pos="12a"), "BAD_POS"),
        (_rec(qual="high"), "BAD_QUAL"),
        (_rec(info="DP=abc"), "INFO_TYPE"),
        (_rec(info="DP=1.5"), "INFO_TYPE"),
        (_rec(info="AF=x"), "INFO_TYPE"),
        (_rec(info="DB=1"), "INFO_TYPE"),
        (_rec(info="CH=xy"), "INFO_TYPE"),
        (_rec(info="DP"), "INFO_TYPE"),
        (_rec(info="AF=0.1,0.2"), "INFO_NUMBER"),
        (_rec(alt="G,T", info="AD=1,2"), "INFO_NUMBER"),
        (_rec(info="DP=1,2"), "INFO_NUMBER"),
        (_rec(samples=("0/1:3:7", "0/0:1")), "FORMAT_MISMATCH"),
        (_rec(samples=("0/x:3", "0/0:1")), "GT"),
        (_rec(samples=("0/2:3", "0/0:1")), "GT"),
        (_rec(fmt="DP:GT", samples=("3:0/1", "1:0/0")), "GT"),
        ("chr1\t100\t.\tA\tG", "TOO_FEW_COLUMNS"),
        ("##INFO=<ID=late,Number=1,Type=Integer,Description=\"x\">", "MISPLACED_HEADER"),
    ],
)
def test_each_record_code_with_its_line(tmp_path: Path, record: str, code: str) -> None:
    report = validate_vcf(_vcf(tmp_path, [GOOD, record, GOOD.replace("\t100\t", "\t900\t")]))
    assert _where(report) == [(FIRST + 1, code)], report.problems
    assert code in PROBLEM_CODES


@pytest.mark.parametrize(
    "alt",
    ["G", "GTTA", "acgtn", "*", "<DEL>", "<INS:ME:ALU>", "<*>", "<NON_REF>", "G]chr2:300]", "]chr2:300]G",
     "G[chr2:300[", "[chr2:300[G", "[<ctg1>:7[G", ".G", "G.", "G,<NON_REF>", "A,C,T"],
)
def test_allowed_alt_forms(tmp_path: Path, alt: str) -> None:
    report = validate_vcf(_vcf(tmp_path, [_rec(alt=alt, info=".", fmt="GT", samples=("0/0", "./."))]))
    assert report.ok, report.problems


def test_missing_values_are_not_type_errors(tmp_path: Path) -> None:
    records = [_rec(qual=".", filt=".", info="DP=.;AF=.;AD=.,.;CH=.", samples=("./.:.", ".|.:.")),
               _rec(alt=".", info="AF=.;AD=3", fmt="GT", samples=("0/0", "0")),
               _rec(info=".", fmt=".", samples=(".", "."))]
    assert validate_vcf(_vcf(tmp_path, records)).ok


def test_unsorted_positions_and_reappearing_contig(tmp_path: Path) -> None:
    records = [_rec(pos="500"), _rec(pos="400"), _rec(pos="400"), _rec(chrom="chr2", pos="1"), _rec(pos="600")]
    report = validate_vcf(_vcf(tmp_path, records))
    assert _where(report) == [(FIRST + 1, "UNSORTED"), (FIRST + 4, "UNSORTED")]
    assert "chr1:400 comes after chr1:500" in report.problems[0].message
    assert "reappears" in report.problems[1].message


def test_undefined_tags_are_reported_once_but_every_line_is_checked(tmp_path: Path) -> None:
    records = [_rec(info="XX=1"), _rec(pos="200", info="XX=2;DP=zz"), _rec(pos="300", info="DP=qq"),
               _rec(chrom="chr7", pos="1"), _rec(chrom="chr7", pos="2")]
    report = validate_vcf(_vcf(tmp_path, records))
    assert _where(report) == [(FIRST, "INFO_UNDEFINED"), (FIRST + 1, "INFO_TYPE"), (FIRST + 2, "INFO_TYPE"),
                              (FIRST + 3, "CONTIG_NOT_IN_HEADER")]


def test_several_problems_in_one_record_are_all_reported(tmp_path: Path) -> None:
    record = _rec(ref="AZ", alt="Q", qual="x", info="DP=1.5", samples=("0/5:1:2",))
    report = validate_vcf(_vcf(tmp_path, [record]))
    assert {p.line for p in report.problems} == {FIRST}
    assert report.codes() == {"SAMPLE_COUNT", "BAD_REF", "BAD_ALT", "BAD_QUAL", "INFO_TYPE", "FORMAT_MISMATCH", "GT"}


def test_header_problems(tmp_path: Path) -> None:
    header = "\n".join([
        "##fileformat=VCF4.2",
        "##INFO=<ID=A1,Number=1,Description=\"no type\">",
        "##INFO=<ID=A2,Number=X,Type=Integer,Description=\"bad number\">",
        "##INFO=<ID=A3,Number=1,Type=Long,Description=\"bad type\">",
        "##FORMAT=<ID=F1,Number=1,Type=Flag,Description=\"flag in FORMAT\">",
        "##INFO=<Number=1,Type=Integer,Description=\"no ID\">",
        "##FILTER=ID=q10",
        "##contig=<ID=chr1>",
        "##contig=<ID=chr1>",
        "##INFO=<ID=FL,Number=1,Type=Flag,Description=\"flag with a number\">",
        "##FORMAT=<ID=PL,Number=3,Type=Integer,Description=\"PL\">",
        "##INFO=<ID=9bad,Number=1,Type=Integer,Description=\"bad name\">",
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS1",
    ]) + "\n"
    report = validate_vcf(_vcf(tmp_path, [], header=header))
    assert _where(report) == [
        (1, "FILEFORMAT"), (2, "HEADER_MISSING_FIELD"), (3, "HEADER_BAD_NUMBER"), (4, "HEADER_BAD_TYPE"),
        (5, "HEADER_BAD_TYPE"), (6, "HEADER_MALFORMED"), (7, "HEADER_MALFORMED"), (9, "HEADER_DUPLICATE_ID"),
        (10, "HEADER_BAD_NUMBER"), (11, "HEADER_NUMBER_G"), (12, "HEADER_BAD_ID"), (13, "DUPLICATE_SAMPLE"),
    ]


def test_chrom_line_problems(tmp_path: Path) -> None:
    header = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tINFO\tFORMAT\tS1\n"
    assert _where(validate_vcf(_vcf(tmp_path, [], header=header))) == [(2, "CHROM_LINE")]
    header = "##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tS1\n"
    assert _where(validate_vcf(_vcf(tmp_path, [], header=header))) == [(2, "CHROM_LINE")]


def test_sites_only_file(tmp_path: Path) -> None:
    header = "##fileformat=VCFv4.2\n##contig=<ID=1>\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
    report = validate_vcf(_vcf(tmp_path, ["1\t5\t.\tA\tC\t.\t.\t.", "1\t6\t.\tA\tC\t.\t.\t.\tGT\t0/1"], header=header))
    assert _where(report) == [(5, "SAMPLE_COUNT")]


def test_problems_are_capped_but_all_counted(tmp_path: Path) -> None:
    records = [_rec(pos=str(i), ref="X") for i in range(1, 51)]
    report = validate_vcf(_vcf(tmp_path, records), max_problems=10)
    assert len(report.problems) == 10 and report.counts == {"BAD_REF": 50}
    assert report.truncated and report.to_dict()["total_problems"] == 50


def test_format_is_told_by_bytes_gzip_and_bgzip(tmp_path: Path) -> None:
    plain = _vcf(tmp_path, [GOOD, _rec(pos="50")])
    with gzip.open(tmp_path / "g.txt", "wb") as fh:
        fh.write(plain.read_bytes())
    bgz = tmp_path / "b.vcf.gz"
    pysam.tabix_compress(str(plain), str(bgz))
    renamed = tmp_path / "bgz.dat"
    renamed.write_bytes(bgz.read_bytes())
    for path in (plain, tmp_path / "g.txt", bgz, renamed):
        report = validate_vcf(path)
        assert report.format == ("vcf" if path == plain else "vcf.gz")
        assert _where(report) == [(FIRST + 1, "UNSORTED")]


def test_crlf_line_endings(tmp_path: Path) -> None:
    path = tmp_path / "crlf.vcf"
    path.write_bytes((HEADER + GOOD).replace("\n", "\r\n").encode())
    assert validate_vcf(path).ok


# --- fatal: not a VCF at all -------------------------------------------------------------------


def test_truncated_gzip_is_fatal_not_a_traceback(tmp_path: Path) -> None:
    data = (DATA / GVCF).read_bytes()
    path = tmp_path / "trunc.vcf.gz"
    path.write_bytes(data[:200_000])
    report = validate_vcf(path)
    assert report.fatal is not None and "truncated" in report.fatal
    assert report.records > 1000


@pytest.mark.parametrize(
    ("content", "words"),
    [(b"", "empty"), (b"hello world\nnot a vcf\n", "not a VCF"), (b"\x00\x01\x02binary", "not a VCF"),
     (b"##fileformat=VCFv4.2\n##contig=<ID=1>\n", "no #CHROM"),
     (b"##fileformat=VCFv4.2\n1\t5\t.\tA\tC\t.\t.\t.\n", "no #CHROM"),
     (b"\x1f\x8bnot really gzip at all", "corrupt")],
)
def test_unreadable_files_are_fatal(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "x.vcf"
    path.write_bytes(content)
    report = validate_vcf(path)
    assert report.fatal is not None and words in report.fatal


# --- the CLI -----------------------------------------------------------------------------------


def test_cli_problems_exit_0_and_strict_exits_13(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _vcf(tmp_path, [_rec(info="DP=abc")])
    code, out, _ = run(capsys, str(path))
    assert code == 0 and "INFO_TYPE" in out and str(FIRST) in out
    code, _, err = run(capsys, str(path), "--strict")
    assert code == 13 and "1 problems found" in err
    code, out, _ = run(capsys, str(_vcf(tmp_path, [GOOD], name="ok.vcf")), "--strict")
    assert code == 0 and "no problems" in out


def test_cli_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    records = [_rec(pos=str(i), ref="X") for i in range(1, 6)]
    code, out, _ = run(capsys, str(_vcf(tmp_path, records)), "--json", "--max-problems", "2")
    data = json.loads(out)
    assert code == 0
    assert data["counts"] == {"BAD_REF": 5} and data["total_problems"] == 5 and data["problems_truncated"]
    assert [p["line"] for p in data["problems"]] == [FIRST, FIRST + 1]
    assert data["records"] == 5 and data["format"] == "vcf" and data["fatal"] is None


def test_cli_bcf(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, str(DATA / "1kg_2020_chr20_annotations.bcf"), "--json")
    assert code == 0 and json.loads(out)["position"] == "record"


def test_cli_fatal_exits_13(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    empty = tmp_path / "empty.vcf"
    empty.write_bytes(b"")
    notvcf = tmp_path / "notes.vcf.gz"
    notvcf.write_bytes(gzip.compress(b"just some text\n"))
    trunc = tmp_path / "t.vcf.gz"
    trunc.write_bytes((DATA / "chr22.vcf.gz").read_bytes()[:20_000])
    for path, words in ((empty, "empty"), (notvcf, "not a VCF"), (trunc, "truncated")):
        code, _, err = run(capsys, str(path))
        assert code == 13, err
        assert words in err and err.count("\n") == 1 and "Traceback" not in err
    code, out, _ = run(capsys, str(trunc), "--json")
    assert code == 13 and "truncated" in json.loads(out)["fatal"]


def test_truncated_bcf_exits_13(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "t.bcf"
    path.write_bytes((DATA / "CEUTrio.20.21.gatk3.4.g.bcf").read_bytes()[:150_000])
    code, _, err = run(capsys, str(path))
    assert code == 13 and "unreadable BCF after record" in err


def test_cli_missing_file_exits_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, str(tmp_path / "nope.vcf"))
    assert code == 3 and "no such file" in err


def test_streams_without_loading_the_file(tmp_path: Path) -> None:
    """Validating a 320,000-record gVCF (26 MB of text) raises the peak RSS by a few MB at most.

    The file is the 40,000-record fixture eight times over, on contigs 1 to 8 (all in its header),
    so it stays sorted and clean: a validator that held the file would grow by far more."""
    head, body = [], []
    with gzip.open(DATA / GVCF, "rt") as fh:
        for line in fh:
            (head if line.startswith("#") else body).append(line)
    big = tmp_path / "big.vcf"
    with big.open("w") as out:
        out.writelines(head)
        for contig in range(1, 9):
            out.writelines(f"{contig}\t{line.split(chr(9), 1)[1]}" for line in body)
    assert big.stat().st_size > 24 * 2**20
    script = (
        "import resource, sys\n"
        "from exocortex.genomics.validate import validate_vcf\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "r = validate_vcf(sys.argv[1])\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(r.records, len(r.problems), (after - before) * 1024)\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(big)],
                          capture_output=True, text=True, check=True, timeout=120)
    records, problems, grown = map(int, done.stdout.split())
    assert records == 320_000 and problems == 0
    assert grown < 8 * 2**20, f"peak RSS grew by {grown / 2**20:.1f} MiB"
