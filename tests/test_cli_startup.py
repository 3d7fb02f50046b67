"""The CLI's start-up imports: `--help` and commands that touch no store do not load the heavy libraries.

Each check runs a fresh interpreter (the test process has long imported everything) and reads
``sys.modules`` after the import or the command: a behaviour check, not a timing check.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# Libraries that cost from tens of milliseconds (pyarrow, numpy, structlog) to over a second
# (lancedb) to import, and the modules of ours that pull them in.
HEAVY = (
    "lancedb",
    "lance",
    "cyvcf2",
    "ladybug",
    "pysam",
    "tree_sitter",
    "pyarrow",
    "numpy",
    "psutil",
    "structlog",
    "rich.progress",
    "rich.table",
    "exocortex.api",
    "exocortex.indexing",
    "exocortex.store",
    "exocortex.memory",
    "exocortex.genomics.ingest",
    "exocortex.genomics.query",
    "exocortex.genomics.store",
)

PROBE = """
import contextlib, io, json, sys
argv = json.loads(sys.argv[1])
if argv is None:
    import exocortex.cli
    code = 0
else:
    from exocortex.cli import main
    with contextlib.redirect_stdout(io.StringIO()) as out:
        code = main(argv)
heavy = json.loads(sys.argv[2])
sys.__stdout__.write(json.dumps({"code": code, "loaded": [m for m in heavy if m in sys.modules]}))
"""


def _probe(argv: list[str] | None) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(argv), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout)
    return result


def test_importing_the_cli_loads_no_heavy_library() -> None:
    assert _probe(None) == {"code": 0, "loaded": []}


@pytest.mark.parametrize(
    "argv",
    [
        ["--help"],
        ["--version"],
        ["exit-codes"],
        ["vcf", "--help"],
        ["vcf", "ingest", "--help"],
        ["vcf", "query", "--help"],
        ["vcf", "validate", "--help"],
        ["index", "--help"],
        ["bench", "cache", "--help"],
    ],
)
def test_help_and_storeless_commands_load_no_heavy_library(argv: list[str]) -> None:
    assert _probe(argv) == {"code": 0, "loaded": []}


def test_a_store_command_still_loads_what_it_needs(tmp_path: Path) -> None:
    """The deferral is real, not a removal: `vcf stats` on a missing store imports the store and says so."""
    result = _probe(["vcf", "stats", "--store", str(tmp_path), "--json"])
    assert result["code"] == 8  # IndexNotFoundError: nothing was ingested there
    loaded = result["loaded"]
    assert isinstance(loaded, list) and "exocortex.genomics.store" in loaded
