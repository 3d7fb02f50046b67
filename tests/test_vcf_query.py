"""vcf query, stats, similar and graph over a real Lance store written by a small synthetic fixture."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import lancedb
import numpy as np
import pyarrow as pa
import pytest

from exocortex.errors import ConfigError, IndexNotFoundError, NoMatchesError
from exocortex.genomics import layout as layout_mod
from exocortex.genomics import query as query_mod
from exocortex.genomics.graph import build_graph, check_read_only, run_cypher
from exocortex.genomics.query import (
    Region,
    VariantQuery,
    create_filter_indexes,
    parse_region,
    run_query,
    variant_predicate,
)
from exocortex.genomics.schema import ANNOTATIONS, CALLS, SAMPLES, SOURCES, VARIANTS, make_vid
from exocortex.genomics.similar import FEATURE_COLUMNS, build_features, feature_vectors, similar
from exocortex.genomics.stats import variant_stats
from exocortex.genomics.store import Manifest, VariantStore, genomics_dir, read_manifest, write_manifest

CHROMS = ["1", "2", "10", "X"]
PER_CHROM = 80
SAMPLE_NAMES = ["S1", "S2", "S3", "S4", "S5"]
SNV_PAIRS = [("A", "G"), ("C", "T"), ("A", "C"), ("G", "T"), ("T", "C"), ("G", "A"), ("C", "G"), ("T", "A"), ("C", "T")]
CONSEQUENCES = ["missense_variant", "synonymous_variant", "intron_variant", "stop_gained", "splice_region_variant"]
IMPACT_OF = {
    "missense_variant": "MODERATE", "synonymous_variant": "LOW", "intron_variant": "MODIFIER",
    "stop_gained": "HIGH", "splice_region_variant": "LOW",
}  # fmt: skip
CLNSIG = [
    None,
    None,
    "Pathogenic",
    "Benign",
    "Likely_pathogenic",
    "Pathogenic/Likely_pathogenic",
    None,
    "Uncertain_significance",
]


def _gene(chrom: str, i: int) -> str | None:
    if i >= 60:
        return None
    return {"1": "GENE_A" if i < 30 else "GENE_B", "2": "GENE_C", "10": "GENE_E", "X": "GENE_D"}[chrom]


def make_rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Python rows of the fixture: variants, calls, samples (the test's own ground truth)."""
    variants: list[dict[str, Any]] = []
    n = 0
    for c_i, chrom in enumerate(CHROMS):
        for i in range(PER_CHROM):
            pos = 1000 + 1000 * i
            if i % 10 == 9:
                ref, alt, vtype = "ACGTA", "A", "deletion"  # spans pos..pos+4
            elif i % 15 == 14:
                ref, alt, vtype = "T", "TGG", "insertion"
            else:
                ref, alt = SNV_PAIRS[(i + c_i) % len(SNV_PAIRS)]
                vtype = "SNV"
            gene = _gene(chrom, i)
            consequence = CONSEQUENCES[i % len(CONSEQUENCES)] if gene else "intergenic_variant"
            genes = [gene] if gene else []
            if gene and i % 7 == 0:
                genes.append("OVERLAP_" + gene)  # a second gene named only in `genes`
            key = f"{chrom}:{pos}:{ref}:{alt}"
            variants.append({
                "vid": make_vid(c_i, i), "key": key, "source": c_i, "record": i, "line": i + 10,
                "chrom": ("chr" + chrom) if chrom != "10" else chrom, "chrom_norm": chrom, "pos": pos,
                "end": pos + len(ref) - 1, "ref": ref, "alt": alt, "allele_index": 1, "n_alts": 1,
                "vtype": vtype, "length": len(alt) - len(ref), "id": f"rs{n + 1}" if i % 4 == 0 else None,
                "rsid": f"rs{n + 1}" if i % 4 == 0 else None, "qual": float(10 * (i % 10)),
                "filter": ["PASS", "PASS", "LowQual", "q10;s50", None][i % 5], "ac": i, "an": 10,
                "af": None if i % 13 == 12 else round((i + 1) / 100, 4), "info": "{}", "gene": gene,
                "consequence": consequence, "impact": IMPACT_OF.get(consequence, "MODIFIER"), "transcript": None,
                "hgvs_c": None, "hgvs_p": None, "genes": genes, "consequences": [consequence],
                "impacts": [IMPACT_OF.get(consequence, "MODIFIER")], "lof": consequence == "stop_gained",
                "clnsig": CLNSIG[i % len(CLNSIG)], "n_carriers": 0, "batch": 0,
            })  # fmt: skip
            n += 1
    calls: list[dict[str, Any]] = []
    for j, v in enumerate(variants):
        for s in range(len(SAMPLE_NAMES)):
            if j % (s + 2) == 0:
                zyg = "hom_alt" if j % (s + 7) == 0 else "het"
                calls.append({
                    "vid": v["vid"], "sample": s + 1, "gt": "1/1" if zyg == "hom_alt" else "0/1", "zygosity": zyg,
                    "phased": False, "ploidy": 2, "dp": 10 + s, "gq": 30 + s, "ad_ref": 5, "ad_alt": 5, "batch": 0,
                })  # fmt: skip
                v["n_carriers"] += 1
    samples = [{"sample": s + 1, "name": name, "source": 0, "column": s} for s, name in enumerate(SAMPLE_NAMES)]
    return variants, calls, samples


def annotations_of(variants: pa.Table) -> pa.Table:
    """The annotation entries a fixture's variant rows summarise: the row's own (gene, consequence,
    impact, LoF) first, then one gene-only entry per other gene in ``genes``."""
    entries = []
    for v in variants.to_pylist():
        if v["gene"] is None and not v["genes"]:
            continue
        entries.append({"vid": v["vid"], "entry": 0, "source": "CSQ", "gene": v["gene"],
                        "consequence": v["consequence"], "consequences": [v["consequence"]] if v["consequence"] else [],
                        "impact": v["impact"], "is_lof": bool(v.get("lof")), "canonical": False, "nmd": False,
                        "batch": 0})  # fmt: skip
        for i, gene in enumerate(g for g in v["genes"] or [] if g != v["gene"]):
            entries.append({"vid": v["vid"], "entry": i + 1, "source": "CSQ", "gene": gene, "consequences": [],
                            "is_lof": False, "canonical": False, "nmd": False, "batch": 0})  # fmt: skip
    return pa.Table.from_pylist(entries, schema=ANNOTATIONS)


def write_store(store: Path, tables: dict[str, pa.Table]) -> None:
    if "variants" in tables and "annotations" not in tables:
        tables = {**tables, "annotations": annotations_of(tables["variants"])}
    db = lancedb.connect(str(genomics_dir(store) / "lance"))
    versions = {name: db.create_table(name, data, mode="overwrite").version for name, data in tables.items()}
    write_manifest(store, Manifest(tables=versions))


@pytest.fixture(scope="module")
def rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    return make_rows()


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory, rows: Any) -> Path:
    variants, calls, samples = rows
    path = tmp_path_factory.mktemp("vstore") / ".exocortex"
    write_store(path, {
        "variants": pa.Table.from_pylist(variants, schema=VARIANTS),
        "calls": pa.Table.from_pylist(calls, schema=CALLS),
        "samples": pa.Table.from_pylist(samples, schema=SAMPLES),
        "sources": SOURCES.empty_table(),
    })  # fmt: skip
    return path


def keys(store: Path, **filters: Any) -> list[str]:
    filters.setdefault("limit", 10_000)
    got: list[str] = run_query(store, VariantQuery(**filters)).rows["key"].to_pylist()
    return got


def expected(variants: list[dict[str, Any]], pred: Any) -> list[str]:
    order = {c: i for i, c in enumerate(CHROMS)}  # natural order: 1, 2, 10, X
    hits = sorted((v for v in variants if pred(v)), key=lambda v: (order[v["chrom_norm"]], v["pos"]))
    return [v["key"] for v in hits]


def cli(*args: str) -> tuple[int, str, str]:
    """Run ``exocortex vcf ...`` in this process; (exit code, stdout, stderr)."""
    import io
    from contextlib import redirect_stderr, redirect_stdout

    import exocortex.cli as cli_mod

    # The CLI's rich consoles write to whatever sys.stdout / sys.stderr are at the moment of writing,
    # so redirecting those is enough (pinning a console's .file would outlive this call).
    stdout, stderr = io.StringIO(), io.StringIO()
    with redirect_stdout(stdout), redirect_stderr(stderr):
        code = cli_mod.main(["vcf", *args])
    return code, stdout.getvalue(), stderr.getvalue()


# --- regions and predicates ----------------------------------------------------------------


def test_parse_region_forms() -> None:
    assert parse_region("chr20:1,000,000-2,000,000") == Region("20", 1_000_000, 2_000_000)
    assert parse_region("20:1000-2000") == Region("20", 1000, 2000)
    assert parse_region("chrX") == Region("X")
    assert parse_region("chrM:7") == Region("MT", 7, 7)
    for bad in ("chr1:", "chr1:abc", "1:2000-1000", "1:0-5", "", "chr 1:5", "1:5-6-7"):
        with pytest.raises(ConfigError):
            parse_region(bad)


def test_values_are_quoted() -> None:
    pred = variant_predicate(VariantQuery(gene="O'Brien"))
    assert pred is not None and "'O''Brien'" in pred


# --- each filter -----------------------------------------------------------------------------


def test_region_overlap_edges(store: Path, rows: Any) -> None:
    variants = rows[0]
    # the deletion at chr1:10000 covers 10000..10004
    assert "1:10000:ACGTA:A" in keys(store, region="1:10004-10500")
    assert "1:10000:ACGTA:A" not in keys(store, region="1:10005-10500")
    assert keys(store, region="1:10001-10003") == ["1:10000:ACGTA:A"]  # the region inside the deletion
    assert keys(store, region="1:9500-10000") == ["1:10000:ACGTA:A"]
    assert keys(store, region="1:9000-9999") == [
        "1:9000:" + next(v["key"][7:] for v in variants if v["key"].startswith("1:9000:"))
    ]
    got = keys(store, region="chr1:2,000-5,000")
    assert got == expected(variants, lambda v: v["chrom_norm"] == "1" and v["pos"] <= 5000 and v["end"] >= 2000)
    assert len(got) == 4


def test_chr_prefix_equivalence(store: Path, rows: Any) -> None:
    assert keys(store, region="chrX:1-20000") == keys(store, region="X:1-20000") != []
    assert keys(store, region="chr10") == expected(rows[0], lambda v: v["chrom_norm"] == "10")
    assert len(keys(store, region="10")) == PER_CHROM


def test_gene_matches_primary_and_any_annotation(store: Path, rows: Any) -> None:
    variants = rows[0]
    assert keys(store, gene="GENE_A") == expected(variants, lambda v: v["gene"] == "GENE_A")
    overlap = keys(store, gene="OVERLAP_GENE_C")
    assert overlap == expected(variants, lambda v: "OVERLAP_GENE_C" in v["genes"]) and overlap


def test_sample_and_zygosity(store: Path, rows: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    variants, calls, _ = rows
    s3 = {c["vid"] for c in calls if c["sample"] == 3}
    s3_hom = {c["vid"] for c in calls if c["sample"] == 3 and c["zygosity"] == "hom_alt"}
    assert keys(store, sample="S3") == expected(variants, lambda v: v["vid"] in s3)
    assert keys(store, sample="S3", zygosity="hom_alt") == expected(variants, lambda v: v["vid"] in s3_hom) != []
    # the large-set path (vids intersected in NumPy, not in the predicate) gives the same answer
    monkeypatch.setattr(query_mod, "VID_IN_MAX", 0)
    assert keys(store, sample="S3") == expected(variants, lambda v: v["vid"] in s3)
    any_hom = {c["vid"] for c in calls if c["zygosity"] == "hom_alt"}
    assert keys(store, zygosity="hom_alt") == expected(variants, lambda v: v["vid"] in any_hom)


def test_carriers_are_returned(store: Path, rows: Any) -> None:
    variants, calls, _ = rows
    result = run_query(store, VariantQuery(region="1:1000-1000"))
    vid = variants[0]["vid"]
    want = sorted((f"S{c['sample']}", c["zygosity"]) for c in calls if c["vid"] == vid)
    assert sorted((c["sample"], c["zygosity"]) for c in result.carriers[vid]) == want
    assert len(want) == 5  # variant 0 is carried by every sample


def test_af_qual_filter(store: Path, rows: Any) -> None:
    variants = rows[0]
    assert keys(store, min_af=0.2, max_af=0.3) == expected(
        variants, lambda v: v["af"] is not None and 0.2 <= v["af"] <= 0.3
    )
    assert keys(store, min_qual=70) == expected(variants, lambda v: v["qual"] >= 70)
    assert keys(store, filter="PASS") == expected(variants, lambda v: v["filter"] == "PASS")
    assert keys(store, filter="s50") == expected(variants, lambda v: v["filter"] == "q10;s50") != []
    assert keys(store, filter="LowQual") == expected(variants, lambda v: v["filter"] == "LowQual")


def test_consequence_impact_clnsig(store: Path, rows: Any) -> None:
    variants = rows[0]
    assert keys(store, consequence="stop_gained") == expected(variants, lambda v: v["consequence"] == "stop_gained")
    assert keys(store, impact="high,moderate") == expected(variants, lambda v: v["impact"] in ("HIGH", "MODERATE"))
    pathogenic = keys(store, clnsig="pathogenic")
    assert pathogenic == expected(
        variants, lambda v: v["clnsig"] in ("Pathogenic", "Pathogenic/Likely_pathogenic")
    )  # not Likely_pathogenic alone
    with pytest.raises(ConfigError, match="unknown impact"):
        keys(store, impact="SEVERE")


def test_where_and_limit_and_combined(store: Path, rows: Any) -> None:
    variants = rows[0]
    assert keys(store, where="vtype = 'deletion' AND length = -4") == expected(
        variants, lambda v: v["vtype"] == "deletion"
    )
    assert keys(store, where="filter = 'q10;s50'") == expected(variants, lambda v: v["filter"] == "q10;s50")
    assert len(run_query(store, VariantQuery()).rows) == 20  # the default limit
    limited = run_query(store, VariantQuery(region="2", limit=5))
    assert limited.rows["key"].to_pylist() == expected(variants, lambda v: v["chrom_norm"] == "2")[:5]
    assert limited.matched == PER_CHROM
    combined = keys(store, region="chr1", gene="GENE_B", impact="LOW", sample="S1", min_af=0.3)
    s1 = {c["vid"] for c in rows[1] if c["sample"] == 1}
    assert (
        combined
        == expected(
            variants,
            lambda v: (
                v["chrom_norm"] == "1"
                and v["gene"] == "GENE_B"
                and v["impact"] == "LOW"
                and v["vid"] in s1
                and v["af"] is not None
                and v["af"] >= 0.3
            ),
        )
        != []
    )


def test_results_sorted_in_natural_chromosome_order(store: Path) -> None:
    got = run_query(store, VariantQuery(limit=10_000)).rows
    chroms = got["chrom_norm"].to_pylist()
    assert [c for i, c in enumerate(chroms) if i == 0 or chroms[i - 1] != c] == ["1", "2", "10", "X"]


def test_scalar_indexes_keep_answers(tmp_path: Path, rows: Any) -> None:
    variants, calls, samples = rows
    path = tmp_path / ".exocortex"
    write_store(path, {
        "variants": pa.Table.from_pylist(variants, schema=VARIANTS),
        "calls": pa.Table.from_pylist(calls, schema=CALLS),
        "samples": pa.Table.from_pylist(samples, schema=SAMPLES),
    })  # fmt: skip
    before = read_manifest(path).tables
    versions = create_filter_indexes(path)
    assert versions["variants"] > before["variants"]
    indexed = {c for idx in VariantStore(path).table("variants").list_indices() for c in idx.columns}
    assert {"pos", "chrom_norm", "genes", "af", "impact"} <= indexed
    assert keys(path, gene="OVERLAP_GENE_C") == expected(variants, lambda v: "OVERLAP_GENE_C" in v["genes"])
    assert keys(path, region="chr1:2000-5000", min_af=0.01) == expected(
        variants, lambda v: v["chrom_norm"] == "1" and v["pos"] <= 5000 and v["end"] >= 2000
    )


# --- bad input through the CLI ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--region", "chr1:9-2"], 7, "bad region"),
        (["--region", "chr1:x"], 7, "bad region"),
        (["--where", "nosuch > 1"], 7, "unknown column nosuch"),
        (["--where", "af > 0.1; DROP TABLE variants"], 7, "';'"),
        (["--where", "pos = 'abc'"], 7, "bad --where"),
        (["--sample", "NOBODY"], 12, "no sample named 'NOBODY'"),
        (["--zygosity", "triple"], 7, "unknown zygosity"),
    ],
)
def test_cli_bad_input_one_line(store: Path, args: list[str], code: int, words: str) -> None:
    rc, stdout, stderr = cli("query", "--store", str(store), *args)
    assert rc == code
    assert words in stderr and len(stderr.strip().splitlines()) == 1, stderr


def test_cli_empty_store(tmp_path: Path) -> None:
    for command in (["query"], ["stats"], ["similar", "1:1000:A:G"], ["graph", "MATCH (s:Sample) RETURN s"]):
        rc, _, stderr = cli(*command, "--store", str(tmp_path / "none"))
        assert rc == 8 and "no variant store" in stderr and len(stderr.strip().splitlines()) == 1


def test_cli_query_json_and_table(store: Path, rows: Any) -> None:
    rc, stdout, _ = cli("query", "--store", str(store), "--gene", "GENE_D", "--limit", "3", "--json")
    assert rc == 0
    data = json.loads(stdout)
    assert data["matched"] == 60 and data["returned"] == 3
    assert data["variants"][0]["key"] == "X:1000:G:T" and data["variants"][0]["carriers"]
    rc, stdout, _ = cli("query", "--store", str(store), "--gene", "GENE_D", "--limit", "3")
    assert rc == 0 and "X:1000:G:T" in stdout and "3 of 60 matching" in stdout


# --- stats -----------------------------------------------------------------------------------


def test_stats_by_hand(store: Path, rows: Any) -> None:
    variants, calls, _ = rows
    stats = variant_stats(store, batch_rows=50)  # several batches
    assert stats.variants == 320
    # per chromosome: 8 deletions (i % 10 == 9), 5 insertions (i % 15 == 14, none also a deletion: 29, 59
    # are deletions -> 14, 44, 74 only... counted by hand below)
    ins = [i for i in range(80) if i % 15 == 14 and i % 10 != 9]
    assert ins == [14, 44, 74]
    assert stats.by_type == {"SNV": 4 * (80 - 8 - 3), "deletion": 32, "insertion": 12}
    assert stats.by_chrom == {"1": 80, "2": 80, "10": 80, "X": 80}
    ti = sum(
        1
        for v in variants
        if v["vtype"] == "SNV" and (v["ref"], v["alt"]) in {("A", "G"), ("G", "A"), ("C", "T"), ("T", "C")}
    )
    assert stats.ti == ti and stats.tv == 276 - ti and stats.ti_tv == pytest.approx(ti / (276 - ti))
    s1 = stats.samples[0]
    assert s1["sample"] == "S1"
    assert s1["het"] == sum(1 for c in calls if c["sample"] == 1 and c["zygosity"] == "het")
    assert s1["hom_alt"] == sum(1 for c in calls if c["sample"] == 1 and c["zygosity"] == "hom_alt") > 0
    assert s1["het"] + s1["hom_alt"] == 160  # S1 carries every second allele
    assert stats.by_filter == {"PASS": 128, "missing": 64, "failed": 128}
    assert stats.field_missing["gene"] == pytest.approx(80 / 320)
    assert stats.field_missing["af"] == pytest.approx(sum(v["af"] is None for v in variants) / 320)
    assert stats.genotype_missingness is None and "no-call" in stats.notes[0]


def test_cli_stats(store: Path) -> None:
    rc, stdout, _ = cli("stats", "--store", str(store), "--json")
    assert rc == 0 and json.loads(stdout)["by_chrom"]["X"] == 80
    rc, stdout, _ = cli("stats", "--store", str(store))
    assert rc == 0 and "Ti/Tv" in stdout and "S5" in stdout


# --- similar ---------------------------------------------------------------------------------


def _vectors(variants: list[dict[str, Any]]) -> np.ndarray:
    table = pa.Table.from_pylist(variants, schema=VARIANTS).select(FEATURE_COLUMNS)
    vectors: np.ndarray = feature_vectors(table)
    return vectors


def test_feature_vectors_deterministic_across_processes(rows: Any) -> None:
    import hashlib

    here = hashlib.sha256(_vectors(rows[0]).tobytes()).hexdigest()
    assert here == hashlib.sha256(_vectors(rows[0]).tobytes()).hexdigest()
    code = (
        "import hashlib, sys; sys.path.insert(0, 'tests'); from test_vcf_query import make_rows, _vectors; "
        "print(hashlib.sha256(_vectors(make_rows()[0]).tobytes()).hexdigest())"
    )
    env = {"PYTHONHASHSEED": "12345", "PATH": "/usr/bin:/bin"}
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True,
                           cwd=Path(__file__).parent.parent)  # fmt: skip
    assert other.stdout.strip() == here


@pytest.mark.parametrize("threshold", [10**9, 100])
def test_similar_under_and_over_index_threshold(tmp_path: Path, rows: Any, threshold: int) -> None:
    variants, calls, samples = rows
    path = tmp_path / ".exocortex"
    write_store(path, {
        "variants": pa.Table.from_pylist(variants, schema=VARIANTS),
        "calls": pa.Table.from_pylist(calls, schema=CALLS),
        "samples": pa.Table.from_pylist(samples, schema=SAMPLES),
    })  # fmt: skip
    report = build_features(path, index_min_rows=threshold)
    assert report.rows == 320 and report.indexed == (threshold <= 320)
    assert read_manifest(path).tables["features"] == report.version
    by_key = {v["key"]: v for v in variants}
    query_key = "chr1:3000:A:C"  # GENE_A, SNV
    result = similar(path, query_key, k=5, index_min_rows=threshold)
    assert result.indexed == (threshold <= 320)
    got = [n["key"] for n in result.neighbours]
    assert len(got) == 5 and "1:3000:A:C" not in got
    top = by_key[got[0]]
    assert top["gene"] == "GENE_A" and top["vtype"] == "SNV"
    distances = [n["distance"] for n in result.neighbours]
    assert distances == sorted(distances)
    if not result.indexed:  # exact search: Lance's l2 is the squared Euclidean distance
        vecs = _vectors(variants)
        index = {v["key"]: i for i, v in enumerate(variants)}
        q = vecs[index["1:3000:A:C"]]
        d = ((vecs - q) ** 2).sum(axis=1)
        assert distances[0] == pytest.approx(float(np.sort(d)[1]), rel=1e-4)
    # by vid and by rsid too
    assert similar(path, str(by_key["1:3000:A:C"]["vid"]), k=1).query["key"] == "1:3000:A:C"
    with pytest.raises(NoMatchesError):
        similar(path, "1:3000:G:G")


def test_similar_builds_features_on_demand_and_cli(store: Path) -> None:
    rc, stdout, _ = cli("similar", "1:3000:A:C", "--k", "3", "--store", str(store), "--json")
    assert rc == 0
    data = json.loads(stdout)
    assert len(data["neighbours"]) == 3 and data["query"]["key"] == "1:3000:A:C"
    rc, stdout, _ = cli("similar", "chr1:3000:A:C", "-k", "2", "--store", str(store))
    assert rc == 0 and "GENE_A" in stdout


# --- graph -----------------------------------------------------------------------------------


def test_graph_build_counts_and_queries(store: Path, rows: Any) -> None:
    variants, calls, samples = rows
    report = build_graph(store)
    gene_pairs = {(v["vid"], g) for v in variants for g in ([v["gene"]] if v["gene"] else []) + v["genes"]}
    assert report.counts == {
        "Sample": 5, "Variant": 320, "IN_GENE": len(gene_pairs), "Gene": len({g for _, g in gene_pairs}),
        "CARRIES": len(calls),
    }  # fmt: skip
    assert report.edges_per_s > 0

    def scalar(q: str) -> Any:
        return run_cypher(store, q).rows[0][0]

    assert scalar("MATCH (s:Sample) RETURN count(s)") == 5
    assert scalar("MATCH (v:Variant) RETURN count(v)") == 320
    assert scalar("MATCH ()-[c:CARRIES]->() RETURN count(c)") == len(calls)
    assert scalar("MATCH ()-[r:IN_GENE]->() RETURN count(r)") == len(gene_pairs)
    got = run_cypher(
        store,
        "MATCH (s:Sample)-[c:CARRIES]->(v:Variant)-[:IN_GENE]->(g:Gene {symbol: 'GENE_C'}) "
        "RETURN DISTINCT s.name ORDER BY s.name",
    )
    gene_c = {v["vid"] for v in variants if v["gene"] == "GENE_C"}
    assert [r[0] for r in got.rows] == sorted({f"S{c['sample']}" for c in calls if c["vid"] in gene_c})
    hom = run_cypher(
        store,
        "MATCH (s:Sample {name: 'S2'})-[c:CARRIES {zygosity: 'hom_alt'}]->(v:Variant) RETURN count(v)",
    )
    assert hom.rows[0][0] == sum(1 for c in calls if c["sample"] == 2 and c["zygosity"] == "hom_alt")


@pytest.mark.parametrize(
    "query",
    [
        "CREATE (s:Sample {id: 99, name: 'x', source: 0})",
        "MATCH (s:Sample) SET s.name = 'x'",
        "MATCH (s:Sample) DETACH DELETE s",
        "merge (g:Gene {symbol: 'Z'})",
        "DROP TABLE Sample",
        "COPY Sample FROM '/tmp/x.parquet'",
        "LOAD FROM '/etc/passwd' RETURN *",
        "MATCH (s:Sample) RETURN s; MATCH (v:Variant) RETURN v",
    ],
)
def test_graph_refuses_writes(store: Path, query: str) -> None:
    with pytest.raises(ConfigError):
        check_read_only(query)
    rc, _, stderr = cli("graph", query, "--store", str(store))
    assert rc == 7 and len(stderr.strip().splitlines()) == 1


def test_graph_allows_words_in_literals() -> None:
    assert check_read_only("MATCH (g:Gene) WHERE g.symbol = 'CREATE; SET' RETURN g.symbol")


def test_cli_graph(store: Path) -> None:
    rc, stdout, _ = cli("graph", "--build", "--store", str(store), "--json")
    assert rc == 0 and json.loads(stdout)["build"]["counts"]["Sample"] == 5
    rc, stdout, _ = cli("graph", "MATCH (g:Gene) RETURN g.symbol ORDER BY g.symbol LIMIT 2", "--store", str(store))
    assert rc == 0 and "GENE_A" in stdout
    rc, _, stderr = cli("graph", "MATCH (x:Nope) RETURN x", "--store", str(store))
    assert rc == 7 and "Cypher query failed" in stderr


def test_missing_graph(tmp_path: Path, rows: Any) -> None:
    path = tmp_path / ".exocortex"
    write_store(path, {"variants": pa.Table.from_pylist(rows[0][:5], schema=VARIANTS)})
    with pytest.raises(IndexNotFoundError, match="--build"):
        run_cypher(path, "MATCH (s:Sample) RETURN s")


# --- the broad-query paths (top-k over position-sorted vid runs) give the full sort's answer ---------


def _full(store: Path, **filters: Any) -> tuple[list[str], int]:
    """Keys and matched count of a query, limit 10,000."""
    result = run_query(store, VariantQuery(**{"limit": 10_000, **filters}))
    return result.rows["key"].to_pylist(), result.matched


def _truth(rows: Any, filters: dict[str, Any]) -> list[str]:
    """The fixture's own answer to the filters used below."""
    variants, calls, _ = rows
    carried = {
        c["vid"] for c in calls
        if ("sample" not in filters or f"S{c['sample']}" == filters["sample"])
        and ("zygosity" not in filters or c["zygosity"] == filters["zygosity"])
    }  # fmt: skip
    region = parse_region(filters["region"]) if "region" in filters else None

    def match(v: dict[str, Any]) -> bool:
        return (
            (region is None or (v["chrom_norm"] == region.chrom_norm and (
                region.start is None or (v["pos"] <= region.end and v["end"] >= region.start))))
            and ("consequence" not in filters or v["consequence"] == filters["consequence"])
            and ("impact" not in filters or v["impact"] == filters["impact"])
            and ("gene" not in filters or v["gene"] == filters["gene"])
            and ("min_af" not in filters or (v["af"] is not None and filters["min_af"] <= v["af"] <= filters["max_af"]))
            and (not ({"sample", "zygosity"} & set(filters)) or v["vid"] in carried)
        )  # fmt: skip

    return expected(variants, match)


BROAD_QUERIES: list[dict[str, Any]] = [
    {}, {"consequence": "stop_gained"}, {"min_af": 0.2, "max_af": 0.6}, {"region": "chr2"},
    {"region": "10", "impact": "LOW"},
    {"sample": "S2"}, {"sample": "S3", "region": "X"}, {"sample": "S1", "zygosity": "hom_alt"},
    {"sample": "S2", "region": "1", "zygosity": "het"}, {"zygosity": "hom_alt", "region": "2"},
    {"sample": "S2", "region": "1:3000-40000"}, {"sample": "S4", "gene": "GENE_C"},
]  # fmt: skip


@pytest.mark.parametrize("limit", [1, 3, 7, 25])
@pytest.mark.parametrize("filters", BROAD_QUERIES, ids=lambda f: ",".join(f"{k}={v}" for k, v in f.items()) or "all")
def test_topk_paths_match_full_sort(
    store: Path, rows: Any, filters: dict[str, Any], limit: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    full, matched = _full(store, **filters)
    assert full == _truth(rows, filters) != [] and matched == len(full), filters
    variants: dict[str, Any] = {}
    # every broad path: runs read by windows (the narrowest, one try: the Lance top-k finishes the run),
    # calls windows read with the sample predicate, then no runs known at all (per-chromosome top-k)
    for patch in (
        {"SCAN_MAX": 0},
        {"SCAN_MAX": 0, "WINDOW_MIN": 1, "WINDOW_TRIES": 1},
        {"SCAN_MAX": 0, "WINDOW_TRIES": 0, "CALL_WINDOW_ROWS_MAX": 0},
        {"SCAN_MAX": 0, "CALL_WINDOW_ROWS_MAX": 0, "VID_IN_MAX": 0},
    ):
        with monkeypatch.context() as m:
            for name, value in patch.items():
                m.setattr(query_mod, name, value)
            result = run_query(store, VariantQuery(**filters, limit=limit))
            variants[str(patch)] = result.rows["key"].to_pylist()
            assert result.matched == matched, patch
    real = query_mod.store_layout
    with monkeypatch.context() as m:
        m.setattr(query_mod, "SCAN_MAX", 0)
        m.setattr(query_mod, "store_layout", lambda s: replace(real(s), segments=None))
        result = run_query(store, VariantQuery(**filters, limit=limit))
        variants["no runs"] = result.rows["key"].to_pylist()
        assert result.matched == matched
    assert all(got == full[:limit] for got in variants.values()), variants


def test_limit_zero_still_counts(store: Path) -> None:
    for filters in ({"consequence": "stop_gained"}, {"sample": "S2"}, {"region": "1:1000-9000"}):
        result = run_query(store, VariantQuery(**filters, limit=0))
        assert result.rows.num_rows == 0 and result.matched == _full(store, **filters)[1] > 0


def test_top_positions_is_the_stable_full_sort() -> None:
    rng = np.random.default_rng(7)
    n = 2_000
    chroms = pa.array(rng.choice(["1", "2", "10", "X", "MT", "GL000"], n))
    pos = pa.array(rng.integers(1, 50, n))  # many ties on (chromosome, position)
    vid = pa.array(rng.permutation(n).astype(np.int64))
    rank = query_mod.chrom_order(chroms.to_pylist())
    want = sorted(range(n), key=lambda i: (rank[chroms[i].as_py()], pos[i].as_py(), vid[i].as_py()))
    for k in (0, 1, 5, 100, n, n + 10):
        assert query_mod.top_positions(chroms, pos, vid, k).tolist() == want[:k]


def test_unsorted_store_layout_and_answers(tmp_path: Path, rows: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """vids that do not follow positions (an unsorted file), and two alleles at one position."""
    variants, calls, samples = (list(map(dict, r)) for r in rows)
    perm = np.random.default_rng(3).permutation(len(variants))
    new_vid = {v["vid"]: make_vid(0, int(p)) for v, p in zip(variants, perm, strict=True)}
    for v in variants:
        v["vid"] = new_vid[v["vid"]]
    for c in calls:
        c["vid"] = new_vid[c["vid"]]
    twin = dict(variants[5], vid=make_vid(1, 0), key=variants[5]["key"] + "T", alt="T")
    variants.append(twin)
    path = tmp_path / ".exocortex"
    write_store(path, {
        "variants": pa.Table.from_pylist(variants, schema=VARIANTS),
        "calls": pa.Table.from_pylist(calls, schema=CALLS),
        "samples": pa.Table.from_pylist(samples, schema=SAMPLES),
    })  # fmt: skip
    layout = layout_mod.store_layout(VariantStore(path))
    assert layout.chroms == ("1", "2", "10", "X") and layout.max_span == 4
    assert layout.segments is not None and len(layout.segments) > 20  # one run per sorted stretch
    covered = sorted(v["vid"] for v in variants)
    assert all(any(lo <= vid <= hi for lo, hi, _ in layout.segments) for vid in covered)
    order = {c: i for i, c in enumerate(CHROMS)}
    by_pos = sorted(variants, key=lambda v: (order[v["chrom_norm"]], v["pos"], v["vid"]))
    s2 = {c["vid"] for c in calls if c["sample"] == 2}
    for patch in ({}, {"SCAN_MAX": 0}, {"SCAN_MAX": 0, "MAX_SEGMENTS": 0}):
        with monkeypatch.context() as m:
            for name, value in patch.items():
                m.setattr(layout_mod if name == "MAX_SEGMENTS" else query_mod, name, value)
            _forget_layouts()
            (genomics_dir(path) / layout_mod.SPAN_FILE).unlink(missing_ok=True)
            (genomics_dir(path) / layout_mod.COUNTS_FILE).unlink(missing_ok=True)
            assert keys(path, limit=12) == [v["key"] for v in by_pos][:12]
            assert keys(path, region="1", limit=8) == [v["key"] for v in by_pos if v["chrom_norm"] == "1"][:8]
            got = run_query(path, VariantQuery(sample="S2", limit=9))
            assert got.rows["key"].to_pylist() == [v["key"] for v in by_pos if v["vid"] in s2][:9]
            assert got.matched == len(s2)
    _forget_layouts()


def _forget_layouts() -> None:
    cache = layout_mod.planner_cache()
    if cache is not None:
        cache.clear()


def test_call_counts_by_hand(store: Path, rows: Any) -> None:
    _, calls, _ = rows
    vstore = VariantStore(store)
    counts = layout_mod.call_counts(vstore, layout_mod.store_layout(vstore))
    chrom_of = {v["vid"]: v["chrom_norm"] for v in rows[0]}
    assert counts.total == len(calls)
    for sample in (1, 3):
        for chrom in (None, "1", "X", "nochrom"):
            for zyg in (None, "het", "hom_alt"):
                want = sum(
                    1 for c in calls
                    if c["sample"] == sample and chrom in (None, chrom_of[c["vid"]]) and zyg in (None, c["zygosity"])
                )  # fmt: skip
                assert counts.count([sample], chrom, zyg) == want
    assert counts.count([99], None, None) == 0


def test_similar_keeps_no_stale_handle_when_a_store_is_written_again(tmp_path: Path) -> None:
    """The features handle kept open per process is keyed by the commit: a new store at the same
    path (same table versions, other rows) is searched afresh."""
    import shutil

    from exocortex.genomics.ingest import ingest_vcf

    data = Path(__file__).parent / "fixtures" / "vcf"
    store = tmp_path / "s"
    for name in ("test-haploidX.vcf", "chr_m_indels.vcf.gz"):
        shutil.rmtree(store, ignore_errors=True)
        ingest_vcf([data / name], store, build_indexes=False)
        key = VariantStore(store).read("variants", ["vid", "key"]).sort_by("vid")["key"][0].as_py()
        result = similar(store, key, 3)
        assert result.query["key"] == key
        known = set(VariantStore(store).read("variants", ["vid"])["vid"].to_pylist())
        assert {n["vid"] for n in result.neighbours} <= known


def test_planner_caches_follow_a_store_written_again(tmp_path: Path) -> None:
    """The layout and call-count caches are keyed by the commit: a new store at the same path
    (the same table versions, other rows) gets its own totals."""
    import shutil

    from exocortex.genomics.ingest import ingest_vcf

    data = Path(__file__).parent / "fixtures" / "vcf"
    store = tmp_path / "s"
    for name in ("test-haploidX.vcf", "1kg-629samples.vcf.gz"):
        shutil.rmtree(store, ignore_errors=True)
        ingest_vcf([data / name], store, build_indexes=False)
        vs = VariantStore(store)
        first = vs.read("samples", ["name"])["name"][0].as_py()
        result = run_query(store, VariantQuery(sample=first, limit=5))
        assert result.matched == len(vs.read("calls", ["vid"], "sample = 1"))
        assert result.matched > 0
