"""--include / --exclude globs for search and pack, and --pin for pack: API, CLI, cache, bad input."""

from __future__ import annotations

from pathlib import Path

import pytest

from exocortex import Index
from exocortex.cli import main
from exocortex.errors import InputPathError, NoMatchesError, PathOutsideRootError, UsageError
from exocortex.search.filters import PathFilter
from exocortex.tokens import count_tokens

from .samples import write_tree


def _files() -> dict[str, str]:
    files: dict[str, str] = {}
    for i in range(12):  # code that says "widget" a lot: it outranks the docs
        files[f"src/pkg/widget_{i}.py"] = "".join(
            f"def widget_{i}_{j}(widget):\n    return widget.widget + {j}  # widget widget\n\n\n" for j in range(3)
        )
    for i in range(6):
        files[f"docs/widget_{i}.md"] = f"# Widget notes {i}\n\nA widget is shown here.\n"
    files["tests/test_widget.py"] = "def test_widget():\n    assert widget_0_0(1)\n"
    files["big/module.py"] = "".join(f"def helper_{j}(x):\n" + "    x = x + 1\n" * 40 + "    return x\n\n\n"
                                     for j in range(20))
    return files


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("filters") / "repo"
    root.mkdir()
    write_tree(root, _files())
    Index.open(root).update()
    return root


def test_filtering_happens_before_the_list_is_cut_to_k(repo: Path) -> None:
    index = Index.open(repo)
    plain = index.search("widget", k=5)
    assert not any(h.path.startswith("docs/") for h in plain)  # the code outranks the docs
    docs = index.search("widget", k=5, include=["docs/**"])
    assert len(docs) == 5 and all(h.path.startswith("docs/") for h in docs)
    scores = [h.score for h in docs]
    assert scores == sorted(scores, reverse=True)


@pytest.mark.parametrize(
    ("include", "exclude", "allowed"),
    [
        (["src/**/*.py"], None, lambda p: p.startswith("src/")),
        (["*.md"], None, lambda p: p.endswith(".md")),
        (["tests/"], None, lambda p: p.startswith("tests/")),
        (None, ["src/"], lambda p: not p.startswith("src/")),
        (["src/", "docs/"], ["*_1.*", "docs/widget_2.md"],
         lambda p: p.split("/")[0] in ("src", "docs") and "_1." not in p and p != "docs/widget_2.md"),
        (["*", "!src/pkg/widget_3.py"], None, lambda p: p != "src/pkg/widget_3.py"),
    ],
)
def test_every_hit_is_in_an_allowed_file(repo: Path, include: list[str] | None, exclude: list[str] | None,
                                         allowed: object) -> None:
    hits = Index.open(repo).search("widget", k=50, include=include, exclude=exclude)
    assert hits and all(allowed(h.path) for h in hits), [h.path for h in hits]  # type: ignore[operator]


def test_a_filter_that_allows_every_file_ranks_as_no_filter(repo: Path) -> None:
    index = Index.open(repo)
    for query in ("widget", "helper x", "test widget notes"):
        assert index.search(query, k=30, include=["*"]) == index.search(query, k=30)


def test_the_process_cache_keeps_filtered_and_unfiltered_answers_apart(repo: Path) -> None:
    index = Index.open(repo)
    first = index.search("widget", k=5)
    docs = index.search("widget", k=5, include=["docs/**"])
    tests = index.search("widget", k=5, include=["tests/"])
    assert index.search("widget", k=5) == first
    assert index.search("widget", k=5, include=["docs/**"]) == docs
    assert {h.path for h in tests} == {"tests/test_widget.py"}
    assert index.search("widget", k=5, exclude=["src/"]) != first


def test_no_allowed_match_is_no_matches(repo: Path) -> None:
    with pytest.raises(NoMatchesError, match="--include 'nothing/here/\\*\\*' allows"):
        Index.open(repo).search("widget", include=["nothing/here/**"])


@pytest.mark.parametrize("glob", ["", "   ", "!", "\\", "a\nb", "a\x00b"])
def test_a_bad_glob_is_a_usage_error(repo: Path, glob: str) -> None:
    with pytest.raises(UsageError, match="glob") as info:
        Index.open(repo).search("widget", include=[glob])
    assert info.value.exit_code == 2
    with pytest.raises(UsageError, match="exclude"):
        Index.open(repo).pack("widget", 1000, exclude=[glob])
    with pytest.raises(UsageError):
        PathFilter.of(include=glob)


def test_pack_holds_only_allowed_files(repo: Path) -> None:
    index = Index.open(repo)
    for fmt in ("markdown", "xml"):
        pack = index.pack("widget", 2000, format=fmt, include=["docs/"], exclude=["docs/widget_0.md"])
        paths = {item.path for item in pack.items}
        assert paths and all(p.startswith("docs/") and p != "docs/widget_0.md" for p in paths), paths
        assert "src/pkg" not in pack.text


# --- pins ------------------------------------------------------------------------------------------------


def test_a_pinned_file_goes_in_first_and_whole_when_it_fits(repo: Path) -> None:
    index = Index.open(repo)
    pack = index.pack("widget", 3000, pin=["tests/test_widget.py"], exclude=["tests/"])
    assert pack.items[0].path == "tests/test_widget.py" and pack.items[0].kind == "full"
    assert pack.text.index("### tests/test_widget.py:1-2") < pack.text.index("### src/")
    assert pack.tokens == count_tokens(pack.text) <= 3000
    # Absolute inside the root, ./ and a .. that stays inside name the same file.
    for same in (str(repo / "tests/test_widget.py"), "./tests/test_widget.py", "src/../tests/test_widget.py"):
        again = index.pack("widget", 3000, pin=[same], exclude=["tests/"])
        assert again.items[0].path == "tests/test_widget.py"


def test_a_pinned_file_too_big_for_the_budget_gives_its_skeleton(repo: Path) -> None:
    pack = Index.open(repo).pack("widget", 1500, pin=["big/module.py"])
    first = pack.items[0]
    assert (first.path, first.kind) == ("big/module.py", "skeleton")
    assert "def helper_19(x):" in pack.text and "x = x + 1" not in pack.text
    assert pack.tokens <= 1500


def test_pins_alone_make_a_pack_when_nothing_matches(repo: Path) -> None:
    pack = Index.open(repo).pack("widget", 2000, include=["nothing/**"], pin=["tests/test_widget.py"])
    assert [item.path for item in pack.items] == ["tests/test_widget.py"]


def test_bad_pins(repo: Path, tmp_path: Path) -> None:
    index = Index.open(repo)
    with pytest.raises(InputPathError, match="not in the index") as info:
        index.pack("widget", 2000, pin=["src/missing.py"])
    assert info.value.exit_code == 3
    for outside in ("../elsewhere.py", "src/../../x.py", str(tmp_path / "x.py"), "/etc/passwd"):
        with pytest.raises(PathOutsideRootError, match="outside the indexed root"):
            index.pack("widget", 2000, pin=[outside])
    for empty in ("", " ", ".", "a\x00b"):
        with pytest.raises(InputPathError):
            index.pack("widget", 2000, pin=[empty])


# --- the command line --------------------------------------------------------------------------------------


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_search_and_pack_take_repeatable_globs_and_pins(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "search", "widget", "-C", str(repo), "-k", "4",
                       "--include", "docs/**", "--include", "tests/", "--exclude", "docs/widget_1.md")
    assert code == 0
    paths = [line.split(":")[0] for line in out.splitlines()]
    assert len(paths) == 4 and all(p.startswith(("docs/", "tests/")) and p != "docs/widget_1.md" for p in paths)

    code, out, _ = run(capsys, "pack", "widget", "-C", str(repo), "--budget", "2k", "--include", "src/**/*.py",
                       "--pin", "docs/widget_5.md", "--pin", "tests/test_widget.py")
    assert code == 0
    headings = [line for line in out.splitlines() if line.startswith("### ")]
    assert headings[:2] == ["### docs/widget_5.md:1-3", "### tests/test_widget.py:1-2"]
    assert all(h.startswith("### src/") for h in headings[2:]) and len(headings) > 2


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["search", "widget", "--include", "!"], 2, "glob"),
        (["search", "widget", "--exclude", ""], 2, "empty --exclude glob"),
        (["pack", "widget", "--include", "\\"], 2, "glob"),
        (["pack", "widget", "--pin", "../outside.py"], 3, "outside the indexed root"),
        (["pack", "widget", "--pin", "/etc/passwd"], 3, "outside the indexed root"),
        (["pack", "widget", "--pin", "src/missing.py"], 3, "not in the index"),
        (["search", "widget", "--include", "nothing/**"], 12, "allows"),
    ],
)
def test_cli_refuses_bad_globs_and_pins_in_one_line(repo: Path, capsys: pytest.CaptureFixture[str], args: list[str],
                                                    code: int, message: str) -> None:
    got, out, err = run(capsys, *args, "-C", str(repo))
    assert got == code, err
    assert message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and out == ""
