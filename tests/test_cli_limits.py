"""Bad values for every option of index, status, search and pack: one line, a documented exit code.

Nothing is accepted that would do something else than asked (``-k 0`` returning 20 results,
``index ''`` indexing the working directory, a NaN weight silently dropping a signal), nothing
reads for ever (``--query-file /dev/zero``), and nothing is an internal error (exit 1).
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
from pathlib import Path

import pytest

from exocortex import Index
from exocortex.cli import main
from exocortex.config import Config
from exocortex.errors import EXIT_CODES, UsageError


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err and "internal error" not in err
    return lines[0]


@pytest.fixture
def indexed(sample_repo: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert run(capsys, "index", str(sample_repo))[0] == 0
    return sample_repo


# --- search -k ---------------------------------------------------------------------------------


@pytest.mark.parametrize("k", ["-1", "0", "abc", "1.5", ""])
def test_search_refuses_k_below_one(indexed: Path, capsys: pytest.CaptureFixture[str], k: str) -> None:
    code, out, err = run(capsys, "search", "slugify", "-C", str(indexed), "-k", k)
    assert code == 2 and out == ""
    assert "-k" in one_line(err)


def test_search_k_one_and_huge(indexed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "search", "slugify", "-C", str(indexed), "-k", "1", "--json")
    assert code == 0 and len(json.loads(out)["results"]) == 1
    code, out, _ = run(capsys, "search", "slugify", "-C", str(indexed), "-k", str(10**20), "--json")
    assert code == 0 and json.loads(out)["results"]


@pytest.mark.parametrize("k", [0, -1, True, 2.0, "3"])
def test_index_search_refuses_a_bad_k(indexed: Path, k: object) -> None:
    with pytest.raises(UsageError) as info:
        Index.open(indexed).search("slugify", k)  # type: ignore[arg-type]
    assert info.value.exit_code == 2


# --- index -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["--workers", "-3"], 7, "--workers"),
        (["--workers", "100000"], 7, "--workers"),
        (["--workers", "x"], 2, "--workers"),
        (["--wait", "nan"], 7, "--wait"),
        (["--wait", "inf"], 7, "--wait"),
        (["--wait", "-1"], 7, "--wait"),
        (["--wait", "1e400"], 7, "--wait"),
        (["--max-file-size", "nan"], 7, "not a size"),
        (["--max-file-size", "inf"], 7, "not a size"),
        (["--max-file-size", "1e400"], 7, "not a size"),
        (["--max-file-size", "1e30"], 7, "too large"),
        (["--max-file-size", "0.5"], 7, "at least 1 byte"),
        (["--max-file-size", ""], 7, "not a size"),
        (["--store", ""], 3, "--store is empty"),
    ],
)
def test_index_refuses_bad_options(
    sample_repo: Path, capsys: pytest.CaptureFixture[str], args: list[str], code: int, words: str
) -> None:
    got, out, err = run(capsys, "index", str(sample_repo), *args)
    assert got == code, err
    assert words in one_line(err)
    assert not (sample_repo / ".exocortex").exists()  # nothing written


@pytest.mark.parametrize("command", [["index", ""], ["status", ""], ["search", "slugify", "-C", ""],
                                     ["pack", "slugify", "-C", ""], ["index", " "]])
def test_an_empty_path_is_refused_not_the_working_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    (tmp_path / "a.py").write_text("def f():\n    return 1\n")
    monkeypatch.chdir(tmp_path)
    code, _, err = run(capsys, *command)
    assert code == 3
    assert "empty" in one_line(err)
    assert not (tmp_path / ".exocortex").exists()


def test_the_api_refuses_an_empty_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from exocortex.errors import InputPathError

    monkeypatch.chdir(tmp_path)
    for path in ("", "a\x00b"):
        with pytest.raises(InputPathError):
            Index.open(path)


# --- configuration: every float setting, every bad value, through the environment ---------------

FLOAT_FIELDS = [f.name for f in dataclasses.fields(Config) if f.type == "float"]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN", "1e400"])
@pytest.mark.parametrize("name", FLOAT_FIELDS)
def test_a_non_finite_float_setting_is_refused(
    sample_repo: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    variable = f"EXOCORTEX_{name.upper()}"
    monkeypatch.setenv(variable, value)
    code, _, err = run(capsys, "status", str(sample_repo))
    assert code == 7
    line = one_line(err)
    assert variable in line and name in line and "finite" in line


def test_float_fields_are_walked() -> None:
    assert {"fusion_k", "weight_bm25", "bm25_k1", "lock_wait_s", "pagerank_damping"} <= set(FLOAT_FIELDS)


@pytest.mark.parametrize(
    ("variable", "value"),
    [("EXOCORTEX_SEARCH_K", "0"), ("EXOCORTEX_WORKERS", "-3"), ("EXOCORTEX_PAGERANK_STEPS", "1000000000"),
     ("EXOCORTEX_SEARCH_CANDIDATES", str(10**20)), ("EXOCORTEX_WEIGHT_BM25", "1e308"),
     ("EXOCORTEX_ESTIMATE_MB_PER_S", "0"), ("EXOCORTEX_BINARY_SNIFF_BYTES", "0"),
     ("EXOCORTEX_MAX_QUERY_BYTES", "0"), ("EXOCORTEX_WORKERS", "2.5")],
)
def test_out_of_range_settings_are_refused(
    indexed: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    for command in (["search", "slugify", "-C", str(indexed), "--json"], ["index", str(indexed), "--dry-run"]):
        code, out, err = run(capsys, *command)
        assert code == 7 and out == ""
        assert variable in one_line(err)


def test_search_json_is_strict_json(indexed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "search", "slugify user", "-C", str(indexed), "--json")
    assert code == 0

    def refuse(token: str) -> None:
        raise AssertionError(f"not JSON: {token}")

    json.loads(out, parse_constant=refuse)


def test_print_json_never_writes_nan(capsys: pytest.CaptureFixture[str]) -> None:
    from exocortex.cli.output import print_json

    print_json({"score": float("nan"), "rows": [float("inf"), 1.5, -float("inf")]})
    out = capsys.readouterr().out
    assert json.loads(out) == {"score": None, "rows": [None, 1.5, None]}
    assert "NaN" not in out and "Infinity" not in out


# --- pack: the query, its file, the output file -------------------------------------------------


@pytest.fixture
def query_files(tmp_path: Path) -> Path:
    folder = tmp_path / "queries"
    folder.mkdir()
    (folder / "latin1.txt").write_bytes("caf\xe9 slugify".encode("latin-1"))
    (folder / "big.txt").write_bytes(b"slugify " * 200_000)  # 1.6 MB, over the 1 MiB default
    (folder / "bom.txt").write_bytes("\ufeffhow is a user slug made".encode())
    (folder / "a_dir").mkdir()
    os.mkfifo(folder / "fifo")
    return folder


@pytest.mark.parametrize(
    ("name", "code", "words"),
    [
        ("a_dir", 3, "is a directory"),
        ("fifo", 3, "not a regular file"),  # opened without blocking, refused before any read
        ("/dev/zero", 3, "not a regular file"),  # would read for ever
        ("latin1.txt", 3, "not UTF-8"),
        ("big.txt", 2, "max_query_bytes"),
        ("missing.txt", 3, "cannot read"),
        ("", 3, "empty"),
    ],
)
def test_pack_refuses_a_bad_query_file(
    indexed: Path, query_files: Path, capsys: pytest.CaptureFixture[str], name: str, code: int, words: str
) -> None:
    path = name if name.startswith("/") or not name else str(query_files / name)
    got, out, err = run(capsys, "pack", "--query-file", path, "-C", str(indexed))
    assert got == code and out == ""
    assert words in one_line(err)


def test_pack_reads_a_query_file_with_a_bom_and_refuses_two_queries(
    indexed: Path, query_files: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(capsys, "pack", "--query-file", str(query_files / "bom.txt"), "-C", str(indexed),
                       "--format", "json")
    assert code == 0 and json.loads(out)["query"] == "how is a user slug made"
    code, out, err = run(capsys, "pack", "slugify", "--query-file", str(query_files / "bom.txt"), "-C", str(indexed))
    assert code == 2 and "not both" in one_line(err)


def test_a_long_query_is_refused_everywhere(
    indexed: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EXOCORTEX_MAX_QUERY_BYTES", "100")
    long_query = "slugify " * 20
    for command in (["search", long_query, "-C", str(indexed)], ["pack", long_query, "-C", str(indexed)]):
        code, _, err = run(capsys, *command)
        assert code == 2 and "max_query_bytes" in one_line(err)
    with pytest.raises(UsageError):
        Index.open(indexed).pack("é" * 51, 1000)  # 102 bytes in 51 characters
    assert Index.open(indexed).search("slugify " * 12)  # 96 bytes: fine


@pytest.mark.parametrize("tokenizer", ["", "gpt2"])
def test_pack_refuses_an_unknown_tokenizer(indexed: Path, capsys: pytest.CaptureFixture[str], tokenizer: str) -> None:
    code, _, err = run(capsys, "pack", "slugify", "-C", str(indexed), "--tokenizer", tokenizer)
    assert code == 7 and "unknown tokenizer" in one_line(err)


@pytest.mark.parametrize(("target", "words"), [("a_dir", "is a directory"), ("missing/out.md", "does not exist"),
                                               ("a_file/out.md", "is not a directory"), ("", "empty")])
def test_pack_out_refuses_a_path_it_cannot_write(
    indexed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], target: str, words: str
) -> None:
    (tmp_path / "a_dir").mkdir()
    (tmp_path / "a_file").write_text("x")
    out_path = str(tmp_path / target) if target else ""
    code, out, err = run(capsys, "pack", "slugify", "-C", str(indexed), "--out", out_path)
    assert code == 3 and out == ""
    assert words in one_line(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["a_dir", "a_file", indexed.name])
    assert list((tmp_path / "a_dir").iterdir()) == []


def test_pack_out_replaces_a_file_whole_and_keeps_its_mode(
    indexed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "context.md"
    target.write_text("old content\n" * 1000)
    target.chmod(0o600)
    code, _, err = run(capsys, "pack", "slugify", "-C", str(indexed), "--out", str(target))
    assert code == 0 and "wrote" in err
    text = target.read_text()
    assert "old content" not in text and "app/util.py" in text
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_pack_out_failing_midway_leaves_the_old_file(
    indexed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import exocortex.cli.output as cli

    target = tmp_path / "context.md"
    target.write_text("the previous context\n")

    real_replace = os.replace

    def fail(src: str, dst: str, **kwargs: object) -> None:
        if Path(dst) == target:
            raise OSError(28, "No space left on device")
        real_replace(src, dst, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(cli.os, "replace", fail)
    code, _, err = run(capsys, "pack", "slugify", "-C", str(indexed), "--out", str(target))
    assert code == 3 and "No space left" in one_line(err)
    assert target.read_text() == "the previous context\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# --- usage errors and the table of codes ---------------------------------------------------------


@pytest.mark.parametrize("args", [["search"], ["search", "x", "--nope"], ["index", "--workers"],
                                  ["exit-codes", "extra"], ["no-such-command"], ["pack", "x", "--budget"]])
def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str], args: list[str]) -> None:
    code, _, err = run(capsys, *args)
    assert code == 2
    assert one_line(err).startswith("exocortex: usage error: ") and "--help" in err


def test_exit_codes_lists_the_signal_codes(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "exit-codes")
    assert code == 0
    assert "130  interrupted" in out and "143  terminated" in out
    assert {130, 143} <= set(EXIT_CODES)


def test_readme_lists_every_exit_code() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    for code in EXIT_CODES:
        assert f"| {code} |" in readme, code


def test_fusion_refuses_non_finite_constants_from_a_hand_built_config() -> None:
    import numpy as np

    from exocortex.errors import ConfigError
    from exocortex.search.fuse import reciprocal_rank_fusion

    ranked = {"bm25": (np.array([3, 1]), np.array([2.0, 1.0])), "pagerank": (np.array([1]), np.array([0.5]))}
    fused = reciprocal_rank_fusion(ranked, {"bm25": 1.0, "pagerank": 0.5}, 60.0)
    assert list(fused.docs) == [1, 3] and np.isfinite(fused.scores).all()
    for weights, fusion_k in [({"bm25": float("nan")}, 60.0), ({"bm25": float("inf")}, 60.0),
                              ({"bm25": 1.0}, float("nan")), ({"bm25": 1.0}, 0.0), ({"bm25": -1.0}, 60.0)]:
        with pytest.raises(ConfigError):
            reciprocal_rank_fusion(ranked, weights, fusion_k)


def test_config_replace_is_checked() -> None:
    from exocortex.errors import ConfigError

    with pytest.raises(ConfigError, match="fusion_k"):
        Config().replace(fusion_k=float("nan"))
    assert Config().replace(fusion_k=10.0).fusion_k == 10.0


def test_pack_out_writes_in_place_where_no_file_can_be_made_beside(
    indexed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import tempfile

    target = tmp_path / "context.md"
    target.write_text("old\n")
    real_mkstemp = tempfile.mkstemp

    def refuse(*args: object, **kwargs: object) -> tuple[int, str]:
        if Path(str(kwargs.get("dir"))) == tmp_path:
            raise PermissionError(13, "Permission denied")  # a folder the user cannot write, a file they can
        return real_mkstemp(*args, **kwargs)  # type: ignore[call-overload,no-any-return]

    monkeypatch.setattr(tempfile, "mkstemp", refuse)
    code, _, err = run(capsys, "pack", "slugify", "-C", str(indexed), "--out", str(target))
    assert code == 0, err
    assert "app/util.py" in target.read_text()
    target.unlink()
    code, _, err = run(capsys, "pack", "slugify", "-C", str(indexed), "--out", str(target))
    assert code == 3 and "Permission denied" in one_line(err)
