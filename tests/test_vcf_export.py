"""``vcf export``: the store out as VCF, BCF, Parquet and VCF Zarr, checked against bcftools and bio2zarr.

The reference for VCF/BCF is ``bcftools norm -m-`` of the original file: the store keeps alleles
split, so an export must give the same sites, alleles and genotypes (and INFO) as bcftools'
split. Alleles are compared in their minimal form on both sides (common suffix, then prefix,
trimmed): the store trims split alleles (``CAG>GAG`` is ``C>G``), bcftools does not. gVCF
``<NON_REF>``/``<*>`` records of bcftools' split are left out of the reference: the store keeps
reference blocks in ``ref_blocks``, not as variants, and a ``<NON_REF>`` ALT is no allele row.
"""

from __future__ import annotations

import gzip
import re
from collections import defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from exocortex.cli import main
from exocortex.errors import ConfigError, IndexNotFoundError, NoMatchesError, UsageError
from exocortex.genomics.export import GenotypeCoder, build_index, info_text
from exocortex.genomics.schema import REF_BLOCK_ALLELES, TABLES
from exocortex.genomics.store import VariantStore
from exocortex.genomics.variants import Variants

DATA = Path(__file__).parent / "fixtures" / "vcf"
bcftools = pytest.importorskip("pysam.bcftools")

SITE = "%CHROM\t%POS\t%REF\t%ALT"
# Files bcftools norm can split (1kg-629samples.vcf.gz lacks a ##contig line: bcftools refuses it)
ROUND_TRIP = [
    "chr22.vcf.gz",
    "CEUTrio.20.21.gatk3.4.g.bcf",
    "test-haploidX.vcf",
    "cyvcf2-test.vcf.gz",
    "multi_contig.vcf.gz",
    "chr_m_indels.vcf.gz",
    "split-vep.vcf",
    "field_type_combos.vcf.gz",
    "1kg_2020_chr20_annotations.bcf",
    "edge-cases/multiallelic.vcf.gz",
    "sample_all_missing_gts.vcf.gz",
]
# A sample with no carrier call on a chromosome has no stored ploidy there: its hom-ref calls are
# written diploid (``0/0``) where the file had ``0``. Only this file has such a sample.
HAPLOID_UNKNOWN = {"sample_all_missing_gts.vcf.gz"}


def _minimal(pos: int, ref: str, alt: str) -> tuple[int, str, str]:
    if not re.fullmatch(r"[ACGTNacgtn]+", alt):
        return pos, ref, alt
    while len(ref) > 1 and len(alt) > 1 and ref[-1] == alt[-1]:
        ref, alt = ref[:-1], alt[:-1]
    while len(ref) > 1 and len(alt) > 1 and ref[0] == alt[0]:
        ref, alt, pos = ref[1:], alt[1:], pos + 1
    return pos, ref, alt


def _has_gt(path: Path) -> bool:
    return "##FORMAT=<ID=GT," in bcftools.view("-h", str(path))


def _records(path: Path, with_gt: bool) -> list[tuple[tuple[str, int, str, str], list[str]]]:
    """(chrom, pos, ref, alt) in minimal form and the GTs, per record in file order (no ``<NON_REF>`` ALT)."""
    text = bcftools.query("-f", SITE + ("[\t%GT]" if with_gt else "") + "\n", str(path))
    out = []
    for line in text.splitlines():
        chrom, pos, ref, alt, *gts = line.split("\t")
        if alt not in REF_BLOCK_ALLELES:
            out.append(((chrom, *_minimal(int(pos), ref, alt)), gts))
    return out


def _site_lines(text: str) -> list[str]:
    """``bcftools query`` lines starting CHROM POS REF ALT: the alleles minimal, ``<NON_REF>`` ALTs left out."""
    out = []
    for line in text.splitlines():
        chrom, pos, ref, alt, rest = line.split("\t", 4)
        if alt not in REF_BLOCK_ALLELES:
            p, r, a = _minimal(int(pos), ref, alt)
            out.append(f"{chrom}\t{p}\t{r}\t{a}\t{rest}")
    return sorted(out)


def _samples(path: Path) -> list[str]:
    """The sample columns of ``path`` (its #CHROM line; pysam's ``query -l`` prints nothing back)."""
    return bcftools.view("-h", str(path)).rstrip("\n").split("\n")[-1].split("\t")[9:]


def _carries(gt: str) -> bool:
    return any(a not in ("0", ".") for a in re.split(r"[/|]", gt))


def _split(original: Path, tmp: Path) -> Path:
    out = tmp / "norm.vcf"
    bcftools.norm("-m-", "-Ov", "-o", str(out), str(original), catch_stdout=False)
    return out


def _ingest(tmp: Path, *names: str) -> Variants:
    variants = Variants.open(tmp / "store")
    variants.ingest([DATA / n for n in names], build_indexes=False)
    return variants


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_an_export_is_what_bcftools_norm_splits_the_file_into(tmp_path: Path, name: str) -> None:
    original = DATA / name
    summary = _ingest(tmp_path, name).export(tmp_path / "out.vcf.gz")
    reference = _split(original, tmp_path)
    with_gt = _has_gt(original)
    want, got = _records(reference, with_gt), _records(tmp_path / "out.vcf.gz", with_gt)
    assert summary.variants == len(got) == len(want)
    assert sorted(k for k, _ in got) == sorted(k for k, _ in want)  # sites and alleles
    if not with_gt:  # no GT in the file: the store has no calls, the export is sites only
        assert _samples(tmp_path / "out.vcf.gz") == []
        return
    expected: dict[tuple[str, int, str, str], list[list[str]]] = defaultdict(list)
    for key, gts in want:
        expected[key].append(gts)
    mismatches = []
    for key, gts in got:
        ref_gts = expected[key].pop(0)  # same key twice (a duplicated record): in file order
        assert len(gts) == len(ref_gts)
        for sample, (w, g) in enumerate(zip(ref_gts, gts, strict=True)):
            if _carries(w):
                ok = w == g  # re-coded for the split allele exactly as bcftools does, phase kept
            elif _carries(g):
                ok = False
            elif "." in w:
                ok = w == g  # a no-call or half call, as written (missing_calls)
            else:
                ok = w.replace("|", "/") == g or (name in HAPLOID_UNKNOWN and w == "0" and g == "0/0")
            if not ok:
                mismatches.append((key, sample, w, g))
    assert not mismatches, mismatches[:5]


@pytest.mark.parametrize(
    "name", ["chr22.vcf.gz", "CEUTrio.20.21.gatk3.4.g.bcf", "multi_contig.vcf.gz", "field_type_combos.vcf.gz"]
)
def test_id_qual_filter_and_info_come_back_as_bcftools_splits_them(tmp_path: Path, name: str) -> None:
    _ingest(tmp_path, name).export(tmp_path / "out.bcf")
    fields = SITE + "\t%ID\t%QUAL\t%FILTER\t%INFO\n"
    want = _site_lines(bcftools.query("-f", fields, str(_split(DATA / name, tmp_path))))
    got = _site_lines(bcftools.query("-f", fields, str(tmp_path / "out.bcf")))
    assert got == want


def test_records_are_sorted_by_the_header_contig_order_then_position(tmp_path: Path) -> None:
    unsorted = tmp_path / "unsorted.vcf"  # stored in file order: chr2 first, chr1's positions backwards
    unsorted.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=chr1>\n##contig=<ID=chr2>\n"
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n"
        "chr2\t100\t.\tA\tG\t.\t.\t.\nchr1\t300\t.\tA\tG,T\t.\t.\t.\nchr1\t200\t.\tC\tG\t.\t.\t.\n"
    )
    Variants.open(tmp_path / "store").ingest(unsorted, build_indexes=False)
    _ingest(tmp_path, "multi_contig.vcf.gz").export(tmp_path / "out.vcf")
    header = bcftools.view("-h", str(tmp_path / "out.vcf"))
    contigs = re.findall(r"##contig=<ID=([^,>]+)", header)
    rank = {c: i for i, c in enumerate(contigs)}
    lines = bcftools.query("-f", "%CHROM\t%POS\n", str(tmp_path / "out.vcf")).splitlines()
    order = [(rank[c], int(p)) for c, p in (line.split("\t") for line in lines)]
    assert order == sorted(order) and len({c for c, _ in order}) > 1
    assert bcftools.query("-f", SITE + "\n", str(tmp_path / "out.vcf")).splitlines()[:4] == [
        "chr1\t200\tC\tG", "chr1\t300\tA\tG", "chr1\t300\tA\tT", "chr2\t100\tA\tG",
    ]  # a split site keeps its alleles' order
    # the export is a valid, indexable file: bcftools reads every record
    assert int(bcftools.view("-H", str(tmp_path / "out.vcf")).count("\n")) == len(order)


def test_vcf_bgzf_and_bcf_hold_the_same_records(tmp_path: Path) -> None:
    variants = _ingest(tmp_path, "CEUTrio.20.21.gatk3.4.g.bcf")
    for name in ("a.vcf", "a.vcf.gz", "a.bcf"):
        variants.export(tmp_path / name)
    plain = (tmp_path / "a.vcf").read_bytes()
    assert plain.startswith(b"##fileformat=VCFv4.2\n")
    bgzf = (tmp_path / "a.vcf.gz").read_bytes()
    assert bgzf.endswith(bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000"))  # BGZF EOF
    assert gzip.decompress(bgzf) == plain
    assert gzip.decompress((tmp_path / "a.bcf").read_bytes()).startswith(b"BCF\x02")
    views = {name: bcftools.view("-H", str(tmp_path / name)) for name in ("a.vcf", "a.vcf.gz", "a.bcf")}
    assert views["a.vcf"] == views["a.vcf.gz"] == views["a.bcf"]
    assert "GT:GQ:DP:AD" in views["a.vcf"]  # what the source defines beside GT


def test_split_genotypes_are_recoded_per_allele() -> None:
    recode = GenotypeCoder()
    assert [recode("1/2", 1), recode("1/2", 2)] == ["1/0", "0/1"]
    assert [recode("2|1", 1), recode("2|1", 2)] == ["0|1", "1|0"]
    assert [recode("./2", 2), recode("2", 2), recode("3/3", 3), recode("0/12", 12)] == ["./1", "1", "1/1", "0/1"]


def test_info_is_rebuilt_from_the_stored_json() -> None:
    assert info_text('{"AC":3,"AF":0.3,"DB":true,"X":false,"AD":[1,null],"S":"a,b","N":null}') == (
        "AC=3;AF=0.3;DB;AD=1,.;S=a,b;N=."
    )
    assert info_text("{}") == info_text(None) == "."
    assert info_text('{"ExcessHet":-0.0,"Q":12345678.0,"R":1e-07}') == "ExcessHet=-0;Q=12345678;R=1e-07"


def test_several_sources_give_one_header_and_every_sample_a_column(tmp_path: Path) -> None:
    variants = _ingest(tmp_path, "chr22.vcf.gz", "CEUTrio.20.21.gatk3.4.g.bcf")
    summary = variants.export(tmp_path / "out.bcf")
    store = VariantStore(tmp_path / "store")
    names = store.read("samples").sort_by("sample")["name"].to_pylist()
    assert _samples(tmp_path / "out.bcf") == names
    assert summary.variants == store.table("variants").count_rows() and summary.samples == len(names)
    header = bcftools.view("-h", str(tmp_path / "out.bcf"))
    assert "##contig=<ID=chr22" in header and "##contig=<ID=20," in header
    # a site of one file: that file's samples are called, the other file's samples are ./.
    line = bcftools.query("-t", "20:10132722", "-f", "[%GT ]\n", str(tmp_path / "out.bcf"))
    gts = line.split("\n")[0].split()
    assert set(gts[:-1]) == {"./."} and gts[-1] in ("1/0", "0/1")


def _make_index(path: Path) -> None:
    build_index(path)
    assert path.with_name(path.name + ".csi").is_file()


def test_the_region_and_sample_filters(tmp_path: Path) -> None:
    variants = _ingest(tmp_path, "chr22.vcf.gz")
    whole = tmp_path / "whole.vcf.gz"
    variants.export(whole)
    _make_index(whole)  # htslib's indexer, through cyvcf2's module: bcftools can read the region
    region = "chr22:10510000-10515000"
    part = variants.export(tmp_path / "part.vcf", region=region, samples="HG00096,HG00099")
    want = bcftools.query("-r", region, "-s", "HG00096,HG00099", "-f", SITE + "[\t%GT]\n", str(whole))
    assert bcftools.query("-f", SITE + "[\t%GT]\n", str(tmp_path / "part.vcf")) == want
    assert part.variants == len(want.splitlines()) > 0 and part.samples == 2
    assert _samples(tmp_path / "part.vcf") == ["HG00096", "HG00099"]


def _sorted(table: pa.Table) -> pa.Table:
    """``table`` sorted by every column that can be sorted (so two copies of a table compare equal)."""
    keys = [(f.name, "ascending") for f in table.schema if not pa.types.is_list(f.type)]
    return table.sort_by(keys)


def test_parquet_holds_the_store_tables(tmp_path: Path) -> None:
    # annotations (split-vep's CSQ), reference blocks and no-calls (the CEU trio gVCF), a pedigree
    variants = _ingest(tmp_path, "cyvcf2-test.vcf.gz", "CEUTrio.20.21.gatk3.4.g.bcf", "split-vep.vcf")
    ped = tmp_path / "trio.ped"
    ped.write_text("CEU\tNA12878\tNA12891\tNA12892\t2\t2\nCEU\tNA12891\t0\t0\t1\t1\nCEU\tNA12892\t0\t0\t2\t1\n")
    variants.samples(ped=ped)
    summary = variants.export(tmp_path / "out", format="parquet")
    store = VariantStore(tmp_path / "store")
    present = [n for n in TABLES if store.has(n)]
    assert {"annotations", "ref_blocks", "missing_calls", "pedigree"} <= set(present)
    assert sorted(Path(f).name for f in summary.files) == sorted(f"{n}.parquet" for n in present)
    for name in present:
        exported = pq.read_table(tmp_path / "out" / f"{name}.parquet")
        stored = store.read(name)
        assert exported.schema.names == stored.schema.names
        assert stored.num_rows > 0 and _sorted(exported).equals(_sorted(stored)), name
    assert "annotations" not in pq.read_table(tmp_path / "out" / "variants.parquet").schema.names
    assert summary.variants == store.table("variants").count_rows()
    assert summary.calls == store.table("calls").count_rows()


def test_parquet_of_a_region_holds_its_variants_and_their_calls(tmp_path: Path) -> None:
    variants = _ingest(tmp_path, "chr22.vcf.gz", "CEUTrio.20.21.gatk3.4.g.bcf")
    summary = variants.export(tmp_path / "out.parquet", region="chr22", samples=["HG00096", "HG00097", "NA12878"])
    exported = pq.read_table(tmp_path / "out.parquet" / "variants.parquet")
    assert set(exported["chrom"].to_pylist()) == {"chr22"} and exported.num_rows == summary.variants == 104
    calls = pq.read_table(tmp_path / "out.parquet" / "calls.parquet")
    samples = pq.read_table(tmp_path / "out.parquet" / "samples.parquet")
    assert sorted(samples["name"].to_pylist()) == ["HG00096", "HG00097", "NA12878"]
    assert set(calls["vid"].to_pylist()) <= set(exported["vid"].to_pylist())
    assert set(calls["sample"].to_pylist()) <= set(samples["sample"].to_pylist())
    stored = VariantStore(tmp_path / "store").read("calls")
    own = stored.filter(pa.compute.is_in(stored["sample"], samples["sample"]))
    own = own.filter(pa.compute.is_in(own["vid"], exported["vid"]))
    assert calls.num_rows == own.num_rows == summary.calls > 0
    # the CEU trio's reference blocks are on chromosome 20: none overlap chr22; its missing calls neither
    assert pq.read_table(tmp_path / "out.parquet" / "ref_blocks.parquet").num_rows == 0
    missing = pq.read_table(tmp_path / "out.parquet" / "missing_calls.parquet")
    assert set(missing["vid"].to_pylist()) <= set(exported["vid"].to_pylist())
    assert set(missing["sample"].to_pylist()) <= set(samples["sample"].to_pylist()) | {-1}


# several contigs (bio2zarr needs the index); Number=A strings and characters; haploid calls
@pytest.mark.parametrize("name", ["multi_contig.vcf.gz", "field_type_combos.vcf.gz", "test-haploidX.vcf"])
def test_zarr_is_made_by_bio2zarr_and_passes_its_verify(tmp_path: Path, name: str) -> None:
    import zarr  # bio2zarr's own dependency: installed with exocortex

    variants = _ingest(tmp_path, name)
    summary = variants.export(tmp_path / "out.vcz", verify=True)
    assert summary.verified and summary.format == "zarr"
    root = zarr.open(str(tmp_path / "out.vcz"), mode="r")
    positions = root["variant_position"][:]
    assert len(positions) == summary.variants == VariantStore(tmp_path / "store").table("variants").count_rows()
    names = VariantStore(tmp_path / "store").read("samples").sort_by("sample")["name"].to_pylist()
    assert list(root["sample_id"][:]) == (names if summary.samples else [])  # no GT in the file: sites only
    if name == "multi_contig.vcf.gz":
        assert len(set(root["variant_contig"][:].tolist())) > 1
    assert not list(tmp_path.glob(".out.vcz*"))  # the scratch BCF and the partial folder are gone


def test_bad_requests_are_refused_with_one_clear_error(tmp_path: Path) -> None:
    empty = Variants.open(tmp_path / "nothing")
    with pytest.raises(IndexNotFoundError, match="no variant store"):
        empty.export(tmp_path / "x.vcf")
    variants = _ingest(tmp_path, "chr22.vcf.gz")
    with pytest.raises(ConfigError, match="unknown export format 'cram'"):
        variants.export(tmp_path / "x.vcf", format="cram")
    with pytest.raises(ConfigError, match="cannot tell the export format"):
        variants.export(tmp_path / "x.txt")
    with pytest.raises(ConfigError, match="--verify"):
        variants.export(tmp_path / "x.vcf", verify=True)
    with pytest.raises(ConfigError, match="bad region"):
        variants.export(tmp_path / "x.vcf", region="chr22:9-1")
    with pytest.raises(NoMatchesError, match="no variants in chr7"):
        variants.export(tmp_path / "x.vcf", region="chr7")
    with pytest.raises(NoMatchesError, match="no sample NOBODY"):
        variants.export(tmp_path / "x.vcf", samples="HG00096,NOBODY")
    with pytest.raises(UsageError, match="is not a folder"):
        variants.export(tmp_path / "no" / "x.vcf")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]  # nothing written by a refusal
    (tmp_path / "x.vcf").write_text("keep")
    with pytest.raises(UsageError, match="exists: pass --force"):
        variants.export(tmp_path / "x.vcf")
    assert (tmp_path / "x.vcf").read_text() == "keep"
    assert variants.export(tmp_path / "x.vcf", force=True).variants == 104
    assert (tmp_path / "x.vcf").read_text().startswith("##fileformat")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "notes.txt").write_text("mine")
    for target in (tmp_path / "folder", tmp_path / "store"):  # --force never deletes a folder of other files
        with pytest.raises(UsageError, match="not an earlier parquet or zarr export"):
            variants.export(target, format="parquet", force=True)
    assert (tmp_path / "folder" / "notes.txt").read_text() == "mine"
    variants.export(tmp_path / "pq", format="parquet")
    assert variants.export(tmp_path / "pq", format="parquet", force=True).variants == 104  # an export: replaced


def test_a_store_without_variants_is_refused(tmp_path: Path) -> None:
    header_only = tmp_path / "h.vcf"
    header_only.write_text("##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\n")
    variants = Variants.open(tmp_path / "s")
    variants.ingest(header_only, build_indexes=False)
    with pytest.raises(NoMatchesError, match="holds no variants"):
        variants.export(tmp_path / "x.bcf")


def test_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = str(tmp_path / "store")
    _ingest(tmp_path, "chr22.vcf.gz")
    out = str(tmp_path / "o.bcf")
    assert main(["vcf", "export", "--store", store, "--format", "bcf", "--output", out]) == 0
    assert "exported 104 variants, 100 samples" in capsys.readouterr().out
    assert main(["vcf", "export", "--store", store, "--format", "bcf", "--output", out]) == UsageError.exit_code
    err = capsys.readouterr().err
    assert "exists: pass --force" in err and len(err.strip().splitlines()) == 1
    region = ["--region", "chr22:1-10510683"]
    assert main(["vcf", "export", "--store", store, "-o", out, "--force", "--json", *region]) == 0
    want = Variants.open(store).query("chr22:1-10510683").matched  # alleles overlapping the region
    assert f'"variants": {want},' in capsys.readouterr().out and 0 < want < 104
    code = main(["vcf", "export", "--store", store, "--format", "xyz", "-o", str(tmp_path / "q")])
    assert code == ConfigError.exit_code
    code = main(["vcf", "export", "--store", str(tmp_path / "none"), "-o", str(tmp_path / "q.vcf")])
    assert code == IndexNotFoundError.exit_code


def test_no_calls_and_half_calls_come_back_from_missing_calls(tmp_path: Path) -> None:
    vcf = tmp_path / "nc.vcf"
    vcf.write_text(
        "##fileformat=VCFv4.2\n##contig=<ID=1>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tA\tB\tC\n"
        "1\t100\t.\tA\tG,T\t50\tPASS\t.\tGT\t0/1\t./.\t1|2\n"
        "1\t200\t.\tC\tA\t50\tPASS\t.\tGT\t0/.\t0/0\t.|.\n"
    )
    variants = Variants.open(tmp_path / "s")
    variants.ingest(vcf, build_indexes=False)
    assert VariantStore(tmp_path / "s").read("missing_calls").num_rows == 4  # B twice, A and C once
    variants.export(tmp_path / "out.vcf")
    gts = bcftools.query("-f", "[%GT ]\n", str(tmp_path / "out.vcf")).split("\n")[:3]
    assert gts == ["0/1 ./. 1|0 ", "0/0 ./. 0|1 ", "0/. 0/0 .|. "]
    assert gts == bcftools.query("-f", "[%GT ]\n", str(_split(vcf, tmp_path))).split("\n")[:3]


def test_a_file_bcftools_refuses_to_split_still_exports_whole(tmp_path: Path) -> None:
    """1kg-629samples.vcf.gz names a contig its header lacks: the export adds the ##contig line."""
    name = "1kg-629samples.vcf.gz"
    summary = _ingest(tmp_path, name).export(tmp_path / "out.bcf")
    assert summary.samples == 629
    assert summary.variants == VariantStore(tmp_path / "store").table("variants").count_rows()
    assert bcftools.view("-H", str(tmp_path / "out.bcf")).count("\n") == summary.variants
    original = {(c, int(p)) for c, p in (line.split("\t") for line in bcftools.query(
        "-f", "%CHROM\t%POS\n", str(DATA / name)).splitlines())}  # fmt: skip
    exported = {(c, int(p)) for c, p in (line.split("\t") for line in bcftools.query(
        "-f", "%CHROM\t%POS\n", str(tmp_path / "out.bcf")).splitlines())}  # fmt: skip
    assert exported == original


def _one_sample_files(tmp_path: Path) -> list[Path]:
    paths = []
    for i, alt in ((1, "G"), (2, "T")):
        path = tmp_path / f"{i}.vcf"
        path.write_text(
            "##fileformat=VCFv4.2\n##contig=<ID=1>\n"
            '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
            f"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tA\n1\t{100 * i}\t.\tA\t{alt}\t.\t.\t.\tGT\t0/1\n"
        )
        paths.append(path)
    return paths


def test_a_sample_name_held_by_two_sources_kept_apart_gets_two_columns(tmp_path: Path) -> None:
    variants = Variants.open(tmp_path / "s")
    variants.ingest(_one_sample_files(tmp_path), build_indexes=False, merge=False)
    variants.export(tmp_path / "out.vcf")
    assert _samples(tmp_path / "out.vcf") == ["A", "A_source2"]
    assert bcftools.query("-f", "%POS[ %GT]\n", str(tmp_path / "out.vcf")) == "100 0/1 ./.\n200 ./. 0/1\n"


def test_a_sample_name_held_by_two_merged_sources_is_one_column(tmp_path: Path) -> None:
    variants = Variants.open(tmp_path / "s")
    variants.ingest(_one_sample_files(tmp_path), build_indexes=False)  # merged: one sample A
    summary = variants.export(tmp_path / "out.vcf")
    assert _samples(tmp_path / "out.vcf") == ["A"] and summary.samples == 1
    assert bcftools.query("-f", "%POS[ %GT]\n", str(tmp_path / "out.vcf")) == "100 0/1\n200 0/1\n"


def test_merged_files_give_every_sample_its_call_whichever_file_it_came_from(tmp_path: Path) -> None:
    """Two files of samples A+B and A+C: a site both hold is one row whose calls come from both files.

    C's call at 100 is from the second file but sits on the first file's row; B is absent from
    the second file's site 300 (``./.``), C from the first file's site 200; C's half call is kept.
    (``bcftools merge`` is no reference here: it refuses a sample name in both files.)
    """
    head = (
        "##fileformat=VCFv4.2\n##contig=<ID=1>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT"
    )
    one, two = tmp_path / "ab.vcf", tmp_path / "ac.vcf"
    one.write_text(head + "\tA\tB\n1\t100\t.\tA\tG\t.\t.\t.\tGT\t0/1\t0/0\n1\t200\t.\tC\tT\t.\t.\t.\tGT\t0/0\t1/1\n")
    two.write_text(head + "\tA\tC\n1\t100\t.\tA\tG\t.\t.\t.\tGT\t0/1\t1/1\n1\t300\t.\tG\tA\t.\t.\t.\tGT\t0/1\t0/.\n")
    variants = Variants.open(tmp_path / "s")
    variants.ingest([one, two], build_indexes=False)
    store = VariantStore(tmp_path / "s")
    assert store.table("variants").count_rows() == 3 and store.read("merged_sites").num_rows == 1
    summary = variants.export(tmp_path / "out.vcf")
    assert _samples(tmp_path / "out.vcf") == ["A", "B", "C"] and summary.variants == 3
    assert bcftools.query("-f", "%POS[ %GT]\n", str(tmp_path / "out.vcf")) == (
        "100 0/1 0/0 1/1\n200 0/0 1/1 ./.\n300 0/1 ./. 0/.\n"
    )
    variants.export(tmp_path / "pq", format="parquet")  # merged_sites goes along
    assert pq.read_table(tmp_path / "pq" / "merged_sites.parquet").equals(store.read("merged_sites"))
