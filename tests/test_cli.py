"""The command line: output shapes, and one clear line plus a documented exit code for bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from exocortex.cli import main
from exocortex.errors import EXIT_CODES

from .conftest import SAMPLE_FILES, store_locked_by_another_process


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_index_json_and_status(sample_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "index", str(sample_repo), "--json")
    assert code == 0
    report = json.loads(out)
    assert report["files"] == len(SAMPLE_FILES)
    assert report["processed"] == len(SAMPLE_FILES)
    assert set(report["timings"]) >= {"walk", "plan", "process", "total"}

    code, out, _ = run(capsys, "index", str(sample_repo), "--json")
    assert json.loads(out)["processed"] == 0

    code, out, _ = run(capsys, "status", str(sample_repo), "--json")
    status = json.loads(out)
    assert code == 0
    assert status["files"] == len(SAMPLE_FILES)
    assert status["root"] == str(sample_repo.resolve())
    assert status["structural_files"] == 4
    for key in ("chunks", "tokens", "languages", "store_bytes", "age_s", "last_run"):
        assert key in status

    code, out, _ = run(capsys, "status", str(sample_repo))
    assert code == 0 and "structural chunking" in out and "4 of 5" in out

    code, out, _ = run(capsys, "status", str(sample_repo), "--verbose")
    assert "notes.txt" in out


def test_index_human_output_and_skips(sample_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (sample_repo / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    (sample_repo / "blob.dat").write_bytes(b"abc\x00def" * 10)
    with open(sample_repo / "huge.log", "wb") as fh:
        fh.truncate(1024**3)  # a sparse 1 GiB file: must be skipped without reading it
    code, out, _ = run(capsys, "index", str(sample_repo))
    assert code == 0
    assert f"{len(SAMPLE_FILES)} files" in out
    assert "binary 2" in out and "too_large 1" in out
    code, out, _ = run(capsys, "index", str(sample_repo), "--verbose")
    assert "huge.log" in out and "blob.dat" in out and "logo.png" in out


def test_max_file_size_flag(sample_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "index", str(sample_repo), "--max-file-size", "100", "--json")
    report = json.loads(out)
    assert report["skipped"].get("too_large", 0) >= 1
    code, _, err = run(capsys, "index", str(sample_repo), "--max-file-size", "lots")
    assert code == 7 and "not a size" in err


def test_dry_run_output(sample_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "index", str(sample_repo), "--dry-run")
    assert code == 0
    assert "estimated indexing time" in out and "app" in out and "total" in out
    assert not (sample_repo / ".exocortex").exists()
    code, out, _ = run(capsys, "index", str(sample_repo), "--dry-run", "--json")
    data = json.loads(out)
    assert data["files"] == len(SAMPLE_FILES) and data["est_tokens"] > 0


@pytest.mark.parametrize(
    ("setup", "expected_code", "message"),
    [
        ("missing", 3, "path not found"),
        ("file", 3, "is a file, not a directory"),
        ("empty", 9, "nothing to index"),
        ("loop", 3, "symlink loop"),
    ],
)
def test_bad_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], setup: str, expected_code: int, message: str
) -> None:
    target = tmp_path / "target"
    if setup == "file":
        target.write_text("x")
    elif setup == "empty":
        target.mkdir()
    elif setup == "loop":
        os.symlink(tmp_path / "other", target)
        os.symlink(target, tmp_path / "other")
    code, out, err = run(capsys, "index", str(target))
    assert code == expected_code
    assert message in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
    assert expected_code in EXIT_CODES


def test_status_without_index(sample_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "status", str(sample_repo))
    assert code == 8 and "run `exocortex index` first" in err


def test_corrupted_store_exit_code(sample_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(capsys, "index", str(sample_repo))[0] == 0
    (sample_repo / ".exocortex" / "meta.json").write_text("{not json")
    code, _, err = run(capsys, "status", str(sample_repo))
    assert code == 4 and "--rebuild" in err and "Traceback" not in err
    code, _, err = run(capsys, "index", str(sample_repo))
    assert code == 4
    assert run(capsys, "index", str(sample_repo), "--rebuild")[0] == 0


def test_debug_shows_traceback(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "index", str(tmp_path / "nope"), "--debug")
    assert code == 3 and "Traceback" in err


def test_locked_store_exit_code(sample_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = sample_repo / ".exocortex"
    with store_locked_by_another_process(store):
        code, _, err = run(capsys, "index", str(sample_repo))
    assert code == 6 and "another exocortex process" in err


def test_store_env_variable(sample_repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EXOCORTEX_STORE", str(tmp_path / "elsewhere"))
    assert run(capsys, "index", str(sample_repo))[0] == 0
    assert (tmp_path / "elsewhere" / "meta.json").is_file()
    assert not (sample_repo / ".exocortex").exists()


def test_console_script_runs(sample_repo: Path) -> None:
    exe = Path(sys.executable).parent / "exocortex"
    proc = subprocess.run([str(exe), "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.startswith("exocortex ")
    proc = subprocess.run([str(exe), "index", str(sample_repo), "--json"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["files"] == len(SAMPLE_FILES)


def test_exit_codes_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "exit-codes")
    assert code == 0
    for number in EXIT_CODES:
        assert f"{number:>3}  " in out
