"""File names with terminal escapes, newlines or markup: shown escaped as text, exact in JSON and XML.

A file name is data an attacker can choose (a cloned repository): printed raw it can recolour or
drive the terminal, split one line into two, or (as rich markup) end the command with an error.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from exocortex.cli import main

ESC_NAME = "e\x1b[31mvil.py"
NEWLINE_NAME = "new\nline.py"
MARKUP_DIR, MARKUP_FILE = "b[", "x]\x1b.bin"  # the path "b[/x]\x1b.bin" reads as a closing markup tag
TEXT_NAME = "note\x07s[red].txt"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def odd_names(tmp_path: Path) -> Path:
    root = tmp_path / "odd"
    root.mkdir()
    (root / ESC_NAME).write_text("def evil_function():\n    return 1\n")
    (root / NEWLINE_NAME).write_text("def newline_function():\n    return 2\n")
    (root / MARKUP_DIR).mkdir()
    (root / MARKUP_DIR / MARKUP_FILE).write_bytes(b"abc\x00def")
    (root / TEXT_NAME).write_text("hello text\n")
    return root


def assert_clean(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text


def test_index_and_status_show_names_escaped(odd_names: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "index", str(odd_names), "--verbose")
    assert code == 0, err
    assert_clean(out + err)
    assert "skip binary      b[/x]\\x1b.bin" in out

    code, out, _ = run(capsys, "index", str(odd_names), "--dry-run", "--verbose")
    assert code == 0
    assert_clean(out)
    assert "b[/x]\\x1b.bin" in out

    code, out, _ = run(capsys, "status", str(odd_names), "--verbose")
    assert code == 0
    assert_clean(out)
    assert "note\\x07s[red].txt  (text)" in out

    code, out, _ = run(capsys, "status", str(odd_names), "--verbose", "--json")
    assert TEXT_NAME in [row["path"] for row in json.loads(out)["unstructured_files"]]


def test_search_escapes_names_in_the_table_and_keeps_them_in_json(
    odd_names: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "index", str(odd_names))[0] == 0
    code, out, _ = run(capsys, "search", "evil_function newline_function", "-C", str(odd_names))
    assert code == 0
    assert_clean(out)
    assert "e\\x1b[31mvil.py:1-2" in out and "new\\nline.py:1-2" in out
    rows = [line for line in out.splitlines() if "function" in line and ".py" in line]
    assert len(rows) == 2  # one line per hit: the newline did not split its row

    code, out, _ = run(capsys, "search", "evil_function newline_function", "-C", str(odd_names), "--json")
    assert {r["path"] for r in json.loads(out)["results"]} == {ESC_NAME, NEWLINE_NAME}


def test_errors_naming_a_path_are_one_clean_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "index", str(tmp_path / "gone\n\x1b[2Jdir"))
    assert code == 3
    assert len(err.strip().splitlines()) == 1
    assert_clean(err)
    assert "gone\\n\\x1b[2Jdir" in err


def test_pack_one_heading_per_file_in_markdown_exact_paths_in_xml_and_json(
    odd_names: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(capsys, "index", str(odd_names))[0] == 0
    query = ["evil_function newline_function", "-C", str(odd_names), "--budget", "2000"]

    code, out, _ = run(capsys, "pack", *query)
    assert code == 0
    assert_clean(out)
    headings = [line for line in out.splitlines() if line.startswith("### ")]
    assert sorted(headings) == ["### e\\x1b[31mvil.py:1-2", "### new\\nline.py:1-2"]
    assert "line.py" not in [line.strip() for line in out.splitlines()]  # the tree did not split either

    code, out, _ = run(capsys, "pack", *query, "--format", "xml")
    assert code == 0
    tree = ET.fromstring(out)
    paths = {f.get("path") for f in tree.iter("file")}
    assert NEWLINE_NAME in paths
    assert "e\ufffd[31mvil.py" in paths  # ESC cannot be in XML 1.0 at all: U+FFFD, as for content
    assert "\x1b" not in out

    code, out, _ = run(capsys, "pack", *query, "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert {item["path"] for item in data["items"]} == {ESC_NAME, NEWLINE_NAME}
