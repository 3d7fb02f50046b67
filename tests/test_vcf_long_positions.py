"""Positions beyond 32 bits (htslib's long references, e.g. its test/longrefs): cyvcf2's ``POS`` is a
32-bit int that wraps there, so the store reads htslib's 64-bit start instead."""

from __future__ import annotations

from pathlib import Path

from exocortex.genomics.ingest import ingest_vcf
from exocortex.genomics.store import VariantStore

LONG = (
    "##fileformat=VCFv4.3\n"
    "##contig=<ID=1,length=20000000000>\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n"
    "1\t3000000000\t.\tC\tT\t50\tPASS\t.\tGT\t1/1\n"
    "1\t10009999919\t.\tAC\tA\t50\tPASS\t.\tGT\t0/1\n"
)


def test_positions_past_two_to_the_32_are_stored_exactly(tmp_path: Path) -> None:
    vcf = tmp_path / "long.vcf"
    vcf.write_text(LONG)
    ingest_vcf([vcf], tmp_path / "store")
    variants = VariantStore(tmp_path / "store").read("variants", ["pos", "end", "key"]).sort_by("pos")
    assert variants.column("pos").to_pylist() == [3_000_000_000, 10_009_999_919]
    assert variants.column("end").to_pylist() == [3_000_000_000, 10_009_999_920]
    assert variants.column("key").to_pylist()[1].startswith("1:10009999919:")

