"""What the vcf commands print: no raw control characters from file names or data, one line per error."""

from __future__ import annotations

from pathlib import Path

import pytest

from exocortex.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "vcf"
EVIL = "evil\x1b[31m\x1b]0;pwned\x07"
HEADER = (
    "##fileformat=VCFv4.2\n"
    "##contig=<ID=chr1,length=1000000>\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n"
)


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_file_names_with_escapes_are_shown_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / f"{EVIL}.vcf"
    path.write_text(HEADER + "chr1\t100\t.\tA\tG\t50\tPASS\t.\tGT\t0|1\nchr1\t200\tx\t\t\n")
    code, out, err = _run(capsys, "vcf", "ingest", str(path), "--store", str(tmp_path / "s"), "--no-index")
    assert code == 0, err
    assert "\x1b" not in out + err and "\x07" not in out + err
    assert "\\x1b" in out  # shown, escaped
    code, out, _ = _run(capsys, "vcf", "validate", str(path))
    assert code == 0 and "\x1b" not in out and "\\x1b" in out


def test_data_with_escapes_is_shown_escaped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "ids.vcf"
    path.write_text(HEADER.replace("S1\n", f"S1{EVIL}\n") + f"chr1\t100\tid{EVIL}\tA\tG\t50\tPASS\t.\tGT\t0|1\n")
    store = str(tmp_path / "s")
    assert main(["vcf", "ingest", str(path), "--store", store, "--json"]) == 0
    capsys.readouterr()
    for args in (["vcf", "stats"], ["vcf", "query"], ["vcf", "graph", "--build", "MATCH (s:Sample) RETURN s.name"]):
        code, out, err = _run(capsys, *args, "--store", store)
        assert code == 0, (args, err)
        assert "\x1b" not in out and "\x07" not in out, args


def test_a_bcf_cut_inside_its_header_is_unreadable_not_an_internal_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "cut.bcf"
    path.write_bytes((FIXTURES / "CEUTrio.20.21.gatk3.4.g.bcf").read_bytes()[:400])
    code, _, err = _run(capsys, "vcf", "validate", str(path))
    assert code == 13, err
    assert "internal error" not in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    "command", [["query"], ["stats"], ["similar", "chr1:100:A:G"], ["graph", "MATCH (s) RETURN s"]]
)
def test_a_store_that_is_a_file_is_a_bad_path(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
) -> None:
    store = tmp_path / "f"
    store.write_text("x")
    code, _, err = _run(capsys, "vcf", *command, "--store", str(store))
    assert code == 3, err
    assert "not a directory" in err and store.read_text() == "x"
