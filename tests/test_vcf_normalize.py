"""Normalised alleles: split alleles trimmed to their minimal REF/ALT, checked with bcftools norm and stats."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from exocortex.genomics.ingest import ingest_vcf
from exocortex.genomics.normalize import is_sequence, trim_alleles
from exocortex.genomics.stats import variant_stats
from exocortex.genomics.store import VariantStore
from exocortex.genomics.variants import Variants

DATA = Path(__file__).parent / "fixtures" / "vcf"  # origins and licences: fixtures/vcf/README.md
ALL_FILES = sorted(
    [p for p in DATA.iterdir() if p.name.endswith((".vcf", ".vcf.gz", ".bcf"))]
    + list((DATA / "edge-cases").glob("*.vcf.gz"))
)
MULTIALLELIC = [
    "CEUTrio.20.21.gatk3.4.g.bcf",
    "chr_m_indels.vcf.gz",
    "chr22.vcf.gz",
    "sample_all_missing_gts.vcf.gz",
    "split-vep.vcf",
]
REF_BLOCK_ALLELES = ("<NON_REF>", "<*>")

bcftools = pytest.importorskip("pysam.bcftools")
pysam = pytest.importorskip("pysam")


@pytest.mark.parametrize(
    ("pos", "ref", "alt", "expected"),
    [
        (100, "CAG", "GAG", (100, "C", "G")),  # suffix
        (100, "CAG", "C", (100, "CAG", "C")),  # already minimal
        (100, "CAG", "CAGAGAG", (100, "C", "CAGAG")),  # suffix first: the insertion stays anchored at POS
        (100, "ACGT", "ACTT", (102, "G", "T")),  # suffix then prefix
        (100, "AAAT", "AAT", (100, "AA", "A")),  # a base kept in each
        (100, "TCAA", "TGAA", (101, "C", "G")),
        (100, "cag", "GAG", (100, "c", "G")),  # case-insensitive, the file's bases kept
        (100, "CAG", "<DEL>", (100, "CAG", "<DEL>")),  # symbolic, breakend and * untouched
        (100, "CA", "CA[2:321682[", (100, "CA", "CA[2:321682[")),
        (100, "CA", "*", (100, "CA", "*")),
        (100, "A", "G", (100, "A", "G")),
    ],
)
def test_trim_alleles(pos: int, ref: str, alt: str, expected: tuple[int, str, str]) -> None:
    assert trim_alleles(pos, ref, alt) == expected


def _ingest(path: Path, store: Path) -> int:
    return ingest_vcf([path], store, build_indexes=False).files[0].source


@pytest.mark.parametrize("fast_text", [True, False])
def test_a_split_snv_is_stored_trimmed_and_found(tmp_path: Path, fast_text: bool) -> None:
    """CEUTrio 20:10132722 CAG -> C,GAG,...: the GAG allele is the SNV C>G."""
    variants = Variants.open(tmp_path)
    variants.ingest(DATA / "CEUTrio.20.21.gatk3.4.g.bcf")
    rows = variants.query("20:10132722-10132722", limit=10).rows.to_pylist()
    by_alt = {r["alt"]: r for r in rows}
    snv = by_alt["G"]
    assert (snv["key"], snv["pos"], snv["end"], snv["ref"], snv["vtype"], snv["length"]) == (
        "20:10132722:C:G",
        10132722,
        10132722,
        "C",
        "SNV",
        0,
    )
    ins = by_alt["CAGAGAGAGAGAGAGAG"]
    assert (ins["ref"], ins["end"], ins["vtype"], ins["length"]) == ("C", 10132722, "insertion", 16)
    assert by_alt["C"]["ref"] == "CAG"
    found = variants.similar("20:10132722:C:G", k=3)
    assert found.query["key"] == "20:10132722:C:G"


@pytest.mark.parametrize("path", ALL_FILES, ids=lambda p: p.name)
def test_ti_tv_equals_bcftools_stats(tmp_path: Path, path: Path) -> None:
    """Transitions and transversions, and the sites with SNVs / indels, as `bcftools stats` counts them."""
    out = bcftools.stats(str(path))
    tstv = next(line.split("\t") for line in out.splitlines() if line.startswith("TSTV"))
    summary = {line.split("\t")[2]: int(line.split("\t")[3]) for line in out.splitlines() if line.startswith("SN")}
    store = tmp_path / "store"
    source = _ingest(path, store)
    stats = variant_stats(store)
    assert (stats.ti, stats.tv) == (int(tstv[2]), int(tstv[3]))
    columns = ["record", "vtype", "ref", "alt"]
    rows = VariantStore(store).read("variants", columns=columns, where=f"source = {source}").to_pylist()
    # an ALT equal to REF (field_type_combos has `A -> A,G`) is no SNP to bcftools
    snv_sites = {r["record"] for r in rows if r["vtype"] == "SNV" and r["ref"].upper() != r["alt"].upper()}
    indel_sites = {r["record"] for r in rows if r["vtype"] in ("insertion", "deletion", "indel")}
    assert len(snv_sites) == summary["number of SNPs:"]
    assert len(indel_sites) == summary["number of indels:"]


def _own_reference(path: Path, fasta: Path) -> None:
    """A FASTA made of the file's REF bases, N elsewhere: `bcftools norm -f` can trim against it but has
    no flanking sequence to left-align into, which leaves exactly the trimming."""
    seqs: dict[str, dict[int, str]] = {}
    for line in bcftools.query("-f", "%CHROM\t%POS\t%REF\n", str(path)).splitlines():
        chrom, pos, ref = line.split("\t")
        bases = seqs.setdefault(chrom, {})
        for i, base in enumerate(ref):
            bases[int(pos) + i] = base
    with fasta.open("w") as fh:
        for chrom, bases in seqs.items():
            seq = "".join(bases.get(i, "N") for i in range(1, max(bases) + 2))
            fh.write(f">{chrom}\n" + "".join(seq[i : i + 60] + "\n" for i in range(0, len(seq), 60)))
    pysam.faidx(str(fasta))


def _right_anchored(ref: str, alt: str) -> bool:
    """An insertion or deletion written with its context base after it (``AC>C``)."""
    return len(ref) != len(alt) and (ref.endswith(alt) or alt.endswith(ref))


@pytest.mark.parametrize("name", MULTIALLELIC)
def test_keys_equal_bcftools_norm(tmp_path: Path, name: str) -> None:
    """Every stored allele is a record of `bcftools norm -m- -f` (split, then trimmed), and the reverse."""
    path = DATA / name
    fasta = tmp_path / "own.fa"
    _own_reference(path, fasta)
    out = bcftools.norm("-m-", "-f", str(fasta), str(path))
    expected = Counter(
        tuple(line.split("\t")[:5:])[:2] + tuple(line.split("\t")[3:5])
        for line in out.splitlines()
        if line and not line.startswith("#")
    )
    expected = Counter({k: n for k, n in expected.items() if k[3] not in REF_BLOCK_ALLELES})
    # An indel without an anchor base (sample_all_missing_gts: X:10 AC>C) is re-anchored on the base
    # before it, N here: the reference's business (--fasta), not trimming's. Counted, then left out.
    reanchored = Counter({k: n for k, n in expected.items() if "N" in k[2]})
    store = tmp_path / "store"
    source = _ingest(path, store)
    v = VariantStore(store).read("variants", columns=["chrom", "pos", "ref", "alt"], where=f"source = {source}")
    got = Counter(
        (c, str(p), r, a or ".")
        for c, p, r, a in zip(v["chrom"].to_pylist(), v["pos"].to_pylist(), v["ref"].to_pylist(), v["alt"].to_pylist(),
                              strict=True)
        if a not in REF_BLOCK_ALLELES
    )  # fmt: skip
    unanchored = Counter(
        {k: n for k, n in got.items() if is_sequence(k[3]) and k[2][0] != k[3][0] and _right_anchored(k[2], k[3])}
    )
    assert sum(unanchored.values()) == sum(reanchored.values())
    assert got - unanchored == expected - reanchored
    assert sum(1 for k in got if len(k[2]) > 1 and len(k[3]) > 1 and k[3][0] != "<") < sum(got.values())


def test_the_columnar_path_leaves_trimming_to_the_converter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Single-ALT lines whose alleles share a first or last base are trimmed the same on both paths."""
    from exocortex.genomics import textpath

    monkeypatch.setattr(textpath, "MIN_FAST_SHARE", 0.0)
    header = (
        "##fileformat=VCFv4.2\n##contig=<ID=1,length=1000>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tA\tB\n"
    )
    alleles = [("A", "G"), ("CAG", "GAG"), ("ACGT", "ACTT"), ("AT", "A"), ("CA", "TG"), ("GAT", "GT"), ("TC", "TCC")]
    lines = [f"1\t{100 + 10 * i}\t.\t{r}\t{a}\t50\tPASS\t.\tGT\t0|1\t1|1" for i, (r, a) in enumerate(alleles)]
    path = tmp_path / "t.vcf"
    path.write_text(header + "\n".join(lines) + "\n")
    keys = {}
    for fast in (True, False):
        ingest_vcf([path], tmp_path / str(fast), build_indexes=False, fast_text=fast)
        v = VariantStore(tmp_path / str(fast)).read("variants").sort_by("vid")
        keys[fast] = list(zip(v["key"].to_pylist(), v["end"].to_pylist(), v["vtype"].to_pylist(), strict=True))
    assert keys[True] == keys[False]
    assert [k[0] for k in keys[True]] == [
        "1:100:A:G", "1:110:C:G", "1:122:G:T", "1:130:AT:A", "1:140:CA:TG", "1:150:GA:G", "1:160:T:TC",
    ]  # fmt: skip
