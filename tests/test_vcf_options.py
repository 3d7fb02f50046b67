"""Numeric options of the vcf commands: NaN, infinities and negatives are refused in one line, with
a documented exit code, never read as something else ("unknown column nan") or accepted."""

from __future__ import annotations

from pathlib import Path

import pytest

from exocortex.cli import main

HEADER = (
    "##fileformat=VCFv4.2\n"
    "##contig=<ID=chr1,length=1000000>\n"
    '##INFO=<ID=AF,Number=A,Type=Float,Description="Allele frequency">\n'
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\n"
)


def _vcf(path: Path, n: int = 30) -> Path:
    lines = [f"chr1\t{100 + i}\t.\tA\tG\t{10 + i}\tPASS\tAF={(i + 1) / 100}\tGT\t0|1\t1|1" for i in range(n)]
    path.write_text(HEADER + "\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("opts")
    assert main(["vcf", "ingest", str(_vcf(tmp / "a.vcf")), "--store", str(tmp / "s"), "--json"]) == 0
    return tmp / "s"


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    "flag,value",
    [
        ("--min-af", "nan"),
        ("--max-af", "nan"),
        ("--min-qual", "nan"),
        ("--min-af", "inf"),
        ("--max-af", "-inf"),
        ("--min-qual", "inf"),
    ],
)
def test_query_bounds_must_be_finite(store: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str) -> None:
    code, out, err = _run(capsys, "vcf", "query", "--store", str(store), flag, value)
    assert code == 7
    assert out == ""
    assert "must be a finite number" in err and flag in err
    assert "column" not in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_query_bounds_that_are_numbers_still_work(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(capsys, "vcf", "query", "--store", str(store), "--min-af", "0.25", "--json")
    assert code == 0
    assert '"matched": 6' in out  # AF 0.25 .. 0.30


@pytest.mark.parametrize("value", ["nan", "-1", "inf"])
def test_ingest_wait_must_be_a_finite_non_negative_number(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    code, _, err = _run(capsys, "vcf", "ingest", str(_vcf(tmp_path / "w.vcf")), "--store", str(tmp_path / "s"),
                        "--wait", value)  # fmt: skip
    assert code == 7, err
    assert "--wait" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s" / "genomics").exists()  # refused before anything was written


@pytest.mark.parametrize(
    "args,code",
    [
        (["vcf", "query", "--limit", "-1"], 7),
        (["vcf", "similar", "chr1:100:A:G", "--k", "-1"], 7),
        (["vcf", "similar", "chr1:100:A:G", "--k", "0"], 7),
        (["vcf", "ingest", "x.vcf", "--batch-size", "0"], 2),
        (["vcf", "ingest", "x.vcf", "--batch-size", "-5"], 2),
        (["vcf", "validate", "x.vcf", "--max-problems", "-1"], 2),
    ],
)
def test_other_negative_counts_are_refused(
    store: Path, capsys: pytest.CaptureFixture[str], args: list[str], code: int
) -> None:
    got, _, err = _run(capsys, *args, *(["--store", str(store)] if args[1] != "validate" else []))
    assert got == code, err
    assert "Traceback" not in err


@pytest.mark.parametrize("region", ["chr1:99999999999999999999999", "chr1:1-99999999999999999999"])
def test_region_positions_past_62_bits_are_refused(
    store: Path, capsys: pytest.CaptureFixture[str], region: str
) -> None:
    """They reached Lance as a float literal it could not convert (a raw planner message)."""
    code, _, err = _run(capsys, "vcf", "query", "--store", str(store), "--region", region)
    assert code == 7
    assert "positions are at most 4,611,686,018,427,387,904" in err and "Float64" not in err


def test_a_huge_k_returns_every_neighbour(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """--k 10^20 was an internal error (OverflowError: Python int too large to convert to C long)."""
    code, out, err = _run(capsys, "vcf", "similar", "chr1:100:A:G", "--k", str(10**20), "--store", str(store), "--json")
    assert code == 0, err
    assert len(__import__("json").loads(out)["neighbours"]) == 29
