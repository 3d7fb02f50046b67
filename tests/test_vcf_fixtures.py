"""The VCF fixtures the genomics tests read are here, whole and unchanged (``tests/fixtures/vcf``).

A missing or altered fixture fails here by name, and fails the tests that read it: nothing is skipped.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pysam.bcftools

FIXTURES = Path(__file__).parent / "fixtures" / "vcf"


def _sums() -> dict[str, str]:
    lines = (FIXTURES / "SHA256SUMS").read_text().splitlines()
    return {name: digest for digest, name in (line.split("  ", 1) for line in lines if line.strip())}


def test_every_fixture_is_present_and_unchanged() -> None:
    sums = _sums()
    assert len(sums) >= 20
    for name, digest in sums.items():
        path = FIXTURES / name
        assert path.is_file(), f"missing fixture {path}"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, f"{path} differs from SHA256SUMS"


def test_every_vcf_fixture_is_listed_and_described() -> None:
    kinds = (".vcf", ".vcf.gz", ".bcf")
    on_disk = {str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*") if p.name.endswith(kinds)}
    assert on_disk == set(_sums())
    readme = (FIXTURES / "README.md").read_text()
    for name in on_disk:
        assert name.split("/")[-1] in readme or name.startswith("edge-cases/"), name


def test_the_truncated_gvcf_is_whole_records_in_bgzf() -> None:
    path = FIXTURES / "NA12878.prod.chr20snippet.g.40k.vcf.gz"
    data = path.read_bytes()
    assert data.endswith(bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000"))  # BGZF EOF
    assert pysam.bcftools.view("-H", str(path)).count("\n") == 40_000
