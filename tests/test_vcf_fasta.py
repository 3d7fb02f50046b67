"""`vcf ingest --fasta`: indels left-aligned as `bcftools norm -f` does, the assembly recorded, a mismatch refused."""

from __future__ import annotations

import gzip
import json
import random
from collections import Counter
from pathlib import Path

import pytest

from exocortex import Variants
from exocortex.cli import main
from exocortex.errors import ConfigError, InputPathError, VcfFormatError
from exocortex.genomics import textpath
from exocortex.genomics.fasta import IndexedFasta
from exocortex.genomics.ingest import ingest_vcf
from exocortex.genomics.schema import normalize_chrom
from exocortex.genomics.store import VariantStore

DATA = Path(__file__).parent / "fixtures" / "vcf"  # origins and licences: fixtures/vcf/README.md

bcftools = pytest.importorskip("pysam.bcftools")
pysam = pytest.importorskip("pysam")


def _write_fasta(path: Path, seqs: dict[str, str], width: int = 60, index: bool = True) -> Path:
    with path.open("w") as fh:
        for name, seq in seqs.items():
            fh.write(f">{name} test sequence\n" + "".join(seq[i : i + width] + "\n" for i in range(0, len(seq), width)))
    if index:
        pysam.faidx(str(path))
    return path


def _genome(seed: int = 17) -> tuple[str, list[tuple[int, str, int]]]:
    """A random sequence with repeat tracts: (sequence, [(0-based tract start, unit, copies)])."""
    rng = random.Random(seed)
    parts: list[str] = []
    tracts = []
    length = 0
    for k in range(40):
        spacer = "".join(rng.choice("ACGT") for _ in range(rng.randint(15, 40)))
        unit = "".join(rng.choice("ACGT") for _ in range(1 + k % 4))
        copies = rng.randint(3, 8)
        parts.append(spacer)
        length += len(spacer)
        tracts.append((length, unit, copies))
        parts.append(unit * copies)
        length += len(unit) * copies
    parts.append("".join(rng.choice("ACGT") for _ in range(30)))
    return "".join(parts), tracts


def _shifted_vcf(path: Path, chrom: str, seq: str, tracts: list[tuple[int, str, int]]) -> Path:
    """Indels written at the right end of their repeat (or with extra context), some multi-allelic."""
    lines = []
    for k, (start, unit, copies) in enumerate(tracts):
        end = start + len(unit) * copies  # 0-based, exclusive
        anchor = end - len(unit)  # 1-based POS of the base before the last unit
        kind = k % 4
        if kind == 0:  # deletion of the last unit
            ref, alt, pos = seq[anchor - 1 : end], seq[anchor - 1], anchor
            alts = [alt]
        elif kind == 1:  # insertion of one more unit after the tract
            pos, ref = end, seq[end - 1]
            alts = [ref + unit]
        elif kind == 2:  # deletion written with the whole tract and a base after it (trimmed, then aligned)
            pos, ref = start + 1, seq[start : end + 1]
            alts = [seq[start : end - len(unit)] + seq[end]]
        else:  # one record: the last unit deleted, or one more inserted, or an SNV after the tract
            pos, ref = anchor, seq[anchor - 1 : end]
            snv = "A" if ref[-1] != "A" else "C"
            alts = [ref[0], ref + unit, ref[:-1] + snv]
        lines.append(f"{chrom}\t{pos}\t.\t{ref}\t{','.join(alts)}\t50\tPASS\tDP=10\tGT\t0/1")
    lines.sort(key=lambda line: int(line.split("\t")[1]))
    header = (
        f"##fileformat=VCFv4.2\n##contig=<ID={chrom},length={len(seq)}>\n"
        '##INFO=<ID=DP,Number=1,Type=Integer,Description="Depth">\n'
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n"
    )
    path.write_text(header + "".join(line + "\n" for line in lines))
    return path


def _bcftools_keys(vcf: Path, fasta: Path) -> Counter[str]:
    out = bcftools.norm("-m-", "-f", str(fasta), str(vcf))
    keys: Counter[str] = Counter()
    for line in out.splitlines():
        if line and not line.startswith("#"):
            chrom, pos, _, ref, alt = line.split("\t")[:5]
            keys[f"{normalize_chrom(chrom)}:{pos}:{ref}:{alt}"] += 1
    return keys


def _stored_keys(store: Path) -> Counter[str]:
    return Counter(VariantStore(store).read("variants", ["key"])["key"].to_pylist())


@pytest.mark.parametrize("fast_text", [True, False])
def test_indels_are_left_aligned_as_bcftools_norm_f(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_text: bool
) -> None:
    monkeypatch.setattr(textpath, "MIN_FAST_SHARE", 0.0)
    seq, tracts = _genome()
    fasta = _write_fasta(tmp_path / "ref.fa", {"chr1": seq})
    vcf = _shifted_vcf(tmp_path / "shifted.vcf", "chr1", seq, tracts)
    expected = _bcftools_keys(vcf, fasta)
    summary = ingest_vcf([vcf], tmp_path / "store", fasta=fasta, fast_text=fast_text).files[0]
    got = _stored_keys(tmp_path / "store")
    assert got == expected
    # the alignment moved most of them: without --fasta, the keys differ
    ingest_vcf([vcf], tmp_path / "plain", fast_text=fast_text)
    plain = _stored_keys(tmp_path / "plain")
    assert sum((plain - expected).values()) > len(tracts) // 2
    sources = VariantStore(tmp_path / "store").read("sources").to_pylist()
    reference = json.loads(sources[0]["reference"])
    assert reference["fasta"] == "ref.fa" and reference["sequences"] == 1 and len(reference["fai_sha256"]) == 64
    assert VariantStore(tmp_path / "plain").read("sources")["reference"].to_pylist() == [None]
    assert summary.alleles == sum(expected.values())


def test_end_and_type_follow_the_aligned_alleles(tmp_path: Path) -> None:
    seq = "GGTCAGT" + "CA" * 6 + "TTGACCTGA"  # CA repeat from position 8 to 19
    fasta = _write_fasta(tmp_path / "ref.fa", {"1": seq})
    # the last CA deleted, written at the repeat's end: left-aligned to the T before the repeat (POS 7)
    line = f"1\t17\t.\t{seq[16:19]}\t{seq[16]}\t50\tPASS\t.\tGT\t0/1"
    vcf = _shifted_vcf(tmp_path / "x.vcf", "1", seq, [])
    vcf.write_text(vcf.read_text() + line + "\n")
    assert _bcftools_keys(vcf, fasta) == Counter({"1:7:TCA:T": 1})
    variants = Variants.open(tmp_path / "s")
    variants.ingest(vcf, fasta=fasta)
    row = variants.query("1:7").rows.to_pylist()[0]
    assert (row["key"], row["pos"], row["end"], row["vtype"], row["length"]) == ("1:7:TCA:T", 7, 9, "deletion", -2)


def test_the_multiallelic_fixtures_match_bcftools_norm_f(tmp_path: Path) -> None:
    """On the real files, against a FASTA of their own REF bases (N elsewhere): bcftools and the store agree,
    the unanchored X:10 AC>C of sample_all_missing_gts included (re-anchored on the N before it); the
    gVCF's <NON_REF> alleles, which bcftools keeps as records, are no variants here."""
    names = ("sample_all_missing_gts.vcf.gz", "chr_m_indels.vcf.gz", "split-vep.vcf", "chr22.vcf.gz",
             "CEUTrio.20.21.gatk3.4.g.bcf")  # fmt: skip
    for name in names:
        path = DATA / name
        seqs: dict[str, dict[int, str]] = {}
        for line in bcftools.query("-f", "%CHROM\t%POS\t%REF\n", str(path)).splitlines():
            chrom, pos, ref = line.split("\t")
            for i, base in enumerate(ref):
                seqs.setdefault(chrom, {})[int(pos) + i] = base
        own = {c: "".join(b.get(i, "N") for i in range(1, max(b) + 2)) for c, b in seqs.items()}
        fasta = _write_fasta(tmp_path / f"{name}.fa", own)
        store = tmp_path / name
        ingest_vcf([path], store, fasta=fasta, build_indexes=False)
        expected = _bcftools_keys(path, fasta)
        expected = Counter({k: n for k, n in expected.items() if not k.endswith((":<NON_REF>", ":<*>"))})
        got = _stored_keys(store)
        assert got == expected, name


def test_a_fasta_without_fai_is_indexed_in_memory(tmp_path: Path) -> None:
    seq, tracts = _genome(5)
    indexed = _write_fasta(tmp_path / "a.fa", {"chr1": seq, "chr2": seq[::-1]}, width=50)
    plain = _write_fasta(tmp_path / "b.fa", {"chr1": seq, "chr2": seq[::-1]}, width=50, index=False)
    with IndexedFasta(indexed) as a, IndexedFasta(plain) as b:
        assert a.index_text == b.index_text  # samtools faidx's .fai, line for line
        assert a.entries.keys() == b.entries.keys()
        assert [e.length for e in b.entries.values()] == [len(seq), len(seq)]
        for start, end in ((0, 10), (45, 130), (len(seq) - 7, len(seq) + 5)):
            assert b.fetch("chr2", start, end) == seq[::-1][start:end]
            assert a.fetch("chr1", start, end) == seq[start:end]
    vcf = _shifted_vcf(tmp_path / "v.vcf", "chr1", seq, tracts)
    ingest_vcf([vcf], tmp_path / "s1", fasta=indexed)
    ingest_vcf([vcf], tmp_path / "s2", fasta=plain)
    assert _stored_keys(tmp_path / "s1") == _stored_keys(tmp_path / "s2")


def _snapshot(store: Path) -> dict[str, list[dict[str, object]]]:
    s = VariantStore(store)
    return {name: s.read(name).to_pylist() for name in ("variants", "calls", "samples", "sources", "ref_blocks")}


@pytest.mark.parametrize("kind", ["vcf", "bcf"])  # a text file is checked by hand, a BCF through htslib
@pytest.mark.parametrize("problem", ["ref", "contig"])
def test_a_fasta_that_does_not_match_is_refused_and_nothing_is_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], problem: str, kind: str
) -> None:
    seq, tracts = _genome()
    text = _shifted_vcf(tmp_path / "v.vcf", "chr1", seq, tracts)
    vcf = text
    if kind == "bcf":
        vcf = tmp_path / "v.bcf"
        bcftools.view("-O", "b", "-o", str(vcf), str(text), catch_stdout=False)
    store = tmp_path / "store"
    Variants.open(store).ingest(DATA / "chr_m_indels.vcf.gz")  # a store with something in it already
    before = _snapshot(store)
    manifest = (store / "genomics" / "manifest.json").read_text()
    if problem == "ref":
        first = int(text.read_text().splitlines()[5].split("\t")[1])  # the first record's POS
        wrong = seq[: first - 1] + ("A" if seq[first - 1] != "A" else "C") + seq[first:]
        fasta = _write_fasta(tmp_path / "wrong.fa", {"chr1": wrong})
        match = rf"REF at chr1:{first} is {seq[first - 1]}\S* but the FASTA \S*wrong.fa has [ACGT]"
    else:
        fasta = _write_fasta(tmp_path / "other.fa", {"chr2": seq})
        match = r"contig chr1 \(first at chr1:\d+\) is not in the FASTA \S*other.fa \(1 sequences: chr2\)"
    with pytest.raises(VcfFormatError, match=match):
        Variants.open(store).ingest(vcf, fasta=fasta)
    assert _snapshot(store) == before
    assert (store / "genomics" / "manifest.json").read_text() == manifest
    capsys.readouterr()
    code = main(["vcf", "ingest", str(vcf), "--fasta", str(fasta), "--store", str(store)])
    assert code == VcfFormatError.exit_code
    err = capsys.readouterr().err
    assert ("REF at chr1:" if problem == "ref" else "contig chr1") in err
    assert _snapshot(store) == before
    assert not (tmp_path / "fresh").exists()
    with pytest.raises(VcfFormatError):
        Variants.open(tmp_path / "fresh").ingest(vcf, fasta=fasta)
    assert not (tmp_path / "fresh").exists()


def test_a_compressed_or_missing_fasta_is_a_clear_error(tmp_path: Path) -> None:
    seq, tracts = _genome()
    vcf = _shifted_vcf(tmp_path / "v.vcf", "chr1", seq, tracts)
    packed = tmp_path / "ref.fa.gz"
    with gzip.open(packed, "wt") as fh:
        fh.write(">chr1\n" + seq + "\n")
    with pytest.raises(ConfigError, match="compressed: --fasta reads a plain FASTA"):
        Variants.open(tmp_path / "s").ingest(vcf, fasta=packed)
    with pytest.raises(InputPathError, match="no such FASTA file"):
        Variants.open(tmp_path / "s").ingest(vcf, fasta=tmp_path / "missing.fa")
    with pytest.raises(InputPathError, match="no such FASTA file"):
        ingest_vcf([vcf], tmp_path / "s", fasta=tmp_path / "missing.fa")
    assert not (tmp_path / "s").exists()
