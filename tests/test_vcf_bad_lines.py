"""Record lines that are not records: rejected with their line number and a reason, never a segfault.

htslib reads a space-separated line or a second ``#CHROM`` line as a record without alleles, and
cyvcf2 read REF of such a record through a null pointer: the process died with SIGSEGV (exit 139)
on the record-by-record path (BCF, ``fast_text=False``, files whose first block is mostly
multi-allelic). Each ingest runs in a subprocess, so a segfault fails the test instead of
crashing pytest. The same lines, and htslib's own stderr messages, are checked through the CLI.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pysam
import pytest

HEADER = (
    "##fileformat=VCFv4.2\n"
    "##contig=<ID=chr1,length=1000000>\n"
    '##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">\n'
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
)
CHROM_LINE = "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tA\tB"
HEADER_LINES = HEADER.count("\n") + 1

BAD_LINES = {
    "one column": ("chr1", "1 tab-separated column; a record needs at least 8"),
    "two columns": ("chr1\t500", "2 tab-separated columns; a record needs at least 8"),
    "three columns": ("chr1\t500\t.", "3 tab-separated columns; a record needs at least 8"),
    "space-separated": ("chr1 500 . A G 50 PASS DP=3 GT 0|1 0|0", "separated by spaces, not tabs"),
    "duplicated #CHROM": (CHROM_LINE, "a header line (starting with #) after the #CHROM line"),
    "empty": ("", "the line is empty"),
}


def _record(i: int, multi: bool) -> str:
    alt = "G,T" if multi else "G"
    return f"chr1\t{100 + i}\t.\tA\t{alt}\t50\tPASS\tDP=3\tGT\t0|1\t0|0"


def _write(path: Path, bad: str, compression: str, multi: bool = False, at: int = 4) -> Path:
    """Ten records with ``bad`` inserted as record ``at``, plain, gzip or bgzip."""
    lines = [_record(i, multi) for i in range(10)]
    lines.insert(at, bad)
    text = HEADER + CHROM_LINE + "\n" + "\n".join(lines) + "\n"
    if compression == "plain":
        path.write_text(text)
    elif compression == "gzip":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        plain = path.with_name(path.name + ".txt")
        plain.write_text(text)
        pysam.tabix_compress(str(plain), str(path), force=True)
    return path


_SCRIPT = """
import json, sys
from exocortex.genomics.ingest import ingest_vcf
fast = sys.argv[1] == "1"
for path, store in zip(sys.argv[2::2], sys.argv[3::2]):
    f = ingest_vcf([path], store, build_indexes=False, fast_text=fast).files[0]
    print(json.dumps([path, f.records, f.rejected, f.alleles, f.rejects_path]), flush=True)
"""


def _rejects(path: str) -> list[list[str]]:
    return [ln.split("\t", 3) for ln in Path(path).read_text().splitlines()[1:]]


@pytest.mark.parametrize("compression", ["plain", "gzip", "bgzip"])
@pytest.mark.parametrize("fast", [True, False], ids=["columnar", "record-by-record"])
def test_lines_that_are_not_records_are_rejected_not_fatal(tmp_path: Path, compression: str, fast: bool) -> None:
    suffix = ".vcf" if compression == "plain" else ".vcf.gz"
    args: list[str] = []
    for n, kind in enumerate(BAD_LINES):
        path = _write(tmp_path / f"bad{n}{suffix}", BAD_LINES[kind][0], compression)
        args += [str(path), str(tmp_path / f"store{n}")]
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, "1" if fast else "0", *args], capture_output=True, text=True, timeout=300
    )
    done = [json.loads(line) for line in proc.stdout.splitlines()]
    assert proc.returncode == 0, f"exit {proc.returncode} after {len(done)} files: {proc.stderr[-1500:]}"
    assert len(done) == len(BAD_LINES)
    for (kind, (bad, reason)), result in zip(BAD_LINES.items(), done, strict=True):
        _, records, rejected, alleles, rejects_path = result
        assert (records, rejected, alleles) == (11, 1, 10), kind
        [row] = _rejects(rejects_path)
        assert row[0] == str(HEADER_LINES + 5), kind  # the 5th record line
        assert reason in row[2], (kind, row)
        assert row[3] == bad, kind
    assert "[W::" not in proc.stderr and "[E::" not in proc.stderr  # htslib's own lines are silenced


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("exocortex")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=300, cwd=cwd)


def test_cli_ingest_of_bad_lines_exits_0_with_a_clean_stderr(tmp_path: Path) -> None:
    """Multi-allelic records send the CLI down the record-by-record path, where the segfault was;
    htslib's ``[W::vcf_parse]`` lines no longer reach stderr, and ``--debug`` still shows them."""
    for n, kind in enumerate(["space-separated", "duplicated #CHROM", "three columns"]):
        path = _write(tmp_path / f"bad{n}.vcf.gz", BAD_LINES[kind][0], "bgzip", multi=True)
        store = tmp_path / f"s{n}"
        proc = _cli("vcf", "ingest", str(path), "--store", str(store), "--json", cwd=tmp_path)
        assert proc.returncode == 0, (kind, proc.returncode, proc.stderr[-1500:])
        assert proc.stderr == "", kind
        summary = json.loads(proc.stdout)
        assert (summary["records"], summary["rejected"], summary["alleles"]) == (11, 1, 20), kind
        [row] = _rejects(summary["files"][0]["rejects_path"])
        assert BAD_LINES[kind][1] in row[2]
    debug = _cli("vcf", "ingest", str(path), "--store", str(tmp_path / "d"), "--json", "--debug", cwd=tmp_path)
    assert debug.returncode == 0
    undefined = _write(tmp_path / "chr2.vcf", _record(3, True).replace("chr1", "chr2"), "plain", multi=True)
    quiet = _cli("vcf", "ingest", str(undefined), "--store", str(tmp_path / "q"), "--json", cwd=tmp_path)
    loud = _cli("vcf", "ingest", str(undefined), "--store", str(tmp_path / "l"), "--json", "--debug", cwd=tmp_path)
    assert quiet.returncode == loud.returncode == 0
    assert "[W::" not in quiet.stderr
    assert "Contig 'chr2' is not defined in the header" in loud.stderr


def test_validate_names_the_bad_lines(tmp_path: Path) -> None:
    """``vcf validate`` reads text VCF itself: the same lines are problems at their line, exit 0."""
    from exocortex.genomics.validate import validate_vcf

    expected = {
        "three columns": "TOO_FEW_COLUMNS",
        "space-separated": "TOO_FEW_COLUMNS",
        "duplicated #CHROM": "MISPLACED_HEADER",
        "empty": "TOO_FEW_COLUMNS",
    }
    for n, (kind, code) in enumerate(expected.items()):
        for compression in ("plain", "bgzip"):
            path = _write(tmp_path / f"v{n}-{compression}.vcf.gz", BAD_LINES[kind][0], compression)
            report = validate_vcf(path)
            assert report.fatal is None
            assert [(p.line, p.code) for p in report.problems] == [(HEADER_LINES + 5, code)], (kind, report.problems)
    space = validate_vcf(_write(tmp_path / "sp.vcf", BAD_LINES["space-separated"][0], "plain"))
    assert "spaces" in space.problems[0].message
