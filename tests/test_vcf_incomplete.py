"""A VCF whose ingest was killed is reported as incomplete, with the command that finishes it.

The ingest runs in a subprocess that kills itself with SIGKILL right after its third committed
batch (``after_commit``), as ``kill -9`` would mid-ingest. Its committed batches are in the tables
and every reader sees them; ``vcf stats``, ``vcf query`` and a variant pack must say that the file
is not all there and name ``vcf ingest --resume``, and stop saying so once the resume finished.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

HEADER = (
    "##fileformat=VCFv4.2\n"
    "##contig=<ID=chr1,length=10000000>\n"
    '##INFO=<ID=AF,Number=A,Type=Float,Description="Allele frequency">\n'
    '##INFO=<ID=ANN,Number=.,Type=String,Description="Functional annotations: '
    "'Allele | Annotation | Annotation_Impact | Gene_Name | Gene_ID | Feature_Type | Feature_ID | "
    "Transcript_BioType | Rank | HGVS.c | HGVS.p | cDNA.pos / cDNA.length | CDS.pos / CDS.length | "
    "AA.pos / AA.length | Distance | ERRORS / WARNINGS / INFO'\">\n"
    '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\n"
)
RECORDS = 1000
BATCH = 100

_KILLED_INGEST = """
import os, signal, sys
from exocortex.genomics.ingest import ingest_vcf

def die(batch):
    if batch == 2:
        os.kill(os.getpid(), signal.SIGKILL)

ingest_vcf([sys.argv[1]], sys.argv[2], batch_size=int(sys.argv[3]), after_commit=die)
"""


def _vcf(path: Path) -> Path:
    lines = []
    for i in range(RECORDS):
        ann = f"G|missense_variant|MODERATE|GENE{i % 3}|g{i % 3}|transcript|t{i % 3}|protein_coding|1/2|c.{i}A>G|||||,"
        lines.append(f"chr1\t{1000 + i * 10}\t.\tA\tG\t50\tPASS\tAF=0.1;ANN={ann[:-1]}\tGT\t0|1\t0|0")
    path.write_text(HEADER + "\n".join(lines) + "\n")
    return path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("exocortex")
    return subprocess.run([str(exe), *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def killed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("killed")
    vcf = _vcf(tmp / "cohort.vcf")
    store = tmp / "store"
    proc = subprocess.run(
        [sys.executable, "-c", _KILLED_INGEST, str(vcf), str(store), str(BATCH)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    return vcf, store


def test_stats_say_the_ingest_is_incomplete_and_how_to_finish_it(killed: tuple[Path, Path]) -> None:
    vcf, store = killed
    proc = _cli("vcf", "stats", "--store", str(store), "--json")
    assert proc.returncode == 0, proc.stderr
    stats = json.loads(proc.stdout)
    assert 0 < stats["variants"] < RECORDS  # the committed batches are counted, not the whole file
    [entry] = stats["incomplete"]
    assert entry["path"] == str(vcf)
    assert entry["records_committed"] == 3 * BATCH
    assert "vcf ingest --resume" in entry["resume"] and str(vcf) in entry["resume"]
    assert any("incomplete" in n and "--resume" in n for n in stats["notes"])
    text = _cli("vcf", "stats", "--store", str(store))
    assert text.returncode == 0
    flat = " ".join(text.stdout.split())
    assert "incomplete" in flat and "--resume" in flat


def test_query_and_pack_say_so_too(killed: tuple[Path, Path]) -> None:
    vcf, store = killed
    proc = _cli("vcf", "query", "--store", str(store), "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["matched"] == 3 * BATCH
    assert [e["path"] for e in result["incomplete"]] == [str(vcf)]
    text = _cli("vcf", "query", "--store", str(store))
    assert "incomplete" in text.stdout and "--resume" in " ".join(text.stdout.split())

    from exocortex.genomics.context import variant_pack

    pack = variant_pack(store, "missense variants in GENE1", budget=2000)
    assert "incomplete" in pack.text and "vcf ingest --resume" in pack.text
    assert pack.index["incomplete"][0]["path"] == str(vcf)


def test_no_note_once_the_resume_finished(killed: tuple[Path, Path], tmp_path: Path) -> None:
    import shutil

    vcf, store = killed
    copy = tmp_path / "store"
    shutil.copytree(store, copy)
    done = _cli("vcf", "ingest", "--resume", str(vcf), "--store", str(copy), "--json")
    assert done.returncode == 0, done.stderr
    stats = json.loads(_cli("vcf", "stats", "--store", str(copy), "--json").stdout)
    assert stats["variants"] == RECORDS
    assert stats["incomplete"] == []
    assert not any("incomplete" in n for n in stats["notes"])
    result = json.loads(_cli("vcf", "query", "--store", str(copy), "--json").stdout)
    assert result["incomplete"] == [] and result["matched"] == RECORDS
