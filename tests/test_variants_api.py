"""The variant store's public class, ``exocortex.Variants``, on the real fixtures in tests/fixtures/vcf.

Every method is called through the Python API; the answers are checked against the files
themselves (records, positions, AF parsed from the text) or against a second path through the
store (a sample's carried alleles as ``stats`` counts them and as ``query`` finds them), and the
``exocortex vcf`` commands are checked to give the very same answer as the API.
"""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import exocortex
from exocortex import Variants
from exocortex.cli import main
from exocortex.cli.output import json_text
from exocortex.errors import (
    ConfigError,
    DuplicateSourceError,
    IndexNotFoundError,
    InputError,
    InputPathError,
    NoMatchesError,
    QueryError,
    StoreError,
    UsageError,
    VcfFormatError,
)

DATA = Path(__file__).parent / "fixtures" / "vcf"  # origins and licences: fixtures/vcf/README.md
CYVCF2 = DATA / "cyvcf2-test.vcf.gz"  # 189 samples, 115 records on chr1, VEP CSQ and SnpEff ANN
ANNOTATED_BCF = DATA / "1kg_2020_chr20_annotations.bcf"  # sites only, 21 records on chr20
BCF_RECORDS = 21  # `bcftools view -H | wc -l` (fixtures/vcf/README.md)

HEADER = (
    "##fileformat=VCFv4.2\n"
    "##contig=<ID=chr1,length=1000000>\n"
    '##INFO=<ID=AF,Number=A,Type=Float,Description="Allele frequency">\n'
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\n"
)


def _records(path: Path) -> list[list[str]]:
    """The record lines of a (gzipped) text VCF, split into columns: the test's own ground truth."""
    with gzip.open(path, "rt") as fh:
        return [line.rstrip("\n").split("\t") for line in fh if not line.startswith("#")]


def _alleles(path: Path) -> list[dict[str, Any]]:
    """One dict per ALT allele: chrom, pos, end (pos + len(REF) - 1), AF of that allele."""
    out = []
    for cols in _records(path):
        info = dict(kv.split("=", 1) for kv in cols[7].split(";") if "=" in kv)
        afs = info.get("AF", "").split(",")
        for i, _alt in enumerate(cols[4].split(",")):
            af = afs[i] if i < len(afs) and afs[i] not in ("", ".") else None
            out.append({"chrom": cols[0], "pos": int(cols[1]), "end": int(cols[1]) + len(cols[3]) - 1,
                        "af": float(af) if af is not None else None})  # fmt: skip
    return out


def _cli_json(capsys: pytest.CaptureFixture[str], *args: str) -> Any:
    capsys.readouterr()
    code = main(list(args))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    return json.loads(captured.out)


def _as_cli(data: Any) -> Any:
    """``data`` as the CLI prints it with ``--json``."""
    return json.loads(json_text(data))


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> tuple[Variants, Any, list[tuple[str, int]]]:
    """Both files ingested through the API into one store: the store, the report, the progress calls."""
    calls: list[tuple[str, int]] = []
    variants = Variants.open(tmp_path_factory.mktemp("variants") / "store")
    assert not variants.holds_variants()
    summary = variants.ingest([CYVCF2, ANNOTATED_BCF], progress=lambda path, n: calls.append((path, n)))
    return variants, summary, calls


@pytest.fixture(scope="module")
def variants(ingested: tuple[Variants, Any, list[tuple[str, int]]]) -> Variants:
    return ingested[0]


# --------------------------------------------------------------------------- the public name


def test_variants_is_exported_and_light_to_import() -> None:
    assert exocortex.Variants is Variants and "Variants" in exocortex.__all__
    probe = (
        "import sys, exocortex.genomics.variants\n"
        "heavy = ('cyvcf2', 'lance', 'lancedb', 'ladybug', 'pyarrow', 'numpy', 'exocortex.genomics.store')\n"
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == ""


# --------------------------------------------------------------------------- open


def test_open_resolves_the_store_as_the_vcf_commands_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert Variants.open().store == Path(".exocortex")
    monkeypatch.setenv("EXOCORTEX_STORE", str(tmp_path / "from-env"))
    assert Variants.open().store == tmp_path / "from-env"
    assert Variants.open(tmp_path / "given").store == tmp_path / "given"  # the argument wins over the variable
    assert Variants.open("").store == tmp_path / "from-env"  # an empty --store is no store given
    assert not any(tmp_path.iterdir())  # opening reads and writes nothing
    assert not Variants.open(tmp_path / "given").holds_variants()


def test_open_takes_settings_and_refuses_unknown_ones(tmp_path: Path) -> None:
    assert Variants.open(tmp_path, graph_query_timeout_s=5).config.graph_query_timeout_s == 5
    with pytest.raises(ConfigError, match="unknown setting"):
        Variants.open(tmp_path, no_such_setting=1)
    with pytest.raises(ConfigError):
        Variants.open(tmp_path, lock_wait_s=-1)


# --------------------------------------------------------------------------- ingest


def test_ingest_reports_every_record_of_the_files(ingested: tuple[Variants, Any, list[tuple[str, int]]]) -> None:
    variants, summary, calls = ingested
    assert variants.holds_variants()
    assert [f.records for f in summary.files] == [len(_records(CYVCF2)), BCF_RECORDS]
    assert summary.alleles == len(_alleles(CYVCF2)) + BCF_RECORDS  # no multi-allelic site in either
    assert summary.samples == 189 and summary.rejected == 0 and summary.indexed
    assert summary.store == str(variants.store)
    assert {Path(path).name for path, _ in calls} == {CYVCF2.name, ANNOTATED_BCF.name}


def test_ingest_refuses_what_the_command_line_refuses(tmp_path: Path) -> None:
    variants = Variants.open(tmp_path / "s")
    with pytest.raises(UsageError, match="at least one"):
        variants.ingest([])
    for bad in (0, -5, True, 2.5):
        with pytest.raises(UsageError, match="--batch-size"):
            variants.ingest(DATA / "test.snpeff.vcf", batch_size=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="--wait"):
        variants.ingest(DATA / "test.snpeff.vcf", wait_s=float("nan"))
    with pytest.raises(InputPathError):
        variants.ingest(tmp_path / "nope.vcf")
    assert not variants.holds_variants()  # every refusal came before anything was written


def test_ingest_one_path_duplicates_and_replace(tmp_path: Path) -> None:
    variants = Variants.open(tmp_path / "s")
    first = variants.ingest(str(DATA / "test.snpeff.vcf"), batch_size=3, build_indexes=False)
    assert first.records == 10 and not first.indexed
    with pytest.raises(DuplicateSourceError) as caught:
        variants.ingest(DATA / "test.snpeff.vcf")
    assert isinstance(caught.value, InputError) and caught.value.exit_code == 14
    assert variants.ingest(DATA / "test.snpeff.vcf", replace=True).records == 10
    assert variants.stats().variants == 10  # replaced, not doubled


# --------------------------------------------------------------------------- validate


def test_validate_is_a_check_of_a_file_not_of_a_store(tmp_path: Path) -> None:
    report = Variants.validate(DATA / "chr22.vcf.gz")
    assert report.ok and report.records == len(_records(DATA / "chr22.vcf.gz"))
    assert Variants.open(tmp_path).validate(DATA / "chr22.vcf.gz").ok  # on an open store too


def test_validate_problems_strict_and_the_report_before_the_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.vcf"
    path.write_text(HEADER + "".join(f"chr1\t{100 + i}\t.\tA\tG\t50\tPASS\tAF=abc\tGT\t0|1\n" for i in range(5)))
    report = Variants.validate(path, max_problems=2)
    assert report.counts == {"INFO_TYPE": 5} and len(report.problems) == 2 and report.truncated
    seen: list[Any] = []
    with pytest.raises(VcfFormatError, match="5 problems found") as caught:
        Variants.validate(path, strict=True, on_report=seen.append)
    assert caught.value.exit_code == 13 and len(seen) == 1 and seen[0].total_problems == 5


def test_validate_refusals(tmp_path: Path) -> None:
    empty = tmp_path / "empty.vcf"
    empty.write_bytes(b"")
    seen: list[Any] = []
    with pytest.raises(VcfFormatError, match="empty"):
        Variants.validate(empty, on_report=seen.append)
    assert seen[0].fatal is not None
    with pytest.raises(InputPathError, match="no such file"):
        Variants.validate(tmp_path / "nope.vcf")
    for bad in (-1, True, "3"):
        with pytest.raises(UsageError, match="--max-problems"):
            Variants.validate(DATA / "chr22.vcf.gz", max_problems=bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- query


def test_query_by_region_matches_the_file(variants: Variants) -> None:
    start, end = 13_000, 14_000
    expected = [a for a in _alleles(CYVCF2) if a["pos"] <= end and a["end"] >= start]
    result = variants.query(f"chr1:{start:,}-{end:,}", limit=1000)
    assert result.matched == len(expected) > 0
    assert result.rows["pos"].to_pylist() == sorted(a["pos"] for a in expected)
    assert variants.query("1:13000-14000", limit=2).rows.num_rows == 2  # limit; chr or not


def test_query_by_frequency_matches_the_file(variants: Variants) -> None:
    expected = [a for a in _alleles(CYVCF2) if a["af"] is not None and a["af"] >= 0.1]
    result = variants.query(min_af=0.1, limit=1000)
    assert result.matched == len(expected) > 0
    assert all(row["af"] >= 0.1 for row in result.rows.to_pylist())


def test_query_by_sample_agrees_with_stats(variants: Variants) -> None:
    per_sample = {row["sample"]: row for row in variants.stats().samples}
    name = "100231-100231"
    assert variants.query(sample=name, limit=0).matched == per_sample[name]["carried"]
    hom = variants.query(sample=name, zygosity="hom_alt")
    assert hom.matched == per_sample[name]["hom_alt"] > 0
    assert all(
        any(c["sample"] == name and c["zygosity"] == "hom_alt" for c in hom.carriers[row["vid"]])
        for row in hom.rows.to_pylist()
    )
    assert variants.query(impact="HIGH").matched == variants.stats().by_impact["HIGH"]


def test_query_gives_the_command_line_answer(variants: Variants, capsys: pytest.CaptureFixture[str]) -> None:
    for filters, flags in (
        ({"gene": "DEFB125", "limit": 5}, ["--gene", "DEFB125", "--limit", "5"]),
        ({"region": "chr1:13000-14000", "min_qual": 30.0}, ["--region", "chr1:13000-14000", "--min-qual", "30"]),
        ({"sample": "100231-100231", "zygosity": "het"}, ["--sample", "100231-100231", "--zygosity", "het"]),
    ):
        api = variants.query(**filters)
        cli = _cli_json(capsys, "vcf", "query", "--store", str(variants.store), "--json", *flags)
        assert cli == _as_cli(api.to_dict()) and cli["matched"] > 0, filters


def test_query_refusals(variants: Variants, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="bad region"):
        variants.query("chr1:500-100")
    with pytest.raises(ConfigError, match="--limit"):
        variants.query(limit=-1)
    with pytest.raises(ConfigError, match="--limit"):
        variants.query(limit="5")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="--min-af must be a finite number"):
        variants.query(min_af=float("nan"))
    with pytest.raises(ConfigError):
        variants.query(impact="SEVERE")
    with pytest.raises(NoMatchesError) as caught:
        variants.query(sample="nobody")
    assert isinstance(caught.value, QueryError)
    with pytest.raises(IndexNotFoundError) as missing:
        Variants.open(tmp_path).query()
    assert isinstance(missing.value, StoreError)
    assert variants.query(gene="NOSUCHGENE").matched == 0  # no match is an answer, not an error


# --------------------------------------------------------------------------- stats


def test_stats_count_the_files(variants: Variants, capsys: pytest.CaptureFixture[str]) -> None:
    stats = variants.stats()
    alleles = _alleles(CYVCF2)
    assert stats.variants == len(alleles) + BCF_RECORDS
    assert stats.by_chrom == {"1": len(alleles), "20": BCF_RECORDS}
    assert len(stats.samples) == 189
    assert _cli_json(capsys, "vcf", "stats", "--store", str(variants.store), "--json") == _as_cli(stats.to_dict())
    with pytest.raises(IndexNotFoundError):
        Variants.open(variants.store.parent / "empty").stats()


# --------------------------------------------------------------------------- similar


def test_similar_finds_neighbours_and_matches_the_command_line(
    variants: Variants, capsys: pytest.CaptureFixture[str]
) -> None:
    key = variants.query(limit=1).rows["key"][0].as_py()
    result = variants.similar(key, k=5)  # builds the feature vectors the first time
    assert result.query["key"] == key and len(result.neighbours) == 5
    assert key not in [n["key"] for n in result.neighbours]
    distances = [n["distance"] for n in result.neighbours]
    assert distances == sorted(distances)
    assert variants.similar(key, k=5, rebuild=True).to_dict() == result.to_dict()  # deterministic vectors
    cli = _cli_json(capsys, "vcf", "similar", key, "-k", "5", "--store", str(variants.store), "--json")
    assert cli == _as_cli(result.to_dict())


def test_similar_refusals(variants: Variants) -> None:
    for bad in (0, -1, True):
        with pytest.raises(ConfigError, match="--k must be at least 1"):
            variants.similar("1:10172:CCCTAA:C", k=bad)
    with pytest.raises(NoMatchesError):
        variants.similar("chr1:999:A:T")


# --------------------------------------------------------------------------- graph


def test_graph_build_then_query(variants: Variants, capsys: pytest.CaptureFixture[str]) -> None:
    built: list[Any] = []
    answer = variants.graph("MATCH (s:Sample) RETURN count(s)", build=True, on_build=built.append)
    assert len(built) == 1 and answer.build is built[0]
    assert built[0].counts["Sample"] == 189 and built[0].counts["Variant"] == variants.stats().variants
    assert answer.result is not None and answer.result.rows == [[189]] and not answer.result.stale
    assert answer.to_dict()["build"]["counts"]["Sample"] == 189
    query = "MATCH (g:Gene) RETURN g.symbol ORDER BY g.symbol"
    api = variants.graph(query, max_rows=2)
    assert api.build is None and api.result is not None and len(api.result.rows) == 2 and api.result.truncated > 0
    cli = _cli_json(capsys, "vcf", "graph", query, "--max-rows", "2", "--store", str(variants.store), "--json")
    assert cli == _as_cli(api.to_dict())


def test_graph_refusals(variants: Variants, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="give a Cypher QUERY"):
        variants.graph()
    fresh = Variants.open(tmp_path / "s")
    fresh.ingest(DATA / "test.snpeff.vcf", build_indexes=False)
    graph_file = fresh.store / "genomics" / "graph"
    with pytest.raises(ConfigError, match="CREATE is not allowed"):
        fresh.graph("CREATE (g:Gene {symbol: 'X'})", build=True)
    with pytest.raises(ConfigError, match="--max-rows"):
        fresh.graph("MATCH (s:Sample) RETURN s.name", build=True, max_rows=-1)
    with pytest.raises(ConfigError, match="--timeout"):
        fresh.graph("MATCH (s:Sample) RETURN s.name", build=True, timeout_s=float("nan"))
    assert not graph_file.exists()  # each refused before the build
    with pytest.raises(IndexNotFoundError, match="--build"):
        fresh.graph("MATCH (s:Sample) RETURN s.name")
