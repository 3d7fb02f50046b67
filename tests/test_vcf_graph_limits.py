"""`vcf graph` queries have bounds: a time limit, a memory limit, a row limit, and no way to write.

Before: ``UNWIND range(1,2000000000) ...`` ran until the machine ran out of memory or patience,
``--max-rows -1`` printed "0 rows ... 29 more", and ``COPY (...) TO 'file'`` wrote a file outside
the store through a read-only database (only a keyword check stood in the way). Now each query
runs in a worker process that opens the database read-only and has given up writing files.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from exocortex.cli import main
from exocortex.errors import ConfigError
from exocortex.genomics import graph
from exocortex.genomics.graph import build_graph, run_cypher
from exocortex.genomics.ingest import ingest_vcf

FIXTURES = Path(__file__).parent / "fixtures" / "vcf"
SLOW = (
    "UNWIND range(1, 200000) AS x UNWIND range(1, 200000) AS y "
    "WITH x, y WHERE (x * y) % 1000003 = 7 RETURN count(*)"
)  # 4e10 rows to filter: minutes of work, in constant memory
HUGE_LIST = "UNWIND range(1, 2000000000) AS x RETURN x"  # a 2e9-element list: 16 GB before the first row
CROSS = "MATCH (a:Sample), (b:Sample), (c:Sample), (d:Sample) RETURN a.name, b.name, c.name, d.name"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """189 samples x 115 records (cyvcf2's test file), with its graph built."""
    path = tmp_path_factory.mktemp("graph") / "store"
    ingest_vcf([FIXTURES / "cyvcf2-test.vcf.gz"], path, build_indexes=False)
    build_graph(path)
    return path


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["vcf", "graph", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_a_slow_query_stops_at_its_time_limit(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t0 = time.monotonic()
    code, out, err = _cli(capsys, SLOW, "--store", str(store), "--timeout", "1")
    took = time.monotonic() - t0
    assert code == 7
    assert "time limit of 1 s" in err and "--timeout" in err
    assert len(err.strip().splitlines()) == 1 and out == ""
    assert took < 1 + graph.KILL_GRACE_S + 5


def test_the_time_limit_comes_from_the_configuration(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXOCORTEX_GRAPH_QUERY_TIMEOUT_S", "1")
    with pytest.raises(ConfigError, match="time limit of 1 s"):
        run_cypher(store, SLOW)


def test_a_worker_that_does_not_stop_is_killed(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Work LadybugDB does not interrupt: the parent kills the worker shortly after the limit."""
    monkeypatch.setattr(graph, "WORKER_ARGS", ("-c", "import time; time.sleep(120)"))
    t0 = time.monotonic()
    with pytest.raises(ConfigError, match="time limit"):
        run_cypher(store, "MATCH (s:Sample) RETURN s.name", timeout_s=0.5)
    assert time.monotonic() - t0 < 0.5 + graph.KILL_GRACE_S + 3


def test_a_query_past_its_memory_limit_is_stopped(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    t0 = time.monotonic()
    code, _, err = _cli(capsys, HUGE_LIST, "--store", str(store), "--timeout", "20")
    assert code == 7
    assert "memory limit" in err and len(err.strip().splitlines()) == 1
    assert time.monotonic() - t0 < 20


def test_rows_held_are_bounded(store: Path) -> None:
    """189^4 = 1.28e9 rows: the first max_rows come back, the rest are counted, none are held."""
    result = run_cypher(store, CROSS, max_rows=5, timeout_s=30)
    assert len(result.rows) == 5
    assert result.truncated == 189**4 - 5


@pytest.mark.parametrize("value", ["-1", "-100"])
def test_negative_max_rows_is_refused(store: Path, capsys: pytest.CaptureFixture[str], value: str) -> None:
    code, out, err = _cli(capsys, "MATCH (s:Sample) RETURN s.name", "--store", str(store), "--max-rows", value)
    assert code == 7
    assert "--max-rows" in err and out == ""


def test_max_rows_zero_counts_only(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "MATCH (s:Sample) RETURN s.name", "--store", str(store), "--max-rows", "0", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["rows"] == [] and data["truncated"] == 189


def test_max_rows_past_the_configured_bound_is_refused(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _cli(capsys, CROSS, "--store", str(store), "--max-rows", str(10**12))
    assert code == 7 and "--max-rows must be between 0 and 1,000,000" in err


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "0"])
def test_bad_timeouts_are_refused(store: Path, capsys: pytest.CaptureFixture[str], value: str) -> None:
    code, _, err = _cli(capsys, "MATCH (s:Sample) RETURN s.name", "--store", str(store), "--timeout", value)
    assert code == 7
    assert "--timeout" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("value", ["nan", "-5", "inf"])
def test_bad_configured_timeouts_are_refused(store: Path, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("EXOCORTEX_GRAPH_QUERY_TIMEOUT_S", value)
    with pytest.raises(ConfigError, match="graph_query_timeout_s"):
        run_cypher(store, "MATCH (s:Sample) RETURN s.name")


def _worker(store: Path, query: str) -> dict[str, object]:
    """The worker's reply to ``query``, past the keyword check (as through the raw driver)."""
    limits = graph.query_limits(5, 30)
    request = {"path": str(graph.graph_path(store)), "query": query, "parameters": {}, "max_rows": 5,
               "timeout_ms": 30_000, "memory_bytes": limits.memory_bytes}  # fmt: skip
    try:
        return graph._run_worker(request, limits)
    except ConfigError as exc:
        return {"ok": False, "message": exc.message}


def test_copy_to_writes_nothing_even_past_the_keyword_check(store: Path, tmp_path: Path) -> None:
    target = tmp_path / "exported.csv"
    reply = _worker(store, f"COPY (MATCH (s:Sample) RETURN s.name) TO '{target}'")
    assert reply["ok"] is False
    # Landlock: the file is never made; where the kernel has no Landlock the file-size limit of 0
    # leaves at most an empty file
    assert not target.exists() or target.stat().st_size == 0
    guard = _worker(store, "MATCH (s:Sample) RETURN count(s)")
    assert guard["ok"] is True and guard["rows"] == [[189]]
    if sys.platform.startswith("linux") and guard["guard"] == "landlock":
        assert not target.exists()


def test_the_worker_cannot_write_even_with_python(tmp_path: Path) -> None:
    """What the worker takes away from itself, seen from Python: no new file, no write, no truncate."""
    existing = tmp_path / "existing.txt"
    existing.write_text("kept")
    script = (
        "import sys\n"
        "from exocortex.genomics.cypher_worker import forbid_writes\n"
        "guard = forbid_writes()\n"
        "results = [guard]\n"
        "for path, mode in ((sys.argv[1] + '/new.txt', 'w'), (sys.argv[2], 'a'), (sys.argv[2], 'w')):\n"
        "    try:\n"
        "        with open(path, mode) as fh:\n"
        "            fh.write('x')\n"
        "        results.append('wrote')\n"
        "    except OSError as exc:\n"
        "        results.append(type(exc).__name__)\n"
        "print(' '.join(results))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), str(existing)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    guard, *results = done.stdout.split()
    assert "wrote" not in results
    assert existing.read_text() in ("kept", "")  # fsize alone cannot stop O_TRUNC; Landlock does
    if guard == "landlock":
        assert existing.read_text() == "kept" and not (tmp_path / "new.txt").exists()
    assert os.access(existing, os.R_OK)
