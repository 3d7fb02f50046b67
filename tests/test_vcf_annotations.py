"""ANN / EFF / CSQ parsing: header layouts, which ALT an entry belongs to, the most severe entry."""

from __future__ import annotations

from exocortex.genomics.annotations import AnnotationParser, format_fields, most_severe

EFF_DESC = (
    "Predicted effects for this variant.Format: 'Effect ( Effect_Impact | Functional_Class | Codon_Change | "
    "Amino_Acid_Change| Amino_Acid_Length | Gene_Name | Transcript_BioType | Gene_Coding | Transcript_ID | "
    "Exon_Rank  | Genotype_Number [ | ERRORS | WARNINGS ] )'"
)
CSQ_DESC = "Consequence annotations from Ensembl VEP. Format: Allele|Consequence|IMPACT|SYMBOL|Feature|HGVSc|HGVSp"


def test_format_fields_reads_eff_and_csq_layouts() -> None:
    eff = format_fields(EFF_DESC, "")
    assert eff[0] == "Effect_Impact" and eff[5] == "Gene_Name" and eff[10] == "Genotype_Number"
    assert eff[-2:] == ["ERRORS", "WARNINGS"]
    assert format_fields(CSQ_DESC, "") == ["Allele", "Consequence", "IMPACT", "SYMBOL", "Feature", "HGVSc", "HGVSp"]


def test_csq_entries_follow_vep_allele_trimming() -> None:
    parser = AnnotationParser({"CSQ": CSQ_DESC})
    csq = ",".join(
        [
            "-|frameshift_variant|HIGH|BRCA2|ENST1|c.1del|p.X1fs",  # the deletion ATG -> A
            "TG|inframe_deletion&splice_region_variant|MODERATE|BRCA2|ENST1|c.2_3del|",  # ATG -> TG
            "A|intron_variant|MODIFIER|BRCA2|ENST2||",
        ]
    )
    per_allele = parser.parse({"CSQ": csq}, "ATG", ["A", "TG"])
    assert [e["consequence"] for e in per_allele[0]] == ["frameshift_variant", "intron_variant"]
    assert [e["consequences"] for e in per_allele[1]] == [["inframe_deletion", "splice_region_variant"]]
    best = most_severe(per_allele[0])
    assert best is not None and best["impact"] == "HIGH" and best["hgvs_p"] == "p.X1fs" and best["gene"] == "BRCA2"


def test_ann_entries_go_to_their_allele_and_unknown_ones_to_all() -> None:
    parser = AnnotationParser({"ANN": None})
    ann = ",".join(
        [
            "C|missense_variant|MODERATE|G1|ID1|transcript|T1|protein_coding|1/2|c.1A>C|p.K1T",
            "T|synonymous_variant|LOW|G1|ID1|transcript|T1|protein_coding|1/2|c.1A>T|p.K1K",
            "C-T|x|LOW|G9|||||||",  # a compound allele: not one ALT, so kept on both
        ]
    )
    per_allele = parser.parse({"ANN": ann}, "A", ["C", "T"])
    assert [e["hgvs_c"] for e in per_allele[0]] == ["c.1A>C", None]
    assert [e["hgvs_c"] for e in per_allele[1]] == ["c.1A>T", None]
    assert per_allele[0][0]["transcript"] == "T1" and per_allele[0][0]["biotype"] == "protein_coding"


def test_eff_genotype_number_and_aa_change() -> None:
    parser = AnnotationParser({"EFF": EFF_DESC})
    eff = (
        "NON_SYNONYMOUS_CODING(MODERATE|MISSENSE|gCt/gTt|p.Ala34Val/c.101C>T|300|GENE1|protein_coding|CODING|T1|2|2),"
        "DOWNSTREAM(MODIFIER||||300|GENE2|protein_coding|CODING|T2||1)"
    )
    per_allele = parser.parse({"EFF": eff}, "C", ["A", "T"])
    assert [e["gene"] for e in per_allele[0]] == ["GENE2"]
    (entry,) = per_allele[1]
    assert entry["consequence"] == "non_synonymous_coding" and entry["impact"] == "MODERATE"
    assert entry["hgvs_p"] == "p.Ala34Val" and entry["hgvs_c"] == "c.101C>T" and entry["transcript"] == "T1"


def test_csq_without_impact_infers_it_from_the_terms() -> None:
    parser = AnnotationParser({"CSQ": "Format: Consequence|SYMBOL"})
    (entries,) = parser.parse({"CSQ": "intron_variant|G,stop_gained&splice_region_variant|G"}, "A", ["T"])
    assert [e["impact"] for e in entries] == ["MODIFIER", "HIGH"]
    assert most_severe(entries) is entries[1]
    assert most_severe([]) is None
