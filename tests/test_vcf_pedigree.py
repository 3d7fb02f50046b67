"""Sample metadata, PED files and inheritance queries (de novo, homozygous recessive, compound het).

A hand-made trio with one known case of each kind and the traps around them (no-call and half-call
parents, a parent carrying another ALT, two alleles of one gene from one parent), then pseudo-trios
on real cohorts (``CEUTrio...bcf`` holds NA12878 alone, so no real trio is among the fixtures)
compared with a direct count over ``bcftools query`` output.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from exocortex import Variants
from exocortex.cli import main
from exocortex.errors import InputPathError, NoMatchesError, UsageError
from exocortex.genomics.store import VariantStore

bcftools = pytest.importorskip("pysam.bcftools")

DATA = Path(__file__).parent / "fixtures" / "vcf"
ANN = (
    '##INFO=<ID=ANN,Number=.,Type=String,Description="Functional annotations: \'Allele | Annotation | '
    "Annotation_Impact | Gene_Name | Gene_ID | Feature_Type | Feature_ID | Transcript_BioType | Rank | HGVS.c | "
    "HGVS.p | cDNA.pos / cDNA.length | CDS.pos / CDS.length | AA.pos / AA.length | Distance | ERRORS / WARNINGS / "
    "INFO' \">\n"
)
HEADER = (
    "##fileformat=VCFv4.2\n##contig=<ID=1,length=100000>\n" + ANN
    + '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    + "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tKID\tDAD\tMOM\tOTHER\n"
)  # fmt: skip


def _ann(gene: str | None, alt: str = "G") -> str:
    if gene is None:
        return "."
    return f"ANN={alt}|missense_variant|MODERATE|{gene}|{gene}|transcript|T{gene}|protein_coding|1/1|c.1A>G|p.M1V||||"


# (pos, alts, gene, KID, DAD, MOM): the known cases and the traps
TRIO = [
    (100, "G", None, "0/1", "0/0", "0|0"),  # de novo
    (200, "G", None, "0/1", "./.", "0/0"),  # father not called: NOT de novo
    (300, "G", None, "0/1", "0/0", "0/."),  # mother half called: NOT de novo
    (350, "G", None, "0/1", "0/0", "1/1"),  # inherited
    (400, "G", None, "1/1", "0/1", "1|0"),  # homozygous recessive
    (500, "G", None, "1/1", "1/1", "0/1"),  # a hom-alt father: NOT recessive
    (550, "G", None, "1/1", "0/1", "./."),  # a no-call mother: NOT recessive
    (600, "G,T", None, "0/1", "0/2", "0/0"),  # the father carries the other ALT: NOT de novo
    (1000, "G", "GENEA", "0/1", "0/1", "0/0"),  # compound het: from the father only
    (1100, "G", "GENEA", "0/1", "0/0", "0/1"),  # and from the mother only
    (2000, "G", "GENEB", "0/1", "0/1", "0/0"),  # both from the father: NOT compound het
    (2100, "G", "GENEB", "0/1", "0/1", "0/0"),
    (3000, "G", "GENEC", "0/1", "0/1", "0/0"),  # one from the father, one from both: NOT compound het
    (3100, "G", "GENEC", "0/1", "0/1", "0/1"),
    (4000, "G", "GENED", "0/1", "0/1", "0/0"),  # the second's father is a no-call: NOT compound het
    (4100, "G", "GENED", "0/1", "./.", "0/1"),
]
PED = "# family sample father mother sex phenotype\nF1 KID DAD MOM 1 2\nF1 DAD 0 0 1 1\nF1 MOM 0 0 2 1\n"


def _trio_store(tmp_path: Path) -> Path:
    lines = [
        f"1\t{pos}\t.\tA\t{alts}\t50\tPASS\t{_ann(gene)}\tGT\t{kid}\t{dad}\t{mom}\t0/0"
        for pos, alts, gene, kid, dad, mom in TRIO
    ]
    vcf = tmp_path / "trio.vcf"
    vcf.write_text(HEADER + "\n".join(lines) + "\n")
    store = tmp_path / "store"
    Variants.open(store).ingest([vcf])
    (tmp_path / "trio.ped").write_text(PED)
    Variants.open(store).samples(tmp_path / "trio.ped")
    return store


def _keys(result: Any) -> list[str]:
    return [r["key"] for r in result.rows]


def test_hand_checked_trio(tmp_path: Path) -> None:
    variants = Variants.open(_trio_store(tmp_path))
    de_novo = variants.inheritance("de_novo", limit=100)
    assert _keys(de_novo) == ["1:100:A:G"]
    assert (de_novo.rows[0]["father_status"], de_novo.rows[0]["mother_status"]) == ("hom_ref", "hom_ref")
    assert [(t.child, t.father, t.mother) for t in de_novo.trios] == [("KID", "DAD", "MOM")]
    assert _keys(variants.inheritance("recessive", limit=100)) == ["1:400:A:G"]
    compound = variants.inheritance("compound_het", limit=100)
    assert [(r["key"], r["gene"], r["origin"]) for r in compound.rows] == [
        ("1:1000:A:G", "GENEA", "father"),
        ("1:1100:A:G", "GENEA", "mother"),
    ]
    assert compound.matched == 2
    assert variants.inheritance("compound_het", gene="GENEB").rows == []
    assert _keys(variants.inheritance("compound_het", gene="GENEA")) == ["1:1000:A:G", "1:1100:A:G"]
    assert variants.inheritance("de_novo", gene="NOSUCH").notes  # an unknown gene is said, not silent
    limited = variants.inheritance("compound_het", limit=1)
    assert (limited.matched, len(limited.rows)) == (2, 1)


def test_the_traps_have_the_statuses_that_exclude_them(tmp_path: Path) -> None:
    variants = Variants.open(_trio_store(tmp_path))
    assert variants.genotype("1:200:A:G", "DAD").status == "no_call"
    assert variants.genotype("1:300:A:G", "MOM").status == "partial"
    assert variants.genotype("1:600:A:G", "DAD").status == "other_alt"
    assert variants.genotype("1:100:A:G", "DAD").status == "hom_ref"
    assert variants.genotype("1:100:A:G", "KID").status == "carrier"


def test_inheritance_cli_gives_the_api_answer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = _trio_store(tmp_path)
    capsys.readouterr()
    assert main(["vcf", "inheritance", "de_novo", "--proband", "KID", "--store", str(store), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["key"] for r in data["rows"]] == ["1:100:A:G"]
    assert main(["vcf", "inheritance", "recessive", "--store", str(store)]) == 0
    assert "1:400:A:G" in capsys.readouterr().out
    assert main(["vcf", "genotype", "1:200:A:G", "DAD", "--store", str(store), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "no_call"


def test_inheritance_refusals(tmp_path: Path) -> None:
    store = _trio_store(tmp_path)
    variants = Variants.open(store)
    with pytest.raises(UsageError, match="unknown inheritance mode"):
        variants.inheritance("dominant")
    with pytest.raises(NoMatchesError, match="DAD"):
        variants.inheritance("de_novo", proband="DAD")  # a parent, not a trio child
    with pytest.raises(NoMatchesError, match="F9"):
        variants.inheritance("de_novo", family="F9")
    with pytest.raises(UsageError, match="--limit"):
        variants.inheritance("de_novo", limit=-1)
    bare = tmp_path / "bare"
    Variants.open(bare).ingest([tmp_path / "trio.vcf"])
    with pytest.raises(UsageError, match="--ped"):
        Variants.open(bare).inheritance("de_novo")


# --------------------------------------------------------------------------- PED files


def test_samples_lists_ped_fields_and_warns_about_unknown_samples(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = _trio_store(tmp_path)
    ped = tmp_path / "more.ped"
    ped.write_text(PED + "F1 GRANDMA 0 0 2 0\nF2\tSTRANGER\t0\t0\t0\t-9\n")
    capsys.readouterr()
    assert main(["vcf", "samples", "--ped", str(ped), "--store", str(store), "--json"]) == 0
    captured = capsys.readouterr()
    assert "GRANDMA" in captured.err and "STRANGER" in captured.err and "warning" in captured.err
    data = json.loads(captured.out)
    assert data["unknown"] == ["GRANDMA", "STRANGER"]
    rows = {r["sample"]: r for r in data["samples"]}
    assert list(rows) == ["KID", "DAD", "MOM", "OTHER"]
    assert {k: rows["KID"][k] for k in ("family", "father", "mother", "sex", "affected")} == {
        "family": "F1", "father": "DAD", "mother": "MOM", "sex": "male", "affected": True,
    }  # fmt: skip
    assert (rows["MOM"]["sex"], rows["MOM"]["affected"]) == ("female", False)
    assert rows["OTHER"]["family"] is None
    stored = VariantStore(store).read("pedigree")["name"].to_pylist()
    assert sorted(stored) == ["DAD", "KID", "MOM"]  # the unknown ones are left out, the rest applied
    assert main(["vcf", "samples", "--store", str(store)]) == 0
    assert "KID" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("text", "line", "why"),
    [
        ("F1 KID DAD MOM 1\n", 1, "5 columns"),
        ("# header\nF1 KID DAD MOM 1 2\nF1 DAD 0 0 M 1\n", 3, "sex 'M'"),
        ("F1 KID DAD MOM 1 2\n\nF1 MOM 0 0 2 affected\n", 3, "phenotype 'affected'"),
        ("F1 KID DAD MOM 1 2\nF1 KID 0 0 1 1\n", 2, "already described on line 1"),
        ("F1 KID KID MOM 1 2\n", 1, "its own parent"),
    ],
)
def test_a_malformed_ped_line_is_refused_with_its_number(tmp_path: Path, text: str, line: int, why: str) -> None:
    store = _trio_store(tmp_path)
    before = VariantStore(store).read("pedigree").num_rows
    bad = tmp_path / "bad.ped"
    bad.write_text(text)
    with pytest.raises(UsageError, match=f"line {line}: .*{why}"):
        Variants.open(store).samples(bad)
    assert VariantStore(store).read("pedigree").num_rows == before  # nothing written
    with pytest.raises(InputPathError):
        Variants.open(store).samples(tmp_path / "missing.ped")


# --------------------------------------------------------------------------- pseudo-trios on real files


def _names(path: Path) -> list[str]:
    """Sample names from the #CHROM line that bcftools prints."""
    header = bcftools.view("-h", str(path)).splitlines()
    return next(line for line in header if line.startswith("#CHROM")).split("\t")[9:]


def _direct_count(path: Path, trio: tuple[str, str, str], mode: str) -> set[str]:
    """De novo / recessive keys by reading the GTs that bcftools query prints (normalised chromosome)."""
    fmt = "%CHROM\t%POS\t%REF\t%ALT[\t%GT]\n"
    out = bcftools.query("-s", ",".join(trio), "-f", fmt, str(path))
    order = [n for n in _names(path) if n in trio]  # -s keeps the file's column order
    keys = set()
    for line in out.splitlines():
        chrom, pos, ref, alts, *gts = line.split("\t")
        g = dict(zip(order, gts, strict=True))
        kid, dad, mom = (g[s].replace("|", "/").split("/") for s in trio)
        for i, alt in enumerate(alts.split(","), start=1):
            a = str(i)
            ref_only = [all(v == "0" for v in gt) for gt in (dad, mom)]  # every allele called REF
            one_copy = [gt.count(a) == 1 and len(gt) == 2 for gt in (dad, mom)]
            if mode == "de_novo" and a in kid and all(ref_only):
                keys.add(f"{chrom.removeprefix('chr')}:{pos}:{ref}:{alt}")
            if mode == "recessive" and len(kid) > 1 and all(v == a for v in kid) and all(one_copy):
                keys.add(f"{chrom.removeprefix('chr')}:{pos}:{ref}:{alt}")
    return keys


@pytest.mark.parametrize(("name", "first"), [("1kg-629samples.vcf.gz", 41), ("cyvcf2-test.vcf.gz", 2)])
def test_pseudo_trios_agree_with_a_direct_count(tmp_path: Path, name: str, first: int) -> None:
    """Three consecutive samples of the file as child, father, mother (``first``: the first such trio
    with both a de novo and a recessive allele, so neither comparison is vacuous; 1kg has many no-calls)."""
    names = _names(DATA / name)
    trio = (names[first], names[first + 1], names[first + 2])
    store = tmp_path / "store"
    variants = Variants.open(store)
    variants.ingest([DATA / name])
    (tmp_path / "t.ped").write_text(f"T {trio[0]} {trio[1]} {trio[2]} 1 2\n")
    variants.samples(tmp_path / "t.ped")
    for mode in ("de_novo", "recessive"):
        expected = _direct_count(DATA / name, trio, mode)
        got = variants.inheritance(mode, limit=10**6)
        assert set(_keys(got)) == expected, mode
        assert got.matched == len(expected)
        assert expected


def test_compound_het_on_a_real_annotated_cohort(tmp_path: Path) -> None:
    """cyvcf2-test (VEP and snpEff genes): the compound hets follow from the per-allele parent origins."""
    name = "cyvcf2-test.vcf.gz"
    names = _names(DATA / name)
    store = tmp_path / "store"
    variants = Variants.open(store)
    variants.ingest([DATA / name])
    found = 0
    for k in range(0, 30, 3):
        trio = names[k : k + 3]
        (tmp_path / "t.ped").write_text(f"T {trio[0]} {trio[1]} {trio[2]} 1 2\n")
        variants.samples(tmp_path / "t.ped")
        got = variants.inheritance("compound_het", limit=10**6)
        genes: dict[str, set[str]] = {}
        for row in got.rows:
            kid = variants.genotype(row["key"], trio[0])
            dad = variants.genotype(row["key"], trio[1]).status
            mom = variants.genotype(row["key"], trio[2]).status
            assert kid.zygosity == "het"
            assert (dad, mom) == (("carrier", "hom_ref") if row["origin"] == "father" else ("hom_ref", "carrier"))
            genes.setdefault(row["gene"], set()).add(row["origin"])
        assert all(origins == {"father", "mother"} for origins in genes.values())
        found += len(got.rows)
    assert found  # some trio has compound hets: not vacuous


def test_a_pack_question_about_an_inheritance_pattern(tmp_path: Path) -> None:
    """`pack` reads "de novo", "compound heterozygous", "recessive" and asks the trios."""
    from exocortex.genomics.context import variant_pack

    store = _trio_store(tmp_path)
    pack = variant_pack(store, "which de novo variants does KID carry?", 3000)
    assert [i.key for i in pack.items] == ["1:100:A:G"]
    assert "de novo in KID (father DAD, mother MOM): 1 matching alleles" in pack.text
    pack = variant_pack(store, "compound heterozygous variants in GENEA", 3000)
    assert sorted(i.key for i in pack.items) == ["1:1000:A:G", "1:1100:A:G"]
    assert [i.key for i in variant_pack(store, "homozygous recessive variants", 3000).items] == ["1:400:A:G"]
    with pytest.raises(NoMatchesError, match="de novo: sample 'DAD' has no father and mother"):
        variant_pack(store, "de novo variants in DAD", 3000)  # DAD is no trio's child: said
