"""`exocortex search` and `exocortex pack` on the command line: shapes, budgets, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exocortex.cli import main
from exocortex.tokens import count_tokens

from .conftest import SAMPLE_FILES


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def indexed(sample_repo: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert run(capsys, "index", str(sample_repo))[0] == 0
    return sample_repo


def test_search_json_shape(indexed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "search", "slugify user name", "-C", str(indexed), "--json", "-k", "5")
    assert code == 0
    data = json.loads(out)
    assert data["query"] == "slugify user name"
    assert 0 < len(data["results"]) <= 5
    first = data["results"][0]
    assert set(first) == {"path", "symbol", "kind", "lines", "score", "signals"}
    assert first["path"] in SAMPLE_FILES
    assert len(first["lines"]) == 2 and first["lines"][0] <= first["lines"][1]
    scores = [r["score"] for r in data["results"]]
    assert scores == sorted(scores, reverse=True)
    assert data["index"]["root"] == str(indexed) and data["index"]["checked"] == "scan"  # how current it was


def test_search_table(indexed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "search", "slugify", "-C", str(indexed))
    assert code == 0 and "app/util.py" in out


@pytest.mark.parametrize("tokenizer", ["o200k_base", "cl100k_base"])
def test_pack_json_shape_and_budget(indexed: Path, capsys: pytest.CaptureFixture[str], tokenizer: str) -> None:
    code, out, _ = run(
        capsys, "pack", "how is a user slug made", "-C", str(indexed), "--budget", "1k",
        "--format", "json", "--tokenizer", tokenizer,
    )
    assert code == 0
    data = json.loads(out)
    assert set(data) == {"query", "budget", "tokenizer", "tokens", "text", "items", "redacted", "index"}
    assert data["redacted"] == {"enabled": True, "count": 0, "where": []}
    assert data["budget"] == 1000 and data["tokenizer"] == tokenizer
    assert data["tokens"] == count_tokens(data["text"], tokenizer) <= 1000
    assert {"root", "files", "chunks", "age_s"} <= set(data["index"])
    assert data["items"]
    for item in data["items"]:
        assert set(item) == {"path", "kind", "lines", "symbol", "score", "tokens"}
        assert item["kind"] in {"full", "chunk", "skeleton", "signature", "path"}
        source = (indexed / item["path"]).read_text().splitlines()
        for start, end in item["lines"]:
            for line in source[start - 1 : end]:
                assert line in data["text"]


def test_pack_to_file_and_query_file(indexed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    query = tmp_path / "task.txt"
    query.write_text("The Client class should retry user() calls.\nSee web/client.js.\n")
    target = tmp_path / "context.md"
    code, out, err = run(
        capsys, "pack", "--query-file", str(query), "-C", str(indexed), "--budget", "2000", "--out", str(target)
    )
    assert code == 0 and out == ""
    text = target.read_text()
    assert "web/client.js" in text and count_tokens(text) <= 2000


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["zzzqqq_nothing_like_this"], 12, "match"),
        ([""], 12, "query"),
        (["slugify", "--budget", "5"], 11, "budget"),
        (["slugify", "--budget", "lots"], 7, "budget"),
        (["slugify", "--format", "yaml"], 7, "format"),
    ],
)
def test_pack_bad_input(
    indexed: Path, capsys: pytest.CaptureFixture[str], args: list[str], code: int, message: str
) -> None:
    got, _, err = run(capsys, "pack", *args, "-C", str(indexed))
    assert got == code
    assert message in err.lower()
    assert "Traceback" not in err


def test_pack_without_index(sample_repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "pack", "slugify", "-C", str(sample_repo))
    assert code == 8


def test_piped_search_prints_one_whole_line_per_hit(indexed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    deep = indexed / "a_rather_long_folder_name" / "with_another_long_folder_name_inside_it"
    deep.mkdir(parents=True)
    source = "def zanzibar_frobnicate(text):\n    return text\n"
    (deep / "and_a_long_module_name_for_good_measure.py").write_text(source)
    assert run(capsys, "index", str(indexed))[0] == 0
    code, out, _ = run(capsys, "search", "zanzibar_frobnicate", "-C", str(indexed), "-k", "3")
    assert code == 0
    lines = out.splitlines()
    assert 0 < len(lines) <= 3
    location, symbol, kind, score = lines[0].split("\t")
    assert location == ("a_rather_long_folder_name/with_another_long_folder_name_inside_it/"
                        "and_a_long_module_name_for_good_measure.py:1-2")
    assert (symbol, kind) == ("zanzibar_frobnicate", "function") and float(score) > 0
