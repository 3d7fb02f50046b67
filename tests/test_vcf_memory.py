"""Memory bounds of the variant store as tests: pytest-memray ``limit_memory`` marks (ingest, query, export).

The limits hold only under ``pytest --memray``: ``make test`` runs these tests in a second pytest
run with ``--memray`` (and leaves them out of the first), so CI enforces them; a plain ``pytest``
runs them as ordinary tests. memray counts what the test's own call allocates (Python and native:
cyvcf2, Arrow, Lance), with the fixtures' setup left out; the peak is the high-water mark of the
bytes alive at once.

Each limit is a measured peak with headroom for allocator and library-version noise (the peaks,
and how they were measured, are in the comments). A change that holds a whole file, table or
store in memory at once goes past them: the 1M-variant store's variants table alone is ~150 MB
in Arrow.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from exocortex.genomics.variants import Variants

DATA = Path(__file__).parent / "fixtures" / "vcf"
VCF_FILES = [p for p in DATA.rglob("*") if p.name.endswith((".vcf", ".vcf.gz", ".bcf"))]
LARGEST = max(VCF_FILES, key=lambda p: p.stat().st_size)
N_VARIANTS = 1_000_000

# Arrow's allocator (mimalloc) reserves a 1 GiB arena of address space at the process's first Arrow
# allocation, and memray counts that reservation as 1 GiB allocated: whichever test made the first
# Arrow array would "use" 1.1 GB. Made here, at import, it stays outside every measured call.
pa.array([0]).to_numpy()


def write_text_vcf(path: Path, n: int, seed: int = 0) -> None:
    """``n`` biallelic SNVs on chromosome 1 with AC/AN and two samples' GTs: lines the columnar path reads whole."""
    rng = np.random.default_rng(seed)
    pos = np.cumsum(rng.integers(1, 200, n))
    bases = np.array(list("ACGT"))
    ref = rng.integers(0, 4, n)
    alt = (ref + rng.integers(1, 4, n)) % 4
    ac = rng.integers(1, 100, n)
    gts = np.array(["0/0", "0/1", "1/1", "./."])[rng.choice(4, size=(n, 2), p=[0.5, 0.3, 0.15, 0.05])]
    with path.open("w") as fh:
        fh.write("##fileformat=VCFv4.2\n##contig=<ID=1,length=250000000>\n")
        fh.write('##INFO=<ID=AC,Number=A,Type=Integer,Description="Allele count">\n')
        fh.write('##INFO=<ID=AN,Number=1,Type=Integer,Description="Allele number">\n')
        fh.write('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n')
        fh.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\n")
        for i in range(0, n, 100_000):
            part = slice(i, i + 100_000)
            rows = zip(
                pos[part].tolist(), bases[ref[part]].tolist(), bases[alt[part]].tolist(), ac[part].tolist(),
                gts[part, 0].tolist(), gts[part, 1].tolist(), strict=True,
            )  # fmt: skip
            line = "1\t{}\t.\t{}\t{}\t50\tPASS\tAC={};AN=200\tGT\t{}\t{}\n"
            fh.write("".join(line.format(*row) for row in rows))


@pytest.fixture(scope="module")
def store_1m(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store of 1,000,000 variants (~10 s to make on 2 cores: the columnar text path)."""
    folder = tmp_path_factory.mktemp("store_1m")
    vcf = folder / "1m.vcf"
    write_text_vcf(vcf, N_VARIANTS)
    summary = Variants.open(folder / "store").ingest(vcf)
    assert summary.alleles == N_VARIANTS
    vcf.unlink()
    return folder / "store"


def test_the_largest_fixture_is_the_one_measured() -> None:
    assert LARGEST.name == "1kg-629samples.vcf.gz"  # 629 samples x 381 records, 825 kB


# Measured peak: 24.0-27.1 MiB over four runs (pytest --memray, 2 cores, pylance 14, pyarrow 26, cyvcf2 0.35);
# 20 MiB of it is the truncation check decompressing a 1 MiB chunk of this plain-gzip file at once (reader.py)
@pytest.mark.limit_memory("64 MB")
def test_ingest_of_the_largest_fixture_stays_within_its_memory_bound(tmp_path: Path) -> None:
    summary = Variants.open(tmp_path / "s").ingest(LARGEST)
    assert summary.records == 381


# Measured peak: 79.8 MiB, most of it the planner's first look at the new table version (its layout:
# genomics/layout.py), once per version; the queries after it add little (pytest --memray, as above)
@pytest.mark.limit_memory("160 MB")
def test_queries_over_a_million_variants_stay_within_their_memory_bound(store_1m: Path) -> None:
    variants = Variants.open(store_1m)
    window = variants.query("1:50000000-50100000", limit=50)
    assert window.matched > 0 and window.rows.num_rows == 50
    whole = variants.query("1", min_qual=10, limit=20)
    assert whole.matched == N_VARIANTS
    carriers = variants.query(sample="S1", zygosity="hom_alt", limit=20)
    assert carriers.matched > 100_000
    assert variants.query(max_af=0.01, limit=20).matched > 0


# Measured peak: 119 MiB with the store's 1M variants and 0.9M calls written (memray, 2 cores, as above);
# the store's tables in Arrow are larger than that: a table read whole would go past the limit
@pytest.mark.limit_memory("240 MB")
def test_a_parquet_export_of_a_million_variants_is_streamed(store_1m: Path, tmp_path: Path) -> None:
    summary = Variants.open(store_1m).export(tmp_path / "out", format="parquet")
    assert summary.variants == N_VARIANTS and summary.calls > 800_000


# Measured peak: 31.9 MiB for this half, 62.9 MiB for all 1M variants (memray, as above): sort keys for every row,
# then a chunk of rows and calls at a time. Half the store: the whole took 25 s under memray, this 9 s.
@pytest.mark.limit_memory("80 MB")
def test_a_bcf_export_of_half_a_million_variants_is_read_a_chunk_at_a_time(store_1m: Path, tmp_path: Path) -> None:
    summary = Variants.open(store_1m).export(tmp_path / "out.bcf", region="1:1-50000000")
    assert 400_000 < summary.variants < 600_000 and summary.samples == 2
