"""Exact lookups: `find_symbol`, `find_references`, `read_range` (and `confine`), and their commands."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from exocortex.api import Index
from exocortex.cli import main
from exocortex.errors import InputPathError, NoMatchesError, PathOutsideRootError, UsageError
from exocortex.sources.files import confine
from exocortex.tokens import count_tokens

from .samples import SAMPLE_FILES, write_tree

EXTRA_FILES = {
    "app/views.py": '''
        from app.models import make_user


        def show(name):
            return make_user(name).slug()
        ''',
    "app/store.py": '''
        def open(path):
            return Store(path)


        class Store:
            def __init__(self, path):
                self.path = path

            @classmethod
            def open(cls, path):
                return cls(path)
        ''',
    "app/loader.py": '''
        from app.store import Store


        def load(path):
            return Store.open(path)
        ''',
    "app/OPEN_NOTES.md": "# Open\n\nHow to open a store.\n",
}


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Index:
    root = tmp_path_factory.mktemp("lookup")
    write_tree(root, {**SAMPLE_FILES, **EXTRA_FILES})
    index = Index.open(root, workers=1)
    index.update()
    return index


@pytest.fixture
def fresh(tmp_path: Path) -> Index:
    """An index this test may change (files added, removed, linked)."""
    root = tmp_path / "repo"
    write_tree(root, SAMPLE_FILES)
    index = Index.open(root, workers=1)
    index.update()
    return index


def file_lines(index: Index, path: str, start: int, end: int) -> str:
    lines = (index.root / path).read_text().split("\n")
    return "\n".join(lines[start - 1 : end]) + "\n"


# --- find_symbol -------------------------------------------------------------------------------------


def test_find_symbol_exact_name(repo: Index) -> None:
    [found] = repo.find_symbol("slugify")
    assert found == {"path": "app/util.py", "name": "slugify", "kind": "function", "lines": [4, 6],
                     "signature": "def slugify(text: str) -> str:"}
    assert repo.find_symbol("User.slug")[0]["lines"] == [12, 13]
    assert repo.find_symbol("  make_user ")[0]["path"] == "app/models.py"


def test_find_symbol_exact_first_then_qualified_then_any_case(repo: Index) -> None:
    found = repo.find_symbol("open")
    assert [(f["name"], f["lines"]) for f in found[:2]] == [("open", [1, 2]), ("Store.open", [9, 11])]
    assert found[-1]["name"] == "Open" and found[-1]["kind"] == "section"  # ignoring case comes last
    assert [f["name"] for f in repo.find_symbol("Store.open")] == ["Store.open"]
    assert [f["name"] for f in repo.find_symbol("Store::open")] == ["Store.open"]
    assert [f["name"] for f in repo.find_symbol("slug")] == ["User.slug"]
    assert [f["name"] for f in repo.find_symbol("open", kind="method")] == ["Store.open"]
    assert len(repo.find_symbol("open", limit=1)) == 1


def test_find_symbol_body_is_the_source(repo: Index) -> None:
    [user] = repo.find_symbol("User", kind="class", include_body=True)
    assert user["lines"] == [6, 16]
    assert user["body"] == file_lines(repo, "app/models.py", 6, 16)  # header and methods, blank lines kept
    [ping] = repo.find_symbol("ping", include_body=True)
    assert ping["body"] == 'export const ping = () => fetchJson("/ping");\n'


def test_find_symbol_errors(repo: Index) -> None:
    for empty in ("", "   "):
        with pytest.raises(UsageError):
            repo.find_symbol(empty)
    with pytest.raises(NoMatchesError, match="no_such_function"):
        repo.find_symbol("no_such_function")
    with pytest.raises(NoMatchesError, match="kind 'struct'"):
        repo.find_symbol("User", kind="struct")
    with pytest.raises(UsageError):
        repo.find_symbol("User", limit=0)


# --- find_references ---------------------------------------------------------------------------------


def test_find_references_lists_uses_not_definitions(repo: Index) -> None:
    refs = repo.find_references("slugify")
    assert [(r["path"], r["line"]) for r in refs] == [("app/models.py", 3), ("app/models.py", 13)]
    assert refs[1] == {"path": "app/models.py", "line": 13, "text": "return slugify(self.name)", "symbol": "User.slug"}
    # make_user is defined at models.py:19 and used in views.py
    uses = {(r["path"], r["line"]) for r in repo.find_references("make_user")}
    assert uses == {("app/views.py", 1), ("app/views.py", 5)}


def test_find_references_matches_whole_words(repo: Index) -> None:
    # `slug` is a word of `slugify` only as a prefix: those lines are not uses of it
    assert [(r["path"], r["line"]) for r in repo.find_references("slug")] == [("app/views.py", 5)]
    assert repo.find_references("User.slug") == repo.find_references("slug")
    # a hyphen is no part of a name: "dash-join" in a docstring holds the word
    assert [(r["path"], r["line"]) for r in repo.find_references("dash")] == [("app/util.py", 5)]
    with pytest.raises(NoMatchesError):
        repo.find_references("greet")  # defined, never used


def test_find_references_in_one_path_or_glob(repo: Index) -> None:
    js = repo.find_references("fetchJson", path="web/*.js")
    assert [r["line"] for r in js] == [1, 9, 13]
    assert [r["line"] for r in repo.find_references("fetchJson", path="web/client.js")] == [1, 9, 13]
    with pytest.raises(NoMatchesError):
        repo.find_references("slugify", path="app/util.py")  # only its definition there
    with pytest.raises(NoMatchesError, match="no indexed file"):
        repo.find_references("slugify", path="nowhere/*.py")
    assert len(repo.find_references("fetchJson", limit=2)) == 2
    with pytest.raises(UsageError):
        repo.find_references("")


def test_find_references_code_users_come_first(repo: Index) -> None:
    refs = repo.find_references("open")
    # loader.py's code references `open` (its references column says so): it comes before the
    # document that mentions the word, though the document sorts first by path; the two
    # definitions in store.py (a function and a method) are left out
    assert [(r["path"], r["line"], r["symbol"]) for r in refs] == [
        ("app/loader.py", 5, "load"), ("app/OPEN_NOTES.md", 3, "Open")]
    assert refs[0]["text"] == "return Store.open(path)"


# --- read_range --------------------------------------------------------------------------------------


def test_read_range_lines_and_clamping(repo: Index) -> None:
    part = repo.read_range("app/models.py", 12, 13)
    assert part == {"path": "app/models.py", "start_line": 12, "end_line": 13,
                    "text": file_lines(repo, "app/models.py", 12, 13), "tokens": part["tokens"],
                    "truncated": False, "total_lines": 20}
    assert part["tokens"] == count_tokens(part["text"])
    tail = repo.read_range("app/models.py", 19, 400)
    assert tail["end_line"] == 20 and tail["text"] == "def make_user(name: str) -> User:\n    return User(name)\n"
    assert repo.read_range(str(repo.root / "app/util.py"), 1, 1)["text"] == "import re\n"  # absolute, inside
    assert repo.read_range("./app/util.py", 1, 1)["path"] == "app/util.py"


@pytest.mark.parametrize(("start", "end"), [(0, 3), (5, 2), (-1, 1), (21, 30)])
def test_read_range_bad_ranges(repo: Index, start: int, end: int) -> None:
    with pytest.raises(UsageError):
        repo.read_range("app/models.py", start, end)


def test_read_range_max_tokens_cuts_at_a_line(repo: Index) -> None:
    whole = repo.read_range("app/models.py", 1, 20)
    for cap in (1, 5, 12, 30, whole["tokens"] - 1):
        part = repo.read_range("app/models.py", 1, 20, max_tokens=cap)
        assert part["truncated"] and part["tokens"] <= cap
        assert whole["text"].startswith(part["text"]) and (part["text"] == "" or part["text"].endswith("\n"))
        assert part["end_line"] == part["text"].count("\n")
        longer = repo.read_range("app/models.py", 1, part["end_line"] + 1)
        assert longer["tokens"] > cap  # the next line would not have fit
    assert repo.read_range("app/models.py", 1, 20, max_tokens=whole["tokens"]) == whole


def test_read_range_reads_the_disk_now(fresh: Index) -> None:
    path = fresh.root / "app" / "util.py"
    path.write_text(path.read_text() + "\n\ndef added_later():\n    return 2\n")
    part = fresh.read_range("app/util.py", 9, 10)
    assert part["text"] == "def added_later():\n    return 2\n" and part["total_lines"] == 10


def test_read_range_refuses_paths_out_of_the_root(fresh: Index, tmp_path: Path) -> None:
    outside = tmp_path / "secret.txt"
    outside.write_text("not yours\n")
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "key.txt").write_text("not yours either\n")
    root = fresh.root
    (root / "link.txt").symlink_to(outside)
    (root / "linkdir").symlink_to(tmp_path / "secrets")
    (root / "loop_a").symlink_to(root / "loop_b")
    (root / "loop_b").symlink_to(root / "loop_a")
    for bad in ("../secret.txt", "app/../../secret.txt", str(outside), "link.txt", "linkdir/key.txt"):
        with pytest.raises(PathOutsideRootError):
            fresh.read_range(bad, 1, 1)
    with pytest.raises(InputPathError, match="loop"):
        fresh.read_range("loop_a", 1, 1)
    for missing in ("app/nope.py", "app", "", "a\x00b"):
        with pytest.raises(InputPathError) as caught:
            fresh.read_range(missing, 1, 1)
        assert not isinstance(caught.value, PathOutsideRootError)


def test_read_range_only_reads_indexed_files(fresh: Index) -> None:
    (fresh.root / ".gitignore").write_text("secret.env\n")
    (fresh.root / "secret.env").write_text("TOKEN=hunter2\n")
    (fresh.root / "blob.bin").write_bytes(b"\x00\x01\x02")
    for path in ("secret.env", "blob.bin"):
        with pytest.raises(InputPathError, match="not in the index"):
            fresh.read_range(path, 1, 1)


def test_read_range_follows_a_link_inside_the_root(fresh: Index) -> None:
    (fresh.root / "util_link.py").symlink_to(fresh.root / "app" / "util.py")
    part = fresh.read_range("util_link.py", 1, 1)  # the index holds the link as a file of its own
    assert part["path"] == "util_link.py" and part["text"] == "import re\n"


def test_confine(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "b.py").write_text("x\n")
    assert confine(tmp_path, "a/b.py") == tmp_path.resolve() / "a" / "b.py"
    assert confine(tmp_path, "./a//b.py") == tmp_path.resolve() / "a" / "b.py"
    assert confine(tmp_path, str(tmp_path / "a" / "b.py")) == tmp_path.resolve() / "a" / "b.py"
    assert confine(tmp_path, "a/new.py") == tmp_path.resolve() / "a" / "new.py"  # existence is the caller's
    for bad in ("..", "../x", "a/../../x", "/etc/passwd", str(tmp_path) + "/../x"):
        with pytest.raises(PathOutsideRootError):
            confine(tmp_path, bad)
    os.symlink("/", tmp_path / "rootlink")
    with pytest.raises(PathOutsideRootError):
        confine(tmp_path, "rootlink/etc/passwd")


# --- the command line --------------------------------------------------------------------------------


def test_symbol_command(repo: Index, capsys: pytest.CaptureFixture[str]) -> None:
    root = str(repo.root)
    code, out, _ = run(capsys, "symbol", "slugify", "-C", root)
    assert code == 0 and out == "app/util.py:4-6\tfunction\tslugify\tdef slugify(text: str) -> str:\n"
    code, out, _ = run(capsys, "symbol", "slug", "--body", "-C", root)
    assert code == 0 and "    def slug(self) -> str:\n        return slugify(self.name)\n" in out
    code, out, _ = run(capsys, "symbol", "open", "--kind", "method", "--json", "-C", root)
    assert code == 0 and [s["name"] for s in json.loads(out)["symbols"]] == ["Store.open"]
    code, out, _ = run(capsys, "symbol", "open", "--jsonl", "-C", root)
    assert code == 0 and json.loads(out.splitlines()[0])["name"] == "open"
    assert run(capsys, "symbol", "nothing_like_it", "-C", root)[0] == 12
    assert run(capsys, "symbol", " ", "-C", root)[0] == 2


def test_refs_command(repo: Index, capsys: pytest.CaptureFixture[str]) -> None:
    root = str(repo.root)
    code, out, _ = run(capsys, "refs", "slugify", "-C", root)
    assert code == 0
    assert out == "app/models.py:3: from .util import slugify\napp/models.py:13: return slugify(self.name)\n"
    code, out, _ = run(capsys, "refs", "fetchJson", "--path", "web/*", "--jsonl", "-C", root)
    assert code == 0 and [json.loads(line)["line"] for line in out.splitlines()] == [1, 9, 13]
    code, out, _ = run(capsys, "refs", "make_user", "--json", "-C", root)
    assert code == 0 and {r["path"] for r in json.loads(out)["references"]} == {"app/views.py"}
    assert run(capsys, "refs", "greet", "-C", root)[0] == 12


def test_read_command(fresh: Index, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    root = str(fresh.root)
    code, out, _ = run(capsys, "read", "app/util.py", "4", "5", "-C", root)
    assert code == 0
    assert out == 'def slugify(text: str) -> str:\n    """Lower-case and dash-join the words of text."""\n'
    monkeypatch.chdir(fresh.root / "app")  # FILE is relative to the working directory, as in a shell
    code, out, _ = run(capsys, "read", "models.py", "19", "--json")
    assert code == 0 and json.loads(out)["text"] == "def make_user(name: str) -> User:\n    return User(name)\n"
    code, out, _ = run(capsys, "read", "../app/util.py", "1", "1")
    assert code == 0 and out == "import re\n"
    assert run(capsys, "read", "../../outside.py", "1")[0] == 3
    assert run(capsys, "read", "util.py", "3", "1")[0] == 2


def test_search_jsonl(repo: Index, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "search", "slugify", "-C", str(repo.root), "--jsonl", "-k", "3")
    rows = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and 0 < len(rows) <= 3
    assert set(rows[0]) == {"path", "symbol", "kind", "lines", "score", "signals"}
    assert run(capsys, "search", "slugify", "-C", str(repo.root), "--jsonl", "--json")[0] == 2


def test_index_jsonl_lists_the_skipped_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_tree(tmp_path, {"a.py": "x = 1\n", "blob.bin": b"\x00\x01"})
    code, out, _ = run(capsys, "index", str(tmp_path), "--jsonl")
    assert code == 0 and [json.loads(line) for line in out.splitlines()] == [
        {"path": "blob.bin", "reason": "binary", "detail": "extension .bin"}]
    code, out, _ = run(capsys, "index", str(tmp_path), "--dry-run", "--jsonl")
    assert code == 0 and [json.loads(line)["path"] for line in out.splitlines()] == ["blob.bin"]
